//===- common.cuh - Shared helpers for the spdc kernel templates ---------===//
//
// Header-only device code, compiled by NVRTC (or nvcc) with -std=c++17. No host code and no
// headers beyond cuda_fp16.h / cuda_bf16.h, so the runtime can JIT it with only the toolkit's
// own headers on the include path.
//
// Contents (namespace spdc::kernels):
//   index_t                         64-bit signed index type used by every kernel argument.
//   AccType<T>::type / acc_t<T>     compute type: float for float/__half/__nv_bfloat16, double
//                                   for double, long long for integers and bool.
//   convert<To>(From)               any of the above to any other (half/bf16 through float,
//                                   round to nearest even; to bool tests for non-zero).
//   toFloat(T), fromFloat<T>(float) the f32 special case of convert.
//   IsKeepMask<T>                   true for bool / (un)signed char: an i1 keep-mask element.
//   NoMask                          the mask type of attention without a mask (warp-specialized).
//   Pack<T, N>, kVecElems<T>        16-byte vector loads: load16 / isAligned.
//   forEachInRow(row, cols, f)      block-strided walk of one row, f(col, T value), vectorized
//                                   (16 B) when cols and the pointer allow it.
//   transformRow(in, out, cols, f)  out[c] = f(c, in[c]), block-strided, vectorized likewise.
//   warpReduce / blockReduce        any T (size a multiple of 4 bytes) and combine functor; the
//                                   block forms assume a 1-D block whose size is a multiple of
//                                   32 (<= 1024), are called by every thread of the block, and
//                                   return the result in every thread. Fixed combination order,
//                                   so results are deterministic.
//   SumOp, MaxOp, MinOp, blockReduceSum/Max/Min, warpReduceSum/Max/Min.
//   StridedIndex<Rank>              flat row-major index -> offset through arbitrary strides.
//   gridStrideLoop(n, f), forEachRow(rows, f), forEachWarpRow(rows, f)
//                                   1-D grid-stride loops over elements / rows (a block's, a warp's).
//   geluErf, geluTanh, sigmoid, silu            f32 activation math (expf/erff/tanhf).
//   gridDependencySync()            first statement of every kernel: programmatic dependent launch.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace spdc {
namespace kernels {

using index_t = long long;

//===--- type traits (no <type_traits>: NVRTC may not see the host library) ---===//

template <class A, class B> struct IsSame { static constexpr bool value = false; };
template <class A> struct IsSame<A, A> { static constexpr bool value = true; };

template <class T> struct IsIntegral { static constexpr bool value = false; };
#define SPDC_INTEGRAL(T)                                                                     \
  template <> struct IsIntegral<T> { static constexpr bool value = true; };
SPDC_INTEGRAL(bool)
SPDC_INTEGRAL(char)
SPDC_INTEGRAL(signed char)
SPDC_INTEGRAL(unsigned char)
SPDC_INTEGRAL(short)
SPDC_INTEGRAL(unsigned short)
SPDC_INTEGRAL(int)
SPDC_INTEGRAL(unsigned int)
SPDC_INTEGRAL(long)
SPDC_INTEGRAL(unsigned long)
SPDC_INTEGRAL(long long)
SPDC_INTEGRAL(unsigned long long)
#undef SPDC_INTEGRAL

template <class T> struct IsHalfLike {
  static constexpr bool value = IsSame<T, __half>::value || IsSame<T, __nv_bfloat16>::value;
};

// Programmatic dependent launch (sm_90+). The runtime may launch a kernel while the kernel
// before it on the stream is still running (its blocks get scheduled as the previous grid
// drains, instead of after it completes), so every kernel calls this before it touches global
// memory: it waits until the previous grid has completed and its writes are visible (each grid
// waited for its own predecessor, so every earlier one has too), then lets the next kernel's
// blocks be scheduled. Launched without the attribute, both instructions return at once.
__device__ __forceinline__ void gridDependencySync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// The mask element type of an attention kernel instantiated without a mask (its mask pointer
// is null): the kernels that take it compile no mask loads.
struct NoMask {};

// An element of an i1 (keep) mask; any other mask element type is an additive float mask.
template <class T> struct IsKeepMask {
  static constexpr bool value = IsSame<T, bool>::value || IsSame<T, unsigned char>::value ||
                                IsSame<T, signed char>::value || IsSame<T, char>::value;
};

template <class T> struct AccType { using type = float; };
template <> struct AccType<__half> { using type = float; };
template <> struct AccType<__nv_bfloat16> { using type = float; };
template <> struct AccType<double> { using type = double; };
#define SPDC_INT_ACC(T)                                                                      \
  template <> struct AccType<T> { using type = long long; };
SPDC_INT_ACC(bool)
SPDC_INT_ACC(char)
SPDC_INT_ACC(signed char)
SPDC_INT_ACC(unsigned char)
SPDC_INT_ACC(short)
SPDC_INT_ACC(unsigned short)
SPDC_INT_ACC(int)
SPDC_INT_ACC(unsigned int)
SPDC_INT_ACC(long)
SPDC_INT_ACC(long long)
#undef SPDC_INT_ACC
template <> struct AccType<unsigned long long> { using type = unsigned long long; };
template <class T> using acc_t = typename AccType<T>::type;

template <class T> struct NumericLimits;
template <> struct NumericLimits<float> {
  __device__ static float infinity() { return __int_as_float(0x7f800000); }
  __device__ static float lowest() { return -3.402823466e+38f; }
  __device__ static float max() { return 3.402823466e+38f; }
};
template <> struct NumericLimits<double> {
  __device__ static double infinity() { return __longlong_as_double(0x7ff0000000000000LL); }
  __device__ static double lowest() { return -1.7976931348623157e+308; }
  __device__ static double max() { return 1.7976931348623157e+308; }
};

//===--- conversions ---===//

template <class To, class From> __device__ __forceinline__ To convert(From x) {
  if constexpr (IsSame<To, From>::value) {
    return x;
  } else if constexpr (IsSame<From, __half>::value) {
    return convert<To>(__half2float(x));
  } else if constexpr (IsSame<From, __nv_bfloat16>::value) {
    return convert<To>(__bfloat162float(x));
  } else if constexpr (IsSame<To, __half>::value) {
    return __float2half_rn(static_cast<float>(x));
  } else if constexpr (IsSame<To, __nv_bfloat16>::value) {
    return __float2bfloat16_rn(static_cast<float>(x));
  } else if constexpr (IsSame<To, bool>::value) {
    return x != From(0);
  } else {
    return static_cast<To>(x);
  }
}

template <class T> __device__ __forceinline__ float toFloat(T x) { return convert<float>(x); }
template <class T> __device__ __forceinline__ T fromFloat(float x) { return convert<T>(x); }

//===--- 16-byte vector access ---===//

template <class T> constexpr int kVecElems = (16 % sizeof(T) == 0) ? int(16 / sizeof(T)) : 1;

template <class T, int N> struct alignas((N * sizeof(T)) < 16 ? (N * sizeof(T)) : 16) Pack {
  T v[N];
};

__device__ __forceinline__ bool isAligned(const void *p, unsigned bytes) {
  return (reinterpret_cast<unsigned long long>(p) & (bytes - 1)) == 0;
}

// Loads kVecElems<T> elements from a 16-byte aligned address.
template <class T> __device__ __forceinline__ Pack<T, kVecElems<T>> load16(const T *p) {
  uint4 raw = *reinterpret_cast<const uint4 *>(p);
  Pack<T, kVecElems<T>> out;
  memcpy(&out, &raw, 16);
  return out;
}

// Calls f(col, row[col]) for every col this thread owns (block-strided over threadIdx.x).
template <class T, class F>
__device__ __forceinline__ void forEachInRow(const T *row, index_t cols, F &&f) {
  constexpr int N = kVecElems<T>;
  if (N > 1 && cols % N == 0 && isAligned(row, 16)) {
    for (index_t c = threadIdx.x; c < cols / N; c += blockDim.x) {
      Pack<T, N> p = load16(row + c * N);
#pragma unroll
      for (int k = 0; k < N; ++k)
        f(c * N + k, p.v[k]);
    }
  } else {
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x)
      f(c, row[c]);
  }
}

// out[c] = f(c, in[c]) for every col this thread owns; f returns TOut.
template <class TIn, class TOut, class F>
__device__ __forceinline__ void transformRow(const TIn *in, TOut *out, index_t cols, F &&f) {
  constexpr int N = kVecElems<TIn>;
  using OutPack = Pack<TOut, N>;
  if (N > 1 && cols % N == 0 && isAligned(in, 16) && isAligned(out, alignof(OutPack))) {
    for (index_t c = threadIdx.x; c < cols / N; c += blockDim.x) {
      Pack<TIn, N> p = load16(in + c * N);
      OutPack o;
#pragma unroll
      for (int k = 0; k < N; ++k)
        o.v[k] = f(c * N + k, p.v[k]);
      *reinterpret_cast<OutPack *>(out + c * N) = o;
    }
  } else {
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x)
      out[c] = f(c, in[c]);
  }
}

//===--- reductions ---===//

struct SumOp {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const {
    return a > b ? a : b;
  }
};
struct MinOp {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const {
    return a < b ? a : b;
  }
};

// Shuffle of any trivially copyable T whose size is a multiple of 4 bytes.
template <class T> __device__ __forceinline__ T shflXor(T v, int mask) {
  static_assert(sizeof(T) % 4 == 0, "shuffle needs a multiple of 4 bytes");
  constexpr int W = sizeof(T) / 4;
  int w[W];
  memcpy(w, &v, sizeof(T));
#pragma unroll
  for (int i = 0; i < W; ++i)
    w[i] = __shfl_xor_sync(0xffffffffu, w[i], mask);
  memcpy(&v, w, sizeof(T));
  return v;
}
template <class T> __device__ __forceinline__ T shflIdx(T v, int src) {
  static_assert(sizeof(T) % 4 == 0, "shuffle needs a multiple of 4 bytes");
  constexpr int W = sizeof(T) / 4;
  int w[W];
  memcpy(w, &v, sizeof(T));
#pragma unroll
  for (int i = 0; i < W; ++i)
    w[i] = __shfl_sync(0xffffffffu, w[i], src);
  memcpy(&v, w, sizeof(T));
  return v;
}

// Butterfly: every lane gets the result. All 32 lanes must call it.
template <class T, class Op> __device__ __forceinline__ T warpReduce(T v, Op op) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1)
    v = op(v, shflXor(v, m));
  return v;
}
template <class T> __device__ __forceinline__ T warpReduceSum(T v) { return warpReduce(v, SumOp()); }
template <class T> __device__ __forceinline__ T warpReduceMax(T v) { return warpReduce(v, MaxOp()); }
template <class T> __device__ __forceinline__ T warpReduceMin(T v) { return warpReduce(v, MinOp()); }

// Block-wide reduction; every thread of the (1-D, multiple-of-32) block calls it and gets the
// result. Safe to call repeatedly: the leading barrier protects the scratch of the previous call.
template <class T, class Op> __device__ __forceinline__ T blockReduce(T v, Op op) {
  __shared__ T scratch[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warpReduce(v, op);
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  v = scratch[0];
  for (int i = 1; i < warps; ++i)
    v = op(v, scratch[i]);
  return v;
}
template <class T> __device__ __forceinline__ T blockReduceSum(T v) { return blockReduce(v, SumOp()); }
template <class T> __device__ __forceinline__ T blockReduceMax(T v) { return blockReduce(v, MaxOp()); }
template <class T> __device__ __forceinline__ T blockReduceMin(T v) { return blockReduce(v, MinOp()); }

//===--- indexing ---===//

// Maps a flat row-major index over `sizes` to an element offset through `strides` (elements;
// 0 = broadcast). Rank is the template parameter; codegen collapses shapes beforehand.
template <int Rank> struct StridedIndex {
  index_t sizes[Rank];
  index_t strides[Rank];
  __device__ __forceinline__ index_t offset(index_t flat) const {
    index_t off = 0;
#pragma unroll
    for (int d = Rank - 1; d >= 0; --d) {
      index_t i = flat % sizes[d];
      flat /= sizes[d];
      off += i * strides[d];
    }
    return off;
  }
};

// Multi-index of a flat row-major index: idx[d] for d < rank.
template <int Rank>
__device__ __forceinline__ void unravelIndex(index_t flat, const index_t (&sizes)[Rank],
                                             index_t (&idx)[Rank]) {
#pragma unroll
  for (int d = Rank - 1; d >= 0; --d) {
    idx[d] = flat % sizes[d];
    flat /= sizes[d];
  }
}

// f(i) for i in [0, n), spread over the whole 1-D grid.
template <class F> __device__ __forceinline__ void gridStrideLoop(index_t n, F &&f) {
  const index_t stride = index_t(gridDim.x) * blockDim.x;
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    f(i);
}

// f(row) for row in [0, rows), one block per row (grid-strided over blockIdx.x). Every thread
// of the block runs every iteration, so f may use block reductions and barriers.
template <class F> __device__ __forceinline__ void forEachRow(index_t rows, F &&f) {
  for (index_t r = blockIdx.x; r < rows; r += gridDim.x)
    f(r);
}
// One row per warp (blockDim.x / 32 rows per block), grid-stride; r is warp-uniform, so warp
// reductions inside f see all 32 lanes.
template <class F> __device__ __forceinline__ void forEachWarpRow(index_t rows, F &&f) {
  const index_t warps = blockDim.x >> 5;
  for (index_t r = index_t(blockIdx.x) * warps + (threadIdx.x >> 5); r < rows;
       r += index_t(gridDim.x) * warps)
    f(r);
}

//===--- activation math, f32 ---===//

constexpr float kSqrtHalf = 0.70710678118654752440f;   // 1/sqrt(2)
constexpr float kSqrt2OverPi = 0.79788456080286535588f; // sqrt(2/pi)

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float silu(float x) { return x / (1.0f + expf(-x)); }
__device__ __forceinline__ float geluErf(float x) { return 0.5f * x * (1.0f + erff(x * kSqrtHalf)); }
__device__ __forceinline__ float geluTanh(float x) {
  return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

//===--- attention score modifiers ---===//

// What the attention kernels (attention.cuh, attention_decode.cuh) do to the scaled scores of
// visible keys before the mask: their last template argument, Mod. apply(s, unit) takes scores
// in units of `unit` natural-log units (1, or log2(e) where the softmax runs in base 2).
struct NoScoreMod {
  static constexpr bool kActive = false;
  __device__ __forceinline__ static float apply(float s, float) { return s; }
};
// Soft-capping (Gemma 2): cap * tanh(s / cap), the cap given by its IEEE-754 bits so that the
// kernel's name spells it exactly (SoftCap<0x42480000u> caps at 50).
template <unsigned CapBits> struct SoftCap {
  static constexpr bool kActive = true;
  static constexpr unsigned kBits = CapBits;
  __device__ __forceinline__ static float apply(float s, float unit) {
    const float cap = __uint_as_float(CapBits) * unit;
    return cap * tanhf(s / cap);
  }
};

} // namespace kernels
} // namespace spdc
