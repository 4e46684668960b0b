//===- attention_profile.cu - the attention launches models make, for profiling -----------===//
//
// Launches attention_fwd_ws_kernel as spdc's plans do on sm_90a (no mask: NoMask; 128-key tiles;
// one block per SM) on random bf16 inputs, and prints the median time of each shape:
//   the benchmark row B4 H16 S4096 D128 (non-causal and causal), and the attention of GPT-2
//   124M B8 (H12 S1024 D64 causal) and of the 1B Llama B1 (H32 KV8 S2048 D64 causal).
// Small on purpose (a few instantiations), so that it travels to the GPU machine beside the
// staged binaries and Nsight Compute can replay one launch:
//   nvcc -O3 -std=c++17 -arch=sm_90a -lineinfo -I runtime/kernels/include \
//       bench/kernels/attention_profile.cu -o .device/bin/spdc-attention-profile
//   ncu --clock-control none -k regex:attention_fwd_ws -c 1 --set full \
//       .device/bin/spdc-attention-profile [row]
// A row argument (0-3, or -1 for all) runs that row alone.
//
//===----------------------------------------------------------------------===//

#include "spdc/kernels/attention.cuh"

#include "check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>


using namespace spdc::kernels;
using T = __nv_bfloat16;

template <int D>
void row(const char *name, int B, int HQ, int HKV, long long S, bool causal) {
  using Cfg = AttentionWsConfig<D, D, 128>;
  size_t nq = size_t(B) * HQ * S * D, nkv = size_t(B) * HKV * S * D;
  std::vector<T> host(std::max(nq, nkv));
  unsigned seed = 1;
  for (T &x : host) {
    seed = seed * 1664525u + 1013904223u;
    x = __float2bfloat16(float(seed >> 8) / float(1u << 24) * 2.0f - 1.0f);
  }
  T *q, *k, *v, *o;
  CHECK(cudaMalloc(&q, nq * 2));
  CHECK(cudaMalloc(&k, nkv * 2));
  CHECK(cudaMalloc(&v, nkv * 2));
  CHECK(cudaMalloc(&o, nq * 2));
  CHECK(cudaMemcpy(q, host.data(), nq * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(k, host.data(), nkv * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(v, host.data(), nkv * 2, cudaMemcpyHostToDevice));
  auto kernel = attention_fwd_ws_kernel<T, NoMask, D, D, 128>;
  CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             Cfg::kSmemBytes));
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const long long tiles = (S + Cfg::kBlockM - 1) / Cfg::kBlockM;
  const unsigned grid = unsigned(std::min<long long>(sms, tiles * B * HQ));
  auto launch = [&] {
    kernel<<<grid, Cfg::kThreads, Cfg::kSmemBytes>>>(
        q, k, v, nullptr, o, B, HQ, HKV, S, S, 1.0f / std::sqrt(float(D)), causal, 0, 0, 0, 0,
        HQ * S * D, S * D, D, HKV * S * D, S * D, D, HKV * S * D, S * D, D, HQ * S * D, S * D, D);
    CHECK(cudaGetLastError());
  };
  launch();
  CHECK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < 20; ++i) {
    CHECK(cudaEventRecord(a));
    launch();
    CHECK(cudaEventRecord(b));
    CHECK(cudaEventSynchronize(b));
    float t = 0;
    CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  double flops = 4.0 * B * HQ * S * S * D / (causal ? 2 : 1);
  std::printf("%-34s %.3f ms  %.1f TFLOP/s\n", name, ms[10],
              flops / ms[10] / 1e9);
  for (T *p : {q, k, v, o})
    CHECK(cudaFree(p));
}

void rows(int only) {
  if (only < 0 || only == 0)
    row<128>("attention_b4_h16_s4096_d128", 4, 16, 16, 4096, false);
  if (only < 0 || only == 1)
    row<128>("attention_causal_b4_h16_s4096_d128", 4, 16, 16, 4096, true);
  if (only < 0 || only == 2)
    row<64>("gpt2 b8 h12 s1024 d64 causal", 8, 12, 12, 1024, true);
  if (only < 0 || only == 3)
    row<64>("llama b1 h32 kv8 s2048 d64 causal", 1, 32, 8, 2048, true);
}

int main(int argc, char **argv) {
  rows(argc > 1 ? std::atoi(argv[1]) : -1);
  return 0;
}
