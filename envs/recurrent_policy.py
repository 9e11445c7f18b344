"""A decision model acting one step at a time, carrying its backbone state: O(1) work per step
for recurrent backbones, however long the episode."""

import numpy as np
import torch

from envs.policy_step import act_within_bounds


class RecurrentPolicy:
    """Conditions a DecisionModel on `target_return` and steps it through `num_envs` episodes.

    The return-to-go starts at the target and drops by every reward received; the timestep
    counts the steps of each env's current episode. Actions are clipped to [action_low,
    action_high] (the action space's bounds: arrays of act_dim, or numbers)."""

    def __init__(
        self,
        model,
        target_return: float,
        num_envs: int,
        action_low=-np.inf,
        action_high=np.inf,
    ):
        parameter = next(model.parameters())
        self.model = model
        self.target_return = target_return
        bounds = dict(dtype=parameter.dtype, device=parameter.device)
        self.action_low = torch.as_tensor(action_low, **bounds)
        self.action_high = torch.as_tensor(action_high, **bounds)
        self.state = model.initial_state(num_envs)
        self.returns_to_go = torch.full(
            (num_envs,), target_return, dtype=parameter.dtype, device=parameter.device
        )
        self.timesteps = torch.zeros(num_envs, dtype=torch.int64, device=parameter.device)

    def reset(self, rows: np.ndarray) -> None:
        rows = torch.as_tensor(rows, device=self.timesteps.device)
        self.state = self.model.reset_state(self.state, rows)
        self.returns_to_go[rows] = self.target_return
        self.timesteps[rows] = 0

    def act(self, observations: np.ndarray) -> np.ndarray:
        observations = torch.as_tensor(observations).to(self.returns_to_go)
        actions, self.state = act_within_bounds(
            self.model,
            self.state,
            self.returns_to_go,
            observations,
            self.timesteps,
            self.action_low,
            self.action_high,
        )
        return actions.cpu().numpy().astype(np.float64)

    def observe(self, rewards: np.ndarray) -> None:
        self.returns_to_go -= torch.as_tensor(rewards).to(self.returns_to_go)
        self.timesteps += 1
