// What the CPU kernels of this folder share: a vectorisable exp, the sigmoid, and the loop that
// spreads work items over torch's OpenMP threads.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace kernels {

// exp(v) that the compiler vectorises (std::exp in float32 does not, without -ffast-math, whose
// crtfastmath would set flush-to-zero for the whole process): v = k ln2 + r, |r| <= ln2 / 2,
// exp(r) by its degree-6 Taylor polynomial (relative error < 2e-7), times 2^k built in the
// exponent bits. v is clamped to [-87, 88]: ~1e-38 instead of a denormal or 0, no infinity.
inline float exp_clamped(float v) {
    v = std::min(std::max(v, -87.0f), 88.0f);
    const float k = (v * 1.44269504f + 12582912.0f) - 12582912.0f;  // round: 1.5 * 2^23
    const float r = v - k * 0.693359375f + k * 2.12194440e-4f;      // ln2 split in two: exact k ln2
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
