// Mamba's selective scan (selective_scan.py) for CPU tensors, compiled on first use by
// selective_scan_cpu.py: the whole of `_SelectiveScan` and its gradient, from Delta = softplus(
// delta) (computed by the caller) to the gated output (Alg. 2 lines 5-6, Eq. 2a-2b, Fig. 3):
// - forward: h_t = exp(Delta_t A) h_{t-1} + Delta_t x_t B_t, y_t = C_t . h_t and
//   out_t = (y_t + D x_t) SiLU(z_t), storing the state at the start of every `segment` steps;
// - backward, one segment at a time from the last: its states recomputed from the saved start,
//   then walked back with g_t = C_t dy_t + exp(Delta_{t+1} A) g_{t+1} (g_t = dL/dh_t).
// One work item is (batch row, block of channels): its (N, block) state stays in cache for the
// whole sequence, where torch's kernels stream every step's (B, d_inner, N) state through
// memory, and the elementwise work around the state is done in the same pass. Sums over
// channels (the gradients of B and C) are written per block and added up by the caller.
// Contiguous row-major tensors; A and D may be expanded along the batch (row stride 0).

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

// exp(v) that the compiler vectorises (std::exp in float32 does not, without -ffast-math, whose
// crtfastmath would set flush-to-zero for the whole process): v = k ln2 + r, |r| <= ln2 / 2,
// exp(r) by its degree-6 Taylor polynomial (relative error < 2e-7), times 2^k built in the
// exponent bits. v is clamped to [-87, 88]: ~1e-38 instead of a denormal or 0, no infinity.
inline float exp_clamped(float v) {
    v = std::min(std::max(v, -87.0f), 88.0f);
    const float k = (v * 1.44269504f + 12582912.0f) - 12582912.0f;  // round: 1.5 * 2^23
    const float r = v - k * 0.693359375f + k * 2.12194440e-4f;  // ln2 split in two: exact k ln2
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p * std::bit_cast<float>((static_cast<int32_t>(k) + 127) << 23);
}

inline double exp_clamped(double v) { return std::exp(v); }  // float64: for checking

template <typename F>
inline F sigmoid(F v) {
    return F(1) / (F(1) + exp_clamped(-v));
}

struct Shape {
    int64_t batch, T, d_inner, N, a_row_stride, d_row_stride, segment, block;
    int64_t blocks() const { return (d_inner + block - 1) / block; }
    int64_t segments() const { return (T + segment - 1) / segment; }
};

// Calls work(item, scratch) for item in [0, items) on `threads` threads, in contiguous ranges,
// with one Scratch per thread: buffers allocated (and their pages faulted in) once per thread,
// not once per item. OpenMP's threads are torch's own: this library links libgomp, which the
// loader resolves to the copy torch has loaded, so the kernels run on the threads that torch
// keeps warm (threads of its own would wait for torch's, still spinning, to yield the cores).
template <typename Scratch, typename Work>
void parallel_items(int64_t items, int64_t threads, Work work) {
#pragma omp parallel num_threads(std::max<int64_t>(1, std::min(threads, items)))
    {
        Scratch scratch;
#pragma omp for schedule(static)
        for (int64_t item = 0; item < items; ++item) work(item, scratch);
    }
}

// A work item's state is held channel-minor, (N, width): the loops over channels are the
// inner ones, contiguous in x, Delta, z and out, so they vectorise without sums across lanes.
template <typename F>
void load_state(const F* rows, int64_t width, int64_t N, F* state) {  // (width, N) -> (N, width)
    for (int64_t c = 0; c < width; ++c)
        for (int64_t n = 0; n < N; ++n) state[n * width + c] = rows[c * N + n];
}

template <typename F>
void store_state(const F* state, int64_t width, int64_t N, F* rows) {  // (N, width) -> (width, N)
    for (int64_t c = 0; c < width; ++c)
        for (int64_t n = 0; n < N; ++n) rows[c * N + n] = state[n * width + c];
}

template <typename F>
struct Inputs {
    const F *x, *delta, *dt, *A, *B, *C, *D, *z;  // dt = softplus(delta); delta: backward only
};

// Steps [start, stop) of one item from its state h (N, width): y_t = C_t . h_t into
// y (step - start, width), h left at the last step, and when `states` is given h_t into it,
// (step - start, N, width). u: scratch for Delta_t x_t (width).
template <typename F>
void walk(const Shape& s, int64_t row, int64_t d0, int64_t width, int64_t start, int64_t stop,
          const Inputs<F>& in, const F* __restrict A, F* __restrict h, F* __restrict y,
          F* states, F* __restrict u) {
    const int64_t N = s.N;
    for (int64_t t = start; t < stop; ++t) {
        const int64_t step = row * s.T + t, channels = step * s.d_inner + d0;
        const F* __restrict dt = in.dt + channels;
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
#pragma omp simd
            for (int64_t c = 0; c < width; ++c) {
                h_n[c] = exp_clamped(dt[c] * A_n[c]) * h_n[c] + u[c] * B_n;  // Eq. 2a
                y_t[c] += C_n * h_n[c];                                       // Eq. 2b
            }
        }
        if (states) std::copy(h, h + N * width, states + (t - start) * N * width);
    }
}

// Per-thread buffers, each resized to what an item needs (a no-op after the first item).
template <typename F>
struct Scratch {
    std::vector<F> h, A, y, u, g, dA, h_start, states, dy, d_dt, d_u, dD;
};

template <typename F>
void forward(const Inputs<F>& in, const F* h0, F* out, F* h_last, F* boundaries, Shape s,
             int64_t threads) {
    parallel_items<Scratch<F>>(s.batch * s.blocks(), threads, [&](int64_t item, Scratch<F>& buf) {
        const int64_t row = item / s.blocks(), d0 = item % s.blocks() * s.block;
        const int64_t width = std::min(s.block, s.d_inner - d0), N = s.N;
        const int64_t steps = std::min(s.segment, s.T);  // in a segment, at most
        auto& [h, A, y, u, g, dA, h_start, states, dy, d_dt, d_u, dD] = buf;
        for (auto* buffer : {&h, &A}) buffer->resize(N * width);
        y.resize(steps * width);
        u.resize(width);
        load_state(in.A + row * s.a_row_stride + d0 * N, width, N, A.data());
        load_state(h0 + (row * s.d_inner + d0) * N, width, N, h.data());
        const F* D = in.D + row * s.d_row_stride + d0;
        for (int64_t seg = 0; seg < s.segments(); ++seg) {
            F* saved = boundaries + ((row * s.segments() + seg) * s.d_inner + d0) * N;
            store_state(h.data(), width, N, saved);
            const int64_t start = seg * s.segment, stop = std::min(s.T, start + s.segment);
            walk(s, row, d0, width, start, stop, in, A.data(), h.data(), y.data(), (F*)nullptr,
                 u.data());
            for (int64_t t = start; t < stop; ++t) {
                const int64_t channels = (row * s.T + t) * s.d_inner + d0;
                const F *x = in.x + channels, *z = in.z + channels, *y_t = &y[(t - start) * width];
#pragma omp simd
                for (int64_t c = 0; c < width; ++c)  // Eq. 2b's D x, then the gate of Fig. 3
                    out[channels + c] = (y_t[c] + D[c] * x[c]) * z[c] * sigmoid(z[c]);
            }
        }
        store_state(h.data(), width, N, h_last + (row * s.d_inner + d0) * N);
    });
}

template <typename F>
struct Gradients {
    F *x, *delta, *A, *B, *C, *D, *z, *h0;  // A, D, h0 per row; B, C per block of channels
};

template <typename F>
void backward(const Inputs<F>& in, const F* boundaries, const F* grad_out,
              const F* grad_h_last, const Gradients<F>& grad, Shape s, int64_t threads) {
    parallel_items<Scratch<F>>(s.batch * s.blocks(), threads, [&](int64_t item, Scratch<F>& buf) {
        const int64_t row = item / s.blocks(), block = item % s.blocks(), d0 = block * s.block;
        const int64_t width = std::min(s.block, s.d_inner - d0), N = s.N;
        const int64_t state_offset = (row * s.d_inner + d0) * N;
        const int64_t steps = std::min(s.segment, s.T);  // in a segment, at most
        // g = dL/dh at the step at hand, from the steps after it; (N, width) as the states
        auto& [h, A, y, u, g, dA, h_start, states, dy, d_dt, d_u, dD] = buf;
        for (auto* buffer : {&h, &A, &g, &h_start}) buffer->resize(N * width);
        for (auto* buffer : {&u, &dy, &d_dt, &d_u}) buffer->resize(width);
        dA.assign(N * width, F(0));
        dD.assign(width, F(0));
        states.resize(steps * N * width);
        y.resize(steps * width);
        load_state(grad_h_last + state_offset, width, N, g.data());
        load_state(in.A + row * s.a_row_stride + d0 * N, width, N, A.data());
        const F* D = in.D + row * s.d_row_stride + d0;
        F* dB = grad.B + (block * s.batch + row) * s.T * N;
        F* dC = grad.C + (block * s.batch + row) * s.T * N;
        for (int64_t seg = s.segments() - 1; seg >= 0; --seg) {
            const int64_t start = seg * s.segment, stop = std::min(s.T, start + s.segment);
            const F* saved = boundaries + ((row * s.segments() + seg) * s.d_inner + d0) * N;
            load_state(saved, width, N, h_start.data());
            std::copy(h_start.begin(), h_start.end(), h.begin());
            walk(s, row, d0, width, start, stop, in, A.data(), h.data(), y.data(), states.data(),
                 u.data());
            for (int64_t t = stop - 1; t >= start; --t) {
                const int64_t step = row * s.T + t, channels = step * s.d_inner + d0;
                const F *x = in.x + channels, *dt = in.dt + channels, *z = in.z + channels;
                const F* delta = in.delta + channels;
                const F *g_out = grad_out + channels, *y_t = &y[(t - start) * width];
#pragma omp simd
                for (int64_t c = 0; c < width; ++c) {  // the gate and D x, and their gradients
                    const F sigma = sigmoid(z[c]), out_before_gate = y_t[c] + D[c] * x[c];
                    dy[c] = g_out[c] * z[c] * sigma;  // dL/dy_t = dL/dout_t SiLU(z_t)
                    grad.z[channels + c] =
                        g_out[c] * out_before_gate * sigma * (1 + z[c] * (1 - sigma));
                    dD[c] += dy[c] * x[c];
                    u[c] = dt[c] * x[c];
                    d_dt[c] = 0;
                    d_u[c] = 0;
                }
                const F* h_t = states.data() + (t - start) * N * width;
                const F* h_before = t > start ? h_t - N * width : h_start.data();
                for (int64_t n = 0; n < N; ++n) {
                    const F B_n = in.B[step * N + n], C_n = in.C[step * N + n];
                    const F* __restrict A_n = A.data() + n * width;
                    const F* __restrict h_n = h_t + n * width;
                    const F* __restrict h_before_n = h_before + n * width;
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
                        const F gate = exp_clamped(dt[c] * A_n[c]);
                        const F d_log_gate = g_t * gate * h_before_n[c];  // dL/d(Delta_t A)
                        ddt[c] += d_log_gate * A_n[c];
                        dA_n[c] += d_log_gate * dt[c];
                        g_n[c] = g_t * gate;  // Eq. 2a in reverse: dL/dh_{t-1} so far
                    }
                    dB[t * N + n] = dB_n;
                    dC[t * N + n] = dC_n;
                }
#pragma omp simd
                for (int64_t c = 0; c < width; ++c) {  // through u = Delta x and Delta = softplus
                    grad.x[channels + c] = dy[c] * D[c] + d_u[c] * dt[c];
                    const F slope = sigmoid(delta[c]);  // softplus'(delta)
                    grad.delta[channels + c] = (d_dt[c] + d_u[c] * x[c]) * slope;
                }
            }
        }
        store_state(dA.data(), width, N, grad.A + state_offset);  // this row's own
        store_state(g.data(), width, N, grad.h0 + state_offset);
        std::copy(dD.begin(), dD.end(), grad.D + row * s.d_inner + d0);
    });
}

}  // namespace

#define SELECTIVE_SCAN_ENTRY_POINTS(F, suffix)                                                 \
    extern "C" void selective_scan_forward_##suffix(                                           \
        const F* x, const F* dt, const F* A, const F* B, const F* C, const F* D, const F* z,   \
        const F* h0, F* out, F* h_last, F* boundaries, int64_t batch, int64_t T,               \
        int64_t d_inner, int64_t N, int64_t a_row_stride, int64_t d_row_stride,                \
        int64_t segment, int64_t block, int64_t threads) {                                     \
        forward(Inputs<F>{x, nullptr, dt, A, B, C, D, z}, h0, out, h_last, boundaries,         \
                Shape{batch, T, d_inner, N, a_row_stride, d_row_stride, segment, block},       \
                threads);                                                                      \
    }                                                                                          \
    extern "C" void selective_scan_backward_##suffix(                                          \
        const F* x, const F* delta, const F* dt, const F* A, const F* B, const F* C,           \
        const F* D, const F* z, const F* boundaries, const F* grad_out,                        \
        const F* grad_h_last, F* grad_x, F* grad_delta, F* grad_A, F* grad_B, F* grad_C,       \
        F* grad_D, F* grad_z, F* grad_h0, int64_t batch, int64_t T, int64_t d_inner,           \
        int64_t N, int64_t a_row_stride, int64_t d_row_stride, int64_t segment,                \
        int64_t block, int64_t threads) {                                                      \
        backward(Inputs<F>{x, delta, dt, A, B, C, D, z}, boundaries, grad_out, grad_h_last,    \
                 Gradients<F>{grad_x, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z,      \
                              grad_h0},                                                        \
                 Shape{batch, T, d_inner, N, a_row_stride, d_row_stride, segment, block},      \
                 threads);                                                                     \
    }

SELECTIVE_SCAN_ENTRY_POINTS(float, f32)
SELECTIVE_SCAN_ENTRY_POINTS(double, f64)
