"""The two ways a decision model acts (recurrent, windowed), and evaluate_model end to end."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from envs.evaluation import evaluate_model
from envs.recurrent_policy import RecurrentPolicy
from envs.windowed_policy import WindowedPolicy

OBS_DIM, ACT_DIM = 11, 3


class FakeDecisionModel(nn.Module):
    """Acts on the current observation and return-to-go only, the same way through `act` and
    `forward`, so both modes choose the same actions. Its state counts the steps it has taken
    since its last reset, and it records every call."""

    def __init__(self, context_length: int = 4, dtype=torch.float32):
        super().__init__()
        self.config = SimpleNamespace(
            context_length=context_length, layout="interleaved", max_timestep=1000
        )
        self.weight = nn.Parameter(
            torch.randn(ACT_DIM, OBS_DIM, generator=torch.Generator().manual_seed(0), dtype=dtype)
        )
        self.act_calls: list[dict] = []
        self.forward_calls: list[dict] = []

    def _action(self, returns_to_go, observations):
        return torch.tanh(observations @ self.weight.T + 1e-3 * returns_to_go.unsqueeze(-1))

    def initial_state(self, batch_size):
        return (torch.zeros(batch_size, dtype=torch.int64),)

    def reset_state(self, state, rows):
        return (torch.where(rows, 0, state[0]),)

    def act(self, state, returns_to_go, observations, timesteps):
        self.act_calls.append(
            dict(
                steps_taken=state[0].clone(),
                returns_to_go=returns_to_go.clone(),
                timesteps=timesteps.clone(),
            )
        )
        return self._action(returns_to_go, observations), (state[0] + 1,)

    def forward(self, returns_to_go, observations, actions, timesteps):
        self.forward_calls.append(
            dict(
                returns_to_go=returns_to_go.clone(),
                observations=observations.clone(),
                actions=actions.clone(),
                timesteps=timesteps.clone(),
            )
        )
        return self._action(returns_to_go, observations)


@torch.inference_mode()
def drive(policy, steps: int, resets: dict[int, list[int]], num_envs: int):
    """Feed `policy` synthetic observations and rewards; reset the listed envs before a step.
    Returns per-env episode histories (lists of (observation, reward, action)) to check against."""
    episodes = [[[]] for _ in range(num_envs)]
    policy.reset(np.ones(num_envs, dtype=bool))
    for step in range(steps):
        if step in resets:
            rows = np.isin(np.arange(num_envs), resets[step])
            policy.reset(rows)
            for env in resets[step]:
                episodes[env].append([])
        observations = np.arange(num_envs)[:, None] * 100.0 + step + np.linspace(0, 0.5, OBS_DIM)
        actions = policy.act(observations)
        rewards = 1.0 + step + 10.0 * np.arange(num_envs)
        policy.observe(rewards)
        for env in range(num_envs):
            episodes[env][-1].append((observations[env], rewards[env], actions[env]))
    return episodes


def test_recurrent_policy_carries_returns_to_go_timesteps_and_state_per_env():
    model = FakeDecisionModel()
    target = 500.0
    drive(RecurrentPolicy(model, target, 3), steps=7, resets={3: [1], 5: [0, 2]}, num_envs=3)
    # Steps since the episode began, per step and env.
    expected_t = np.array(
        [[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 0, 3], [4, 1, 4], [0, 2, 0], [1, 3, 1]]
    )
    for step, call in enumerate(model.act_calls):
        np.testing.assert_array_equal(call["timesteps"], expected_t[step])
        np.testing.assert_array_equal(call["steps_taken"], expected_t[step])  # reset_state rows
        # Return-to-go: the target less the rewards of this episode's earlier steps.
        earlier_steps = [np.arange(step - expected_t[step, env], step) for env in range(3)]
        earned = [np.sum(1.0 + s + 10.0 * env) for env, s in enumerate(earlier_steps)]
        np.testing.assert_allclose(call["returns_to_go"], target - np.array(earned), rtol=1e-6)


@pytest.mark.parametrize("K", [1, 3])
def test_windowed_policy_shows_each_env_its_last_K_steps_in_order(K):
    model = FakeDecisionModel(context_length=K)
    target = 500.0
    episodes = drive(
        WindowedPolicy(model, target, 3, OBS_DIM, ACT_DIM),
        steps=8,
        resets={4: [1], 6: [0, 2]},
        num_envs=3,
    )
    # Which episode and step each env was at, at every policy call.
    position_in = [
        [(e, t) for e, episode in enumerate(env_episodes) for t in range(len(episode))]
        for env_episodes in episodes
    ]
    for step, call in enumerate(model.forward_calls):
        assert call["observations"].shape == (3, K, OBS_DIM)
        for env in range(3):
            episode_index, t = position_in[env][step]
            episode = episodes[env][episode_index]
            window = range(max(0, t - K + 1), t + 1)
            n = len(window)
            np.testing.assert_allclose(
                call["observations"][env, :n], [episode[s][0] for s in window], rtol=1e-6
            )
            np.testing.assert_array_equal(call["timesteps"][env, :n], list(window))
            rewards = np.array([r for _, r, _ in episode])
            np.testing.assert_allclose(
                call["returns_to_go"][env, :n],
                [target - rewards[:s].sum() for s in window],
                rtol=1e-6,
            )
            # Earlier steps carry the actions taken; the current step's action slot is blank.
            taken = np.reshape([episode[s][2] for s in window[:-1]], (n - 1, ACT_DIM))
            np.testing.assert_allclose(call["actions"][env, : n - 1], taken, rtol=1e-6)
            assert not call["actions"][env, n - 1].any()
            # Nothing of another episode, or stale, after the current step.
            assert not call["observations"][env, n:].any()


@pytest.mark.parametrize("mode", ["recurrent", "windowed"])
def test_evaluate_model_is_deterministic_and_restores_training_mode(mode):
    model = FakeDecisionModel()
    model.train()
    first = evaluate_model(
        model, env_id="Hopper-v5", target_return=100.0, episodes=3, mode=mode, seed=4, num_envs=2
    )
    again = evaluate_model(
        model, env_id="Hopper-v5", target_return=100.0, episodes=3, mode=mode, seed=4, num_envs=2
    )
    assert model.training
    assert first.returns.shape == first.lengths.shape == (3,)
    np.testing.assert_array_equal(first.returns, again.returns)
    np.testing.assert_array_equal(first.env_seeds, [4, 5])


def test_both_modes_agree_when_the_model_ignores_history():
    recurrent, windowed = (
        evaluate_model(
            FakeDecisionModel(dtype=torch.float64),
            env_id="hopper",
            target_return=100.0,
            episodes=4,
            mode=mode,
            seed=1,
        )
        for mode in ("recurrent", "windowed")
    )
    np.testing.assert_allclose(recurrent.returns, windowed.returns, rtol=1e-9)
    np.testing.assert_array_equal(recurrent.lengths, windowed.lengths)


def test_evaluate_model_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="unknown mode"):
        evaluate_model(
            FakeDecisionModel(), env_id="hopper", target_return=1.0, episodes=1, mode="bogus"
        )
