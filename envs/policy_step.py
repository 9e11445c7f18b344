"""One environment step of a decision model as a function of plain tensors: what RecurrentPolicy
computes at each step, in a form that torch.export and ONNX can trace.

    action, *next_state = PolicyStep(model, low, high)(observation, return_to_go, timestep, *state)

The observation is the environment's own (the model normalises it), the return-to-go is in raw
reward units (the model scales it), the action comes back clipped to the action space. The
state is the model's nested state flattened into named tensors (`state_layout`), batch first.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._pytree import tree_flatten, tree_unflatten

from agents import DecisionModel
from agents.stack import State


def act_within_bounds(
    model: DecisionModel, state: State, returns_to_go, observations, timesteps, low, high
):
    """One step for a batch: (B,), (B, obs), (B,) -> actions (B, act) clipped to [low, high],
    and the next state."""
    actions, state = model.act(state, returns_to_go, observations, timesteps)
    return actions.clamp(low, high), state


@dataclass(frozen=True)
class StateTensor:
    """One tensor of the flattened state: how a caller builds its initial value."""

    name: str
    shape: tuple[int, ...]
    """Batch first, the batch given as -1."""
    dtype: str
    fill: float
    """Every element's initial value: 0, or -inf (e.g. Aaren's running maximum)."""

    def to_json(self) -> dict:
        fill = self.fill if math.isfinite(self.fill) else str(self.fill)  # JSON has no -inf
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "fill": fill}


def _state_names(state: State) -> list[str]:
    """layer<i>.<j> for the j-th tensor of backbone layer i, then previous_action."""
    backbone_state, _ = state
    layers = [f"layer{i}.{j}" for i, layer in enumerate(backbone_state) for j in range(len(layer))]
    return [*layers, "previous_action"]


def state_layout(model: DecisionModel) -> list[StateTensor]:
    """The flattened state of `model`, from its initial state (whose every tensor holds one
    value throughout)."""
    state = model.initial_state(1)
    tensors, _ = tree_flatten(state)
    layout = []
    for name, tensor in zip(_state_names(state), tensors, strict=True):
        values = tensor.unique()
        if values.numel() != 1:
            raise ValueError(f"state tensor {name} does not start from one value")
        dtype = str(tensor.dtype).removeprefix("torch.")
        layout.append(StateTensor(name, (-1, *tensor.shape[1:]), dtype, float(values)))
    return layout


class PolicyStep(nn.Module):
    """A DecisionModel's step over flat tensors, with observation normalisation, return scaling,
    timestep and action clipping inside (all of it `act_within_bounds`)."""

    def __init__(self, model: DecisionModel, action_low, action_high):
        super().__init__()
        self.model = model
        self.register_buffer("action_low", torch.as_tensor(action_low, dtype=torch.float32))
        self.register_buffer("action_high", torch.as_tensor(action_high, dtype=torch.float32))
        self.layout = state_layout(model)
        self._state_structure = tree_flatten(model.initial_state(1))[1]

    def initial_state(self, batch_size: int) -> list[torch.Tensor]:
        # Copies: a mixer may hand out one tensor twice (LSTM's h and c) or a broadcast view
        # (Mamba's), and an exported graph must see distinct, dense inputs.
        return [tensor.clone() for tensor in tree_flatten(self.model.initial_state(batch_size))[0]]

    def forward(self, observation, return_to_go, timestep, *state):
        """(B, obs) float, (B, 1) float, (B,) int64, state tensors -> (B, act), next state."""
        nested = tree_unflatten(list(state), self._state_structure)
        action, nested = act_within_bounds(
            self.model,
            nested,
            return_to_go.squeeze(-1),
            observation,
            timestep,
            self.action_low,
            self.action_high,
        )
        return action, *tree_flatten(nested)[0]
