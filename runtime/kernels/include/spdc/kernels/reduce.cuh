//===- reduce.cuh - Reductions, arg-reductions, cumsum, top-k along an axis ===//
//
// Shapes: the reduced axis has size n; `outer` is the product of the dims before it and `inner`
// of those after it, so x is [outer, n, inner] contiguous. inner == 1 is the last axis.
// Accumulation in acc_t<TIn>: f32 for f32/f16/bf16, f64 for double, 64-bit for integers.
//
// Reduction ops (Op template argument; Acc is the accumulation type, normally acc_t<TIn>):
//   ReduceSum<Acc>, ReduceMean<Acc>, ReduceMax<Acc>, ReduceMin<Acc>, ReduceProd<Acc>,
//   ReduceSumSquare<Acc>, ReduceL1<Acc>, ReduceL2<Acc>, ReduceLogSum<Acc>,
//   ReduceLogSumExp<Acc>.  Each has: using state = ...; state init(); state map(Acc x);
//   state combine(state, state); Acc finalize(state, index_t n).
//
// Device skeleton for generated code (one block per row, every thread calls it):
//   template <class State, class Load, class Combine>
//   __device__ State rowReduce(index_t cols, State init, Load load, Combine combine);
//     load(col) -> State for each col this thread owns; result in every thread.
//
// Kernels (namespace spdc::kernels):
//   template <class TIn, class TOut, class Op>
//   __global__ void reduce_rows_kernel(const TIn *x, TOut *y, long long rows, long long cols);
//     Last axis: y[r] = Op over x[r, :]. Launch: grid.x any (block per row, grid-strided),
//     block (B,1,1), B multiple of 32 <= 1024 (256), dynamic smem 0.
//   template <class TIn, class TOut, class Op>
//   __global__ void reduce_strided_kernel(const TIn *x, TOut *y, long long outer, long long n,
//                                         long long inner);
//     Non-last axis: y[o, i] = Op over x[o, :, i], one thread per (o, i), coalesced over i.
//     Launch: 1-D grid-stride over outer*inner, block (256,1,1), dynamic smem 0.
//   template <class T, class TIdx, bool IsMax>
//   __global__ void arg_reduce_kernel(const T *x, TIdx *y, long long outer, long long n,
//                                     long long inner, bool selectLastIndex);
//     y[o, i] = index along the axis of the max (IsMax) / min of x[o, :, i]; ties give the
//     first index unless selectLastIndex; NaN counts as the extreme (numpy / PyTorch).
//   template <class TIn, class TOut>
//   __global__ void cumsum_kernel(const TIn *x, TOut *y, long long outer, long long n,
//                                 long long inner, bool exclusive, bool reverse);
//     ONNX CumSum along the axis.
//   template <class T, class TIdx>
//   __global__ void topk_kernel(const T *x, T *values, TIdx *indices, long long outer,
//                               long long n, long long inner, int k, bool largest);
//     values/indices are [outer, k, inner]: the k largest (or smallest) along the axis, sorted
//     (best first), equal values by lower index; NaN counts as largest. k <= n. O(k * n) per
//     line: meant for small k.
//   Launch (arg_reduce, cumsum, topk): grid.x any (one block per (o, i) line, grid-strided
//   over outer*inner lines), block (B,1,1), B multiple of 32 <= 1024 (256; 1024 for long
//   lines), dynamic smem 0. Lines with inner > 1 are read with stride inner (uncoalesced).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"
#include "spdc/kernels/softmax.cuh"

namespace spdc {
namespace kernels {

template <> struct NumericLimits<long long> {
  __device__ static long long lowest() { return -0x7fffffffffffffffLL - 1; }
  __device__ static long long max() { return 0x7fffffffffffffffLL; }
  __device__ static long long infinity() { return max(); }
};
template <> struct NumericLimits<unsigned long long> {
  __device__ static unsigned long long lowest() { return 0; }
  __device__ static unsigned long long max() { return ~0ULL; }
  __device__ static unsigned long long infinity() { return max(); }
};

template <class Acc> struct ReduceSum {
  using state = Acc;
  __device__ static state init() { return Acc(0); }
  __device__ static state map(Acc x) { return x; }
  __device__ static state combine(state a, state b) { return a + b; }
  __device__ static Acc finalize(state s, index_t) { return s; }
};
template <class Acc> struct ReduceMean : ReduceSum<Acc> {
  __device__ static Acc finalize(Acc s, index_t n) { return s / Acc(n); }
};
template <class Acc> struct ReduceSumSquare : ReduceSum<Acc> {
  __device__ static Acc map(Acc x) { return x * x; }
};
template <class Acc> struct ReduceL1 : ReduceSum<Acc> {
  __device__ static Acc map(Acc x) { return x < Acc(0) ? -x : x; }
};
template <class Acc> struct ReduceL2 : ReduceSum<Acc> {
  __device__ static Acc map(Acc x) { return x * x; }
  __device__ static Acc finalize(Acc s, index_t) { return sqrt(s); }
};
template <class Acc> struct ReduceLogSum : ReduceSum<Acc> {
  __device__ static Acc finalize(Acc s, index_t) { return log(s); }
};
template <class Acc> struct ReduceProd {
  using state = Acc;
  __device__ static state init() { return Acc(1); }
  __device__ static state map(Acc x) { return x; }
  __device__ static state combine(state a, state b) { return a * b; }
  __device__ static Acc finalize(state s, index_t) { return s; }
};
// max / min propagate NaN (x != x) like numpy and PyTorch.
template <class Acc> struct ReduceMax {
  using state = Acc;
  __device__ static state init() { return -NumericLimits<Acc>::infinity(); }
  __device__ static state map(Acc x) { return x; }
  __device__ static state combine(state a, state b) { return (a != a || a > b) ? a : b; }
  __device__ static Acc finalize(state s, index_t) { return s; }
};
template <class Acc> struct ReduceMin {
  using state = Acc;
  __device__ static state init() { return NumericLimits<Acc>::infinity(); }
  __device__ static state map(Acc x) { return x; }
  __device__ static state combine(state a, state b) { return (a != a || a < b) ? a : b; }
  __device__ static Acc finalize(state s, index_t) { return s; }
};
template <class Acc> struct ReduceLogSumExp {
  using state = MaxSum<Acc>;
  __device__ static state init() { return {-NumericLimits<Acc>::infinity(), Acc(0)}; }
  __device__ static state map(Acc x) { return {x, Acc(1)}; }
  __device__ static state combine(state a, state b) { return MaxSumOp<Acc>()(a, b); }
  __device__ static Acc finalize(state s, index_t) { return s.max + log(s.sum); }
};

template <class State, class Load, class Combine>
__device__ __forceinline__ State rowReduce(index_t cols, State init, Load &&load,
                                           Combine &&combine) {
  State s = init;
  for (index_t c = threadIdx.x; c < cols; c += blockDim.x)
    s = combine(s, load(c));
  return blockReduce(s, [&](State a, State b) { return combine(a, b); });
}

template <class Op> struct OpCombine {
  template <class S> __device__ __forceinline__ S operator()(S a, S b) const {
    return Op::combine(a, b);
  }
};

template <class TIn, class TOut, class Op>
__global__ void reduce_rows_kernel(const TIn *__restrict__ x, TOut *__restrict__ y,
                                   long long rows, long long cols) {
  gridDependencySync();
  using Acc = acc_t<TIn>;
  forEachRow(rows, [&](index_t r) {
    typename Op::state s = Op::init();
    forEachInRow(x + r * cols, cols,
                 [&](index_t, TIn v) { s = Op::combine(s, Op::map(convert<Acc>(v))); });
    s = blockReduce(s, OpCombine<Op>());
    if (threadIdx.x == 0)
      y[r] = convert<TOut>(Op::finalize(s, cols));
  });
}

template <class TIn, class TOut, class Op>
__global__ void reduce_strided_kernel(const TIn *__restrict__ x, TOut *__restrict__ y,
                                      long long outer, long long n, long long inner) {
  gridDependencySync();
  using Acc = acc_t<TIn>;
  gridStrideLoop(outer * inner, [&](index_t t) {
    const index_t o = t / inner, i = t % inner;
    const TIn *p = x + o * n * inner + i;
    typename Op::state s = Op::init();
    for (index_t c = 0; c < n; ++c)
      s = Op::combine(s, Op::map(convert<Acc>(p[c * inner])));
    y[t] = convert<TOut>(Op::finalize(s, n));
  });
}

// (value, index) candidate of an arg-reduction or top-k round.
template <class Acc> struct ValIdx {
  Acc val;
  long long idx; // -1: none
};

template <class Acc> __device__ __forceinline__ bool isNaN(Acc v) { return v != v; }

// Strict order of candidates: true if (a, ia) ranks before (b, ib). NaN ranks as the largest.
template <class Acc>
__device__ __forceinline__ bool ranksBefore(Acc a, long long ia, Acc b, long long ib,
                                            bool largest, bool lastOnTie) {
  const bool an = isNaN(a), bn = isNaN(b);
  bool greater = (an && !bn) || (!an && !bn && a > b);
  bool less = (bn && !an) || (!an && !bn && a < b);
  if (largest ? greater : less)
    return true;
  if (largest ? less : greater)
    return false;
  return lastOnTie ? ia > ib : ia < ib; // equal (or both NaN)
}

template <class T, class TIdx, bool IsMax>
__global__ void arg_reduce_kernel(const T *__restrict__ x, TIdx *__restrict__ y,
                                  long long outer, long long n, long long inner,
                                  bool selectLastIndex) {
  gridDependencySync();
  using Acc = acc_t<T>;
  using C = ValIdx<Acc>;
  auto better = [&](C a, C b) {
    if (a.idx < 0)
      return b;
    if (b.idx < 0)
      return a;
    return ranksBefore(a.val, a.idx, b.val, b.idx, IsMax, selectLastIndex) ? a : b;
  };
  forEachRow(outer * inner, [&](index_t line) {
    const index_t o = line / inner, i = line % inner;
    const T *p = x + o * n * inner + i;
    C best{Acc(0), -1};
    for (index_t c = threadIdx.x; c < n; c += blockDim.x)
      best = better(best, C{convert<Acc>(p[c * inner]), c});
    best = blockReduce(best, better);
    if (threadIdx.x == 0)
      y[line] = static_cast<TIdx>(best.idx);
  });
}

// Inclusive block scan of one value per thread; `carry` is added. Returns the thread's
// inclusive prefix and sets `total` (in every thread) to the sum of the block's values.
template <class Acc> __device__ __forceinline__ Acc blockInclusiveScan(Acc v, Acc &total) {
  __shared__ Acc warpTotals[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    Acc o = __shfl_up_sync(0xffffffffu, v, off);
    if (lane >= off)
      v += o;
  }
  __syncthreads(); // previous use of warpTotals is over
  if (lane == 31)
    warpTotals[warp] = v;
  __syncthreads();
  Acc before = Acc(0);
  total = Acc(0);
  for (int w = 0; w < warps; ++w) {
    if (w < warp)
      before += warpTotals[w];
    total += warpTotals[w];
  }
  return before + v;
}

template <class TIn, class TOut>
__global__ void cumsum_kernel(const TIn *__restrict__ x, TOut *__restrict__ y, long long outer,
                              long long n, long long inner, bool exclusive, bool reverse) {
  gridDependencySync();
  using Acc = acc_t<TIn>;
  forEachRow(outer * inner, [&](index_t line) {
    const index_t o = line / inner, i = line % inner;
    const index_t base = o * n * inner + i;
    Acc carry = Acc(0);
    for (index_t c0 = 0; c0 < n; c0 += blockDim.x) {
      const index_t c = c0 + threadIdx.x;
      const index_t pos = reverse ? n - 1 - c : c;
      const Acc v = c < n ? convert<Acc>(x[base + pos * inner]) : Acc(0);
      Acc total;
      const Acc incl = blockInclusiveScan(v, total);
      if (c < n)
        y[base + pos * inner] = convert<TOut>(carry + (exclusive ? incl - v : incl));
      carry += total;
    }
  });
}

template <class T, class TIdx>
__global__ void topk_kernel(const T *__restrict__ x, T *__restrict__ values,
                            TIdx *__restrict__ indices, long long outer, long long n,
                            long long inner, int k, bool largest) {
  gridDependencySync();
  using Acc = acc_t<T>;
  using C = ValIdx<Acc>;
  auto better = [&](C a, C b) {
    if (a.idx < 0)
      return b;
    if (b.idx < 0)
      return a;
    return ranksBefore(a.val, a.idx, b.val, b.idx, largest, false) ? a : b;
  };
  forEachRow(outer * inner, [&](index_t line) {
    const index_t o = line / inner, i = line % inner;
    const T *p = x + o * n * inner + i;
    C prev{Acc(0), -1};
    for (int r = 0; r < k; ++r) {
      // The best candidate that ranks after the previous pick.
      C best{Acc(0), -1};
      for (index_t c = threadIdx.x; c < n; c += blockDim.x) {
        const Acc v = convert<Acc>(p[c * inner]);
        if (prev.idx < 0 || ranksBefore(prev.val, prev.idx, v, c, largest, false))
          best = better(best, C{v, c});
      }
      best = blockReduce(best, better);
      if (threadIdx.x == 0) {
        const index_t out = (o * k + r) * inner + i;
        values[out] = convert<T>(best.val);
        indices[out] = static_cast<TIdx>(best.idx);
      }
      prev = best;
    }
  });
}

} // namespace kernels
} // namespace spdc
