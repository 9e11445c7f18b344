"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?", Sec. 3.1).

    z_t  = sigmoid(Linear_z(x_t))                      update gate
    h~_t = g(Linear_h(x_t))                            candidate, g keeps it positive
    h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t            (Sec. 3.1.3, Eq. for minGRU)

Neither gate reads h_{t-1}, so the recurrence is linear in h and trains in parallel by a scan.
Written as h_t = a_t h_{t-1} + b_t with a_t = sigmoid(-k_t), b_t = sigmoid(k_t) * g(u_t), where
k_t is the gate logit. minLSTM shares this form with another gate logit (min_lstm.py).

Scans (`scan`): "chunked" (scan.py, exact in linear space), "log-space" (the paper's reference),
"triton" (fla_scan.py: CUDA, or CPU tensors under Triton's interpreter) and "auto": Triton's on
CUDA tensors in eager mode where fla-core imports, the chunked scan elsewhere. All compute in
float32 (float64 if the model is) whatever autocast hands in, and so does the state carried
between chunks and steps.
"""

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from infra.errors import ConfigError

from .fla_scan import fla_available, require_fla, triton_scan
from .scan import (
    GradientFunction,
    RowwiseFunction,
    in_scan_precision,
    log_space_scan,
    scan_gradient,
    scan_in_place,
)
from .stack import BackboneConfig
from .triton_support import resolve_scan

ScanKind = Literal["auto", "chunked", "log-space", "triton"]


def g(x: torch.Tensor) -> torch.Tensor:
    """g(x) = x + 0.5 for x >= 0, sigmoid(x) otherwise (Sec. 3.1.3): positive and continuous.
    As sigmoid(min(x, 0)) + max(x, 0): on CPU torch.where and its mask cost 4x as much."""
    return x.clamp(min=0).add_(x.clamp(max=0).sigmoid_())


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), computed without forming g(x) (Appendix B, `log_g`)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def gated_scan_forward(gate_logit, candidate, h0) -> torch.Tensor:
    """h_t = sigmoid(-k_t) h_{t-1} + sigmoid(k_t) g(u_t) by the chunked scan, without autograd."""
    a = torch.neg(gate_logit).sigmoid_()  # 1 - z_t
    b = torch.sigmoid(gate_logit).mul_(g(candidate))  # z_t h~_t
    return scan_in_place(a, b, h0)


def gated_scan_backward(gate_logit, candidate, h0, h, grad_h, grad_gate_logit, grad_candidate):
    """Gradients of `gated_scan_forward` given dL/dh: those of k and u written into the last two
    arguments (slices of one tensor, which autograd would otherwise concatenate anew), that of
    h0 returned."""
    a, z = torch.neg(gate_logit).sigmoid_(), torch.sigmoid(gate_logit)
    # dh_t/dk_t = z a (h~_t - h_{t-1}), with h~ = g(u) = sigmoid(min(u, 0)) + max(u, 0); its
    # first factors now, before the scan spends a. Slices are written in place (no out= there).
    s, positive_part = candidate.clamp(max=0).sigmoid_(), candidate.clamp(min=0)
    grad_gate_logit.copy_(s).add_(positive_part)
    grad_gate_logit[:, 1:] -= h[:, :-1]
    grad_gate_logit[:, 0] -= h0
    grad_gate_logit.mul_(z).mul_(a)
    grad_b = scan_gradient(a, grad_h)  # a[:, 1:] is spent, a[:, 0] kept
    grad_h0 = a[:, 0] * grad_b[:, 0]
    grad_gate_logit.mul_(grad_b)
    # dh_t/du_t = z g'(u): g'(u) = sigmoid'(u) = s - s^2 for u < 0, and 0.25 + 0.75 = 1 for u > 0
    g_slope = torch.addcmul(s, s, s, value=-1).add_(positive_part.sign_(), alpha=0.75)
    grad_candidate.copy_(grad_b).mul_(z).mul_(g_slope)
    return grad_h0


class _GatedScan(RowwiseFunction):
    """The gates and the chunked scan as one autograd node that takes project_in's output whole
    (k and u) and saves only it, h0 and h."""

    @staticmethod
    def forward(projection, h0):
        return gated_scan_forward(*projection.chunk(2, dim=-1), h0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs, output)

    @staticmethod
    def backward(ctx, grad_h):
        return _GatedScanGradient.apply(*ctx.saved_tensors, grad_h)


class _GatedScanGradient(GradientFunction):
    @staticmethod
    def forward(projection, h0, h, grad_h):
        grad_projection = torch.empty_like(projection)
        gate_logit, candidate = projection.chunk(2, dim=-1)
        grad_parts = grad_projection.chunk(2, dim=-1)
        grad_h0 = gated_scan_backward(gate_logit, candidate, h0, h, grad_h, *grad_parts)
        return grad_projection, grad_h0


class MinGRU(nn.Module):
    n_projections = 2  # gate logit, candidate

    def __init__(self, d_model: int, expansion_factor: float, scan: ScanKind):
        super().__init__()
        self.d_inner = int(d_model * expansion_factor)
        self.scan = scan
        self.project_in = nn.Linear(d_model, self.n_projections * self.d_inner, bias=False)
        # As the official code: always an output projection, with a bias.
        self.project_out = nn.Linear(self.d_inner, d_model)

    def gate_logit_and_candidate(self, projection) -> tuple[torch.Tensor, torch.Tensor]:
        """k and u (B, ..., d_inner) from project_in's output (minLSTM forms k from two logits)."""
        return projection.chunk(2, dim=-1)

    def chunked_scan(self, projection: torch.Tensor, h0: torch.Tensor):
        """The states h (B, T, d_inner) by the fused chunked scan."""
        return _GatedScan.apply(projection, h0)

    def scan_kind(self, x: torch.Tensor) -> str:
        return resolve_scan(self.scan, x, "chunked", fla_available)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor]:
        weight = self.project_in.weight
        dtype = torch.promote_types(weight.dtype, torch.float32)  # the scans' precision
        return (torch.zeros(batch_size, self.d_inner, device=weight.device, dtype=dtype),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_chunk(x, self.initial_state(x.shape[0]))[0]

    def forward_chunk(self, x: torch.Tensor, state: tuple[torch.Tensor]):
        (projection,) = in_scan_precision(self.project_in(x))  # (B, T, n_projections d_inner)
        h0 = state[0].to(projection.dtype)
        scan = self.scan_kind(x)
        if scan == "chunked":
            h = self.chunked_scan(projection, h0)
        else:
            k, u = self.gate_logit_and_candidate(projection)
            log_a = -F.softplus(k)  # log a_t = log(1 - z_t) (Appendix B)
            if scan == "log-space":
                h = log_space_scan(log_a, -F.softplus(-k) + log_g(u), h0)  # log b_t = log z_t h~_t
            else:
                h = triton_scan(log_a, torch.sigmoid(k) * g(u), h0)
        # Back to the input's dtype for project_out: bf16 where the whole model is bf16.
        return self.project_out(h.to(x.dtype)), (h[:, -1],)

    def step(self, x_t: torch.Tensor, state: tuple[torch.Tensor]):
        (h,) = state
        (projection,) = in_scan_precision(self.project_in(x_t))
        k, u = self.gate_logit_and_candidate(projection)  # (B, d_inner) each
        # (1 - z) h + z h~ as one op: rollouts are bound by the number of ops
        h = torch.lerp(h, g(u), torch.sigmoid(k))
        return self.project_out(h.to(x_t.dtype)), (h,)


@dataclass(frozen=True)
class MinGRUConfig(BackboneConfig):
    expansion_factor: float = 1.0
    """Width of the recurrent state relative to d_model."""
    scan: ScanKind = "auto"
    """Parallel scan: 'chunked' (exact in linear space), 'log-space' (the paper's), 'triton'
    (fla-core's kernels on CUDA; needs pip install -e ".[triton]") or 'auto' (triton on CUDA if
    fla-core imports, else chunked)."""

    def __post_init__(self):
        super().__post_init__()
        if self.scan == "triton":
            require_fla(f"{type(self).__name__}.scan")
        if int(self.d_model * self.expansion_factor) < 1:
            raise ConfigError(f"expansion_factor {self.expansion_factor} leaves no recurrent width")

    def make_mixer(self) -> nn.Module:
        return MinGRU(self.d_model, self.expansion_factor, self.scan)
