// Mamba's selective scan (agents/selective_scan.py) for CPU tensors, built by
// agents/selective_scan_cpu.py: the kernels of `_SelectiveScan` and its gradient, from dt_proj's
// low-rank input to the gated output (Alg. 2 lines 4-6, Eq. 2a-2b, Fig. 3):
// - step sizes, per segment: delta_t = dt_bias + dt_weight dt_low_t, Delta_t = softplus(delta_t);
// - forward: h_t = exp(Delta_t A) h_{t-1} + Delta_t x_t B_t, y_t = C_t . h_t and
//   out_t = (y_t + D x_t) SiLU(z_t), storing the state at the start of every `segment` steps;
// - backward, one segment at a time from the last: its states and gates recomputed from the
//   saved start, then walked back with g_t = C_t dy_t + exp(Delta_{t+1} A) g_{t+1} (g_t = dL/dh_t),
//   down to the gradients of dt_proj's input and parameters.
// One work item is (batch row, block of channels): its (N, block) state stays in cache for the
// whole sequence, where torch's kernels stream every step's (B, d_inner, N) state through
// memory, and the elementwise work around the state is done in the same pass. Sums over
// channels (the gradients of B, C and dt_low) are written per block and added up by the caller.
// Contiguous row-major tensors, but: A, D, dt_weight and dt_bias may be expanded along the batch
// (row stride 0), and the states read (h0, the boundaries, the final state's gradient) may have
// any strides (`States`). What is written per channel and n (the states and the gradients of A,
// h0 and dt_weight) is written channel-minor, (B, [segments,] N or R, d_inner): each item's
// block is then a contiguous copy, not a transpose, and the caller sees it transposed.

#include <array>
#include <vector>

#include "common.h"

namespace {

using kernels::exp_clamped, kernels::load_channel_minor, kernels::parallel_items, kernels::sigmoid,
    kernels::softplus, kernels::store_channel_minor;

struct Shape {
    int64_t batch, T, d_inner, N, R, a_row_stride, d_row_stride, w_row_stride, b_row_stride,
        segment, block;
    int64_t blocks() const { return (d_inner + block - 1) / block; }
    int64_t segments() const { return (T + segment - 1) / segment; }
};

// A state tensor (B, [segments,] d_inner, N) read in place, by its strides: h0 and the final
// state's gradient are often expanded views of one zero, which a copy would only fill.
template <typename F>
struct States {
    const F* data;
    int64_t row, segment, channel, n;
    void load(int64_t r, int64_t seg, int64_t d0, int64_t width, int64_t N, F* state) const {
        load_channel_minor(data + r * row + seg * segment + d0 * channel, channel, n, width, N,
                           state);
    }
};

template <typename F>
struct Inputs {
    const F *x, *dt_low, *dt_weight, *dt_bias, *A, *B, *C, *D, *z;
};

// delta_t = bias + weight dt_low_t (dt_proj, Alg. 2 line 4 before its softplus) and
// Delta_t = softplus(delta_t) for steps [start, stop), into delta and dt (step - start, width).
template <typename F>
void step_sizes(const Shape& s, const Inputs<F>& in, int64_t row, int64_t width, int64_t start,
                int64_t stop, const F* __restrict weight, const F* __restrict bias,
                F* __restrict delta, F* __restrict dt) {
    for (int64_t t = start; t < stop; ++t) {
        const F* low = in.dt_low + (row * s.T + t) * s.R;
        F* __restrict delta_t = delta + (t - start) * width;
        F* __restrict dt_t = dt + (t - start) * width;
        for (int64_t c = 0; c < width; ++c) delta_t[c] = bias[c];
        for (int64_t r = 0; r < s.R; ++r) {
            const F low_r = low[r];
            const F* __restrict weight_r = weight + r * width;
#pragma omp simd
            for (int64_t c = 0; c < width; ++c) delta_t[c] += weight_r[c] * low_r;
        }
#pragma omp simd
        for (int64_t c = 0; c < width; ++c) dt_t[c] = softplus(delta_t[c]);
    }
}

// Steps [start, stop) of one item from its state h (N, width): y_t = C_t . h_t into
// y (step - start, width) and h left at the last step; with `Keep`, also h_t and the gate
// exp(Delta_t A) of every step into `states` and `gates`, (step - start, N, width) each, for the
// backward. dts: Delta (step - start, width); u: scratch for Delta_t x_t (width).
template <bool Keep, typename F>
void walk(const Shape& s, int64_t row, int64_t d0, int64_t width, int64_t start, int64_t stop,
          const Inputs<F>& in, const F* dts, const F* __restrict A, F* __restrict h,
          F* __restrict y, F* __restrict states, F* __restrict gates, F* __restrict u) {
    const int64_t N = s.N;
    for (int64_t t = start; t < stop; ++t) {
        const int64_t step = row * s.T + t, channels = step * s.d_inner + d0;
        const F* __restrict dt = dts + (t - start) * width;
        const F* __restrict x = in.x + channels;
        F* __restrict y_t = y + (t - start) * width;
        for (int64_t c = 0; c < width; ++c) {
            u[c] = dt[c] * x[c];
            y_t[c] = 0;
        }
        for (int64_t n = 0; n < N; ++n) {
            const F B_n = in.B[step * N + n], C_n = in.C[step * N + n];
            const F* __restrict A_n = A + n * width;
            F* __restrict h_n = h + n * width;
            const int64_t kept = ((t - start) * N + n) * width;
#pragma omp simd
            for (int64_t c = 0; c < width; ++c) {
                const F gate = exp_clamped(dt[c] * A_n[c]);
                h_n[c] = gate * h_n[c] + u[c] * B_n;  // Eq. 2a
                y_t[c] += C_n * h_n[c];               // Eq. 2b
                if constexpr (Keep) {
                    states[kept + c] = h_n[c];
                    gates[kept + c] = gate;
                }
            }
        }
    }
}

// Per-thread buffers, each resized to what an item needs (a no-op after the first item).
template <typename F>
struct Scratch {
    kernels::Buffer<F> h, A, y, u, g, dA, states, gates, dy, d_dt, d_u, dD, weight, bias, delta, dt,
        d_delta, d_weight, d_bias;
    std::array<const F*, 3> parameters_of{};  // where A, weight and bias were loaded from
};

// This item's A (N, width) and dt_proj, weight (R, width) and bias (width), channel-minor into
// `buf`, unless the thread's previous item loaded the same ones: the parameters are expanded
// along the batch, so the items of one block of channels share them (except under vmap).
template <typename F>
void load_parameters(const Shape& s, const Inputs<F>& in, int64_t row, int64_t d0, int64_t width,
                     Scratch<F>& buf) {
    const std::array<const F*, 3> sources{in.A + row * s.a_row_stride + d0 * s.N,
                                          in.dt_weight + row * s.w_row_stride + d0 * s.R,
                                          in.dt_bias + row * s.b_row_stride + d0};
    if (sources == buf.parameters_of) return;
    buf.A.resize(s.N * width);
    buf.weight.resize(s.R * width);
    buf.bias.resize(width);
    load_channel_minor(sources[0], s.N, int64_t(1), width, s.N, buf.A.data());
    load_channel_minor(sources[1], s.R, int64_t(1), width, s.R, buf.weight.data());
    std::copy(sources[2], sources[2] + width, buf.bias.begin());
    buf.parameters_of = sources;
}

template <typename F>
void forward(const Inputs<F>& in, const States<F>& h0, F* out, F* h_last, F* boundaries, Shape s,
             int64_t threads) {
    parallel_items<Scratch<F>>(s.batch * s.blocks(), threads, [&](int64_t item, Scratch<F>& buf) {
        const int64_t row = item / s.blocks(), d0 = item % s.blocks() * s.block;
        const int64_t width = std::min(s.block, s.d_inner - d0), N = s.N;
        const int64_t steps = std::min(s.segment, s.T);  // in a segment, at most
        load_parameters(s, in, row, d0, width, buf);
        auto& [h, A, y, u, g, dA, states, gates, dy, d_dt, d_u, dD, weight, bias, delta, dt,
               d_delta, d_weight, d_bias, _] = buf;
        h.resize(N * width);
        for (auto* buffer : {&y, &delta, &dt}) buffer->resize(steps * width);
        u.resize(width);
        h0.load(row, 0, d0, width, N, h.data());
        const F* D = in.D + row * s.d_row_stride + d0;
        for (int64_t seg = 0; seg < s.segments(); ++seg) {
            F* saved = boundaries + (row * s.segments() + seg) * N * s.d_inner + d0;
            store_channel_minor(h.data(), width, N, s.d_inner, saved);
            const int64_t start = seg * s.segment, stop = std::min(s.T, start + s.segment);
            step_sizes(s, in, row, width, start, stop, weight.data(), bias.data(), delta.data(),
                       dt.data());
            walk<false>(s, row, d0, width, start, stop, in, dt.data(), A.data(), h.data(), y.data(),
                        (F*)nullptr, (F*)nullptr, u.data());
            for (int64_t t = start; t < stop; ++t) {
                const int64_t channels = (row * s.T + t) * s.d_inner + d0;
                const F *x = in.x + channels, *y_t = &y[(t - start) * width];
                const F* z = in.z + channels;
#pragma omp simd
                for (int64_t c = 0; c < width; ++c)  // Eq. 2b's D x, then the gate of Fig. 3
                    out[channels + c] = (y_t[c] + D[c] * x[c]) * z[c] * sigmoid(z[c]);
            }
        }
        store_channel_minor(h.data(), width, N, s.d_inner, h_last + row * N * s.d_inner + d0);
    });
}

template <typename F>
struct Gradients {
    // dt_weight, dt_bias, A, D, h0 per row; dt_low, B, C per block of channels
    F *x, *dt_low, *dt_weight, *dt_bias, *A, *B, *C, *D, *z, *h0;
};

template <typename F>
void backward(const Inputs<F>& in, const States<F>& boundaries, const F* grad_out,
              const States<F>& grad_h_last, const Gradients<F>& grad, Shape s, int64_t threads) {
    parallel_items<Scratch<F>>(s.batch * s.blocks(), threads, [&](int64_t item, Scratch<F>& buf) {
        const int64_t row = item / s.blocks(), block = item % s.blocks(), d0 = block * s.block;
        const int64_t width = std::min(s.block, s.d_inner - d0), N = s.N;
        const int64_t state_offset = row * N * s.d_inner + d0;
        const int64_t steps = std::min(s.segment, s.T);  // in a segment, at most
        // g = dL/dh at the step at hand, from the steps after it; (N, width) as the states
        load_parameters(s, in, row, d0, width, buf);
        auto& [h, A, y, u, g, dA, states, gates, dy, d_dt, d_u, dD, weight, bias, delta, dt,
               d_delta, d_weight, d_bias, _] = buf;
        for (auto* buffer : {&h, &g}) buffer->resize(N * width);
        for (auto* buffer : {&u, &dy, &d_dt, &d_u, &d_delta}) buffer->resize(width);
        dA.assign(N * width, F(0));
        for (auto* sum : {&dD, &d_bias}) sum->assign(width, F(0));
        d_weight.assign(s.R * width, F(0));
        for (auto* buffer : {&states, &gates}) buffer->resize(steps * N * width);
        for (auto* buffer : {&y, &delta, &dt}) buffer->resize(steps * width);
        grad_h_last.load(row, 0, d0, width, N, g.data());
        const F* D = in.D + row * s.d_row_stride + d0;
        F* dB = grad.B + (block * s.batch + row) * s.T * N;
        F* dC = grad.C + (block * s.batch + row) * s.T * N;
        F* d_low = grad.dt_low + (block * s.batch + row) * s.T * s.R;
        for (int64_t seg = s.segments() - 1; seg >= 0; --seg) {
            const int64_t start = seg * s.segment, stop = std::min(s.T, start + s.segment);
            boundaries.load(row, seg, d0, width, N, h.data());
            step_sizes(s, in, row, width, start, stop, weight.data(), bias.data(), delta.data(),
                       dt.data());
            walk<true>(s, row, d0, width, start, stop, in, dt.data(), A.data(), h.data(), y.data(),
                       states.data(), gates.data(), u.data());
            for (int64_t t = stop - 1; t >= start; --t) {
                const int64_t step = row * s.T + t, channels = step * s.d_inner + d0;
                const F *x = in.x + channels, *dt_t = &dt[(t - start) * width];
                const F* z = in.z + channels;
                const F* delta_t = &delta[(t - start) * width];
                const F *g_out = grad_out + channels, *y_t = &y[(t - start) * width];
#pragma omp simd
                for (int64_t c = 0; c < width; ++c) {  // the gate and D x, and their gradients
                    const F sigma = sigmoid(z[c]), out_before_gate = y_t[c] + D[c] * x[c];
                    dy[c] = g_out[c] * z[c] * sigma;  // dL/dy_t = dL/dout_t SiLU(z_t)
                    grad.z[channels + c] =
                        g_out[c] * out_before_gate * sigma * (1 + z[c] * (1 - sigma));
                    dD[c] += dy[c] * x[c];
                    u[c] = dt_t[c] * x[c];
                    d_dt[c] = 0;
                    d_u[c] = 0;
                }
                const int64_t kept = (t - start) * N * width;
                for (int64_t n = 0; n < N; ++n) {
                    const F B_n = in.B[step * N + n], C_n = in.C[step * N + n];
                    const F* __restrict A_n = A.data() + n * width;
                    const F* __restrict h_n = states.data() + kept + n * width;
                    const F* __restrict gate_n = gates.data() + kept + n * width;
                    F* __restrict g_n = g.data() + n * width;
                    F* __restrict dA_n = dA.data() + n * width;
                    F* __restrict ddt = d_dt.data();
                    F* __restrict du = d_u.data();
                    const F* __restrict dy_t = dy.data();
                    const F* __restrict u_t = u.data();
                    F dB_n = 0, dC_n = 0;
#pragma omp simd reduction(+ : dB_n, dC_n)
                    for (int64_t c = 0; c < width; ++c) {
                        // dL/dh_t: through y_t (Eq. 2b) and the steps after
                        const F g_t = g_n[c] + C_n * dy_t[c];
                        dC_n += dy_t[c] * h_n[c];
                        dB_n += u_t[c] * g_t;
                        du[c] += B_n * g_t;
                        // dL/d(Delta_t A) = g_t exp(Delta_t A) h_{t-1} = g_t (h_t - B_bar x_t)
                        const F d_log_gate = g_t * (h_n[c] - u_t[c] * B_n);
                        ddt[c] += d_log_gate * A_n[c];
                        dA_n[c] += d_log_gate * dt_t[c];
                        g_n[c] = g_t * gate_n[c];  // Eq. 2a in reverse: dL/dh_{t-1} so far
                    }
                    dB[t * N + n] = dB_n;
                    dC[t * N + n] = dC_n;
                }
#pragma omp simd
                for (int64_t c = 0; c < width; ++c) {  // through u = Delta x and Delta = softplus
                    grad.x[channels + c] = dy[c] * D[c] + d_u[c] * dt_t[c];
                    const F slope = sigmoid(delta_t[c]);  // softplus'(delta)
                    d_delta[c] = (d_dt[c] + d_u[c] * x[c]) * slope;
                    d_bias[c] += d_delta[c];
                }
                for (int64_t r = 0; r < s.R; ++r) {  // through delta = dt_bias + dt_weight dt_low
                    const F low_r = in.dt_low[step * s.R + r];
                    const F* __restrict weight_r = weight.data() + r * width;
                    F* __restrict d_weight_r = d_weight.data() + r * width;
                    const F* __restrict d_delta_t = d_delta.data();
                    F d_low_r = 0;
#pragma omp simd reduction(+ : d_low_r)
                    for (int64_t c = 0; c < width; ++c) {
                        d_low_r += d_delta_t[c] * weight_r[c];
                        d_weight_r[c] += d_delta_t[c] * low_r;
                    }
                    d_low[t * s.R + r] = d_low_r;
                }
            }
        }
        // A's gradient: this row's own
        store_channel_minor(dA.data(), width, N, s.d_inner, grad.A + state_offset);
        store_channel_minor(g.data(), width, N, s.d_inner, grad.h0 + state_offset);
        F* d_weight_rows = grad.dt_weight + row * s.R * s.d_inner + d0;
        store_channel_minor(d_weight.data(), width, s.R, s.d_inner, d_weight_rows);
        std::copy(dD.begin(), dD.end(), grad.D + row * s.d_inner + d0);
        std::copy(d_bias.begin(), d_bias.end(), grad.dt_bias + row * s.d_inner + d0);
    });
}

}  // namespace

// The strides of h0 (row, channel, n), of the boundaries (row, segment, channel, n) and of
// the final state's gradient (row, channel, n) come before the sizes.
#define SELECTIVE_SCAN_ENTRY_POINTS(F, suffix)                                                     \
    extern "C" void selective_scan_forward_##suffix(                                               \
        const F* x, const F* dt_low, const F* dt_weight, const F* dt_bias, const F* A, const F* B, \
        const F* C, const F* D, const F* z, const F* h0, F* out, F* h_last, F* boundaries,         \
        int64_t h0_row, int64_t h0_channel, int64_t h0_n, int64_t batch, int64_t T,                \
        int64_t d_inner, int64_t N, int64_t R, int64_t a_row_stride, int64_t d_row_stride,         \
        int64_t w_row_stride, int64_t b_row_stride, int64_t segment, int64_t block,                \
        int64_t threads) {                                                                         \
        forward(Inputs<F>{x, dt_low, dt_weight, dt_bias, A, B, C, D, z},                           \
                States<F>{h0, h0_row, 0, h0_channel, h0_n}, out, h_last, boundaries,               \
                Shape{batch, T, d_inner, N, R, a_row_stride, d_row_stride, w_row_stride,           \
                      b_row_stride, segment, block},                                               \
                threads);                                                                          \
    }                                                                                              \
    extern "C" void selective_scan_backward_##suffix(                                              \
        const F* x, const F* dt_low, const F* dt_weight, const F* dt_bias, const F* A, const F* B, \
        const F* C, const F* D, const F* z, const F* boundaries, const F* grad_out,                \
        const F* grad_h_last, F* grad_x, F* grad_dt_low, F* grad_dt_weight, F* grad_dt_bias,       \
        F* grad_A, F* grad_B, F* grad_C, F* grad_D, F* grad_z, F* grad_h0, int64_t saved_row,      \
        int64_t saved_segment, int64_t saved_channel, int64_t saved_n, int64_t last_row,           \
        int64_t last_channel, int64_t last_n, int64_t batch, int64_t T, int64_t d_inner,           \
        int64_t N, int64_t R, int64_t a_row_stride, int64_t d_row_stride, int64_t w_row_stride,    \
        int64_t b_row_stride, int64_t segment, int64_t block, int64_t threads) {                   \
        backward(Inputs<F>{x, dt_low, dt_weight, dt_bias, A, B, C, D, z},                          \
                 States<F>{boundaries, saved_row, saved_segment, saved_channel, saved_n},          \
                 grad_out, States<F>{grad_h_last, last_row, 0, last_channel, last_n},              \
                 Gradients<F>{grad_x, grad_dt_low, grad_dt_weight, grad_dt_bias, grad_A, grad_B,   \
                              grad_C, grad_D, grad_z, grad_h0},                                    \
                 Shape{batch, T, d_inner, N, R, a_row_stride, d_row_stride, w_row_stride,          \
                       b_row_stride, segment, block},                                              \
                 threads);                                                                         \
    }

SELECTIVE_SCAN_ENTRY_POINTS(float, f32)
SELECTIVE_SCAN_ENTRY_POINTS(double, f64)
