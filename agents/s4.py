"""A diagonal state-space layer of the S4D family (Gu et al. 2022, "On the Parameterization and
Initialization of Diagonal State Space Models").

Per channel, N/2 complex modes (their conjugates folded into 2 Re(.)):
    s_k = dA * s_{k-1} + dB * x_k,     y_k = 2 Re(sum_n C_n s_k,n) + D x_k
with zero-order-hold discretisation of step size dt: dA = exp(dt A), dB = (dA - 1) / A * B, B = 1
(Sec. 3.2). In parallel, y = K * x with the kernel K_k = 2 Re(sum_n C_n dB_n dA_n^k), a
Vandermonde product (Sec. 3.3), convolved by FFT in O(T log T).
Initialisation (Sec. 4): A_n = -1/2 + i pi n (S4D-Lin) or -1/2 + i N/pi (N/(2n+1) - 1) (S4D-Inv),
C ~ complex normal, dt log-uniform in [dt_min, dt_max].
The complex and FFT arithmetic, and the state, are float32 (float64 if the model is) whatever
the model's or autocast's dtype: torch.complex and torch.fft reject bf16.
"""

import math
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from infra.errors import ConfigError

from .stack import BackboneConfig, Mixer, step_by_step


class S4D(Mixer):
    def __init__(self, d_model: int, state_size: int, init: str, dt_min: float, dt_max: float):
        super().__init__()
        modes = state_size // 2
        n = torch.arange(modes, dtype=torch.float32)
        if init == "lin":
            imag = math.pi * n
        else:  # "inv"
            imag = state_size / math.pi * (state_size / (2 * n + 1) - 1)
        log_dt = torch.rand(d_model) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)  # (H,)
        self.log_neg_real = nn.Parameter(torch.full((d_model, modes), math.log(0.5)))  # (H, M)
        self.imag = nn.Parameter(imag.repeat(d_model, 1))  # (H, M)
        self.C = nn.Parameter(torch.randn(d_model, modes, 2) * math.sqrt(0.5))  # (H, M, re/im)
        self.skip = nn.Parameter(torch.randn(d_model))  # D
        for dynamics in (self.log_dt, self.log_neg_real, self.imag):
            dynamics.no_weight_decay = True  # decaying A or dt would change the dynamics' scale
        self.out = nn.Linear(d_model, d_model)

    @property
    def real_dtype(self) -> torch.dtype:
        return torch.promote_types(self.imag.dtype, torch.float32)

    def _discretised(self):
        """dt * A, dA, dB and C, each (H, M) complex."""
        real = self.real_dtype
        A = torch.complex(-torch.exp(self.log_neg_real.to(real)), self.imag.to(real))
        dt_A = torch.exp(self.log_dt.to(real))[:, None] * A
        dA = torch.exp(dt_A)
        return dt_A, dA, (dA - 1) / A, torch.view_as_complex(self.C.to(real))

    def _output(self, x: torch.Tensor, ssm: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(ssm.to(x.dtype) + self.skip * x))

    def _convolve(self, x: torch.Tensor, dt_A, dB, C):
        """Zero-state response by FFT. x (B, T, H) -> (y (B, T, H), powers dA^k (H, M, T))."""
        T = x.shape[1]
        powers = torch.exp(dt_A.unsqueeze(-1) * torch.arange(T, device=x.device))  # (H, M, T)
        kernel = 2 * torch.einsum("hm,hmt->th", C * dB, powers).real  # (T, H)
        x_spectrum = torch.fft.rfft(x.to(kernel.dtype), n=2 * T, dim=1)
        spectrum = x_spectrum * torch.fft.rfft(kernel, n=2 * T, dim=0)
        return torch.fft.irfft(spectrum, n=2 * T, dim=1)[:, :T], powers  # (B, T, H)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor]:
        H, M = self.imag.shape
        # complex modes as (re, im)
        return (self.imag.new_zeros(batch_size, H, M, 2, dtype=self.real_dtype),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dt_A, _, dB, C = self._discretised()
        return self._output(x, self._convolve(x, dt_A, dB, C)[0])

    def forward_chunk(self, x: torch.Tensor, state: tuple[torch.Tensor]):
        s0 = torch.view_as_complex(state[0].to(self.real_dtype).contiguous())  # (B, H, M)
        dt_A, dA, dB, C = self._discretised()
        y, powers = self._convolve(x, dt_A, dB, C)
        # The carried state decays into the chunk: y_k += 2 Re(C dA^(k+1) s_0).
        y = y + 2 * torch.einsum("hm,hmt,bhm->bth", C * dA, powers, s0).real
        # s_T = dA^T s_0 + sum_k dA^(T-1-k) dB x_k
        inputs = torch.einsum("bth,hmt->bhm", x.to(dB.dtype), dB.unsqueeze(-1) * powers.flip(-1))
        s_T = dA * powers[..., -1] * s0 + inputs
        return self._output(x, y), (torch.view_as_real(s_T),)

    def _discretised_pairs(self):
        """dA, dB and C as (real, imaginary) pairs of (H, M) tensors: `_discretised` without
        complex dtypes, which ONNX and torch.export lack, so that `step` exports."""
        real = self.real_dtype
        A_re, A_im = -torch.exp(self.log_neg_real.to(real)), self.imag.to(real)
        dt = torch.exp(self.log_dt.to(real))[:, None]  # (H, 1)
        magnitude = torch.exp(dt * A_re)
        dA_re, dA_im = magnitude * torch.cos(dt * A_im), magnitude * torch.sin(dt * A_im)
        norm = A_re * A_re + A_im * A_im  # dB = (dA - 1) / A, times conj(A) / |A|^2
        dB_re = ((dA_re - 1) * A_re + dA_im * A_im) / norm
        dB_im = (dA_im * A_re - (dA_re - 1) * A_im) / norm
        C = self.C.to(real)
        return (dA_re, dA_im), (dB_re, dB_im), (C[..., 0], C[..., 1])

    def _advance(self, x_t: torch.Tensor, state: tuple[torch.Tensor], pairs):
        """One position of the SSM, x_t (B, H) -> y (B, H) and the state, from the discretised
        `pairs`. In real pairs, as the state is carried:
        s_k = dA s_{k-1} + dB x_k, y_k = 2 Re(C . s_k)."""
        s_re, s_im = state[0].to(self.real_dtype).unbind(-1)  # (B, H, M) each
        (dA_re, dA_im), (dB_re, dB_im), (C_re, C_im) = pairs
        x = x_t.to(self.real_dtype).unsqueeze(-1)  # (B, H, 1)
        s_re, s_im = (
            dA_re * s_re - dA_im * s_im + dB_re * x,
            dA_re * s_im + dA_im * s_re + dB_im * x,
        )
        y = 2 * (C_re * s_re - C_im * s_im).sum(-1)  # (B, H)
        return y, (torch.stack([s_re, s_im], dim=-1),)

    def step(self, x_t: torch.Tensor, state: tuple[torch.Tensor]):
        y, state = self._advance(x_t, state, self._discretised_pairs())
        return self._output(x_t, y), state

    def steps(self, x: torch.Tensor, state: tuple[torch.Tensor], skip_first: torch.Tensor):
        # The discretisation and the output projection once for all positions.
        advance = partial(self._advance, pairs=self._discretised_pairs())
        y, state = step_by_step(advance, (x,), state, skip_first)  # (B, T, H)
        return self._output(x, y), state


@dataclass(frozen=True)
class S4Config(BackboneConfig):
    state_size: int = 64
    """N: state size per channel (N/2 complex modes)."""
    init: Literal["lin", "inv"] = "lin"
    """Initialisation of A's imaginary parts: S4D-Lin or S4D-Inv."""
    dt_min: float = 1e-3
    """Smallest initial step size."""
    dt_max: float = 1e-1
    """Largest initial step size."""

    def __post_init__(self):
        super().__post_init__()
        if self.state_size < 2 or self.state_size % 2:
            raise ConfigError(f"state_size must be even and >= 2, got {self.state_size}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ConfigError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")

    def make_mixer(self) -> Mixer:
        return S4D(self.d_model, self.state_size, self.init, self.dt_min, self.dt_max)
