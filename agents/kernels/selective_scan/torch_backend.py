"""The selective scan's state kernels in torch, on any device, wrapped by elementwise.py into
the backend pair `forward` / `backward`.

The states are computed for a chunk of L steps at a time, (B, L, d_inner, N) of about
CHUNK_ELEMENTS numbers (tiling.py): on a CPU each pass over a chunk then stays in cache, while a
pass over a whole (B, T, d_inner, N) tensor runs at memory speed, several times slower. The
forward saves only the states at segment boundaries; the backward recomputes each segment's
states from its boundary and runs the reverse recurrence
g_t = C_t dy_t + exp(Delta_{t+1} A) g_{t+1}, g_t = dL/dh_t.
"""

import math

import torch

from .elementwise import around_states_backward, around_states_forward
from .tiling import chunk_and_segment

LOG2_E = 1 / math.log(2)  # exp(v) = exp2(v log2 e), and torch's exp2 is the faster on CPU


def chunk_states(h, dt, dt_x, A_log2_e, B, gates, states) -> None:
    """Gates exp(Delta A) and states h_t of one chunk of L steps, from the state h (B, d_inner,
    N) before it, written into `gates` and `states` (L, B, d_inner, N). Time major: dt, dt_x
    (L, B, d_inner), B (L, B, N); A_log2_e = A log2(e) (B, d_inner, N)."""
    torch.mul(dt.unsqueeze(-1), A_log2_e, out=gates).exp2_()  # Eq. 4
    torch.mul(dt_x.unsqueeze(-1), B.unsqueeze(-2), out=states)  # B_bar x_t = Delta_t B_t x_t
    for t in range(len(states)):
        h = states[t].addcmul_(gates[t], h)  # Eq. 2a, over B_bar x


def contract_state(vectors, states, out) -> None:
    """out = sum_n vectors_n states_{:, n} per (step, row): vectors (L, B, N), states
    (L, B, d_inner, N), out (L, B, d_inner), time major. A row vector times a matrix per (step,
    row): the batched product that is fast on CPU for a small N."""
    L, B, d_inner, N = states.shape
    rows = vectors.reshape(L * B, 1, N)  # (L B, 1, N)
    products = torch.bmm(rows, states.view(L * B, d_inner, N).transpose(1, 2))  # (L B, 1, d)
    out.copy_(products.view(L, B, d_inner))


def contract_inner(vectors, states, out) -> None:
    """out = sum_d vectors_d states_{d, :}: vectors (L, B, d_inner), states (L, B, d_inner, N),
    out (L, B, N), time major."""
    L, B, d_inner, N = states.shape
    rows = vectors.reshape(L * B, 1, d_inner)  # (L B, 1, d_inner)
    out.copy_(torch.bmm(rows, states.view(L * B, d_inner, N)).view(L, B, N))


def steps_of(tensor: torch.Tensor, steps: slice) -> torch.Tensor:
    """The chunk `steps` of a (B, T, ...) tensor as a time-major (L, B, ...) view."""
    return tensor[:, steps].transpose(0, 1)


def chunk_buffers(count: int, steps: int, h: torch.Tensor) -> list[torch.Tensor]:
    """`count` buffers of a chunk of states (steps, B, d_inner, N), allocated once per call:
    on CPU a fresh multi-MiB tensor per chunk costs as much in page faults as the arithmetic."""
    return [h.new_empty(steps, *h.shape) for _ in range(count)]


def scan_states(dt, dt_x, A, B, C, h0):
    """y_t = C_t . h_t (B, T, d_inner), the final state (B, d_inner, N) and the states at the
    start of every segment (B, segments, d_inner, N), h0 first."""
    batch, T, d_inner = dt.shape
    chunk, segment = chunk_and_segment(batch, d_inner, A.shape[-1])
    y = torch.empty_like(dt)
    boundaries = dt.new_empty(batch, math.ceil(T / segment), *h0.shape[1:])
    gates, states = chunk_buffers(2, min(chunk, T), h0)
    h, A_log2_e = h0.clone(), A * LOG2_E
    for start in range(0, T, chunk):
        if start % segment == 0:
            boundaries[:, start // segment] = h
        steps = slice(start, start + chunk)
        L = len(range(T)[steps])
        chunk_inputs = (steps_of(dt, steps), steps_of(dt_x, steps), A_log2_e, steps_of(B, steps))
        chunk_states(h, *chunk_inputs, gates[:L], states[:L])
        contract_state(steps_of(C, steps), states[:L], out=steps_of(y, steps))  # Eq. 2b
        h.copy_(states[L - 1])
    return y, h, boundaries


def scan_states_backward(dt, dt_x, A, B, C, boundaries, grad_y, grad_h_last):
    """Gradients of `scan_states` from dL/dy (B, T, d_inner) and dL/dh_T: those of dt (through
    the gates only), dt_x, A (per row), B, C and h0, and y recomputed on the way."""
    batch, T, d_inner = dt.shape
    chunk, segment = chunk_and_segment(batch, d_inner, A.shape[-1])
    y, grad_dt, grad_dt_x = torch.empty_like(dt), torch.empty_like(dt), torch.empty_like(dt)
    grad_B, grad_C, grad_A = torch.empty_like(B), torch.empty_like(C), A.new_zeros(A.shape)
    gates, states, g, work = chunk_buffers(4, min(chunk, T), grad_h_last)
    h_before = chunk_buffers(1, math.ceil(min(segment, T) / chunk), grad_h_last)[0]
    A_log2_e = A * LOG2_E
    grad_h = grad_h_last  # dL/dh at the last step of the chunk at hand, from the steps after it
    for first in range(boundaries.shape[1] - 1, -1, -1):
        starts = range(first * segment, min(T, (first + 1) * segment), chunk)
        # The state before each chunk of the segment, walked from the saved one.
        h_before[0] = boundaries[:, first]
        for k, start in enumerate(starts[:-1]):
            steps = slice(start, start + chunk)
            chunk_inputs = (
                steps_of(dt, steps),
                steps_of(dt_x, steps),
                A_log2_e,
                steps_of(B, steps),
            )
            chunk_states(h_before[k], *chunk_inputs, gates, states)
            h_before[k + 1] = states[-1]
        for k in range(len(starts) - 1, -1, -1):
            steps = slice(starts[k], starts[k] + chunk)
            L, h = len(range(T)[steps]), h_before[k]
            dt_k, dt_x_k, B_k, C_k = (steps_of(t, steps) for t in (dt, dt_x, B, C))
            grad_y_k = steps_of(grad_y, steps)
            chunk_states(h, dt_k, dt_x_k, A_log2_e, B_k, gates[:L], states[:L])
            contract_state(C_k, states[:L], out=steps_of(y, steps))
            contract_inner(grad_y_k, states[:L], out=steps_of(grad_C, steps))  # dy/dC = h
            # g_t = C_t dy_t + exp(Delta_{t+1} A) g_{t+1}: Eq. 2a in reverse
            torch.mul(grad_y_k.unsqueeze(-1), C_k.unsqueeze(-2), out=g[:L])
            g[L - 1] += grad_h
            for t in range(L - 2, -1, -1):
                g[t].addcmul_(gates[t + 1], g[t + 1])
            grad_h = gates[0] * g[0]  # dL/dh before the chunk
            contract_state(B_k, g[:L], out=steps_of(grad_dt_x, steps))  # B_bar x = Delta x B
            contract_inner(dt_x_k, g[:L], out=steps_of(grad_B, steps))
            # dL/d(Delta_t A) = g_t h_{t-1} exp(Delta_t A), over the gates' buffer
            grad_log_gates = gates[:L].mul_(g[:L])
            grad_log_gates[1:].mul_(states[: L - 1])
            grad_log_gates[0].mul_(h)
            steps_of(grad_dt, steps).copy_(torch.mul(grad_log_gates, A, out=work[:L]).sum(-1))
            grad_A += torch.mul(grad_log_gates, dt_k.unsqueeze(-1), out=work[:L]).sum(0)
    return y, grad_dt, grad_dt_x, grad_A, grad_B, grad_C, grad_h


def forward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0):
    """out, the final state and the segment boundaries (interface.py's node)."""
    return around_states_forward(scan_states, x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0)


def backward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last):
    """The ten gradients, from the saved inputs, boundaries, dL/dout and dL/dh_last."""
    inputs = x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last
    return around_states_backward(scan_states_backward, *inputs)
