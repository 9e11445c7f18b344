"""The cue-reach scripted controller: the expert reaches the cued target, the mixed level the
other one in about half the episodes, and episode returns do not depend on the cue."""

import numpy as np
import pytest

from datasets.collect import CollectionTask, collect
from datasets.scripted_reach import LINK_LENGTHS, ScriptedReacher
from envs.cue_reach import SUCCESS_DISTANCE, cued_target, episode_length

DELAY = 30
EPISODES = 64


def episodes(level: str, seed: int = 0):
    steps = EPISODES * episode_length(DELAY)
    task = CollectionTask("CueReach-v0", None, steps, EPISODES, seed, level, {"delay": DELAY})
    return collect(task)


def success(episode) -> bool:
    """From the recorded final observation: the fingertip near enough to the cued target."""
    angles = np.arctan2(episode.observations[-1, 2:4], episode.observations[-1, 0:2])
    elbow = angles[0] + angles[1]
    shoulder_to_elbow, elbow_to_tip = LINK_LENGTHS
    fingertip = shoulder_to_elbow * np.array([np.cos(angles[0]), np.sin(angles[0])])
    fingertip += elbow_to_tip * np.array([np.cos(elbow), np.sin(elbow)])
    cue = int(np.sign(episode.observations[0, 7]))
    return bool(np.linalg.norm(fingertip - cued_target(cue)) < SUCCESS_DISTANCE)


def test_the_expert_reaches_the_cued_target_in_at_least_95_percent_of_episodes():
    collected = episodes("expert")
    assert len(collected) == EPISODES
    assert np.mean([success(e) for e in collected]) >= 0.95


def test_mixed_reaches_the_other_target_in_about_half_the_episodes():
    rate = np.mean([success(e) for e in episodes("mixed")])
    assert 0.3 <= rate <= 0.7


def test_expert_returns_have_one_distribution_under_both_cues():
    """Returns-to-go carry no cue: the mean returns of the two cues agree within noise."""
    collected = episodes("expert", seed=3)
    returns = np.array([e.rewards.sum() for e in collected])
    cues = np.sign([e.observations[0, 7] for e in collected])
    left, right = returns[cues > 0], returns[cues < 0]
    standard_error = np.sqrt(left.var() / len(left) + right.var() / len(right))
    assert abs(left.mean() - right.mean()) < 4 * standard_error + 1e-9


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown level"):
        ScriptedReacher("medium")
