//===- attention_profile.cu - the attention launches models make, for profiling -----------===//
//
// Launches attention_fwd_ws_kernel and attention_fwd_ws_tma_kernel (tensor copies, with tensor
// maps encoded here as the runtime does) as spdc's plans do on sm_90a (no mask: NoMask; 128-key
// tiles; one block per SM) on bf16 inputs, checks that the two agree, and prints the median time
// of each shape and the average of 50 launches back to back:
//   the benchmark row B4 H16 S4096 D128 (non-causal and causal), and the attention of GPT-2
//   124M B8 (H12 S1024 D64 causal) and of the 1B Llama B1 (H32 KV8 S2048 D64 causal).
// Small on purpose (a few instantiations), so that it travels to the GPU machine beside the
// staged binaries and Nsight Compute can replay one launch:
//   nvcc -O3 -std=c++17 -arch=sm_90a -lineinfo -I runtime/kernels/include \
//       bench/kernels/attention_profile.cu -o .device/bin/spdc-attention-profile \
//       -L/usr/local/cuda/lib64/stubs -lcuda
//   ncu --clock-control none -k regex:attention_fwd_ws -c 1 --set full \
//       .device/bin/spdc-attention-profile [row]
// Arguments: [row: 0-6 (4-6: the non-causal row's work at S 8192, 2048 and 1024), or -1 for
// 0-3] [kernel: 0 cp.async, 1 tensor copies, 2 both (default)] [inputs: 0 random (default), 1 the
// pattern of spdc bench's made-up inputs] [launches timed back to back, 50 by default] [before
// each single launch: 0 nothing (default), N > 0 write N MiB (as do_bench clears L2), N < 0 read
// -N MiB, or with a last argument of 1: keep one SM spinning N microseconds (a gap without
// memory traffic)].
//
//===----------------------------------------------------------------------===//

#include "spdc/kernels/attention.cuh"

#include "check.h"

#include <cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>


using namespace spdc::kernels;
using T = __nv_bfloat16;
static bool gPattern = false;
static int gBackToBack = 50;
static int gFlush = 0;      // MiB written (> 0) or read (< 0) before each single launch
static bool gIdle = false;  // gFlush is a spin of that many microseconds instead
static int *gFlushBuf = nullptr;

// Reads `n` ints; writes only if their sum is a value no buffer here holds.
__global__ void flushRead(const int4 *p, size_t n, int *sink) {
  int acc = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    int4 v = p[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x7eadbeef)
    *sink = acc;
}

__global__ void spinUs(unsigned us) {
  unsigned long long t0, t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  while (t - t0 < 1000ull * us);
}

// What comes before each single launch (see main's arguments).
static void beforeLaunch() {
  if (gFlush == 0)
    return;
  const unsigned amount = unsigned(std::abs(gFlush)); // MiB, or microseconds when idle
  const size_t bytes = size_t(amount) << 20;
  if (gIdle) {
    spinUs<<<1, 32>>>(amount);
  } else {
    if (!gFlushBuf)
      CHECK(cudaMalloc(&gFlushBuf, bytes + 16));
    if (gFlush > 0)
      CHECK(cudaMemsetAsync(gFlushBuf, 0, bytes));
    else
      flushRead<<<1056, 512>>>(reinterpret_cast<const int4 *>(gFlushBuf), bytes / 16,
                               gFlushBuf + bytes / 4);
  }
  CHECK(cudaGetLastError());
}

// A 4-d map (column, row, head, batch) over a [B, H, S, D] tensor, boxes of 64 x rows.
static TmaDescriptor tensorMap(const T *base, int B, int H, long long S, int D, int rows) {
  TmaDescriptor map;
  cuuint64_t dims[4] = {cuuint64_t(D), cuuint64_t(S), cuuint64_t(H), cuuint64_t(B)};
  cuuint64_t strides[3] = {cuuint64_t(D) * 2, cuuint64_t(S) * D * 2, cuuint64_t(H) * S * D * 2};
  cuuint32_t box[4] = {64, cuuint32_t(rows), 1, 1}, elem[4] = {1, 1, 1, 1};
  CUresult r = cuTensorMapEncodeTiled(
      reinterpret_cast<CUtensorMap *>(&map), CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4,
      const_cast<T *>(base), dims, strides, box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    std::fprintf(stderr, "cuTensorMapEncodeTiled failed: %d\n", int(r));
    std::exit(1);
  }
  return map;
}

template <int D>
void row(const char *name, int B, int HQ, int HKV, long long S, bool causal, bool tma) {
  using Cfg = AttentionWsConfig<D, D, 128>;
  // The tensor-copy kernel's own launch contract (its register split differs; so may its
  // shared memory).
  using TCfg = AttentionWsConfig<D, D, 128, true>;
  size_t nq = size_t(B) * HQ * S * D, nkv = size_t(B) * HKV * S * D;
  std::vector<T> host(std::max(nq, nkv));
  unsigned seed = 1;
  size_t i = 0;
  for (T &x : host) {
    seed = seed * 1664525u + 1013904223u;
    // gPattern: `spdc bench`'s made-up inputs ((i * 7919) % 2001 / 1000 - 1); else uniform
    // random in [-1, 1).
    x = __float2bfloat16(gPattern ? float((i++ * 7919) % 2001) / 1000.0f - 1.0f
                                  : float(seed >> 8) / float(1u << 24) * 2.0f - 1.0f);
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
  auto tmaKernel = attention_fwd_ws_tma_kernel<T, NoMask, D, D, 128>;
  CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             Cfg::kSmemBytes));
  CHECK(cudaFuncSetAttribute(tmaKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             TCfg::kSmemBytes));
  const TmaDescriptor qMap = tensorMap(q, B, HQ, S, D, Cfg::kBlockM),
                      kMap = tensorMap(k, B, HKV, S, D, TCfg::kBlockN),
                      vMap = tensorMap(v, B, HKV, S, D, TCfg::kBlockN);
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const long long tiles = (S + Cfg::kBlockM - 1) / Cfg::kBlockM;
  const unsigned grid = unsigned(std::min<long long>(sms, tiles * B * HQ));
  auto launchOn = [&](bool withTma) {
    if (withTma)
      tmaKernel<<<grid, TCfg::kThreads, TCfg::kSmemBytes>>>(
          q, k, v, nullptr, o, B, HQ, HKV, S, S, 1.0f / std::sqrt(float(D)), causal, 0, 0, 0, 0,
          HQ * S * D, S * D, D, HKV * S * D, S * D, D, HKV * S * D, S * D, D, HQ * S * D, S * D,
          D, qMap, kMap, vMap);
    else
      kernel<<<grid, Cfg::kThreads, Cfg::kSmemBytes>>>(
          q, k, v, nullptr, o, B, HQ, HKV, S, S, 1.0f / std::sqrt(float(D)), causal, 0, 0, 0, 0,
          HQ * S * D, S * D, D, HKV * S * D, S * D, D, HKV * S * D, S * D, D, HQ * S * D, S * D,
          D);
    CHECK(cudaGetLastError());
  };
  auto launch = [&] { launchOn(tma); };
  // Both kernels compute the same output: compare them once.
  std::vector<T> ref(nq), got(nq);
  launchOn(false);
  CHECK(cudaMemcpy(ref.data(), o, nq * 2, cudaMemcpyDeviceToHost));
  CHECK(cudaMemset(o, 0, nq * 2));
  launchOn(true);
  CHECK(cudaMemcpy(got.data(), o, nq * 2, cudaMemcpyDeviceToHost));
  double diff = 0, norm = 0;
  for (size_t i = 0; i < nq; ++i) {
    double a = __bfloat162float(ref[i]), b = __bfloat162float(got[i]);
    diff += (a - b) * (a - b), norm += a * a;
  }
  if (!(std::sqrt(diff / (norm > 0 ? norm : 1)) < 1e-3)) {
    std::fprintf(stderr, "%s: tensor-copy kernel differs: rel. L2 %g\n", name,
                 std::sqrt(diff / (norm > 0 ? norm : 1)));
    std::exit(1);
  }
  // And against a reference computed here in double precision from the same bf16 inputs, on
  // a few rows of the first and the last head (both kernels could share a mistake).
  {
    const double sc = 1.0 / std::sqrt(double(D));
    double rd = 0, rn = 0;
    for (long long h : {0LL, (long long)B * HQ - 1})
      for (long long r : {0LL, 1LL, S / 2 + 3, S - 1}) {
        const long long b0 = h / HQ, hq = h % HQ, hk = hq / (HQ / HKV);
        const T *qr = host.data() + ((b0 * HQ + hq) * S + r) * D;
        const T *kb = host.data() + (b0 * HKV + hk) * S * D;
        const long long keys = causal ? r + 1 : S;
        std::vector<double> p(keys);
        double mx = -1e300, sum = 0;
        for (long long j = 0; j < keys; ++j) {
          double dot = 0;
          for (int c = 0; c < D; ++c)
            dot += double(__bfloat162float(qr[c])) * __bfloat162float(kb[j * D + c]);
          p[j] = dot * sc;
          mx = std::max(mx, p[j]);
        }
        for (double &x : p)
          sum += (x = std::exp(x - mx));
        for (int c = 0; c < D; ++c) {
          double acc = 0;
          for (long long j = 0; j < keys; ++j)
            acc += p[j] * __bfloat162float(kb[j * D + c]); // V's values are K's (same copy)
          const double want = acc / sum,
                       have = __bfloat162float(got[((b0 * HQ + hq) * S + r) * D + c]);
          rd += (want - have) * (want - have), rn += want * want;
        }
      }
    if (!(std::sqrt(rd / rn) < 1e-2)) {
      std::fprintf(stderr, "%s: differs from the reference: rel. L2 %g\n", name,
                   std::sqrt(rd / rn));
      std::exit(1);
    }
  }
  launch();
  CHECK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  std::vector<float> ms;
  const int singles = gFlush != 0 ? 50 : 20;
  for (int i = 0; i < singles; ++i) {
    beforeLaunch();
    ms.push_back(eventMs(a, b, launch));
  }
  std::sort(ms.begin(), ms.end());
  // Sustained: 50 launches back to back between two events (as a benchmark loop or a CUDA
  // graph of many layers runs them; the GPU's clocks may settle lower than between synced
  // launches).
  const float sustained = eventMs(a, b, launch, gBackToBack);
  double flops = 4.0 * B * HQ * S * S * D / (causal ? 2 : 1);
  const float median = ms[ms.size() / 2];
  std::printf("%-34s %-8s %.3f ms  %.1f TFLOP/s  (back to back %.3f ms)\n", name,
              tma ? "tma" : "cp.async", median, flops / median / 1e9, sustained);
  for (T *p : {q, k, v, o})
    CHECK(cudaFree(p));
}

void rows(int only, bool tma) {
  if (only < 0 || only == 0)
    row<128>("attention_b4_h16_s4096_d128", 4, 16, 16, 4096, false, tma);
  if (only < 0 || only == 1)
    row<128>("attention_causal_b4_h16_s4096_d128", 4, 16, 16, 4096, true, tma);
  // Rows 4-6 (asked for by number only): the benchmark row's work in longer or shorter items
  // (per-item costs: the Q tile's load, the first and last products, the output's store).
  if (only == 4)
    row<128>("b2 h16 s8192 d128", 2, 16, 16, 8192, false, tma);
  if (only == 5)
    row<128>("b16 h16 s2048 d128", 16, 16, 16, 2048, false, tma);
  if (only == 6)
    row<128>("b64 h16 s1024 d128", 64, 16, 16, 1024, false, tma);
  if (only < 0 || only == 2)
    row<64>("gpt2 b8 h12 s1024 d64 causal", 8, 12, 12, 1024, true, tma);
  if (only < 0 || only == 3)
    row<64>("llama b1 h32 kv8 s2048 d64 causal", 1, 32, 8, 2048, true, tma);
}

// [row] [copies: 0 cp.async, 1 tensor copies, 2 both in turn (default)] [inputs: 0 random,
// 1 spdc bench's pattern] [launches back to back: 50] [before each single launch: MiB written
// (> 0) or read (< 0)] [1: that number is a spin of microseconds instead]
int main(int argc, char **argv) {
  const int only = argc > 1 ? std::atoi(argv[1]) : -1, mode = argc > 2 ? std::atoi(argv[2]) : 2;
  gPattern = argc > 3 && std::atoi(argv[3]) == 1;
  if (argc > 4)
    gBackToBack = std::max(1, std::atoi(argv[4]));
  if (argc > 5)
    gFlush = std::atoi(argv[5]);
  gIdle = argc > 6 && std::atoi(argv[6]) == 1;
  if (mode != 1)
    rows(only, false);
  if (mode != 0)
    rows(only, true);
  return 0;
}
