// What the CPU kernels of this folder share: a vectorisable exp, the sigmoid, and the loop that
// spreads work items over torch's OpenMP threads.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <new>
#include <vector>

namespace kernels {

// exp(v) that the compiler vectorises (std::exp in float32 does not, without -ffast-math, whose
// crtfastmath would set flush-to-zero for the whole process): v = k ln2 + r, |r| <= ln2 / 2,
// exp(r) by a degree-5 minimax polynomial (relative error < 3e-7 in float32), times 2^k added
// to its exponent bits. v is clamped to [-86.5, 88]: ~3e-38 instead of a denormal or 0, no
// infinity, and 2^k p stays a normal number.
inline float exp_clamped(float v) {
    v = std::min(std::max(v, -86.5f), 88.0f);
    // v / ln2 + 1.5 * 2^23 rounds to an integer, k, kept in the low bits of the mantissa
    const float shifted = v * 1.44269504f + 12582912.0f;
    const float k = shifted - 12582912.0f;
    const float r = v - k * 0.693359375f + k * 2.12194440e-4f;  // ln2 split in two: exact k ln2
    float p = 8.29801e-3f;
    p = p * r + 4.191540e-2f;
    p = p * r + 1.6667569e-1f;
    p = p * r + 4.9998895e-1f;
    p = p * r + 9.9999969e-1f;
    p = p * r + 1.00000007f;
    // k << 23, the exponent field's 2^k: the bits of 1.5 * 2^23 above k's shift out
    const uint32_t scale = std::bit_cast<uint32_t>(shifted) << 23;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(p) + scale);
}

inline double exp_clamped(double v) { return std::exp(v); }  // float64: for checking

// softplus(v) = log(1 + e^v) = max(v, 0) + log1p(e^-|v|), and log1p(e) = 2 atanh(s) with
// s = e / (2 + e) in (0, 1/3], by its odd series to s^13 (truncation < 1e-8): vectorisable.
inline float softplus(float v) {
    const float e = exp_clamped(-std::abs(v)), s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return std::max(v, 0.0f) + 2.0f * s * p;
}

inline double softplus(double v) { return std::max(v, 0.0) + std::log1p(std::exp(-std::abs(v))); }

// A vector of numbers on 64-byte boundaries, as torch allocates tensors: a vector load from a
// buffer then never straddles two cache lines (std::vector's are on 16-byte boundaries).
template <typename F>
struct CacheAligned {
    using value_type = F;
    CacheAligned() = default;
    template <typename G>
    CacheAligned(const CacheAligned<G>&) {}
    F* allocate(size_t count) {
        return static_cast<F*>(::operator new(count * sizeof(F), std::align_val_t(64)));
    }
    void deallocate(F* data, size_t) { ::operator delete(data, std::align_val_t(64)); }
    bool operator==(const CacheAligned&) const = default;
};

template <typename F>
using Buffer = std::vector<F, CacheAligned<F>>;

// The kernels hold what they keep per channel channel-minor, (count, width): their loops over
// channels are the inner ones, contiguous in the (B, T, d_inner) tensors, so they vectorise
// without sums across lanes. load_channel_minor reads (width, count) rows by their strides into
// such a buffer; a view of one number (both strides 0, as zero states are) is a fill.
template <typename F>
void load_channel_minor(const F* rows, int64_t channel_stride, int64_t stride, int64_t width,
                        int64_t count, F* into) {
    if (count == 0) return;  // rows may then be null (an empty tensor's)
    if (channel_stride == 0 && stride == 0) {
        std::fill(into, into + count * width, rows[0]);
        return;
    }
    for (int64_t i = 0; i < count; ++i)
        for (int64_t c = 0; c < width; ++c)
            into[i * width + c] = rows[c * channel_stride + i * stride];
}

// What the kernels write per channel they write channel-minor too, (B, count, d_inner), which
// the caller sees transposed: an item's (count, width) block is then `count` contiguous copies.
template <typename F>
void store_channel_minor(const F* block, int64_t width, int64_t count, int64_t d_inner, F* rows) {
    for (int64_t i = 0; i < count; ++i)
        std::copy(block + i * width, block + (i + 1) * width, rows + i * d_inner);
}

template <typename F>
inline F sigmoid(F v) {
    return F(1) / (F(1) + exp_clamped(-v));
}

// Calls work(item, scratch) for item in [0, items) on `threads` threads, in contiguous ranges,
// with one Scratch per thread: buffers allocated (and their pages faulted in) once per thread,
// not once per item. OpenMP's threads are torch's own: the library links libgomp, which the
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

}  // namespace kernels
