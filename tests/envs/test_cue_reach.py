"""The cue-reach memory task: made by id with a delay, the cue seen once, and nothing in the last
20 steps before the go flag that depends on the cue."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers CueReach-v0)
from envs.cue_reach import REACH_STEPS, cued_target

WINDOW = 20


def episode(delay: int, seed: int, cue: int, actions: np.ndarray):
    """Observations (T + 1, 9), rewards (T,) and the last info of one episode under `cue`."""
    env = gym.make("CueReach-v0", delay=delay)
    observation, _ = env.reset(seed=seed, options={"cue": cue})
    observations, rewards = [observation], []
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        observations.append(observation)
        rewards.append(reward)
        if terminated or truncated:
            break
    env.close()
    return np.array(observations), np.array(rewards), terminated, info


def test_the_cue_is_shown_once_and_the_go_flag_from_the_delay_on():
    delay = 30
    actions = np.zeros((delay + REACH_STEPS, 2))
    observations, rewards, terminated, _ = episode(delay, seed=0, cue=-1, actions=actions)
    assert terminated and len(rewards) == delay + REACH_STEPS
    np.testing.assert_array_equal(observations[0, 6:8], cued_target(-1))
    assert not observations[1:, 6:8].any()
    np.testing.assert_array_equal(observations[:, 8], np.arange(len(observations)) >= delay)


@pytest.mark.parametrize("delay", [21, 30, 100])
def test_the_last_20_steps_before_the_go_flag_are_identical_under_both_cues(delay):
    """Same seed, same actions: observations and rewards of the window before the go flag agree
    bit for bit whichever target is cued (so do returns-to-go of the hold: the rewards from the
    window's start to the go flag)."""
    actions = np.random.default_rng(1).uniform(-1, 1, (delay + REACH_STEPS, 2))
    left = episode(delay, seed=7, cue=1, actions=actions)
    right = episode(delay, seed=7, cue=-1, actions=actions)
    window = slice(delay - WINDOW, delay)  # steps before the one whose observation has go = 1
    np.testing.assert_array_equal(left[0][window], right[0][window])
    np.testing.assert_array_equal(left[1][window], right[1][window])
    assert not left[0][window, 8].any()
    # the cue does show after the go flag: the reach rewards differ
    assert not np.array_equal(left[1][delay:], right[1][delay:])


@pytest.mark.parametrize("delay", [0, -3, 2.5, True])
def test_a_delay_that_is_not_a_positive_whole_number_is_refused(delay):
    with pytest.raises(ValueError, match="delay must be a positive whole number"):
        gym.make("CueReach-v0", delay=delay)


def test_success_is_reported_at_the_last_step_only():
    delay = 10
    actions = np.zeros((delay + REACH_STEPS, 2))
    *_, info = episode(delay, seed=0, cue=1, actions=actions)
    assert info["is_success"] is False  # zero torque never leaves the home pose
