"""A backbone: a stack of pre-norm residual blocks around an interchangeable sequence mixer.

Every mixer (one file each in this folder) is a `Mixer`: it implements four methods, and gets a
fifth, `steps`, that it may replace with a faster one; so does the stack:
    forward(x)                  x (B, T, D) -> y (B, T, D), parallel over T, from the initial state
    forward_chunk(x, state)     -> (y, state): parallel over a chunk, continuing a carried state
    step(x_t, state)            x_t (B, D) -> (y_t, state): one position
    initial_state(batch_size)   a tuple of tensors, batch first
    steps(x, state, skip_first) -> (y, state): a few positions in one call, as `step` one
                                after another, except that in rows where skip_first (B,) is True
                                x[:, 0] leaves the state as it was (a rollout's first step has
                                no previous action) and its output means nothing
A state is a tuple of tensors (a mixer's) or of tuples (the stack's), always batch first, so
`reset_rows` can restart some sequences of a batch while the others go on.
"""

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from infra.errors import ConfigError
from infra.field_types import check_field_types

from .dropout import Dropout

State = tuple
# Scan names of earlier versions, still read from checkpoints, config.json and suite files: both
# were the torch path, now "torch" for every backbone.
RENAMED_SCANS = {"fused": "torch", "chunked": "torch"}


@dataclass(frozen=True)
class BackboneConfig:
    """Fields shared by every backbone; each backbone's config adds its own."""

    d_model: int = 128
    """Width of the residual stream (the token embedding size)."""
    n_layers: int = 3
    """Number of residual blocks (mixer + MLP)."""
    dropout: float = 0.1
    """Dropout on each block's mixer and MLP output."""

    # Whether torch.func.vmap can map the backbone over members' stacked parameters (several
    # seeds trained as one computation); nn.GRU / nn.LSTM cannot (no batching rule).
    vmappable: ClassVar[bool] = True

    def __post_init__(self):
        # Every field's type first (a suite file or a Python caller may hand in anything),
        # then each backbone's own constraints (its __post_init__ calls this one first).
        if getattr(self, "scan", None) in RENAMED_SCANS:
            object.__setattr__(self, "scan", RENAMED_SCANS[self.scan])
        check_field_types(self, name_of=lambda name: f"{type(self).__name__}.{name}")
        for name, value in vars(self).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{type(self).__name__}.{name} must be finite, got {value}")
        if self.d_model <= 0 or self.n_layers <= 0:
            raise ConfigError(
                f"d_model and n_layers must be positive, got {self.d_model}, {self.n_layers}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    def fitted_to_context(self, tokens: int) -> "BackboneConfig":
        """This config for a decision model whose training windows hold `tokens` tokens; only a
        backbone with a finite span (the transformer's window) depends on it."""
        return self

    def make_mixer(self) -> "Mixer":
        raise NotImplementedError(f"{type(self).__name__} must define make_mixer()")

    def build(self) -> "Backbone":
        return Backbone(self, [self.make_mixer() for _ in range(self.n_layers)])


def step_by_step(step, inputs: tuple[torch.Tensor, ...], state: State, skip_first: torch.Tensor):
    """`step(*inputs_t, state) -> (y_t, state)` at each position t of `inputs` (tensors (B, T,
    ...)) in turn; in the rows where skip_first (B,) is True, position 0 leaves the state as it
    was. -> the outputs stacked (B, T, ...), and the state."""
    outputs = []
    for position, inputs_t in enumerate(zip(*(tensor.unbind(1) for tensor in inputs), strict=True)):
        y_t, stepped = step(*inputs_t, state)
        state = reset_rows(stepped, state, skip_first) if position == 0 else stepped
        outputs.append(y_t)
    return torch.stack(outputs, dim=1), state


class Mixer(nn.Module):
    """A sequence mixer (see the module's docstring for the methods every mixer implements)."""

    def steps(self, x: torch.Tensor, state: State, skip_first: torch.Tensor):
        """`step` position by position. A mixer whose step projects its input and output
        position-wise overrides this to project all positions at once, reading its weights once
        per call: rollouts at batch 1 are bound by reading weights."""
        return step_by_step(self.step, (x,), state, skip_first)


class ResidualBlock(nn.Module):
    """x + mixer(norm(x)), then x + mlp(norm(x)), as in GPT-2's pre-LN block."""

    def __init__(self, mixer: Mixer, d_model: int, dropout: float):
        super().__init__()
        self.mixer_norm = nn.LayerNorm(d_model)
        self.mixer = mixer
        self.mlp_norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )
        self.dropout = Dropout(dropout)

    def _add_mixed(self, x: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(mixed)
        return x + self.dropout(self.mlp(self.mlp_norm(x)))

    def forward(self, x):
        return self._add_mixed(x, self.mixer(self.mixer_norm(x)))

    def forward_chunk(self, x, state):
        mixed, state = self.mixer.forward_chunk(self.mixer_norm(x), state)
        return self._add_mixed(x, mixed), state

    def step(self, x_t, state):
        mixed, state = self.mixer.step(self.mixer_norm(x_t), state)
        return self._add_mixed(x_t, mixed), state

    def steps(self, x, state, skip_first):
        # The MLP reads its weights once for all positions, whatever the mixer does.
        mixed, state = self.mixer.steps(self.mixer_norm(x), state, skip_first)
        return self._add_mixed(x, mixed), state


class Backbone(nn.Module):
    def __init__(self, config: BackboneConfig, mixers: list[Mixer]):
        super().__init__()
        self.config = config
        self.blocks = nn.ModuleList(
            ResidualBlock(m, config.d_model, config.dropout) for m in mixers
        )
        self.final_norm = nn.LayerNorm(config.d_model)

    def initial_state(self, batch_size: int) -> State:
        return tuple(block.mixer.initial_state(batch_size) for block in self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x)

    def forward_chunk(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return self._through_blocks("forward_chunk", x, state)

    def step(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return self._through_blocks("step", x_t, state)

    def steps(self, x: torch.Tensor, state: State, skip_first: torch.Tensor):
        """x (B, T, D) -> (y (B, T, D), state): `step` at each position in one pass through the
        blocks; in rows where skip_first (B,) is True, x[:, 0] leaves the state as it was."""
        return self._through_blocks("steps", x, state, skip_first)

    def _through_blocks(self, method: str, x: torch.Tensor, state: State, *args):
        """Each block's `method` in turn, each carrying its own part of the state."""
        new_state = []
        for block, block_state in zip(self.blocks, state, strict=True):
            x, block_state = getattr(block, method)(x, block_state, *args)
            new_state.append(block_state)
        return self.final_norm(x), tuple(new_state)


def reset_rows(state: State, initial: State, rows: torch.Tensor) -> State:
    """Take `initial` in the batch rows where `rows` (B,) is True, `state` elsewhere."""
    if isinstance(state, torch.Tensor):
        mask = rows.view(-1, *([1] * (state.dim() - 1)))  # (B, 1, ..., 1)
        return torch.where(mask, initial, state)
    return tuple(reset_rows(s, i, rows) for s, i in zip(state, initial, strict=True))


def state_tensors(state: State) -> list[torch.Tensor]:
    """The tensors of a (nested tuple) state, in order."""
    if isinstance(state, torch.Tensor):
        return [state]
    return [tensor for part in state for tensor in state_tensors(part)]
