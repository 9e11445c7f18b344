"""The selective scan's (B, T, d_inner) arithmetic around its state kernels, in torch, shared by
the torch and Triton backends: delta = dt_proj(dt_low) and its softplus (Alg. 2, line 4), D, the
SiLU gate (Fig. 3) and their gradients. A state kernel pair takes (dt, dt_x, A, B, C, h0) and
returns y_t = C_t . h_t, the final state and the segment boundaries; its backward the gradients."""

import torch
import torch.nn.functional as F


def step_sizes(dt_low, dt_weight, dt_bias):
    """delta = dt_proj(dt_low), Delta before its softplus (Alg. 2, line 4), per batch row:
    dt_low (B, T, R), dt_weight (B, d_inner, R), dt_bias (B, d_inner) -> (B, T, d_inner). In the
    scan's precision whatever autocast says, so that the backward recomputes the same values."""
    with torch.autocast(dt_low.device.type, enabled=False):
        return torch.baddbmm(dt_bias.unsqueeze(1), dt_low, dt_weight.transpose(1, 2))


def around_states_forward(state_forward, x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0):
    """The scan's forward in torch around the state kernel `state_forward`: out, the final
    state and the segment boundaries."""
    dt = F.softplus(step_sizes(dt_low, dt_weight, dt_bias))  # Alg. 2, line 4
    y, h_last, boundaries = state_forward(dt, dt * x, A, B, C, h0)
    # In place over y here and below: on CPU each fresh (B, T, d_inner) tensor costs page faults
    return y.addcmul_(D.unsqueeze(1), x).mul_(F.silu(z)), h_last, boundaries


def around_states_backward(
    state_backward, x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last
):
    """The scan's backward in torch around the state kernel `state_backward`: the gradients of
    x, dt_low, dt_weight, dt_bias, A, B, C, D, z and h0."""
    delta = step_sizes(dt_low, dt_weight, dt_bias)
    dt, sigma = F.softplus(delta), torch.sigmoid(z)
    gate = z * sigma  # SiLU(z)
    grad_y, dt_x = grad_out * gate, dt * x
    y, grad_dt, grad_dt_x, grad_A, grad_B, grad_C, grad_h0 = state_backward(
        dt, dt_x, A, B, C, boundaries, grad_y, grad_h_last
    )
    # Over tensors no longer needed: fresh ones cost page faults on CPU.
    silu_slope = gate.addcmul_(gate, sigma, value=-1).add_(sigma)  # sigma (1 + z (1 - sigma))
    grad_z = y.addcmul_(D.unsqueeze(1), x).mul_(grad_out).mul_(silu_slope)
    grad_D = torch.mul(grad_y, x, out=dt_x).sum(1)
    grad_x = grad_y.mul_(D.unsqueeze(1)).addcmul_(grad_dt_x, dt)
    softplus_slope = torch.sigmoid(delta, out=dt_x)
    grad_delta = grad_dt.addcmul_(grad_dt_x, x).mul_(softplus_slope)
    grad_dt_low = torch.bmm(grad_delta, dt_weight)  # (B, T, d_inner) @ (B, d_inner, R)
    grad_dt_weight = torch.bmm(grad_delta.transpose(1, 2), dt_low)  # per row: (B, d_inner, R)
    grad_step_size = grad_dt_low, grad_dt_weight, grad_delta.sum(1)
    return grad_x, *grad_step_size, grad_A, grad_B, grad_C, grad_D, grad_z, grad_h0
