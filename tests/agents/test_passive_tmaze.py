"""Ni et al. 2023's passive T-maze ("When do transformers shine in RL?"), in numpy with continuous
actions: the cue (up or down) is seen at t = 0 only; the agent walks a corridor of MEMORY_LENGTH
steps and at the junction must turn to the cued side. A tiny min-gru trained on whole episodes
from the episode start remembers the cue; one trained on the last 20 steps cannot see it."""

import numpy as np
import torch
from torch import nn

from agents import build_backbone

MEMORY_LENGTH = 50
WINDOW = 20


def passive_tmaze(episodes: int, rng: np.random.Generator):
    """observations (B, T, 3): cue at t = 0, junction flag, noise (as RATE's T-maze data);
    actions (B, T, 2): (move along the corridor, turn), turn = cue at the junction; cue (B,)."""
    B, T = episodes, MEMORY_LENGTH + 1
    cue = rng.choice([-1.0, 1.0], B)
    observations = np.zeros((B, T, 3), np.float32)
    observations[:, 0, 0] = cue
    observations[:, MEMORY_LENGTH, 1] = 1.0
    observations[:, :, 2] = rng.normal(0.0, 0.1, (B, T))
    actions = np.zeros((B, T, 2), np.float32)
    actions[:, :MEMORY_LENGTH, 0] = 1.0
    actions[:, MEMORY_LENGTH, 1] = cue
    return torch.from_numpy(observations), torch.from_numpy(actions), cue


class TinyPolicy(nn.Module):
    def __init__(self, d_model: int = 16):
        super().__init__()
        self.embed = nn.Linear(3, d_model)
        self.backbone = build_backbone("min-gru", d_model=d_model, n_layers=1, dropout=0.0)
        self.head = nn.Linear(d_model, 2)

    def forward(self, observations):  # (B, T, 3) -> (B, T, 2)
        return self.head(self.backbone(self.embed(observations)))


def trained_success(first_step: int, steps: int = 300) -> float:
    """Train on the steps from `first_step` to the junction (0: the whole episode, from its
    start), then the share of 500 test episodes that turn to the cued side at the junction."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    policy = TinyPolicy()
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-2)
    for _ in range(steps):
        observations, actions, _ = passive_tmaze(32, rng)
        errors = (policy(observations[:, first_step:]) - actions[:, first_step:]).pow(2).mean(-1)
        # the corridor and the junction weigh the same: the one decision is not drowned out
        loss = errors[:, :-1].mean() + errors[:, -1].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        observations, _, cue = passive_tmaze(500, rng)
        turn = policy(observations[:, first_step:])[:, -1, 1].numpy()
    return float(np.mean(np.sign(turn) == cue))


def test_min_gru_from_the_episode_start_remembers_the_cue_for_50_steps():
    assert trained_success(first_step=0) >= 0.95


def test_a_20_step_window_is_at_chance():
    # no training could help: the window holds nothing that depends on the cue
    assert 0.4 <= trained_success(first_step=MEMORY_LENGTH + 1 - WINDOW, steps=100) <= 0.6
