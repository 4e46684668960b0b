//===- elementwise.cuh - Activations, gated units, gather / embedding ----===//
//
// Building blocks for generated elementwise code, plus ready kernels for the composite
// activations. Everything computes in f32 (f64 for double) and rounds once to the output.
//
// Functors (f32 in, f32 out; usable in generated code as `spdc::kernels::GeluErf()(x)`):
//   GeluErf, GeluTanh, Silu, Sigmoid, Identity.
//
// Kernels (namespace spdc::kernels):
//   template <class TIn, class TOut, class Op>
//   __global__ void unary_kernel(const TIn *x, TOut *y, long long n);       y = Op()(x)
//   template <class T>
//   __global__ void gelu_kernel(const T *x, T *y, long long n, bool tanhApprox);
//   template <class T>
//   __global__ void silu_kernel(const T *x, T *y, long long n);
//   template <class T>
//   __global__ void swiglu_kernel(const T *gate, const T *up, T *y, long long n);
//     y = silu(gate) * up, all [n] contiguous.
//   Launch (all four): 1-D grid-stride, block (256, 1, 1), grid.x = min(ceil(n / 256), 65535*16)
//   (any grid works), dynamic shared memory 0; y may alias x (elementwise, same index).
//
//   template <class T, class TIdx>
//   __global__ void gather_kernel(const T *data, const TIdx *indices, T *out, long long outer,
//                                 long long axisSize, long long numIndices, long long inner);
//     out[o, n, i] = data[o, indices[n], i] for data [outer, axisSize, inner] and out
//     [outer, numIndices, inner], all contiguous (ONNX Gather along one axis; numIndices is the
//     product of the index tensor's dims). A negative index counts from the end; an index
//     still out of [0, axisSize) yields zeros. Copies 16 bytes at a time when inner * sizeof(T)
//     and the pointers allow it.
//   template <class T, class TIdx>
//   __global__ void embedding_kernel(const T *table, const TIdx *ids, T *out, long long numIds,
//                                    long long vocab, long long dim);
//     out[n, :] = table[ids[n], :]: gather with outer = 1.
//   Launch (both): 1-D grid-stride, block (256, 1, 1), grid.x = min(ceil(work / 256),
//   65535*16) where work = outer * numIndices * inner / (16 / sizeof(T)) at most, dynamic
//   shared memory 0. TIdx: int or long long.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"

namespace spdc {
namespace kernels {

struct Identity {
  __device__ __forceinline__ float operator()(float x) const { return x; }
};
struct GeluErf {
  __device__ __forceinline__ float operator()(float x) const { return geluErf(x); }
};
struct GeluTanh {
  __device__ __forceinline__ float operator()(float x) const { return geluTanh(x); }
};
struct Silu {
  __device__ __forceinline__ float operator()(float x) const { return silu(x); }
};
struct Sigmoid {
  __device__ __forceinline__ float operator()(float x) const { return sigmoid(x); }
};

template <class TIn, class TOut, class Op>
__global__ void unary_kernel(const TIn *x, TOut *y, long long n) {
  gridDependencySync();
  Op op;
  gridStrideLoop(n, [&](index_t i) { y[i] = fromFloat<TOut>(op(toFloat(x[i]))); });
}

template <class T> __global__ void gelu_kernel(const T *x, T *y, long long n, bool tanhApprox) {
  gridDependencySync();
  if (tanhApprox)
    gridStrideLoop(n, [&](index_t i) { y[i] = fromFloat<T>(geluTanh(toFloat(x[i]))); });
  else
    gridStrideLoop(n, [&](index_t i) { y[i] = fromFloat<T>(geluErf(toFloat(x[i]))); });
}

template <class T> __global__ void silu_kernel(const T *x, T *y, long long n) {
  gridDependencySync();
  gridStrideLoop(n, [&](index_t i) { y[i] = fromFloat<T>(silu(toFloat(x[i]))); });
}

template <class T>
__global__ void swiglu_kernel(const T *gate, const T *up, T *y, long long n) {
  gridDependencySync();
  gridStrideLoop(n, [&](index_t i) {
    y[i] = fromFloat<T>(silu(toFloat(gate[i])) * toFloat(up[i]));
  });
}

template <class T, class TIdx>
__device__ __forceinline__ void gatherLines(const T *data, const TIdx *indices, T *out,
                                            index_t outer, index_t axisSize,
                                            index_t numIndices, index_t inner) {
  // Copy unit: 16 bytes where every line start is 16-byte aligned, else one element.
  constexpr int V = kVecElems<T>;
  const bool vec = V > 1 && inner % V == 0 && isAligned(data, 16) && isAligned(out, 16);
  const index_t units = vec ? inner / V : inner;
  gridStrideLoop(outer * numIndices * units, [&](index_t t) {
    const index_t u = t % units;
    const index_t line = t / units; // o * numIndices + n
    const index_t n = line % numIndices, o = line / numIndices;
    index_t idx = static_cast<index_t>(indices[n]);
    if (idx < 0)
      idx += axisSize;
    const bool valid = idx >= 0 && idx < axisSize;
    const index_t src = (o * axisSize + idx) * inner;
    const index_t dst = line * inner;
    if (vec) {
      uint4 val = valid ? reinterpret_cast<const uint4 *>(data + src)[u] : make_uint4(0, 0, 0, 0);
      reinterpret_cast<uint4 *>(out + dst)[u] = val;
    } else {
      out[dst + u] = valid ? data[src + u] : convert<T>(0.0f);
    }
  });
}

template <class T, class TIdx>
__global__ void gather_kernel(const T *__restrict__ data, const TIdx *__restrict__ indices,
                              T *__restrict__ out, long long outer, long long axisSize,
                              long long numIndices, long long inner) {
  gridDependencySync();
  gatherLines(data, indices, out, outer, axisSize, numIndices, inner);
}

template <class T, class TIdx>
__global__ void embedding_kernel(const T *__restrict__ table, const TIdx *__restrict__ ids,
                                 T *__restrict__ out, long long numIds, long long vocab,
                                 long long dim) {
  gridDependencySync();
  gatherLines(table, ids, out, 1, vocab, numIds, dim);
}

} // namespace kernels
} // namespace spdc
