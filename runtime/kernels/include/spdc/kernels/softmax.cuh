//===- softmax.cuh - Softmax and log-softmax along one axis --------------===//
//
// softmax(x) = exp(x - max) / sum(exp(x - max)); log_softmax(x) = x - max - log(sum(...)).
// Computed in f32 (f64 for double): one pass for (max, sum) with an online rescale, one pass
// that writes. A row of all -inf gives NaN, as the naive formula does.
//
// Template parameters: TIn (x), TOut (y): float, __half, __nv_bfloat16, double.
//
// Kernels (namespace spdc::kernels):
//   template <class TIn, class TOut>
//   __global__ void softmax_kernel(const TIn *x, TOut *y, long long rows, long long cols);
//   template <class TIn, class TOut>
//   __global__ void log_softmax_kernel(const TIn *x, TOut *y, long long rows, long long cols);
//     Last axis: x, y are [rows, cols] contiguous; any cols >= 1.
//   template <class TIn, class TOut>
//   __global__ void softmax_strided_kernel(const TIn *x, TOut *y, long long outer,
//                                          long long cols, long long inner, bool log);
//     Axis in the middle: x, y are [outer, cols, inner] contiguous, normalized over cols
//     (uncoalesced when inner > 1: for rare layouts; transpose first if it matters).
//
// Launch contract: grid.x any >= 1 (one block per row, grid-strided; rows = outer * inner for
// the strided form), block (B, 1, 1), B a multiple of 32 <= 1024 (256 default; 128 when
// cols <= 1024), dynamic shared memory 0. y may alias x when TIn == TOut.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"

namespace spdc {
namespace kernels {

// Running (max, sum of exp(x - max)) pair.
template <class Acc> struct MaxSum {
  Acc max;
  Acc sum;
};

template <class Acc> struct MaxSumOp {
  __device__ __forceinline__ MaxSum<Acc> operator()(MaxSum<Acc> a, MaxSum<Acc> b) const {
    Acc m = a.max > b.max ? a.max : b.max;
    if (m == -NumericLimits<Acc>::infinity())
      return {m, a.sum + b.sum}; // both empty so far; avoid exp(-inf - -inf) = NaN
    return {m, a.sum * exp(a.max - m) + b.sum * exp(b.max - m)};
  }
};

template <class Acc> __device__ __forceinline__ void maxSumAdd(MaxSum<Acc> &s, Acc v) {
  if (v > s.max) {
    s.sum = s.sum * exp(s.max - v) + Acc(1);
    s.max = v;
  } else if (v == s.max && v == -NumericLimits<Acc>::infinity()) {
    // exp(-inf - -inf) would be NaN: an all -inf prefix contributes nothing yet.
  } else {
    s.sum += exp(v - s.max);
  }
  if (v != v) // NaN propagates
    s.max = v, s.sum = v;
}

// Softmax of one row with unit stride (vectorized) or with stride `stride` (> 1).
template <bool Log, class TIn, class TOut>
__device__ void softmaxRow(const TIn *x, TOut *y, index_t cols, index_t stride) {
  using Acc = acc_t<TIn>;
  MaxSum<Acc> st{-NumericLimits<Acc>::infinity(), Acc(0)};
  if (stride == 1) {
    forEachInRow(x, cols, [&](index_t, TIn v) { maxSumAdd(st, convert<Acc>(v)); });
  } else {
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x)
      maxSumAdd(st, convert<Acc>(x[c * stride]));
  }
  st = blockReduce(st, MaxSumOp<Acc>());
  const Acc m = st.max;
  const Acc inv = Acc(1) / st.sum;
  const Acc logSum = log(st.sum);
  auto f = [&](index_t, TIn v) {
    Acc a = convert<Acc>(v) - m;
    return convert<TOut>(Log ? a - logSum : exp(a) * inv);
  };
  if (stride == 1) {
    transformRow(x, y, cols, f);
  } else {
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x)
      y[c * stride] = f(c, x[c * stride]);
  }
}

template <class TIn, class TOut>
__global__ void softmax_kernel(const TIn *__restrict__ x, TOut *y, long long rows,
                               long long cols) {
  gridDependencySync();
  forEachRow(rows, [&](index_t r) { softmaxRow<false>(x + r * cols, y + r * cols, cols, 1); });
}

template <class TIn, class TOut>
__global__ void log_softmax_kernel(const TIn *__restrict__ x, TOut *y, long long rows,
                                   long long cols) {
  gridDependencySync();
  forEachRow(rows, [&](index_t r) { softmaxRow<true>(x + r * cols, y + r * cols, cols, 1); });
}

template <class TIn, class TOut>
__global__ void softmax_strided_kernel(const TIn *__restrict__ x, TOut *y, long long outer,
                                       long long cols, long long inner, bool log) {
  gridDependencySync();
  forEachRow(outer * inner, [&](index_t r) {
    index_t o = r / inner, i = r % inner;
    index_t base = o * cols * inner + i;
    if (log)
      softmaxRow<true>(x + base, y + base, cols, inner);
    else
      softmaxRow<false>(x + base, y + base, cols, inner);
  });
}

} // namespace kernels
} // namespace spdc
