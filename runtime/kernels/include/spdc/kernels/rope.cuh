//===- rope.cuh - Rotary position embedding ------------------------------===//
//
// out = x * cos + rotate(x) * sin on the first rotaryDim elements of the last dimension; the
// rest (partial rotary) pass through. rotate-half maps halves (x1, x2) to (-x2, x1);
// interleaved maps each pair (a, b) to (-b, a). cos and sin have last dimension rotaryDim
// (one value per rotated element, as the model computes them) and broadcast over x's leading
// dims through strides. Computed in f32.
//
// Template parameters:
//   T          element type of x and out (float, __half, __nv_bfloat16, double)
//   TCos       element type of cos and sin
//   Interleaved  false: rotate-half (Llama, GPT-NeoX); true: pairs (GPT-J)
//
// Kernel (namespace spdc::kernels):
//   template <class T, class TCos, bool Interleaved>
//   __global__ void rope_kernel(const T *x, const TCos *cos, const TCos *sin, T *out,
//       long long d0, long long d1, long long d2, int headDim, int rotaryDim,
//       long long xStride0, long long xStride1, long long xStride2,
//       long long csStride0, long long csStride1, long long csStride2);
//   x is viewed as [d0, d1, d2, headDim] (typically [batch, heads, seq, head_dim]; codegen pads
//   or collapses leading dims to three) with element strides xStride0..2 for the leading dims and
//   a contiguous last dim (so a [b, s, h, d] input can be read as [b, h, s, d]).
//   cos/sin element (i0, i1, i2, r) is at i0*csStride0 + i1*csStride1 + i2*csStride2 + r
//   (stride 0 = broadcast). out is [d0, d1, d2, headDim] contiguous. rotaryDim is even,
//   <= headDim.
//
// Launch contract: 1-D grid-stride over d0*d1*d2*headDim elements: block (256, 1, 1) (any
// multiple of 32), grid.x = min(ceil(n / 256), 65535 * 16) or so, dynamic shared memory 0.
// Not in place: out must not alias x (a thread reads its partner element, which another
// thread writes).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"

namespace spdc {
namespace kernels {

template <class T, class TCos, bool Interleaved>
__global__ void rope_kernel(const T *__restrict__ x, const TCos *__restrict__ cos,
                            const TCos *__restrict__ sin, T *__restrict__ out, long long d0,
                            long long d1, long long d2, int headDim, int rotaryDim,
                            long long xStride0, long long xStride1, long long xStride2,
                            long long csStride0, long long csStride1, long long csStride2) {
  gridDependencySync();
  using Acc = acc_t<T>;
  const index_t n = d0 * d1 * d2 * headDim;
  const int half = rotaryDim / 2;
  gridStrideLoop(n, [&](index_t i) {
    const int d = int(i % headDim);
    index_t line = i / headDim;
    const index_t i2 = line % d2;
    line /= d2;
    const index_t i1 = line % d1, i0 = line / d1;
    const T *xl = x + i0 * xStride0 + i1 * xStride1 + i2 * xStride2;
    Acc v = convert<Acc>(xl[d]);
    if (d < rotaryDim) {
      const index_t cs = i0 * csStride0 + i1 * csStride1 + i2 * csStride2 + d;
      Acc rot;
      if (Interleaved)
        rot = (d & 1) ? convert<Acc>(xl[d - 1]) : -convert<Acc>(xl[d + 1]);
      else
        rot = d < half ? -convert<Acc>(xl[d + half]) : convert<Acc>(xl[d - half]);
      v = v * convert<Acc>(cos[cs]) + rot * convert<Acc>(sin[cs]);
    }
    out[i] = convert<T>(v);
  });
}

} // namespace kernels
} // namespace spdc
