//===- norm.cuh - Layer and RMS normalization over the last axis ---------===//
//
// x is [rows, cols] contiguous (cols = product of the normalized dims axis..rank-1); y likewise.
// Statistics in acc_t<TIn> (f32 for f32/f16/bf16, f64 for f64): layer norm is two-pass
// (mean, then mean of squared deviations: no cancellation), variance biased; the result is
// rounded once to TOut.
//
// Template parameters:
//   TIn    element type of x (float, __half, __nv_bfloat16, double)
//   TScale element type of scale and bias (may differ from TIn, e.g. f32 weights)
//   TOut   element type of y
//
// Kernels (namespace spdc::kernels):
//   template <class TIn, class TScale, class TOut>
//   __global__ void layer_norm_kernel(const TIn *x, const TScale *scale, const TScale *bias,
//                                     TOut *y, long long rows, long long cols, float eps);
//     y = (x - mean) * rsqrt(var + eps) * scale + bias; scale/bias: `cols` contiguous elements,
//     either may be nullptr (= 1 / = 0). Codegen expands a scale that broadcasts over fewer dims.
//   template <class TIn, class TScale, class TOut>
//   __global__ void rms_norm_kernel(const TIn *x, const TScale *scale, TOut *y,
//                                   long long rows, long long cols, float eps);
//     y = x * rsqrt(mean(x^2) + eps) * scale; scale nullptr = 1.
//
// Launch contract (both): grid.x = any >= 1 (one block per row, grid-strided; min(rows, 65535)
// or rows is typical), block = (B, 1, 1) with B a multiple of 32, <= 1024 (256 is a good default;
// 128 for cols <= 1024), dynamic shared memory 0. In-place (y == x) is allowed when TIn == TOut.
// Row-level device functions layerNormRow / rmsNormRow (same contract, one row) are exposed for
// fused kernels; they return the row statistics.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"

namespace spdc {
namespace kernels {

template <class Acc> struct NormStats {
  Acc mean; // 0 for rms norm
  Acc rstd; // 1 / sqrt(var + eps), or 1 / sqrt(mean(x^2) + eps)
};

template <class TIn, class TScale, class TOut>
__device__ NormStats<acc_t<TIn>> layerNormRow(const TIn *x, const TScale *scale,
                                              const TScale *bias, TOut *y, index_t cols,
                                              float eps) {
  using Acc = acc_t<TIn>;
  Acc sum = 0;
  forEachInRow(x, cols, [&](index_t, TIn v) { sum += convert<Acc>(v); });
  const Acc mean = blockReduceSum(sum) / Acc(cols);
  Acc sq = 0;
  forEachInRow(x, cols, [&](index_t, TIn v) {
    Acc d = convert<Acc>(v) - mean;
    sq += d * d;
  });
  const Acc var = blockReduceSum(sq) / Acc(cols);
  const Acc rstd = Acc(1) / sqrt(var + Acc(eps));
  // Every thread has read its part of the row before anyone writes (the reduction's barrier),
  // so y may alias x.
  transformRow(x, y, cols, [&](index_t c, TIn v) {
    Acc r = (convert<Acc>(v) - mean) * rstd;
    if (scale)
      r *= convert<Acc>(scale[c]);
    if (bias)
      r += convert<Acc>(bias[c]);
    return convert<TOut>(r);
  });
  return {mean, rstd};
}

template <class TIn, class TScale, class TOut>
__device__ NormStats<acc_t<TIn>> rmsNormRow(const TIn *x, const TScale *scale, TOut *y,
                                            index_t cols, float eps) {
  using Acc = acc_t<TIn>;
  Acc sq = 0;
  forEachInRow(x, cols, [&](index_t, TIn v) {
    Acc a = convert<Acc>(v);
    sq += a * a;
  });
  const Acc rstd = Acc(1) / sqrt(blockReduceSum(sq) / Acc(cols) + Acc(eps));
  transformRow(x, y, cols, [&](index_t c, TIn v) {
    Acc r = convert<Acc>(v) * rstd;
    if (scale)
      r *= convert<Acc>(scale[c]);
    return convert<TOut>(r);
  });
  return {Acc(0), rstd};
}

template <class TIn, class TScale, class TOut>
__global__ void layer_norm_kernel(const TIn *__restrict__ x, const TScale *__restrict__ scale,
                                  const TScale *__restrict__ bias, TOut *y, long long rows,
                                  long long cols, float eps) {
  forEachRow(rows, [&](index_t r) {
    layerNormRow(x + r * cols, scale, bias, y + r * cols, cols, eps);
  });
}

template <class TIn, class TScale, class TOut>
__global__ void rms_norm_kernel(const TIn *__restrict__ x, const TScale *__restrict__ scale,
                                TOut *y, long long rows, long long cols, float eps) {
  forEachRow(rows, [&](index_t r) { rmsNormRow(x + r * cols, scale, y + r * cols, cols, eps); });
}

} // namespace kernels
} // namespace spdc
