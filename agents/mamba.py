"""The selective state-space block of Mamba (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling
with Selective State Spaces", Sec. 3 and Fig. 3), its S6 layer by Alg. 2:

    x, z = in_proj(u);  x = SiLU(causal depthwise conv1d(x))             (Fig. 3, left branch)
    B = s_B(x),  C = s_C(x),  Delta = softplus(dt_proj(s_Delta(x)))        (Alg. 2, lines 2-4)
    A_bar = exp(Delta A),  B_bar x = Delta B x      (Eq. 4's A_bar; B_bar simplified, as the code)
    h_t = A_bar_t * h_{t-1} + B_bar_t x_t,   y_t = C_t . h_t + D * x_t    (Eq. 2a-2b, per channel)
    out = out_proj(y * SiLU(z))
A is real and diagonal per channel, A = -exp(A_log), S4D-real initialised: A_n = -(n + 1).
The state carried between chunks is the conv window (the last d_conv - 1 inputs) and h.

Scans (`scan`, kernels/selective_scan/): "torch" (one fused node, any device), "cpu" and "triton"
(compiled C++ and Triton kernels) and "reference", the linear scan over materialised (B, T,
d_inner, N) A_bar and B_bar x. The convolution and its SiLU (kernels/causal_conv/) run by the
same name.
All compute in float32 (float64 if the model is), and so does the carried h.
Parameter names and shapes are those of the reference implementation (mamba_simple.py), so its
weights load one to one.
"""

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from infra.errors import ConfigError

from .kernels import selective_scan as selective_scan_op
from .kernels.causal_conv import causal_conv_silu
from .kernels.selective_scan import discretised, read_out, selective_scan
from .stack import BackboneConfig, Mixer, step_by_step

ScanKind = Literal["auto", "torch", "cpu", "triton", "reference"]


def inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """x with softplus(x) = y, for y > 0: y + log(1 - exp(-y))."""
    return y + torch.log(-torch.expm1(-y))


class Mamba(Mixer):
    def __init__(
        self, *, d_model, d_state, d_conv, expand, dt_rank, dt_min, dt_max, scan: ScanKind
    ):
        super().__init__()
        self.d_inner, self.d_state, self.dt_rank = expand * d_model, d_state, dt_rank
        self.scan = scan
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        # Padding comes from the carried window, not from the layer.
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner)
        self.x_proj = nn.Linear(self.d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, self.d_inner)
        # As the reference: weights uniform in +-dt_rank^-1/2 and a bias that makes
        # softplus(bias) = Delta log-uniform in [dt_min, dt_max]. The decision model's GPT-2
        # initialisation skips this module (`keep_init`).
        nn.init.uniform_(self.dt_proj.weight, -(dt_rank**-0.5), dt_rank**-0.5)
        log_dt = torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        with torch.no_grad():
            self.dt_proj.bias.copy_(inverse_softplus(torch.exp(log_dt)))
        self.dt_proj.keep_init = True
        state_index = torch.arange(1, d_state + 1, dtype=torch.float32)
        self.A_log = nn.Parameter(torch.log(state_index).repeat(self.d_inner, 1))  # (d_inner, N)
        self.D = nn.Parameter(torch.ones(self.d_inner))
        for dynamics in (self.A_log, self.D, self.dt_proj.bias):
            dynamics.no_weight_decay = True  # as the reference: decay would drag A to -1, D to 0
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def _selection(self, x: torch.Tensor):
        """The low-rank step size, B and C (Alg. 2, lines 2-3: s_Delta's first projection, s_B
        and s_C) from x (..., d_inner): (..., dt_rank), (..., N), (..., N)."""
        return self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)

    def initial_state(self, batch_size: int):
        """Zeros, as views of one zero: what the scan and the convolution save of them costs
        nothing."""
        A_log, kernel_size = self.A_log, self.conv1d.kernel_size[0]
        h_dtype = torch.promote_types(A_log.dtype, torch.float32)  # the scans' precision
        window = A_log.new_zeros(()).expand(batch_size, self.d_inner, kernel_size - 1)
        h = A_log.new_zeros((), dtype=h_dtype).expand(batch_size, self.d_inner, self.d_state)
        return window, h  # h: (B, d_inner, N)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_chunk(x, self.initial_state(x.shape[0]))[0]

    def forward_chunk(self, x: torch.Tensor, state):
        dtype, (window, h0) = x.dtype, state
        # Two products rather than one split in two: the backward then adds two (B, T, D)
        # gradients of the input instead of joining two (B, T, d_inner) halves into a fresh tensor
        x, z = (F.linear(x, half) for half in self.in_proj.weight.chunk(2))  # (B, T, d_inner)
        scan = selective_scan_op.resolve(self.scan, x)  # the convolution runs by the same name
        taps = self.conv1d.weight.squeeze(1)  # (d_inner, 1, K) -> (d_inner, K)
        x, window = causal_conv_silu(x, window, taps, self.conv1d.bias, impl=scan)
        dt_low, B, C = self._selection(x)
        A = -torch.exp(self.A_log)  # (d_inner, N)
        step_size = self.dt_proj.weight, self.dt_proj.bias
        out, h = selective_scan(x, dt_low, *step_size, A, B, C, self.D, z, h0, impl=scan)
        return self.out_proj(out.to(dtype)), (window, h)

    def _advance(self, x: torch.Tensor, z: torch.Tensor, state):
        """One position after in_proj, x and z (B, d_inner) each: the convolution, the
        selection and the scan -> the output before out_proj (B, d_inner), and the state."""
        window, h = state
        taps = self.conv1d.weight.squeeze(1)  # (d_inner, 1, K) -> (d_inner, K)
        x, window = causal_conv_silu(x.unsqueeze(1), window, taps, self.conv1d.bias, "reference")
        x = x[:, 0]  # (B, 1, d_inner) -> (B, d_inner)
        dt_low, B, C = self._selection(x)
        A_bar, B_bar_x = discretised(self.dt_proj(dt_low), -torch.exp(self.A_log), B, x)
        h = A_bar * h + B_bar_x  # Eq. 2a, (B, d_inner, N)
        return read_out(h, C, self.D, x, z), (window, h)

    def step(self, x_t: torch.Tensor, state):
        x, z = self.in_proj(x_t).chunk(2, dim=-1)  # (B, d_inner) each
        y, state = self._advance(x, z, state)
        return self.out_proj(y.to(x_t.dtype)), state

    def steps(self, x: torch.Tensor, state, skip_first: torch.Tensor):
        # in_proj and out_proj once for all positions.
        inner, z = self.in_proj(x).chunk(2, dim=-1)  # (B, T, d_inner) each
        y, state = step_by_step(self._advance, (inner, z), state, skip_first)
        return self.out_proj(y.to(x.dtype)), state


@dataclass(frozen=True)
class MambaConfig(BackboneConfig):
    d_state: int = 16
    """N: state size per channel."""
    d_conv: int = 4
    """Width of the causal depthwise convolution."""
    expand: int = 2
    """Inner width relative to d_model."""
    dt_rank: int | Literal["auto"] = "auto"
    """Rank of the step-size projection; 'auto' = ceil(d_model / 16)."""
    dt_min: float = 1e-3
    """Smallest initial step size Delta."""
    dt_max: float = 1e-1
    """Largest initial step size Delta."""
    scan: ScanKind = "auto"
    """Selective scan: 'torch' (any device: one autograd node that computes the states a chunk
    at a time and saves only every 64th; 'fused' in older runs), 'cpu' (the same, and the
    convolution before it, compiled from C++ on first use, for CPU tensors; needs a C++
    compiler), 'triton' (the same as Triton kernels on CUDA; needs pip install -e ".[triton]"),
    'reference' (the states of every step materialised: (B, T, d_inner, d_state) tensors, for
    checking) or 'auto' (triton on CUDA where Triton imports, cpu on CPU where it builds, else
    torch)."""

    def __post_init__(self):
        super().__post_init__()
        for name in ("d_state", "d_conv", "expand"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.dt_rank != "auto" and self.dt_rank <= 0:
            raise ConfigError(f"dt_rank must be 'auto' or positive, got {self.dt_rank}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ConfigError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")
        reason = selective_scan_op.refusal(self.scan, None)
        if reason is not None:
            raise ConfigError(f"MambaConfig.scan {reason}")

    def make_mixer(self) -> Mixer:
        dt_rank = math.ceil(self.d_model / 16) if self.dt_rank == "auto" else self.dt_rank
        return Mamba(
            d_model=self.d_model,
            d_state=self.d_state,
            d_conv=self.d_conv,
            expand=self.expand,
            dt_rank=dt_rank,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            scan=self.scan,
        )
