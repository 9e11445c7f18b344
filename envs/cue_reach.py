"""Cue reach: a MuJoCo memory task on Gymnasium's Reacher-v5 arm.

One of two targets, mirror images about the x-axis, is the goal; it is shown in the first
observation only. For `delay` steps the arm holds its home pose on the mirror axis; then a "go"
flag appears in the observation, and the arm has REACH_STEPS steps to bring its fingertip to the
cued target. Success: the fingertip ends within SUCCESS_DISTANCE of it.

Nothing after the first observation depends on the cue until the go flag: the target is hidden,
the hold reward measures the distance to the home pose (a distance to the target would leak the
cue's side through the fingertip's small offsets), and the target body touches nothing. So a
model that reads only the last 20 steps before the go flag cannot tell the cues apart."""

import mujoco
import numpy as np
from gymnasium import Env, spaces
from gymnasium.envs.mujoco.reacher_v5 import ReacherEnv

# The two targets (x, ±y), within the arm's reach of 0.21 (links 0.1 and 0.11).
TARGET = np.array([0.10, 0.12])
HOME_FINGERTIP = np.array([0.21, 0.0])  # joints at 0: the arm lies on the mirror axis
REACH_STEPS = 25
DEFAULT_DELAY = 30
SUCCESS_DISTANCE = 0.05  # a fifth of the distance between the two targets
CONTROL_WEIGHT = 0.1  # Reacher-v5's control cost weight
START_NOISE = 0.02  # uniform noise on the arm's starting angles and velocities
# observation: cos q (2), sin q (2), joint velocities (2), cue = target position (2), go flag
OBSERVATION_DIM = 9


def episode_length(delay: int = DEFAULT_DELAY) -> int:
    """Steps of an episode: the hold, then the reach."""
    return delay + REACH_STEPS


def cued_target(cue: int) -> np.ndarray:
    """cue +1 or -1 -> the target (x, cue * y)."""
    return TARGET * np.array([1.0, cue])


class CueReachEnv(Env):
    """Gymnasium env `CueReach-v0`: `gym.make("CueReach-v0", delay=30)`.

    An episode has delay + REACH_STEPS steps. Observation t carries the cued target at t = 0
    only, and the go flag from t = delay on. reset(options={"cue": +1 or -1}) fixes the cue
    (by default it is drawn); every other draw is the same under either cue."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 25}

    def __init__(self, delay: int = DEFAULT_DELAY, render_mode: str | None = None):
        if isinstance(delay, bool) or not isinstance(delay, int | np.integer) or delay <= 0:
            raise ValueError(f"delay must be a positive whole number of steps, got {delay!r}")
        self.delay = int(delay)
        self.episode_length = episode_length(self.delay)
        self.render_mode = render_mode
        self._reacher = ReacherEnv(render_mode=render_mode)  # Reacher-v5's model and physics
        self.action_space = self._reacher.action_space
        self.observation_space = spaces.Box(-np.inf, np.inf, (OBSERVATION_DIM,), np.float64)
        self._cue = 1
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        drawn = int(self.np_random.choice((-1, 1)))  # drawn even when given: same later draws
        self._cue = int((options or {}).get("cue", drawn))
        if self._cue not in (-1, 1):
            raise ValueError(f"cue must be +1 or -1, got {self._cue!r}")
        reacher = self._reacher
        mujoco.mj_resetData(reacher.model, reacher.data)
        qpos = reacher.init_qpos.copy()
        qpos[:2] = self.np_random.uniform(-START_NOISE, START_NOISE, 2)
        qpos[2:] = cued_target(self._cue)  # the target body, for rendering: it touches nothing
        qvel = np.zeros_like(reacher.init_qvel)
        qvel[:2] = self.np_random.uniform(-START_NOISE, START_NOISE, 2)
        reacher.set_state(qpos, qvel)
        self._t = 0
        if self.render_mode == "human":
            self.render()
        return self._observation(), {"cue": self._cue}

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self._reacher.do_simulation(action, self._reacher.frame_skip)
        self._t += 1
        fingertip = self._fingertip()
        holding = self._t <= self.delay  # actions 0 .. delay - 1 hold, the rest reach
        goal = HOME_FINGERTIP if holding else cued_target(self._cue)
        reward = -np.linalg.norm(fingertip - goal) - CONTROL_WEIGHT * np.square(action).sum()
        terminated = self._t == self.episode_length
        distance = np.linalg.norm(fingertip - cued_target(self._cue))
        info = {"is_success": bool(terminated and distance < SUCCESS_DISTANCE)}
        if self.render_mode == "human":
            self.render()
        return self._observation(), float(reward), terminated, False, info

    def render(self):
        return self._reacher.render()

    def close(self):
        self._reacher.close()

    def _fingertip(self) -> np.ndarray:
        return self._reacher.data.body("fingertip").xpos[:2].copy()

    def _observation(self) -> np.ndarray:
        angles = self._reacher.data.qpos[:2]
        cue = cued_target(self._cue) if self._t == 0 else np.zeros(2)
        go = float(self._t >= self.delay)
        return np.concatenate(
            [np.cos(angles), np.sin(angles), self._reacher.data.qvel[:2], cue, [go]]
        )
