//===- rope_profile.cu - Forms of the generated RoPE kernel, for choosing codegen's ---------===//
//
// The benchmark row rope_b4_s4096_h32_d128 (bf16 x [4, 32, 4096, 128], cos/sin [4096, 128]) as
// the kernel spdc generates for it (`spdc rope.onnx --emit=cuda`: 16-byte pieces, the partner
// half of the rotation loaded again, 256 threads, one piece per thread), beside forms that
// differ in one thing each, and a device-to-device copy of the same bytes:
//   nvcc -O3 -std=c++17 -arch=sm_90a -I runtime/kernels/include bench/kernels/rope_profile.cu \
//       -o .device/bin/spdc-rope-profile
// Each form is timed as do_bench times the peers (256 MB written before each launch, the
// launch alone between events, median of 200) and back to back (median of 20 runs of 50
// launches). Every form's output is compared with the generated form's, bit for bit.
//
//===----------------------------------------------------------------------===//

#include "spdc/kernels/common.cuh"

#include "check.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace spdc::kernels;
using T = __nv_bfloat16;

namespace {

constexpr int kB = 4, kH = 32, kS = 4096, kD = 128;
constexpr long long kElems = 1LL * kB * kH * kS * kD;
constexpr int kPiece = 8;                // bf16 elements per 16-byte piece
constexpr int kRowPieces = kD / kPiece;  // 16 lanes per row
constexpr long long kPieces = kElems / kPiece;

struct alignas(16) Vec {
  T v[kPiece];
};

enum class Load { Plain, Streaming };

template <Load L> __device__ __forceinline__ Vec loadX(const T *p) {
  Vec r;
  if constexpr (L == Load::Streaming)
    *reinterpret_cast<uint4 *>(&r) = __ldcs(reinterpret_cast<const uint4 *>(p));
  else
    *reinterpret_cast<uint4 *>(&r) = *reinterpret_cast<const uint4 *>(p);
  return r;
}
__device__ __forceinline__ Vec loadTable(const T *p) {
  Vec r;
  *reinterpret_cast<uint4 *>(&r) = __ldg(reinterpret_cast<const uint4 *>(p));
  return r;
}
template <Load L> __device__ __forceinline__ void store(T *p, const Vec &r) {
  if constexpr (L == Load::Streaming)
    __stcs(reinterpret_cast<uint4 *>(p), *reinterpret_cast<const uint4 *>(&r));
  else
    *reinterpret_cast<uint4 *>(p) = *reinterpret_cast<const uint4 *>(&r);
}

__device__ __forceinline__ Vec rotate(const Vec &x, const Vec &partner, const Vec &c,
                                      const Vec &s, int c0) {
  Vec r;
  const float sign = c0 < kD / 2 ? -1.0f : 1.0f;
#pragma unroll
  for (int k = 0; k < kPiece; ++k)
    r.v[k] = __float2bfloat16(__bfloat162float(x.v[k]) * __bfloat162float(c.v[k]) +
                              sign * __bfloat162float(partner.v[k]) * __bfloat162float(s.v[k]));
  return r;
}

// One 16-byte piece: piece vi of the output, row vi / 16.
template <Load L, bool Shuffle>
__device__ __forceinline__ void piece(const T *__restrict__ x, const T *__restrict__ cs,
                                      const T *__restrict__ sn, T *__restrict__ out, int vi) {
  const int i0 = vi % kRowPieces, row = vi / kRowPieces, pos = row % kS;
  const int c0 = i0 * kPiece;
  const T *xr = x + (long long)row * kD;
  const Vec own = loadX<L>(xr + c0);
  Vec partner;
  if constexpr (Shuffle) {
    // The partner piece is lane ^ 8's own (16 lanes per row, rows aligned to 16 lanes).
#pragma unroll
    for (int w = 0; w < 4; ++w)
      reinterpret_cast<unsigned *>(&partner)[w] =
          __shfl_xor_sync(0xffffffffu, reinterpret_cast<const unsigned *>(&own)[w], kRowPieces / 2);
  } else {
    partner = loadX<L>(xr + (c0 < kD / 2 ? c0 + kD / 2 : c0 - kD / 2));
  }
  store<L>(out + (long long)vi * kPiece,
           rotate(own, partner, loadTable(cs + pos * kD + c0), loadTable(sn + pos * kD + c0), c0));
}

// Grid-stride over pieces, PerThread pieces a block's width apart per iteration.
template <Load L, bool Shuffle, int PerThread>
__global__ void rope(const T *__restrict__ x, const T *__restrict__ cs, const T *__restrict__ sn,
                     T *__restrict__ out) {
  const int step = int(blockDim.x) * PerThread;
  for (int base = int(blockIdx.x) * step + int(threadIdx.x); base < kPieces;
       base += int(gridDim.x) * step)
#pragma unroll
    for (int u = 0; u < PerThread; ++u)
      piece<L, Shuffle>(x, cs, sn, out, base + u * int(blockDim.x));
}

struct Timer {
  cudaEvent_t a, b;
  void *flush = nullptr;
  static constexpr size_t kFlushBytes = 256u << 20;
  Timer() {
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    CHECK(cudaMalloc(&flush, kFlushBytes));
  }
  template <class F> float flushed(F &&launch) {
    std::vector<float> ms;
    launch();
    for (int i = 0; i < 200; ++i) {
      CHECK(cudaMemsetAsync(flush, i & 0xff, kFlushBytes));
      ms.push_back(eventMs(a, b, launch));
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  }
  template <class F> float backToBack(F &&launch) {
    std::vector<float> ms;
    launch();
    for (int i = 0; i < 20; ++i)
      ms.push_back(eventMs(a, b, launch, 50));
    CHECK(cudaGetLastError());
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  }
};

} // namespace

int main() {
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  std::vector<T> host(kElems), table(2 * kS * kD);
  unsigned seed = 7;
  for (T &v : host) {
    seed = seed * 1664525u + 1013904223u;
    v = __float2bfloat16(float(seed >> 8) / float(1u << 24) * 4.0f - 2.0f);
  }
  for (size_t i = 0; i < table.size(); ++i)
    table[i] = __float2bfloat16(float((i * 2654435761u) % 2001) / 1000.0f - 1.0f);
  T *x, *out, *tab;
  CHECK(cudaMalloc(&x, kElems * 2));
  CHECK(cudaMalloc(&out, kElems * 2));
  CHECK(cudaMalloc(&tab, table.size() * 2));
  CHECK(cudaMemcpy(x, host.data(), kElems * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(tab, table.data(), table.size() * 2, cudaMemcpyHostToDevice));
  const T *cs = tab, *sn = tab + kS * kD;
  const double bytes = 2.0 * 2 * kElems;

  Timer timer;
  auto report = [&](const char *what, float flushedMs, float b2bMs) {
    std::printf("%-44s %8.4f ms %6.0f GB/s | back to back %8.4f ms %6.0f GB/s\n", what,
                flushedMs, bytes / flushedMs / 1e6, b2bMs, bytes / b2bMs / 1e6);
  };
  auto copy = [&] { CHECK(cudaMemcpyAsync(out, x, kElems * 2, cudaMemcpyDeviceToDevice)); };
  report("device-to-device copy", timer.flushed(copy), timer.backToBack(copy));

  std::vector<T> ref(kElems), got(kElems);
  bool haveRef = false;
  auto form = [&](const char *what, auto kernel, int block, long long grid) {
    auto launch = [&] { kernel<<<unsigned(grid), block>>>(x, cs, sn, out); };
    CHECK(cudaMemset(out, 0, kElems * 2));
    launch();
    CHECK(cudaDeviceSynchronize());
    CHECK(cudaMemcpy((haveRef ? got : ref).data(), out, kElems * 2, cudaMemcpyDeviceToHost));
    if (haveRef && std::memcmp(got.data(), ref.data(), kElems * 2) != 0) {
      std::printf("%s: MISMATCH against the generated form\n", what);
      std::exit(1);
    }
    haveRef = true;
    char name[96];
    std::snprintf(name, sizeof name, "%s (block %d, grid %lld)", what, block, grid);
    report(name, timer.flushed(launch), timer.backToBack(launch));
  };
  auto full = [](int block, int perThread) { return kPieces / (block * perThread); };
  form("generated", rope<Load::Plain, false, 1>, 256, full(256, 1));
  form("partner by shuffle", rope<Load::Plain, true, 1>, 256, full(256, 1));
  form("streaming hints", rope<Load::Streaming, false, 1>, 256, full(256, 1));
  form("shuffle + streaming", rope<Load::Streaming, true, 1>, 256, full(256, 1));
  form("2 pieces per thread", rope<Load::Plain, false, 2>, 256, full(256, 2));
  form("4 pieces per thread", rope<Load::Plain, false, 4>, 256, full(256, 4));
  form("2 pieces, shuffle", rope<Load::Plain, true, 2>, 256, full(256, 2));
  form("block 128", rope<Load::Plain, false, 1>, 128, full(128, 1));
  form("block 512", rope<Load::Plain, false, 1>, 512, full(512, 1));
  form("block 1024", rope<Load::Plain, false, 1>, 1024, full(1024, 1));
  form("grid-stride, 8 blocks per SM", rope<Load::Plain, false, 1>, 256, 8LL * sms);
  form("grid-stride, 16 blocks per SM", rope<Load::Plain, false, 1>, 256, 16LL * sms);
  form("generated (again)", rope<Load::Plain, false, 1>, 256, full(256, 1));
  form("partner by shuffle (again)", rope<Load::Plain, true, 1>, 256, full(256, 1));
  return 0;
}
