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
//   template <class TIn, class TScale, class TOut, int Packs>
//   __global__ void layer_norm_regs_kernel(same arguments as layer_norm_kernel);
//   template <class TIn, class TScale, class TOut, int Packs>
//   __global__ void rms_norm_regs_kernel(same arguments as rms_norm_kernel);
//     The same results for rows of at most Packs * kVecElems<TIn> * blockDim.x elements: each
//     thread loads its Packs 16-byte pieces of the row into registers before it uses any, so a
//     row is read from memory once and all of it is in flight at once (a row per block that
//     loads one piece, reduces and reads again waits for memory twice per row); scale and bias
//     are read in pieces too. Rows that are not 16-byte pieces (cols % kVecElems<TIn>, or
//     unaligned x / y) take the block-strided rows above. Launch: grid.x any >= 1 (one block
//     per row, grid-strided), block (B, 1, 1) with B a multiple of 32 and
//     B * Packs * kVecElems<TIn> >= cols; dynamic shared memory 0.
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
  gridDependencySync();
  forEachRow(rows, [&](index_t r) {
    layerNormRow(x + r * cols, scale, bias, y + r * cols, cols, eps);
  });
}

template <class TIn, class TScale, class TOut>
__global__ void rms_norm_kernel(const TIn *__restrict__ x, const TScale *__restrict__ scale,
                                TOut *y, long long rows, long long cols, float eps) {
  gridDependencySync();
  forEachRow(rows, [&](index_t r) { rmsNormRow(x + r * cols, scale, y + r * cols, cols, eps); });
}

// A row of 16-byte pieces held in registers: piece i of this thread is column piece
// threadIdx.x + i * blockDim.x (valid below `pieces`).
template <class T, int Packs> struct RowRegs {
  static constexpr int N = kVecElems<T>;
  Pack<T, N> p[Packs];
  index_t pieces;

  __device__ __forceinline__ bool has(int i) const {
    return threadIdx.x + index_t(i) * blockDim.x < pieces;
  }
  __device__ __forceinline__ index_t col(int i) const {
    return (threadIdx.x + index_t(i) * blockDim.x) * N;
  }
  __device__ __forceinline__ void load(const T *row, index_t cols) {
    pieces = cols / N;
#pragma unroll
    for (int i = 0; i < Packs; ++i)
      if (has(i))
        p[i] = load16(row + col(i));
  }
  // Sum over this thread's elements of f(value).
  template <class Acc, class F> __device__ __forceinline__ Acc sum(F &&f) const {
    Acc s = 0;
#pragma unroll
    for (int i = 0; i < Packs; ++i)
      if (has(i)) {
#pragma unroll
        for (int k = 0; k < N; ++k)
          s += f(convert<Acc>(p[i].v[k]));
      }
    return s;
  }
};

// N consecutive elements of a scale or bias vector from `at`: one vector load when aligned.
template <class T, int N>
__device__ __forceinline__ Pack<T, N> loadPieceOf(const T *v, index_t at, bool aligned) {
  Pack<T, N> out;
  if (aligned) {
    out = *reinterpret_cast<const Pack<T, N> *>(v + at);
  } else {
#pragma unroll
    for (int k = 0; k < N; ++k)
      out.v[k] = v[at + k];
  }
  return out;
}

// y = ((x - mean) * rstd) * scale + bias from the registers of `row`, in 16-byte pieces.
template <class TIn, class TScale, class TOut, int Packs, class Acc>
__device__ __forceinline__ void storeNormalized(const RowRegs<TIn, Packs> &row, const TScale *scale,
                                                const TScale *bias, TOut *y, Acc mean, Acc rstd) {
  constexpr int N = RowRegs<TIn, Packs>::N;
  using SPack = Pack<TScale, N>;
  const bool sAligned = scale && isAligned(scale, alignof(SPack)),
             bAligned = bias && isAligned(bias, alignof(SPack));
#pragma unroll
  for (int i = 0; i < Packs; ++i) {
    if (!row.has(i))
      continue;
    const index_t c = row.col(i);
    SPack s, b;
    if (scale)
      s = loadPieceOf<TScale, N>(scale, c, sAligned);
    if (bias)
      b = loadPieceOf<TScale, N>(bias, c, bAligned);
    Pack<TOut, N> o;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      Acc r = (convert<Acc>(row.p[i].v[k]) - mean) * rstd;
      if (scale)
        r *= convert<Acc>(s.v[k]);
      if (bias)
        r += convert<Acc>(b.v[k]);
      o.v[k] = convert<TOut>(r);
    }
    *reinterpret_cast<Pack<TOut, N> *>(y + c) = o;
  }
}

// Whether rows of `cols` elements of x and y can be held as 16-byte pieces.
template <class TIn, class TOut>
__device__ __forceinline__ bool rowsInPieces(const TIn *x, const TOut *y, index_t cols) {
  constexpr int N = kVecElems<TIn>;
  return N > 1 && cols % N == 0 && isAligned(x, 16) &&
         isAligned(y, alignof(Pack<TOut, N>));
}

template <class TIn, class TScale, class TOut, int Packs>
__global__ void layer_norm_regs_kernel(const TIn *__restrict__ x, const TScale *__restrict__ scale,
                                       const TScale *__restrict__ bias, TOut *y, long long rows,
                                       long long cols, float eps) {
  gridDependencySync();
  using Acc = acc_t<TIn>;
  if (!rowsInPieces(x, y, cols)) {
    forEachRow(rows, [&](index_t r) {
      layerNormRow(x + r * cols, scale, bias, y + r * cols, cols, eps);
    });
    return;
  }
  forEachRow(rows, [&](index_t r) {
    RowRegs<TIn, Packs> row;
    row.load(x + r * cols, cols);
    const Acc mean = blockReduceSum(row.template sum<Acc>([](Acc a) { return a; })) / Acc(cols);
    const Acc var = blockReduceSum(row.template sum<Acc>([&](Acc a) {
                      Acc d = a - mean;
                      return d * d;
                    })) /
                    Acc(cols);
    storeNormalized(row, scale, bias, y + r * cols, mean, Acc(1) / sqrt(var + Acc(eps)));
  });
}

template <class TIn, class TScale, class TOut, int Packs>
__global__ void rms_norm_regs_kernel(const TIn *__restrict__ x, const TScale *__restrict__ scale,
                                     TOut *y, long long rows, long long cols, float eps) {
  gridDependencySync();
  using Acc = acc_t<TIn>;
  if (!rowsInPieces(x, y, cols)) {
    forEachRow(rows,
               [&](index_t r) { rmsNormRow(x + r * cols, scale, y + r * cols, cols, eps); });
    return;
  }
  forEachRow(rows, [&](index_t r) {
    RowRegs<TIn, Packs> row;
    row.load(x + r * cols, cols);
    const Acc sq = blockReduceSum(row.template sum<Acc>([](Acc a) { return a * a; }));
    storeNormalized(row, scale, static_cast<const TScale *>(nullptr), y + r * cols, Acc(0),
                    Acc(1) / sqrt(sq / Acc(cols) + Acc(eps)));
  });
}

} // namespace kernels
} // namespace spdc
