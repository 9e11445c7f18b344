"""A decision model re-run over the last K steps of every env at each step, as Decision
Transformer and Decision Mamba evaluate: O(K) work per step.

Each env's window is kept left-aligned: an episode's first K steps fill positions 0..K-1, after
which the window slides by one step per step. The prediction is read at the current step's
position, so the unused positions after it are never seen by the causal model, and no padding
reaches the steps it does see (left-padding would put zero tokens before the first step).
"""

import numpy as np
import torch


class WindowedPolicy:
    """Conditions a DecisionModel on `target_return`; the window K is its training context."""

    def __init__(self, model, target_return: float, num_envs: int, obs_dim: int, act_dim: int):
        parameter = next(model.parameters())
        self.model = model
        self.target_return = target_return
        self.window = model.config.context_length
        floats = dict(dtype=parameter.dtype, device=parameter.device)
        integers = dict(dtype=torch.int64, device=parameter.device)
        N, K = num_envs, self.window
        self.returns_to_go = torch.full((N,), target_return, **floats)
        self.timesteps = torch.zeros(N, **integers)
        # Per-env history of the current episode's last K steps, and how many of them exist.
        self.history = {
            "returns_to_go": torch.zeros(N, K, **floats),
            "observations": torch.zeros(N, K, obs_dim, **floats),
            "actions": torch.zeros(N, K, act_dim, **floats),
            "timesteps": torch.zeros(N, K, **integers),
        }
        self.filled = torch.zeros(N, **integers)
        self.rows = torch.arange(N, device=parameter.device)

    def reset(self, rows: np.ndarray) -> None:
        rows = torch.as_tensor(rows, device=self.rows.device)
        self.returns_to_go[rows] = self.target_return
        self.timesteps[rows] = 0
        self.filled[rows] = 0
        for buffer in self.history.values():
            buffer[rows] = 0  # stale steps would sit after the read position; keep them out

    def act(self, observations: np.ndarray) -> np.ndarray:
        observations = torch.as_tensor(observations).to(self.returns_to_go)
        # Envs whose window is full drop their oldest step: shift left by one, per row.
        full = self.filled == self.window  # (N,)
        for name, buffer in self.history.items():
            row_mask = full.view(-1, *([1] * (buffer.dim() - 1)))  # (N, 1[, 1])
            self.history[name] = torch.where(row_mask, buffer.roll(-1, dims=1), buffer)
        position = torch.clamp(self.filled, max=self.window - 1)  # (N,) where this step goes
        self.filled = position + 1
        history = self.history
        history["returns_to_go"][self.rows, position] = self.returns_to_go
        history["observations"][self.rows, position] = observations
        history["actions"][self.rows, position] = 0.0  # not seen by the prediction at this step
        history["timesteps"][self.rows, position] = self.timesteps

        predictions = self.model(
            history["returns_to_go"],
            history["observations"],
            history["actions"],
            history["timesteps"],
        )  # (N, K, act_dim)
        actions = predictions[self.rows, position]  # (N, act_dim)
        history["actions"][self.rows, position] = actions
        return actions.cpu().numpy().astype(np.float64)

    def observe(self, rewards: np.ndarray) -> None:
        self.returns_to_go -= torch.as_tensor(rewards).to(self.returns_to_go)
        self.timesteps += 1
