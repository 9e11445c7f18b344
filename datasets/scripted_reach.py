"""The scripted behaviour controller of the cue-reach memory task (envs/cue_reach.py): no learned
policy, joint-space PD control towards a pose from the arm's analytic inverse kinematics, with
Gaussian action noise.

It remembers the cue itself (it reads the first observation of each episode), holds the home
pose until the go flag, then reaches for the cued target ("expert") or, in half the episodes
drawn at random, for the other one ("mixed"). The noise is drawn independently of the cue and,
while reaching, mirrored with the goal's side, so that episodes under the two cues are mirror
images of each other and their returns have one distribution."""

import numpy as np

from envs.cue_reach import TARGET

LINK_LENGTHS = (0.1, 0.11)  # Reacher-v5's arm: shoulder to elbow, elbow to fingertip
GAINS = (1.0, 0.1)  # PD gains (proportional, derivative) on the joint angles, in action units
ACTION_NOISE = 0.1  # standard deviation of the Gaussian action noise
# Controller level -> share of episodes that reach the other target. The datasets' levels are
# LEVELS; "other-target" measures the reference return of choosing the target at random.
OTHER_TARGET_SHARES = {"expert": 0.0, "mixed": 0.5, "other-target": 1.0}
LEVELS = ("expert", "mixed")


def inverse_kinematics(target: np.ndarray) -> np.ndarray:
    """(B, 2) fingertip positions -> (B, 2) joint angles reaching them; the elbow bends away from
    the target's side, so mirrored targets (x, ±y) get mirrored angles (q1, q2) and (-q1, -q2)."""
    l1, l2 = LINK_LENGTHS
    x, y = target[:, 0], target[:, 1]
    cos_elbow = (x**2 + y**2 - l1**2 - l2**2) / (2 * l1 * l2)  # law of cosines
    elbow = -np.sign(y) * np.arccos(np.clip(cos_elbow, -1.0, 1.0))
    shoulder = np.arctan2(y, x) - np.arctan2(l2 * np.sin(elbow), l1 + l2 * np.cos(elbow))
    return np.stack([shoulder, elbow], axis=1)  # (B, 2)


class ScriptedReacher:
    """Acts in B cue-reach envs at once, from their observations (B, 9), as datasets.collect's
    behaviour policies do; `level` is one of OTHER_TARGET_SHARES."""

    def __init__(self, level: str):
        if level not in OTHER_TARGET_SHARES:
            raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")
        self.other_share = OTHER_TARGET_SHARES[level]
        self._goal_side = None  # (B,) +1 or -1: the y-side of the target each env reaches for

    def act(self, observations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        B = observations.shape[0]
        if self._goal_side is None:
            self._goal_side = np.ones(B)
        cue_side = np.sign(observations[:, 7])  # nonzero only in an episode's first observation
        starting = cue_side != 0
        other = rng.random(B) < self.other_share  # drawn every step, whatever the cue
        self._goal_side = np.where(starting, np.where(other, -cue_side, cue_side), self._goal_side)
        reaching = observations[:, 8] > 0  # the go flag
        goal = TARGET * np.stack([np.ones(B), self._goal_side], axis=1)  # (B, 2)
        goal_angles = np.where(reaching[:, None], inverse_kinematics(goal), 0.0)  # (B, 2)
        angles = np.arctan2(observations[:, 2:4], observations[:, 0:2])  # (B, 2) from sin, cos
        velocities = observations[:, 4:6]
        kp, kd = GAINS
        action = np.clip(kp * (goal_angles - angles) - kd * velocities, -1.0, 1.0)
        noise = ACTION_NOISE * rng.standard_normal((B, 2))
        mirror = np.where(reaching, self._goal_side, 1.0)[:, None]  # (B, 1)
        return np.clip(action + mirror * noise, -1.0, 1.0).astype(np.float32)
