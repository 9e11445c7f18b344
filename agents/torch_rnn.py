"""Classical GRU and LSTM baselines: torch.nn.GRU / nn.LSTM (cuDNN on GPU, MKL on CPU).

They run outside autocast, in their weights' dtype: autocast's wrapper for cuDNN RNNs casts to
float16 whatever dtype autocast was given, and nothing scales float16's gradients here.
"""

from dataclasses import dataclass

import torch
from torch import nn

from .stack import BackboneConfig, Mixer


class TorchRNN(Mixer):
    """One nn.GRU or nn.LSTM layer. Its state is (h,) or (h, c), each (B, D)."""

    def __init__(self, rnn: nn.GRU | nn.LSTM):
        super().__init__()
        self.rnn = rnn
        self.n_state_tensors = 2 if isinstance(rnn, nn.LSTM) else 1

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        weight = self.rnn.weight_hh_l0
        zeros = torch.zeros(
            batch_size, self.rnn.hidden_size, device=weight.device, dtype=weight.dtype
        )
        return (zeros,) * self.n_state_tensors

    def run_rnn(self, x: torch.Tensor, hidden=None):
        """self.rnn outside autocast, on x cast to the weights' dtype."""
        with torch.autocast(x.device.type, enabled=False):
            return self.rnn(x.to(self.rnn.weight_hh_l0.dtype), hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run_rnn(x)[0]

    def forward_chunk(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]):
        hidden = tuple(s.unsqueeze(0).contiguous() for s in state)  # (1, B, D): torch's layout
        y, hidden = self.run_rnn(x, hidden if self.n_state_tensors == 2 else hidden[0])
        hidden = hidden if self.n_state_tensors == 2 else (hidden,)
        return y, tuple(s.squeeze(0) for s in hidden)

    def step(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]):
        y, state = self.forward_chunk(x_t.unsqueeze(1), state)  # a chunk of one: (B, 1, D)
        return y.squeeze(1), state


@dataclass(frozen=True)
class GRUConfig(BackboneConfig):
    vmappable = False

    def make_mixer(self) -> Mixer:
        return TorchRNN(nn.GRU(self.d_model, self.d_model, batch_first=True))


@dataclass(frozen=True)
class LSTMConfig(BackboneConfig):
    vmappable = False

    def make_mixer(self) -> Mixer:
        return TorchRNN(nn.LSTM(self.d_model, self.d_model, batch_first=True))
