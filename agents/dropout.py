"""Dropout whose random numbers a caller may supply.

Several seeds trained as one batched computation (torch.func.vmap over stacked parameters)
cannot give each member its own random stream through torch's global generator: vmap draws one
tensor for all members from it. So the caller draws each member's uniform numbers from the
member's own generator and hands them in with `supplied_noise`; every dropout call in the block
takes the next row. Outside such a block this is nn.Dropout.
"""

import contextlib
import contextvars
from collections.abc import Iterator

import torch
from torch import nn


class NoiseRows:
    """Uniform numbers in [0, 1), one row per dropout call, taken in order; without numbers
    (None) the calls are only counted and nothing is dropped."""

    def __init__(self, uniform: torch.Tensor | None):
        self.uniform = uniform  # (calls, elements)
        self.taken = 0

    def next_row(self, like: torch.Tensor) -> torch.Tensor:
        self.taken += 1
        if self.uniform is None:
            return torch.ones_like(like)
        if self.taken > self.uniform.shape[0]:
            raise RuntimeError(
                f"dropout called more than the {self.uniform.shape[0]} times supplied"
            )
        return self.uniform[self.taken - 1].view(like.shape)  # (elements,) -> like's shape


_supplied: contextvars.ContextVar[NoiseRows | None] = contextvars.ContextVar(
    "supplied_dropout_noise", default=None
)


@contextlib.contextmanager
def supplied_noise(uniform: torch.Tensor | None) -> Iterator[NoiseRows]:
    """Within the block, dropout call i keeps an element where uniform[i] >= p (None: count
    the calls in `rows.taken`, keep everything)."""
    rows = NoiseRows(uniform)
    token = _supplied.set(rows)
    try:
        yield rows
    finally:
        _supplied.reset(token)


class Dropout(nn.Dropout):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        rows = _supplied.get()
        if rows is None:
            return super().forward(x)
        keep = rows.next_row(x) >= self.p
        return x * keep / (1.0 - self.p)
