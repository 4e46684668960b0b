//===- norm_profile.cu - RMSNorm launch shapes, for choosing codegen's launch ------------===//
//
// Times the RMSNorm templates of norm.cuh on bf16 rows as spdc's plans launch them, beside a
// device-to-device copy of the same bytes (read + write), for the benchmark row (16384 x 4096)
// and the 1B Llama's norms (2048 x 2048, 33 per forward), with every block size and registers-
// per-thread choice that covers a row:
//   nvcc -O3 -std=c++17 -arch=sm_90a -I runtime/kernels/include bench/kernels/norm_profile.cu \
//       -o .device/bin/spdc-norm-profile
// Each time is the median over 20 runs of 50 back-to-back launches (a forward's norms run
// between matmuls with no host in between), per launch.
//
//===----------------------------------------------------------------------===//

#include "spdc/kernels/norm.cuh"

#include "check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>


using namespace spdc::kernels;
using T = __nv_bfloat16;

template <class F> float timeLaunches(F &&launch) {
  constexpr int kBatch = 50;
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  launch();
  CHECK(cudaDeviceSynchronize());
  std::vector<float> ms;
  for (int i = 0; i < 20; ++i)
    ms.push_back(eventMs(a, b, launch, kBatch));
  CHECK(cudaGetLastError());
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[10];
}

struct Shape {
  long long rows, cols;
  T *x, *y, *scale;
  double bytes() const { return 2.0 * 2 * rows * cols; }
  void report(const char *what, int block, float ms) const {
    std::printf("%6lldx%-5lld %-22s block %4d  %7.2f us  %6.0f GB/s\n", rows, cols, what, block,
                ms * 1e3, bytes() / ms / 1e6);
  }
};

template <int Packs> void regs(const Shape &s, float *check) {
  const long long pieces = s.cols / 8;
  for (int block = 32; block <= 1024; block *= 2) {
    if (block * Packs < pieces || (Packs > 1 && block * (Packs - 1) >= pieces))
      continue; // not covering a row, or a register set idle
    auto k = rms_norm_regs_kernel<T, T, T, Packs>;
    float ms = timeLaunches([&] {
      k<<<unsigned(std::min(s.rows, 65535LL)), block>>>(s.x, s.scale, s.y, s.rows, s.cols, 1e-5f);
    });
    char what[32];
    std::snprintf(what, sizeof what, "regs, %d piece%s", Packs, Packs > 1 ? "s" : "");
    s.report(what, block, ms);
    // The values of the block-strided kernel, up to the rounding of a differently ordered sum.
    std::vector<T> out(s.cols);
    CHECK(cudaMemcpy(out.data(), s.y + (s.rows - 1) * s.cols, s.cols * 2, cudaMemcpyDeviceToHost));
    for (long long c = 0; c < s.cols; ++c)
      if (std::fabs(__bfloat162float(out[c]) - check[c]) > 1e-2f * std::fabs(check[c]) + 1e-3f) {
        std::printf("MISMATCH at column %lld: %g vs %g\n", c, __bfloat162float(out[c]), check[c]);
        std::exit(1);
      }
  }
}

void shape(long long rows, long long cols) {
  Shape s{rows, cols};
  size_t n = size_t(rows) * cols;
  std::vector<T> host(n);
  unsigned seed = 7;
  for (T &v : host) {
    seed = seed * 1664525u + 1013904223u;
    v = __float2bfloat16(float(seed >> 8) / float(1u << 24) * 4.0f - 2.0f);
  }
  CHECK(cudaMalloc(&s.x, n * 2));
  CHECK(cudaMalloc(&s.y, n * 2));
  CHECK(cudaMalloc(&s.scale, cols * 2));
  CHECK(cudaMemcpy(s.x, host.data(), n * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(s.scale, host.data(), cols * 2, cudaMemcpyHostToDevice));

  s.report("copy", 0, timeLaunches([&] {
             CHECK(cudaMemcpyAsync(s.y, s.x, n * 2, cudaMemcpyDeviceToDevice));
           }));
  for (int block : {128, 256, 512, 1024}) {
    float ms = timeLaunches([&] {
      rms_norm_kernel<T, T, T><<<unsigned(std::min(rows, 65535LL)), block>>>(s.x, s.scale, s.y,
                                                                            rows, cols, 1e-5f);
    });
    s.report("block-strided", block, ms);
  }
  std::vector<T> ref(cols);
  CHECK(cudaMemcpy(ref.data(), s.y + (rows - 1) * cols, cols * 2, cudaMemcpyDeviceToHost));
  std::vector<float> check(cols);
  for (long long c = 0; c < cols; ++c)
    check[c] = __bfloat162float(ref[c]);
  regs<1>(s, check.data());
  regs<2>(s, check.data());
  regs<4>(s, check.data());
  regs<8>(s, check.data());
  for (T *p : {s.x, s.y, s.scale})
    CHECK(cudaFree(p));
}

int main() {
  shape(2048, 2048);
  shape(16384, 4096);
  shape(8192, 768);
  return 0;
}
