"""The selective scan as written (Gu & Dao 2023, Alg. 2 lines 4-6, Eq. 2a-2b and 4), with the
discretised A_bar and B_bar x materialised for every step, (B, T, d_inner, N) each, and
differentiated by autograd: the oracle the backends are held to, and (T = 1) Mamba's step."""

import torch.nn.functional as F

from ..linear_scan import linear_scan
from ..precision import in_scan_precision


def discretised(delta, A, B, x):
    """A_bar = exp(Delta A) (Eq. 4, Alg. 2 line 5) and B_bar x = Delta B x, (..., d_inner, N)
    each, in the scans' precision, from delta (..., d_inner) before its softplus, A (d_inner,
    N), B (..., N) and x (..., d_inner)."""
    delta, B, x = in_scan_precision(delta, B, x)
    dt = F.softplus(delta)  # Alg. 2, line 4: (..., d_inner)
    A_bar = (dt.unsqueeze(-1) * A.to(dt.dtype)).exp_()
    return A_bar, (dt * x).unsqueeze(-1) * B.unsqueeze(-2)


def read_out(h, C, D, x, z):
    """(C . h + D x) * SiLU(z): h (..., d_inner, N), C (..., N), x, z (..., d_inner) (Eq. 2b and
    Fig. 3's gate)."""
    C, x = in_scan_precision(C, x)
    y = (h @ C.unsqueeze(-1)).squeeze(-1) + D * x  # (..., d_inner)
    return y * F.silu(z)


def selective_scan(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0):
    """out (B, T, d_inner) and the final state (B, d_inner, N), as interface.selective_scan."""
    _, _, d_inner = x.shape
    A_bar, B_bar_x = discretised(F.linear(dt_low, dt_weight, dt_bias), A, B, x)  # (B, T, d, N)
    h = linear_scan(A_bar.flatten(2), B_bar_x.flatten(2), h0.flatten(1))  # (B, T, d N)
    h = h.unflatten(-1, (d_inner, A.shape[-1]))  # (B, T, d_inner, N)
    return read_out(h, C, D, x, z), h[:, -1]
