// Mamba's causal depthwise convolution and its SiLU (agents/mamba.py, Fig. 3's left branch) for
// CPU tensors, built by agents/causal_conv_cpu.py. Per channel, as torch's conv1d (a
// cross-correlation) over the input after the carried window:
//   pre_t = bias + sum_k w_k x'_{t+k},  out_t = SiLU(pre_t),  x' = [window; x]
// with K taps and a window of the K - 1 inputs before x. The backward recomputes pre and gives
// the gradients of x, the window, w and the bias (those two per batch row, summed by autograd).
// One work item is (batch row, block of channels), with the loops over channels inside. x and out
// (B, T, d_inner) are contiguous; w (B, d_inner, K) and the bias (B, d_inner) may be expanded
// along the batch (row strides 0); the window (B, d_inner, K - 1) is read by its strides (often
// a view of one zero). The gradients of w and of the window are written channel-minor, (B, K or
// K - 1, d_inner), as kernels::store_channel_minor says.

#include <vector>

#include "common.h"

namespace {

using kernels::load_channel_minor, kernels::parallel_items, kernels::sigmoid,
    kernels::store_channel_minor;

struct Shape {
    int64_t batch, T, d_inner, K, w_row_stride, bias_row_stride, window_row, window_channel,
        window_step, block;
    int64_t blocks() const { return (d_inner + block - 1) / block; }
};

// Per-thread buffers: w, the window and the gradients held channel-minor, (K, width) and alike.
template <typename F>
struct Scratch {
    kernels::Buffer<F> w, window, pre, ring, grad_w, grad_window, grad_bias;
    const F* w_of = nullptr;  // where w was loaded from: items with the same taps share it
};

template <typename F>
struct Item {
    const Shape& s;
    int64_t row, d0, width;
    const F* x;
    const F* window;  // (K - 1, width): this item's window, channel-minor

    // Position p of x' = [window; x]: its `width` channels.
    const F* padded(int64_t p) const {
        return p < s.K - 1 ? window + p * width : x + (row * s.T + p - (s.K - 1)) * s.d_inner + d0;
    }
};

// Loads this item's taps (K, width), unless the thread's previous item had the same, and its
// window (K - 1, width), channel-minor.
template <typename F>
Item<F> load(const Shape& s, int64_t item, const F* x, const F* window, const F* w,
             Scratch<F>& buf) {
    const int64_t row = item / s.blocks(), d0 = item % s.blocks() * s.block;
    const int64_t width = std::min(s.block, s.d_inner - d0), K = s.K;
    const F* taps = w + row * s.w_row_stride + d0 * K;
    if (taps != buf.w_of) {
        buf.w.resize(K * width);
        load_channel_minor(taps, K, int64_t(1), width, K, buf.w.data());
        buf.w_of = taps;
    }
    buf.window.resize((K - 1) * width);
    buf.pre.resize(width);
    const F* rows = window + row * s.window_row + d0 * s.window_channel;
    load_channel_minor(rows, s.window_channel, s.window_step, width, K - 1, buf.window.data());
    return Item<F>{s, row, d0, width, x, buf.window.data()};
}

// pre_t = bias + sum_k w_k x'_{t+k}, into pre (width).
template <typename F>
void convolve(const Item<F>& it, int64_t t, const F* __restrict w, const F* __restrict bias,
              F* __restrict pre) {
    for (int64_t c = 0; c < it.width; ++c) pre[c] = bias[c];
    for (int64_t k = 0; k < it.s.K; ++k) {
        const F* __restrict in = it.padded(t + k);
        const F* __restrict w_k = w + k * it.width;
#pragma omp simd
        for (int64_t c = 0; c < it.width; ++c) pre[c] += w_k[c] * in[c];
    }
}

template <typename F>
void forward(const F* x, const F* window, const F* w, const F* bias, F* out, Shape s,
             int64_t threads) {
    parallel_items<Scratch<F>>(s.batch * s.blocks(), threads, [&](int64_t item, Scratch<F>& buf) {
        const Item<F> it = load(s, item, x, window, w, buf);
        const F* bias_row = bias + it.row * s.bias_row_stride + it.d0;
        for (int64_t t = 0; t < s.T; ++t) {
            convolve(it, t, buf.w.data(), bias_row, buf.pre.data());
            F* __restrict out_t = out + (it.row * s.T + t) * s.d_inner + it.d0;
            const F* __restrict pre = buf.pre.data();
#pragma omp simd
            for (int64_t c = 0; c < it.width; ++c) out_t[c] = pre[c] * sigmoid(pre[c]);
        }
    });
}

template <typename F>
struct Gradients {
    F *x, *window, *w, *bias;  // x (B, T, d_inner); the others per batch row
};

// dL/dx'_p = sum_k w_k g_{p-k} over 0 <= p - k < T, with g_t = dL/dpre_t, the last K of which
// are in `ring` (g_t at row t mod K); into the window's gradient (p < K - 1) or x's.
template <typename F>
void emit_input_gradient(const Item<F>& it, int64_t p, const F* w, const F* ring, F* grad_window,
                         F* grad_x) {
    const int64_t K = it.s.K, width = it.width;
    F* __restrict into = p < K - 1
                             ? grad_window + p * width
                             : grad_x + (it.row * it.s.T + p - (K - 1)) * it.s.d_inner + it.d0;
    for (int64_t c = 0; c < width; ++c) into[c] = 0;
    for (int64_t k = std::max<int64_t>(0, p - it.s.T + 1); k <= std::min(p, K - 1); ++k) {
        const F* __restrict w_k = w + k * width;
        const F* __restrict g = ring + (p - k) % K * width;
#pragma omp simd
        for (int64_t c = 0; c < width; ++c) into[c] += w_k[c] * g[c];
    }
}

template <typename F>
void backward(const F* x, const F* window, const F* w, const F* bias, const F* grad_out,
              const Gradients<F>& grad, Shape s, int64_t threads) {
    parallel_items<Scratch<F>>(s.batch * s.blocks(), threads, [&](int64_t item, Scratch<F>& buf) {
        const Item<F> it = load(s, item, x, window, w, buf);
        const int64_t K = s.K, width = it.width;
        buf.ring.resize(K * width);
        buf.grad_window.resize((K - 1) * width);
        buf.grad_w.assign(K * width, F(0));
        buf.grad_bias.assign(width, F(0));
        const F* bias_row = bias + it.row * s.bias_row_stride + it.d0;
        for (int64_t t = 0; t < s.T; ++t) {
            convolve(it, t, buf.w.data(), bias_row, buf.pre.data());
            const F* __restrict pre = buf.pre.data();
            const F* __restrict g_out = grad_out + (it.row * s.T + t) * s.d_inner + it.d0;
            F* __restrict g = buf.ring.data() + t % K * width;
            F* __restrict grad_bias = buf.grad_bias.data();
#pragma omp simd
            for (int64_t c = 0; c < width; ++c) {
                const F sigma = sigmoid(pre[c]);
                g[c] = g_out[c] * sigma * (1 + pre[c] * (1 - sigma));  // SiLU'(pre)
                grad_bias[c] += g[c];
            }
            for (int64_t k = 0; k < K; ++k) {
                const F* __restrict in = it.padded(t + k);
                F* __restrict grad_w_k = buf.grad_w.data() + k * width;
#pragma omp simd
                for (int64_t c = 0; c < width; ++c) grad_w_k[c] += g[c] * in[c];
            }
            emit_input_gradient(it, t, buf.w.data(), buf.ring.data(), buf.grad_window.data(),
                                grad.x);
        }
        for (int64_t p = s.T; p < s.T + K - 1; ++p)  // the last inputs, reached by fewer taps
            emit_input_gradient(it, p, buf.w.data(), buf.ring.data(), buf.grad_window.data(),
                                grad.x);
        F* grad_w = grad.w + it.row * K * s.d_inner + it.d0;  // (B, K, d_inner)
        store_channel_minor(buf.grad_w.data(), width, K, s.d_inner, grad_w);
        F* grad_window = grad.window + it.row * (K - 1) * s.d_inner + it.d0;  // (B, K - 1, d_inner)
        store_channel_minor(buf.grad_window.data(), width, K - 1, s.d_inner, grad_window);
        std::copy(buf.grad_bias.begin(), buf.grad_bias.end(),
                  grad.bias + it.row * s.d_inner + it.d0);
    });
}

}  // namespace

// The strides of the window (row, channel, step) come before the sizes.
#define CAUSAL_CONV_ENTRY_POINTS(F, suffix)                                                     \
    extern "C" void causal_conv_silu_forward_##suffix(                                          \
        const F* x, const F* window, const F* w, const F* bias, F* out, int64_t window_row,     \
        int64_t window_channel, int64_t window_step, int64_t batch, int64_t T, int64_t d_inner, \
        int64_t K, int64_t w_row_stride, int64_t bias_row_stride, int64_t block,                \
        int64_t threads) {                                                                      \
        forward(x, window, w, bias, out,                                                        \
                Shape{batch, T, d_inner, K, w_row_stride, bias_row_stride, window_row,          \
                      window_channel, window_step, block},                                      \
                threads);                                                                       \
    }                                                                                           \
    extern "C" void causal_conv_silu_backward_##suffix(                                         \
        const F* x, const F* window, const F* w, const F* bias, const F* grad_out, F* grad_x,   \
        F* grad_window, F* grad_w, F* grad_bias, int64_t window_row, int64_t window_channel,    \
        int64_t window_step, int64_t batch, int64_t T, int64_t d_inner, int64_t K,              \
        int64_t w_row_stride, int64_t bias_row_stride, int64_t block, int64_t threads) {        \
        backward(x, window, w, bias, grad_out,                                                  \
                 Gradients<F>{grad_x, grad_window, grad_w, grad_bias},                          \
                 Shape{batch, T, d_inner, K, w_row_stride, bias_row_stride, window_row,         \
                       window_channel, window_step, block},                                     \
                 threads);                                                                      \
    }

CAUSAL_CONV_ENTRY_POINTS(float, f32)
CAUSAL_CONV_ENTRY_POINTS(double, f64)
