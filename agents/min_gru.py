"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?", Sec. 3.1).

    z_t  = sigmoid(Linear_z(x_t))                      update gate
    h~_t = g(Linear_h(x_t))                            candidate, g keeps it positive
    h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t            (Sec. 3.1.3, Eq. for minGRU)

Neither gate reads h_{t-1}, so the recurrence is linear in h and trains in parallel by a scan.
Written as h_t = a_t h_{t-1} + b_t with a_t = sigmoid(-k_t), b_t = sigmoid(k_t) * g(u_t), where
k_t is the gate logit. minLSTM shares this form with another gate logit (min_lstm.py), so both
are a `MinimalRNN` that names its cell; the gates and the scan are kernels/linear_scan/.

Scans (`scan`): "torch" (exact in linear space, the gates fused in; "chunked" in older runs),
"log-space" (the paper's reference), "triton" (fla-core's kernels: CUDA, or CPU tensors under
Triton's interpreter) and "auto": Triton's on CUDA tensors in eager mode where fla-core imports,
torch's elsewhere. All compute in float32 (float64 if the model is) whatever autocast hands in,
and so does the state carried between chunks and steps.
"""

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from infra.errors import ConfigError

from .kernels import linear_scan
from .kernels.precision import in_scan_precision
from .stack import BackboneConfig, Mixer

ScanKind = Literal["auto", "torch", "log-space", "triton"]


class MinimalRNN(Mixer):
    """minGRU or minLSTM, by `cell`: project_in reads linear_scan.PROJECTIONS[cell] logits per
    channel, whose gate logit and candidate drive the same linear recurrence."""

    cell: ClassVar[linear_scan.Cell]

    def __init__(self, d_model: int, expansion_factor: float, scan: ScanKind):
        super().__init__()
        self.d_inner = int(d_model * expansion_factor)
        self.scan = scan
        n_projections = linear_scan.PROJECTIONS[self.cell]
        self.project_in = nn.Linear(d_model, n_projections * self.d_inner, bias=False)
        # As the official code: always an output projection, with a bias.
        self.project_out = nn.Linear(self.d_inner, d_model)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor]:
        weight = self.project_in.weight
        dtype = torch.promote_types(weight.dtype, torch.float32)  # the scans' precision
        return (torch.zeros(batch_size, self.d_inner, device=weight.device, dtype=dtype),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_chunk(x, self.initial_state(x.shape[0]))[0]

    def forward_chunk(self, x: torch.Tensor, state: tuple[torch.Tensor]):
        (projection,) = in_scan_precision(self.project_in(x))  # (B, T, n_projections d_inner)
        h0 = state[0].to(projection.dtype)
        h = linear_scan.gated_scan(projection, h0, self.cell, self.scan)  # (B, T, d_inner)
        # Back to the input's dtype for project_out: bf16 where the whole model is bf16.
        return self.project_out(h.to(x.dtype)), (h[:, -1],)

    def _update_and_candidate(self, x: torch.Tensor):
        """z = sigmoid(k) and h~ = g(u), (B, ..., d_inner) each, from x (B, ..., d_model)."""
        (projection,) = in_scan_precision(self.project_in(x))
        k, u = linear_scan.gate_logit_and_candidate(projection, self.cell)
        return torch.sigmoid(k), linear_scan.g(u)

    def step(self, x_t: torch.Tensor, state: tuple[torch.Tensor]):
        (h,) = state
        z, candidate = self._update_and_candidate(x_t)  # (B, d_inner) each
        # (1 - z) h + z h~ as one op: rollouts are bound by the number of ops
        h = torch.lerp(h, candidate, z)
        return self.project_out(h.to(x_t.dtype)), (h,)

    def steps(self, x: torch.Tensor, state: tuple[torch.Tensor], skip_first: torch.Tensor):
        # The projections read their weights once for all T positions; only the recurrence
        # goes position by position. z = 0 leaves h as it was where x[:, 0] is skipped. Not
        # step_by_step: splitting with the position axis kept spares an exported step the
        # operators that unbind and stack take.
        z, candidate = self._update_and_candidate(x)  # (B, T, d_inner) each
        h = state[0].unsqueeze(1)  # (B, 1, d_inner): positions are split keeping their axis
        hs = []
        for position, (z_t, candidate_t) in enumerate(
            zip(z.split(1, dim=1), candidate.split(1, dim=1), strict=True)
        ):
            if position == 0:
                z_t = z_t * (~skip_first).to(z_t.dtype).view(-1, 1, 1)  # (B, 1, 1)
            h = torch.lerp(h, candidate_t, z_t)
            hs.append(h)
        hs = torch.cat(hs, dim=1)  # (B, T, d_inner)
        return self.project_out(hs.to(x.dtype)), (h.squeeze(1),)


class MinGRU(MinimalRNN):
    cell = "gru"  # project_in: gate logit k, candidate u


@dataclass(frozen=True)
class MinGRUConfig(BackboneConfig):
    expansion_factor: float = 1.0
    """Width of the recurrent state relative to d_model."""
    scan: ScanKind = "auto"
    """Parallel scan: 'torch' (exact in linear space; 'chunked' in older runs), 'log-space' (the
    paper's), 'triton' (fla-core's kernels on CUDA; needs pip install -e ".[triton]") or 'auto'
    (triton on CUDA if fla-core imports, else torch)."""

    def __post_init__(self):
        super().__post_init__()
        reason = linear_scan.refusal(self.scan, None)
        if reason is not None:
            raise ConfigError(f"{type(self).__name__}.scan {reason}")
        if int(self.d_model * self.expansion_factor) < 1:
            raise ConfigError(f"expansion_factor {self.expansion_factor} leaves no recurrent width")

    def make_mixer(self) -> Mixer:
        return MinGRU(self.d_model, self.expansion_factor, self.scan)
