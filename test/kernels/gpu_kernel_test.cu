//===- gpu_kernel_test.cu - runtime/kernels against CPU references ------===//
//
// Runs every kernel template of runtime/kernels on random inputs and compares with a plain
// double-precision CPU reference computed from the same (rounded) inputs. Launches follow the
// contracts documented at the top of each header. Prints "SKIPPED: no CUDA device" and exits 0
// where there is no GPU. `spdc-kernel-gpu-test --bench` prints first timings instead
// (`--test-attention`: the f16/bf16 attention tests alone; `--bench-attention`: the attention
// forward timings alone; `--test-decode`: the decode tests alone; `--bench-decode`: the
// split-KV decode kernels on the b8 h32 kv8 s8192 d128 bf16 row; `--bench-decode-flushed`: the
// same, each launch after a 256 MB write that clears L2, as do_bench times).
//
// Tolerances, |got - ref| <= atol + rtol * |ref|:
//   f32:  rtol 1e-4, atol 1e-5 (f32 accumulation in another order than the reference; long
//         reductions and exp get a few ulps).
//   f16:  rtol 4e-3, atol 4e-3: the result is rounded once to f16 (half ulp 2^-11 ~ 4.9e-4
//         relative) after f32 accumulation; the margin covers values near zero after
//         cancellation (layer norm, rope).
//   bf16: rtol 2e-2, atol 2e-2: one bf16 rounding is 2^-8 ~ 3.9e-3 relative; same margin.
//
//===----------------------------------------------------------------------===//

#include "spdc/kernels/attention.cuh"
#include "spdc/kernels/attention_decode.cuh"
#include "spdc/kernels/elementwise.cuh"
#include "spdc/kernels/norm.cuh"
#include "spdc/kernels/reduce.cuh"
#include "spdc/kernels/rope.cuh"
#include "spdc/kernels/softmax.cuh"

#include <cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

using namespace spdc::kernels;

namespace {

#define CUDA_CHECK(expr)                                                                     \
  do {                                                                                       \
    cudaError_t err_ = (expr);                                                               \
    if (err_ != cudaSuccess) {                                                               \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,                     \
                   cudaGetErrorString(err_));                                                \
      std::exit(1);                                                                          \
    }                                                                                        \
  } while (0)

int gFailures = 0, gPasses = 0;
int gSMs = 1; // the device's multiprocessors
bool gTma = false; // the build has sm_90a code and the device runs it: tensor-copy kernels
bool gClusters = false; // the device is sm_90+: thread block clusters
std::mt19937 gRng(1234);

template <class T> struct Tol;
template <> struct Tol<float> {
  static constexpr double rtol = 1e-4, atol = 1e-5;
  static const char *name() { return "f32"; }
};
template <> struct Tol<__half> {
  static constexpr double rtol = 4e-3, atol = 4e-3;
  static const char *name() { return "f16"; }
};
template <> struct Tol<__nv_bfloat16> {
  static constexpr double rtol = 2e-2, atol = 2e-2;
  static const char *name() { return "bf16"; }
};

template <class T> T hostFrom(float x) {
  if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(x);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __float2bfloat16_rn(x);
  else
    return static_cast<T>(x);
}
template <class T> double hostTo(T x) {
  if constexpr (std::is_same_v<T, __half>)
    return __half2float(x);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __bfloat162float(x);
  else
    return static_cast<double>(x);
}

// Random values in [lo, hi), rounded to T; `ref` gets the rounded values.
template <class T>
std::vector<T> randomT(size_t n, std::vector<double> &ref, float lo = -2.f, float hi = 2.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<T> out(n);
  ref.resize(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = hostFrom<T>(dist(gRng));
    ref[i] = hostTo(out[i]);
  }
  return out;
}

template <class T> struct DevBuf {
  T *ptr = nullptr;
  size_t n = 0;
  explicit DevBuf(size_t count) : n(count) {
    CUDA_CHECK(cudaMalloc(&ptr, (n ? n : 1) * sizeof(T)));
    CUDA_CHECK(cudaMemset(ptr, 0xff, (n ? n : 1) * sizeof(T))); // NaN-ish garbage
  }
  explicit DevBuf(const std::vector<T> &h) : DevBuf(h.size()) {
    CUDA_CHECK(cudaMemcpy(ptr, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DevBuf() { cudaFree(ptr); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
  DevBuf(const DevBuf &) = delete;
  DevBuf &operator=(const DevBuf &) = delete;
};

template <class T>
void expectClose(const std::string &name, const std::vector<T> &got,
                 const std::vector<double> &ref, double rtol, double atol) {
  CUDA_CHECK(cudaGetLastError());
  size_t bad = 0, worst = 0;
  double worstExcess = -1;
  for (size_t i = 0; i < ref.size(); ++i) {
    double g = hostTo(got[i]), r = ref[i];
    double err = std::fabs(g - r), lim = atol + rtol * std::fabs(r);
    bool ok = (std::isnan(r) && std::isnan(g)) || (std::isinf(r) && g == r) || err <= lim;
    if (!ok) {
      ++bad;
      double excess = std::isfinite(err) ? err - lim : INFINITY;
      if (excess > worstExcess)
        worstExcess = excess, worst = i;
    }
  }
  if (got.size() != ref.size() || bad) {
    ++gFailures;
    std::printf("FAIL %s: %zu of %zu elements out of tolerance; worst at %zu: got %.8g ref "
                "%.8g\n",
                name.c_str(), bad, ref.size(), worst, bad ? hostTo(got[worst]) : 0.0,
                bad ? ref[worst] : 0.0);
  } else {
    ++gPasses;
    std::printf("ok   %s\n", name.c_str());
  }
}
template <class T>
void expectClose(const std::string &name, const std::vector<T> &got,
                 const std::vector<double> &ref) {
  expectClose(name, got, ref, Tol<T>::rtol, Tol<T>::atol);
}

unsigned gridFor(long long n, int block = 256) {
  long long g = (n + block - 1) / block;
  return unsigned(g < 65535LL * 16 ? (g > 0 ? g : 1) : 65535LL * 16);
}

//===--- norms ---===//

// Threads per block for the *_regs_kernel norms: `packs` 16-byte pieces per thread cover a row.
template <class T> unsigned regsBlock(long long cols, int packs) {
  long long pieces = (cols * (long long)sizeof(T) + 15) / 16;
  long long threads = (pieces + packs - 1) / packs;
  return unsigned(std::max(64LL, (threads + 31) / 32 * 32));
}

template <class T> void testNorms(long long rows, long long cols) {
  std::vector<double> rx, rs, rb;
  auto x = randomT<T>(rows * cols, rx);
  auto s = randomT<T>(cols, rs, 0.5f, 1.5f);
  auto b = randomT<T>(cols, rb, -0.5f, 0.5f);
  DevBuf<T> dx(x), ds(s), db(b), dy(rows * cols);
  std::string tag = std::string(Tol<T>::name()) + " " + std::to_string(rows) + "x" +
                    std::to_string(cols);
  std::vector<double> ref(rows * cols);
  const float eps = 1e-5f;
  for (int withAffine = 0; withAffine < 2; ++withAffine) {
    for (long long r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (long long c = 0; c < cols; ++c)
        mean += rx[r * cols + c];
      mean /= cols;
      for (long long c = 0; c < cols; ++c)
        var += (rx[r * cols + c] - mean) * (rx[r * cols + c] - mean);
      var /= cols;
      for (long long c = 0; c < cols; ++c) {
        double v = (rx[r * cols + c] - mean) / std::sqrt(var + eps);
        ref[r * cols + c] = withAffine ? v * rs[c] + rb[c] : v;
      }
    }
    layer_norm_kernel<T, T, T><<<unsigned(rows), 256>>>(dx.ptr, withAffine ? ds.ptr : nullptr,
                                                        withAffine ? db.ptr : nullptr, dy.ptr,
                                                        rows, cols, eps);
    expectClose("layer_norm " + tag + (withAffine ? " affine" : ""), dy.get(), ref);
    // Rows in registers, as codegen launches them (two pieces per thread), and with four
    // pieces per thread on fewer blocks than rows; cols 1001 takes the block-strided fallback.
    layer_norm_regs_kernel<T, T, T, 2><<<unsigned(rows), regsBlock<T>(cols, 2)>>>(
        dx.ptr, withAffine ? ds.ptr : nullptr, withAffine ? db.ptr : nullptr, dy.ptr, rows, cols,
        eps);
    expectClose("layer_norm_regs " + tag + (withAffine ? " affine" : ""), dy.get(), ref);
    layer_norm_regs_kernel<T, T, T, 4><<<2, regsBlock<T>(cols, 4)>>>(
        dx.ptr, withAffine ? ds.ptr : nullptr, withAffine ? db.ptr : nullptr, dy.ptr, rows, cols,
        eps);
    expectClose("layer_norm_regs4 " + tag + (withAffine ? " affine" : ""), dy.get(), ref);
  }
  for (int withScale = 0; withScale < 2; ++withScale) {
    for (long long r = 0; r < rows; ++r) {
      double ms = 0;
      for (long long c = 0; c < cols; ++c)
        ms += rx[r * cols + c] * rx[r * cols + c];
      ms /= cols;
      for (long long c = 0; c < cols; ++c)
        ref[r * cols + c] = rx[r * cols + c] / std::sqrt(ms + eps) * (withScale ? rs[c] : 1.0);
    }
    // Fewer blocks than rows: the grid-strided row loop.
    rms_norm_kernel<T, T, T><<<3, 128>>>(dx.ptr, withScale ? ds.ptr : nullptr, dy.ptr, rows,
                                         cols, eps);
    expectClose("rms_norm " + tag + (withScale ? " scale" : ""), dy.get(), ref);
    rms_norm_regs_kernel<T, T, T, 2><<<3, regsBlock<T>(cols, 2)>>>(
        dx.ptr, withScale ? ds.ptr : nullptr, dy.ptr, rows, cols, eps);
    expectClose("rms_norm_regs " + tag + (withScale ? " scale" : ""), dy.get(), ref);
  }
}

//===--- softmax ---===//

template <class T> void testSoftmax(long long rows, long long cols) {
  std::vector<double> rx;
  auto x = randomT<T>(rows * cols, rx, -8.f, 8.f);
  DevBuf<T> dx(x), dy(rows * cols);
  std::string tag = std::string(Tol<T>::name()) + " " + std::to_string(rows) + "x" +
                    std::to_string(cols);
  std::vector<double> sm(rows * cols), lsm(rows * cols);
  auto refLine = [&](long long base, long long n, long long stride) {
    double m = -INFINITY, s = 0;
    for (long long c = 0; c < n; ++c)
      m = std::max(m, rx[base + c * stride]);
    for (long long c = 0; c < n; ++c)
      s += std::exp(rx[base + c * stride] - m);
    for (long long c = 0; c < n; ++c) {
      sm[base + c * stride] = std::exp(rx[base + c * stride] - m) / s;
      lsm[base + c * stride] = rx[base + c * stride] - m - std::log(s);
    }
  };
  for (long long r = 0; r < rows; ++r)
    refLine(r * cols, cols, 1);
  softmax_kernel<T, T><<<unsigned(rows), 256>>>(dx.ptr, dy.ptr, rows, cols);
  expectClose("softmax " + tag, dy.get(), sm);
  log_softmax_kernel<T, T><<<unsigned(rows), 128>>>(dx.ptr, dy.ptr, rows, cols);
  expectClose("log_softmax " + tag, dy.get(), lsm);
  // Middle axis: [rows / 2 ... ] viewed as [outer = 2, n = cols, inner = rows / 2].
  if (rows % 2 == 0) {
    long long outer = 2, n = cols, inner = rows / 2;
    for (long long o = 0; o < outer; ++o)
      for (long long i = 0; i < inner; ++i)
        refLine(o * n * inner + i, n, inner);
    softmax_strided_kernel<T, T><<<7, 64>>>(dx.ptr, dy.ptr, outer, n, inner, false);
    expectClose("softmax_strided " + tag, dy.get(), sm);
    softmax_strided_kernel<T, T><<<7, 64>>>(dx.ptr, dy.ptr, outer, n, inner, true);
    expectClose("log_softmax_strided " + tag, dy.get(), lsm);
  }
}

//===--- rope ---===//

template <class T> void testRope(bool interleaved, int rotaryDim) {
  const long long B = 2, H = 3, S = 5;
  const int D = 64;
  std::vector<double> rx, rc, rs;
  // x stored [B, S, H, D], read as [B, H, S, D]; cos/sin [B, 1, S, rotaryDim].
  auto x = randomT<T>(B * S * H * D, rx);
  auto c = randomT<T>(B * S * rotaryDim, rc, -1.f, 1.f);
  auto s = randomT<T>(B * S * rotaryDim, rs, -1.f, 1.f);
  DevBuf<T> dx(x), dc(c), ds(s), dy(B * H * S * D);
  std::vector<double> ref(B * H * S * D);
  for (long long b = 0; b < B; ++b)
    for (long long h = 0; h < H; ++h)
      for (long long si = 0; si < S; ++si)
        for (int d = 0; d < D; ++d) {
          auto X = [&](int dd) { return rx[((b * S + si) * H + h) * D + dd]; };
          long long cs = (b * S + si) * rotaryDim + d;
          double v = X(d);
          if (d < rotaryDim) {
            double rot;
            if (interleaved)
              rot = (d % 2) ? X(d - 1) : -X(d + 1);
            else
              rot = d < rotaryDim / 2 ? -X(d + rotaryDim / 2) : X(d - rotaryDim / 2);
            v = v * rc[cs] + rot * rs[cs];
          }
          ref[((b * H + h) * S + si) * D + d] = v;
        }
  long long n = B * H * S * D;
  auto kernel = interleaved ? rope_kernel<T, T, true> : rope_kernel<T, T, false>;
  kernel<<<gridFor(n), 256>>>(dx.ptr, dc.ptr, ds.ptr, dy.ptr, B, H, S, D, rotaryDim,
                              S * H * D, D, H * D, S * rotaryDim, 0, rotaryDim);
  expectClose(std::string("rope ") + Tol<T>::name() + (interleaved ? " interleaved" : " half") +
                  " rotary " + std::to_string(rotaryDim),
              dy.get(), ref);
}

//===--- attention ---===//

enum class MaskKind { None, Keep, Additive };

// Element strides of q, k, v and out over (batch, head, row), as attention_fwd_kernel takes
// them.
struct Strides3 {
  long long b, h, s;
};
struct AttentionLayoutArgs {
  Strides3 q, k, v, o;
};
// The contiguous layouts ([batch, heads, len, dim]).
AttentionLayoutArgs contiguousLayout(int hq, int hkv, long long sq, long long skv, int D,
                                     int DV) {
  return {{hq * sq * D, sq * D, D},
          {hkv * skv * D, skv * D, D},
          {hkv * skv * DV, skv * DV, DV},
          {hq * sq * DV, sq * DV, DV}};
}

// Calls launch(mask) with the mask pointer of `kind`: the keep-mask, the additive mask, or a
// null float mask.
template <class F>
void launchWithMask(MaskKind kind, const unsigned char *keep, const float *add, F &&launch) {
  if (kind == MaskKind::Keep)
    launch(keep);
  else if (kind == MaskKind::Additive)
    launch(add);
  else
    launch(static_cast<const float *>(nullptr));
}

// Whether attention_fwd_ws_kernel takes these parameters (AttentionWsConfig).
template <class T, int D, int DV> constexpr bool hasWsAttention() {
  return !std::is_same_v<T, float> && (D == 64 || D == 128) && (DV == 64 || DV == 128);
}

// `ws` of the warp-specialized kernel with tensor copies (attention_fwd_ws_tma_kernel, 128-key
// tiles).
constexpr int kWsTma = -128;

// The key tiles the warp-specialized kernel is tested with: 128 (the only one codegen uses at
// head dims 64), and 64 too when a head dim is 128 (devices with 99 KiB of shared memory); and
// the tensor-copy kernel on sm_90a for operands it can map (16-byte aligned rows).
template <int D, int DV> std::vector<int> wsBlockNs(bool mappable = true) {
  std::vector<int> ns = {128};
  if (D > 64 || DV > 64)
    ns.insert(ns.begin(), 64);
  if (gTma && mappable)
    ns.push_back(kWsTma);
  return ns;
}

// "_ws64" / "_ws128" for the warp-specialized kernel with those key tiles, "_tma128" with tensor
// copies, "" otherwise.
std::string wsSuffix(int ws) {
  return ws == kWsTma ? "_tma128" : ws ? "_ws" + std::to_string(ws) : "";
}

// A 4-d tensor map (column, row, head, batch) over attention operand `base` as the runtime
// encodes it (cuTensorMapEncodeTiled through the runtime API's driver entry point: the test
// does not link libcuda), boxes of 64 columns by `boxRows`.
template <class T>
TmaDescriptor attentionTensorMap(const T *base, int batch, int heads, long long rows, int dim,
                                 Strides3 st, int boxRows) {
  using Encode = decltype(&cuTensorMapEncodeTiled);
  static Encode encode = [] {
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult found;
    CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000,
                                                cudaEnableDefault, &found));
    return reinterpret_cast<Encode>(fn);
  }();
  TmaDescriptor map;
  const cuuint64_t e = sizeof(T);
  cuuint64_t dims[4] = {cuuint64_t(dim), cuuint64_t(rows), cuuint64_t(heads), cuuint64_t(batch)};
  cuuint64_t strides[3] = {cuuint64_t(st.s) * e, cuuint64_t(st.h) * e, cuuint64_t(st.b) * e};
  cuuint32_t box[4] = {64, cuuint32_t(boxRows), 1, 1}, one[4] = {1, 1, 1, 1};
  CUresult r = encode(reinterpret_cast<CUtensorMap *>(&map),
                      std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                                : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
                      4, const_cast<T *>(base), dims, strides, box, one,
                      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    std::printf("FAIL cuTensorMapEncodeTiled: error %d\n", int(r));
    ++gFailures;
  }
  return map;
}

__global__ void probeTensorCopies(int *out) { *out = SPDC_ATTENTION_WGMMA; }

// attention_fwd_kernel (ws != 0: attention_fwd_ws_kernel with key tiles of ws) with the launch
// of its contract (AttentionConfig / AttentionWsConfig); gridX > 0 replaces the number of query
// tiles (blocks then loop over several tiles); no layout: contiguous.
template <class T, class M, int D, int DV, class Mod = NoScoreMod>
void launchAttentionFwd(const T *q, const T *k, const T *v, const M *mask, T *out, int batch,
                        int hq, int hkv, long long sq, long long skv, float scale, bool causal,
                        long long msB, long long msH, long long msQ, long long msK,
                        unsigned gridX = 0, const AttentionLayoutArgs *layout = nullptr,
                        int ws = 0) {
  const AttentionLayoutArgs l = layout ? *layout : contiguousLayout(hq, hkv, sq, skv, D, DV);
  auto launch = [&](auto kernel, int blockM, int threads, int smem, bool persistent = false) {
    if (smem > 48 * 1024)
      CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    dim3 grid(gridX ? gridX : unsigned((sq + blockM - 1) / blockM), unsigned(batch * hq));
    // The persistent launch of the runtime (Launch::blocksPerSM = 1): one block per SM.
    if (persistent && !gridX && unsigned(gSMs) < grid.x * grid.y)
      grid = dim3(unsigned(gSMs), 1);
    kernel<<<grid, threads, smem>>>(q, k, v, mask, out, batch, hq, hkv, sq, skv, scale, causal,
                                    msB, msH, msQ, msK, l.q.b, l.q.h, l.q.s, l.k.b, l.k.h, l.k.s,
                                    l.v.b, l.v.h, l.v.s, l.o.b, l.o.h, l.o.s);
    CUDA_CHECK(cudaGetLastError());
  };
  if constexpr (hasWsAttention<T, D, DV>()) {
    if (ws == kWsTma) {
      using Cfg = AttentionWsConfig<D, DV, 128, true>;
      auto kernel = attention_fwd_ws_tma_kernel<T, M, D, DV, 128, Mod>;
      CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      Cfg::kSmemBytes));
      dim3 grid(gridX ? gridX : unsigned((sq + Cfg::kBlockM - 1) / Cfg::kBlockM),
                unsigned(batch * hq));
      if (!gridX && unsigned(gSMs) < grid.x * grid.y)
        grid = dim3(unsigned(gSMs), 1);
      kernel<<<grid, Cfg::kThreads, Cfg::kSmemBytes>>>(
          q, k, v, mask, out, batch, hq, hkv, sq, skv, scale, causal, msB, msH, msQ, msK, l.q.b,
          l.q.h, l.q.s, l.k.b, l.k.h, l.k.s, l.v.b, l.v.h, l.v.s, l.o.b, l.o.h, l.o.s,
          attentionTensorMap(q, batch, hq, sq, D, l.q, Cfg::kBlockM),
          attentionTensorMap(k, batch, hkv, skv, D, l.k, Cfg::kBlockN),
          attentionTensorMap(v, batch, hkv, skv, DV, l.v, Cfg::kBlockN));
      CUDA_CHECK(cudaGetLastError());
      return;
    }
    if (ws == 128) {
      using Cfg = AttentionWsConfig<D, DV, 128>;
      launch(attention_fwd_ws_kernel<T, M, D, DV, 128, Mod>, Cfg::kBlockM, Cfg::kThreads,
             Cfg::kSmemBytes, true);
      return;
    }
    if constexpr (D > 64 || DV > 64) {
      if (ws == 64) {
        using Cfg = AttentionWsConfig<D, DV, 64>;
        launch(attention_fwd_ws_kernel<T, M, D, DV, 64, Mod>, Cfg::kBlockM, Cfg::kThreads,
               Cfg::kSmemBytes, true);
        return;
      }
    }
  }
  using Cfg = AttentionConfig<T, D, DV>;
  launch(attention_fwd_kernel<T, M, D, DV, Mod>, Cfg::kBlockM, Cfg::kThreads, Cfg::kSmemBytes);
}

// Relative L2 error bound of attention outputs with f16/bf16 operands: P is rounded to T before
// P V (as FlashAttention does), so the error is a few roundings of T averaged over the keys;
// bf16 lands near 3e-3, f16 near 4e-4 (METHOD.md: bf16 operands 1e-3..1e-2).
template <class T> double attentionL2Bound() {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return 1e-2;
  else if constexpr (std::is_same_v<T, __half>)
    return 2e-3;
  else
    return 1e-5;
}

// The cap of a score modifier (attention.cuh's SoftCap), 0 for none.
template <class Mod> double softcapOf() {
  if constexpr (Mod::kActive) {
    const unsigned bits = Mod::kBits;
    float cap;
    std::memcpy(&cap, &bits, sizeof cap);
    return cap;
  }
  return 0.0;
}

// float64 attention over the inputs' exact values: GQA (query head h reads kv head
// h / (hq / hkv)), bottom-right causal, scores soft-capped (cap > 0: cap * tanh(s / cap)), a
// keep-mask or an additive mask at b*msB + h*msH + i*msQ + j*msK; rows that see no key are
// zeros.
std::vector<double> referenceAttention(const std::vector<double> &rq, const std::vector<double> &rk,
                                       const std::vector<double> &rv,
                                       const std::vector<unsigned char> &keep,
                                       const std::vector<float> &add, MaskKind maskKind, int batch,
                                       int hq, int hkv, long long sq, long long skv, int D, int DV,
                                       float scale, bool causal, long long msB, long long msH,
                                       long long msQ, long long msK, double cap = 0.0) {
  std::vector<double> ref(size_t(batch) * hq * sq * DV, 0.0), sc(skv);
  std::vector<char> vis(skv);
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < hq; ++h) {
      const int hk = h / (hq / hkv);
      for (long long i = 0; i < sq; ++i) {
        double m = -INFINITY;
        for (long long j = 0; j < skv; ++j) {
          const size_t midx = size_t(b) * msB + size_t(h) * msH + i * msQ + j * msK;
          double dot = 0;
          for (int d = 0; d < D; ++d)
            dot += rq[((size_t(b) * hq + h) * sq + i) * D + d] *
                   rk[((size_t(b) * hkv + hk) * skv + j) * D + d];
          double s = dot * scale;
          if (cap > 0.0)
            s = cap * std::tanh(s / cap);
          sc[j] = s + (maskKind == MaskKind::Additive ? add[midx] : 0.0);
          vis[j] = !(causal && j > i + skv - sq) &&
                   !(maskKind == MaskKind::Keep && !keep[midx]) && !std::isinf(sc[j]);
          if (vis[j])
            m = std::max(m, sc[j]);
        }
        double sum = 0;
        for (long long j = 0; j < skv; ++j) {
          sc[j] = vis[j] ? std::exp(sc[j] - m) : 0.0;
          sum += sc[j];
        }
        double *o = &ref[((size_t(b) * hq + h) * sq + i) * DV];
        for (long long j = 0; j < skv; ++j)
          if (vis[j])
            for (int e = 0; e < DV; ++e)
              o[e] += sc[j] / sum * rv[((size_t(b) * hkv + hk) * skv + j) * DV + e];
      }
    }
  return ref;
}

template <class T, int D, int DV, class Mod = NoScoreMod>
void testAttention(int batch, int hq, int hkv, long long sq, long long skv, bool causal,
                   MaskKind maskKind, bool decode, bool misaligned = false,
                   unsigned gridX = 0, int ws = 0) {
  // The warp-specialized kernel too, where it applies.
  if constexpr (hasWsAttention<T, D, DV>())
    if (!decode && !ws)
      for (int bn : wsBlockNs<D, DV>(!misaligned))
        testAttention<T, D, DV, Mod>(batch, hq, hkv, sq, skv, causal, maskKind, decode,
                                     misaligned, gridX, bn);
  std::vector<double> rq, rk, rv;
  const size_t pad = misaligned ? 1 : 0;
  auto q = randomT<T>(size_t(batch) * hq * sq * D + pad, rq);
  auto k = randomT<T>(size_t(batch) * hkv * skv * D + pad, rk);
  auto v = randomT<T>(size_t(batch) * hkv * skv * DV + pad, rv);
  if (misaligned) {
    rq.erase(rq.begin());
    rk.erase(rk.begin());
    rv.erase(rv.begin());
  }
  const float scale = 1.0f / std::sqrt(float(D));
  // Mask [batch, 1, sq, skv] broadcast over heads. Keep-mask: random, with query row 1 fully
  // masked out; additive: random 0 / -inf / small values, row 2 all -inf.
  std::vector<unsigned char> keep(size_t(batch) * sq * skv);
  std::vector<float> add(size_t(batch) * sq * skv);
  std::uniform_int_distribution<int> coin(0, 3);
  for (int b = 0; b < batch; ++b)
    for (long long i = 0; i < sq; ++i)
      for (long long j = 0; j < skv; ++j) {
        size_t idx = (size_t(b) * sq + i) * skv + j;
        keep[idx] = (i == 1) ? 0 : (coin(gRng) != 0);
        int c = coin(gRng);
        add[idx] = (i == 2 || c == 0) ? -INFINITY : (c == 1 ? 0.f : 0.25f * c);
      }
  DevBuf<T> dq(q), dk(k), dv(v), dout(size_t(batch) * hq * sq * DV);
  DevBuf<unsigned char> dkeep(keep);
  DevBuf<float> dadd(add);
  long long msB = sq * skv, msH = 0, msQ = skv, msK = 1;
  std::vector<double> ref =
      referenceAttention(rq, rk, rv, keep, add, maskKind, batch, hq, hkv, sq, skv, D, DV, scale,
                         causal, msB, msH, msQ, msK, softcapOf<Mod>());
  // Misaligned: q, k, v one element past a 16-byte boundary (the kernels' scalar load paths).
  const int shift = misaligned ? 1 : 0;
  auto launch = [&](auto *mask) {
    using M = std::remove_const_t<std::remove_pointer_t<decltype(mask)>>;
    if (decode)
      attention_decode_kernel<T, M, D, DV, Mod>
          <<<dim3(unsigned(sq), unsigned(batch * hq)), AttentionDecodeConfig::kThreads>>>(
              dq.ptr + shift, dk.ptr + shift, dv.ptr + shift, mask, dout.ptr, batch, hq, hkv, sq,
              skv, scale, causal, msB, msH, msQ, msK);
    else
      launchAttentionFwd<T, M, D, DV, Mod>(dq.ptr + shift, dk.ptr + shift, dv.ptr + shift, mask,
                                           dout.ptr, batch, hq, hkv, sq, skv, scale, causal, msB,
                                           msH, msQ, msK, gridX, nullptr, ws);
  };
  launchWithMask(maskKind, dkeep.ptr, dadd.ptr, launch);
  char name[200];
  std::snprintf(name, sizeof name,
                "attention%s %s b%d hq%d hkv%d sq%lld skv%lld d%d dv%d%s%s%s%s%s",
                decode ? "_decode" : wsSuffix(ws).c_str(), Tol<T>::name(), batch, hq, hkv, sq, skv, D, DV,
                causal ? " causal" : "",
                maskKind == MaskKind::Keep ? " keep-mask"
                                           : (maskKind == MaskKind::Additive ? " add-mask" : ""),
                misaligned ? " misaligned" : "", gridX ? " grid-x" : "",
                Mod::kActive ? " softcap" : "");
  // Scores are dot products over D terms of values up to 2: f32 attention tolerates a few ulps
  // of exp(score) more than elementwise kernels.
  double rtol = std::is_same_v<T, float> ? 2e-4 : Tol<T>::rtol;
  double atol = std::is_same_v<T, float> ? 2e-5 : Tol<T>::atol;
  std::vector<T> got = dout.get();
  expectClose(name, got, ref, rtol, atol);
  double err2 = 0, ref2 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double d = hostTo(got[i]) - ref[i];
    err2 += d * d;
    ref2 += ref[i] * ref[i];
  }
  const double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  if (!(rel <= attentionL2Bound<T>())) { // NaN fails too
    ++gFailures;
    std::printf("FAIL %s: relative L2 error %.3g > %.3g\n", name, rel, attentionL2Bound<T>());
  } else {
    ++gPasses;
    std::printf("ok   %s: relative L2 error %.3g\n", name, rel);
  }
}

// Q, K and V read in place from one fused projection [batch, len, hq + 2 hkv, D] (Q's heads,
// then K's, then V's), the output written as [batch, len, hq, D]: the layout of a QKV
// projection before its head transposes. `extra`: elements of padding after each row of the
// projection (0, or 1 for rows that break 16-byte alignment).
template <class T, int D>
void testAttentionStrided(int batch, int hq, int hkv, long long len, bool causal, int extra,
                          int ws = 0) {
  if constexpr (hasWsAttention<T, D, D>())
    if (!ws)
      for (int bn : wsBlockNs<D, D>(extra == 0))
        testAttentionStrided<T, D>(batch, hq, hkv, len, causal, extra, bn);
  const int heads = hq + 2 * hkv;
  const long long row = heads * D + extra;
  std::vector<double> rp;
  auto packed = randomT<T>(size_t(batch) * len * row, rp);
  // The reference's contiguous q, k, v of the same values.
  std::vector<double> rq(size_t(batch) * hq * len * D), rk(size_t(batch) * hkv * len * D),
      rv(size_t(batch) * hkv * len * D);
  for (int b = 0; b < batch; ++b)
    for (long long i = 0; i < len; ++i)
      for (int h = 0; h < heads; ++h)
        for (int d = 0; d < D; ++d) {
          const double x = rp[(size_t(b) * len + i) * row + h * D + d];
          if (h < hq)
            rq[((size_t(b) * hq + h) * len + i) * D + d] = x;
          else if (h < hq + hkv)
            rk[((size_t(b) * hkv + h - hq) * len + i) * D + d] = x;
          else
            rv[((size_t(b) * hkv + h - hq - hkv) * len + i) * D + d] = x;
        }
  const float scale = 1.0f / std::sqrt(float(D));
  std::vector<double> ref = referenceAttention(rq, rk, rv, {}, {}, MaskKind::None, batch, hq,
                                               hkv, len, len, D, D, scale, causal, 0, 0, 0, 0);
  DevBuf<T> dp(packed), dout(size_t(batch) * len * hq * D);
  const Strides3 in = {len * row, D, row};
  const AttentionLayoutArgs layout = {in, in, in, {len * hq * D, D, hq * D}};
  launchAttentionFwd<T, float, D, D>(dp.ptr, dp.ptr + hq * D, dp.ptr + (hq + hkv) * D, nullptr,
                                     dout.ptr, batch, hq, hkv, len, len, scale, causal, 0, 0, 0,
                                     0, 0, &layout, ws);
  // Back to [batch, hq, len, D] for the comparison.
  std::vector<T> raw = dout.get(), got(raw.size());
  for (int b = 0; b < batch; ++b)
    for (long long i = 0; i < len; ++i)
      for (int h = 0; h < hq; ++h)
        for (int d = 0; d < D; ++d)
          got[((size_t(b) * hq + h) * len + i) * D + d] = raw[((size_t(b) * len + i) * hq + h) * D + d];
  char name[160];
  std::snprintf(name, sizeof name, "attention%s %s qkv-strided b%d hq%d hkv%d s%lld d%d%s%s",
                wsSuffix(ws).c_str(), Tol<T>::name(), batch, hq, hkv, len, D, causal ? " causal" : "",
                extra ? " unaligned-rows" : "");
  expectClose(name, got, ref, std::is_same_v<T, float> ? 2e-4 : Tol<T>::rtol,
              std::is_same_v<T, float> ? 2e-5 : Tol<T>::atol);
}

template <class T> void testAttentionSuite() {
  for (bool decode : {false, true}) {
    testAttention<T, 64, 64>(2, 4, 4, 37, 37, false, MaskKind::None, decode);
    testAttention<T, 64, 64>(2, 8, 2, 77, 77, true, MaskKind::None, decode);
    testAttention<T, 128, 128>(1, 4, 1, 40, 100, true, MaskKind::None, decode);
    testAttention<T, 128, 128>(2, 4, 2, 33, 70, false, MaskKind::Keep, decode);
    testAttention<T, 64, 64>(2, 2, 1, 20, 45, true, MaskKind::Additive, decode);
    testAttention<T, 80, 80>(1, 2, 2, 50, 50, true, MaskKind::Keep, decode);
    testAttention<T, 256, 256>(1, 2, 1, 19, 67, false, MaskKind::Additive, decode);
    testAttention<T, 96, 48>(1, 3, 1, 10, 40, false, MaskKind::None, decode);
    testAttention<T, 128, 128>(2, 8, 2, 1, 300, true, MaskKind::None, decode);
    testAttention<T, 64, 64>(1, 2, 2, 1, 1000, false, MaskKind::Keep, decode);
    // More queries than keys with causal: the first sq - skv rows see no key -> zeros.
    testAttention<T, 32, 32>(1, 2, 1, 24, 10, true, MaskKind::None, decode);
  }
  if constexpr (!std::is_same_v<T, float>) {
    // The 128-row path (head dims 64 and 128): several key tiles, partial tiles at both ends,
    // causal block skipping with qLen < kvLen and qLen > kvLen, GQA, both mask kinds.
    testAttention<T, 64, 64>(2, 4, 4, 256, 256, false, MaskKind::None, false);
    testAttention<T, 64, 64>(1, 8, 2, 1000, 1000, true, MaskKind::None, false);
    testAttention<T, 64, 64>(1, 4, 1, 77, 300, true, MaskKind::Keep, false);
    testAttention<T, 64, 64>(2, 2, 2, 1, 77, false, MaskKind::Additive, false);
    testAttention<T, 64, 64>(1, 2, 1, 300, 77, true, MaskKind::None, false);
    testAttention<T, 128, 128>(1, 4, 2, 1000, 1000, true, MaskKind::None, false);
    testAttention<T, 128, 128>(2, 4, 4, 256, 384, false, MaskKind::None, false);
    testAttention<T, 128, 128>(1, 4, 4, 200, 130, true, MaskKind::Keep, false);
    testAttention<T, 128, 128>(1, 2, 1, 77, 1000, true, MaskKind::Additive, false);
    testAttention<T, 128, 128>(1, 2, 2, 1, 1, true, MaskKind::None, false);
    testAttention<T, 128, 128>(1, 3, 1, 129, 513, false, MaskKind::None, false);
    testAttention<T, 64, 128>(1, 4, 2, 150, 270, true, MaskKind::None, false);
    testAttention<T, 128, 64>(1, 4, 2, 270, 150, false, MaskKind::Keep, false);
    testAttention<T, 128, 128>(1, 2, 1, 100, 200, true, MaskKind::None, false, true);
    testAttention<T, 64, 64>(1, 2, 2, 100, 70, false, MaskKind::Additive, false, true);
    // Fewer blocks than query tiles: each block walks several tiles, so its pipeline stages
    // and barrier phases carry over from one tile to the next (odd key-tile counts flip the
    // stage order), including tiles that see no key.
    testAttention<T, 128, 128>(1, 2, 1, 700, 450, true, MaskKind::None, false, false, 2);
    testAttention<T, 64, 64>(2, 2, 2, 900, 333, false, MaskKind::Keep, false, false, 3);
    testAttention<T, 128, 64>(1, 2, 2, 500, 200, true, MaskKind::Additive, false, false, 1);
    testAttention<T, 128, 128>(1, 2, 2, 300, 100, true, MaskKind::None, false, true, 1);
  }
  // Soft-capped scores (Gemma 2) at a cap of 1.5, low enough to bend most scores, on every path:
  // FMA in f32, 64-row mma.sync (32, 80), the one-row decode kernel, and the 128-row and
  // warp-specialized kernels (64, 128) with and without tensor copies, masked and unmasked.
  using Cap = SoftCap<0x3FC00000u>;
  for (bool decode : {false, true}) {
    testAttention<T, 64, 64, Cap>(2, 4, 2, 77, 77, true, MaskKind::Additive, decode);
    testAttention<T, 32, 32, Cap>(1, 2, 1, 40, 90, false, MaskKind::Keep, decode);
    testAttention<T, 80, 80, Cap>(1, 2, 2, 50, 50, true, MaskKind::None, decode);
  }
  testAttention<T, 128, 128, Cap>(1, 4, 2, 300, 300, true, MaskKind::None, false);
  testAttention<T, 128, 128, Cap>(2, 2, 1, 130, 260, false, MaskKind::Additive, false);
  testAttention<T, 64, 64, Cap>(1, 2, 2, 256, 256, false, MaskKind::None, false);
  // Strided operands on every path: the 128-row path (64, 128), 64-row mma.sync (32, 96) and,
  // in f32, the FMA path.
  testAttentionStrided<T, 128>(2, 4, 2, 300, true, 0);
  testAttentionStrided<T, 64>(1, 6, 6, 257, false, 0);
  testAttentionStrided<T, 64>(1, 4, 2, 200, true, 1);
  testAttentionStrided<T, 32>(2, 2, 1, 100, true, 0);
  testAttentionStrided<T, 96>(1, 2, 2, 70, false, 1);
}

//===--- attention decode (attention_decode.cuh: split KV + combine) ---===//

// Both decode kernels with the launch of attention_decode.cuh's contract, as codegen emits it;
// chunkKeys 0 = AttentionDecodeSplitConfig::chunkKeysFor. oPart / lse: scratch of at least
// decodeScratchFloats(...) floats each.
template <class T, class M, int D, int DV, int KPG = 0, bool PF = true, class Mod = NoScoreMod>
void launchAttentionDecodeSplit(const T *q, const T *k, const T *v, const M *mask, T *out,
                                float *oPart, float *lse, int batch, int hq, int hkv,
                                long long sq, long long skv, float scale, bool causal,
                                long long msB, long long msH, long long msQ, long long msK,
                                long long chunkKeys = 0) {
  using Cfg = AttentionDecodeSplitConfig;
  const long long groupRows = (long long)(hq / hkv) * sq;
  const int rows = Cfg::rowsFor(groupRows, D, DV);
  const long long rowTiles = (groupRows + rows - 1) / rows;
  if (chunkKeys <= 0)
    chunkKeys = Cfg::chunkKeysFor(skv, (long long)batch * hkv * rowTiles);
  const long long chunks = std::max(1LL, (skv + chunkKeys - 1) / chunkKeys);
  const long long outRows = (long long)batch * hq * sq;
  dim3 grid(unsigned(chunks), unsigned(batch * hkv), unsigned(rowTiles));
  auto go = [&](auto rowsTag) {
    constexpr int R = decltype(rowsTag)::value;
    constexpr int EM = Cfg::elemsPerLane(D > DV ? D : DV);
    if constexpr (R * EM <= 64) {
      attention_decode_split_kernel<T, M, D, DV, R, KPG, PF, Mod><<<grid, Cfg::kThreads>>>(
          q, k, v, mask, out, chunks > 1 ? oPart : nullptr, lse, batch, hq, hkv, sq, skv,
          chunkKeys, scale, causal, msB, msH, msQ, msK);
      CUDA_CHECK(cudaGetLastError());
      if (chunks > 1) {
        attention_decode_combine_kernel<T>
            <<<unsigned(std::min(outRows, 65535LL)), Cfg::kCombineThreads>>>(
                oPart, lse, out, outRows, int(chunks), DV);
        CUDA_CHECK(cudaGetLastError());
      }
    } else {
      std::printf("FAIL decode launch: Rows %d not instantiable for D %d\n", R, D);
      ++gFailures;
    }
  };
  switch (rows) {
  case 1: go(std::integral_constant<int, 1>()); break;
  case 2: go(std::integral_constant<int, 2>()); break;
  case 4: go(std::integral_constant<int, 4>()); break;
  default: go(std::integral_constant<int, 8>()); break;
  }
}

// The tensor-core decode kernel with its contract's launch (AttentionDecodeMmaConfig), plus the
// combine kernel when it splits; chunkKeys 0 = AttentionDecodeMmaConfig::chunkKeysFor.
// cluster: on sm_90+ and for at most kMaxClusterChunks chunks, the cluster-merging
// instantiation in clusters of the chunks, as the runtime launches Codegen's special kernel
// (no combine kernel); otherwise the launch below. Returns whether it launched clusters.
template <class T, class M, int D, int DV, int S = AttentionDecodeMmaConfig::kStages,
          int PF = AttentionDecodeMmaConfig::kL2Prefetch,
          bool Co = AttentionDecodeMmaConfig::kCoalesced, bool Bk = false,
          bool Ef = AttentionDecodeMmaConfig::kEvictFirst, class Mod = NoScoreMod>
bool launchAttentionDecodeMma(const T *q, const T *k, const T *v, const M *mask, T *out,
                              float *oPart, float *lse, int batch, int hq, int hkv, long long sq,
                              long long skv, float scale, bool causal, long long msB,
                              long long msH, long long msQ, long long msK,
                              long long chunkKeys = 0, bool cluster = false) {
  using Cfg = AttentionDecodeMmaConfig;
  const long long groupRows = (long long)(hq / hkv) * sq;
  const long long rowTiles = (groupRows + Cfg::kRows - 1) / Cfg::kRows;
  if (chunkKeys <= 0)
    chunkKeys = Cfg::chunkKeysFor(skv, (long long)batch * hkv * rowTiles);
  const long long chunks = std::max(1LL, (skv + chunkKeys - 1) / chunkKeys);
  const long long outRows = (long long)batch * hq * sq;
  constexpr int smem = Cfg::smemBytes(D, DV, S);
  const dim3 grid(unsigned(chunks), unsigned(batch * hkv), unsigned(rowTiles));
  if (cluster && gClusters && chunks <= Cfg::kMaxClusterChunks) {
    auto kernel = attention_decode_mma_kernel<T, M, D, DV, true, S, PF, Co, Bk, Ef, Mod>;
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = dim3(Cfg::kThreads);
    config.dynamicSmemBytes = smem;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = unsigned(chunks);
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    config.attrs = attr;
    config.numAttrs = 1;
    CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, q, k, v, mask, out, oPart, lse, batch, hq, hkv,
                                  sq, skv, chunkKeys, scale, causal, msB, msH, msQ, msK));
    return true;
  }
  auto kernel = attention_decode_mma_kernel<T, M, D, DV, false, S, PF, Co, Bk, Ef, Mod>;
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  kernel<<<grid, Cfg::kThreads, smem>>>(q, k, v, mask, out, chunks > 1 ? oPart : nullptr, lse,
                                        batch, hq, hkv, sq, skv, chunkKeys, scale, causal, msB,
                                        msH, msQ, msK);
  CUDA_CHECK(cudaGetLastError());
  if (chunks > 1) {
    attention_decode_combine_kernel<T>
        <<<unsigned(std::min(outRows, 65535LL)), AttentionDecodeSplitConfig::kCombineThreads>>>(
            oPart, lse, out, outRows, int(chunks), DV);
    CUDA_CHECK(cudaGetLastError());
  }
  return false;
}

// Scratch floats for the partial outputs: the most chunks any launch above can use.
size_t decodeScratchFloats(int batch, int hq, long long sq, long long skv, int dv) {
  return size_t(AttentionDecodeSplitConfig::kMaxChunks > skv ? skv : AttentionDecodeSplitConfig::kMaxChunks) *
         batch * hq * sq * dv;
}

// The decode kernels keep P in f32 (the output's one rounding to T dominates for f16 / bf16):
// the forward kernels' bounds (attentionL2Bound) hold for them too.

// Relative L2 error of a decode output against the float64 reference.
template <class T>
void checkDecode(const char *name, const std::vector<T> &got, const std::vector<double> &ref) {
  double err2 = 0, ref2 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = hostTo(got[i]) - ref[i];
    err2 += d * d;
    ref2 += ref[i] * ref[i];
  }
  const double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  if (!(rel <= attentionL2Bound<T>())) { // NaN (an unwritten output) fails too
    ++gFailures;
    std::printf("FAIL %s: relative L2 error %.3g > %.3g\n", name, rel, attentionL2Bound<T>());
  } else {
    ++gPasses;
    std::printf("ok   %s: relative L2 error %.3g\n", name, rel);
  }
}

// Mask kinds as in testAttention; perHead: the mask has its own slice per query head
// ([batch, hq, sq, skv]) instead of broadcasting over heads; Mod: the kernels' score modifier.
template <class T, int D, int DV, class Mod = NoScoreMod>
void testAttentionDecode(int batch, int hq, int hkv, long long sq, long long skv, bool causal,
                         MaskKind maskKind, long long chunkKeys = 0, bool perHead = false,
                         bool misaligned = false) {
  std::vector<double> rq, rk, rv;
  auto q = randomT<T>(size_t(batch) * hq * sq * D, rq);
  auto k = randomT<T>(size_t(batch) * hkv * skv * D, rk);
  auto v = randomT<T>(size_t(batch) * hkv * skv * DV, rv);
  if (misaligned) { // K and V one element into their buffers: the kernels' element-wise loads
    k.insert(k.begin(), hostFrom<T>(0.0f));
    v.insert(v.begin(), hostFrom<T>(0.0f));
  }
  const float scale = 1.0f / std::sqrt(float(D));
  const int mh = perHead ? hq : 1;
  std::vector<unsigned char> keep(size_t(batch) * mh * sq * skv);
  std::vector<float> add(keep.size());
  std::uniform_int_distribution<int> coin(0, 3);
  for (size_t idx = 0; idx < keep.size(); ++idx) {
    const long long i = (idx / skv) % sq;
    // Query row 1 fully masked out (keep), row 2 all -inf (additive): zeros expected.
    keep[idx] = (i == 1) ? 0 : (coin(gRng) != 0);
    int c = coin(gRng);
    add[idx] = (i == 2 || c == 0) ? -INFINITY : (c == 1 ? 0.f : 0.25f * c);
  }
  const long long msB = mh * sq * skv, msH = perHead ? sq * skv : 0, msQ = skv, msK = 1;
  std::vector<double> ref =
      referenceAttention(rq, rk, rv, keep, add, maskKind, batch, hq, hkv, sq, skv, D, DV, scale,
                         causal, msB, msH, msQ, 1, softcapOf<Mod>());
  DevBuf<T> dq(q), dk(k), dv(v), dout(ref.size()); // dout poisoned (NaN) by DevBuf
  DevBuf<unsigned char> dkeep(keep);
  DevBuf<float> dadd(add);
  const size_t scratch = decodeScratchFloats(batch, hq, sq, skv, DV);
  DevBuf<float> oPart(scratch), lse(scratch / DV);
  const T *kp = dk.ptr + (misaligned ? 1 : 0), *vp = dv.ptr + (misaligned ? 1 : 0);
  constexpr bool kHasMma = IsHalfLike<T>::value && AttentionDecodeMmaConfig::supports(D, DV);
  // CUDA cores; tensor cores with per-lane copies; the default; bulk copies (sm_90; cp.async
  // elsewhere and for misaligned operands); the chunks merged in a cluster (sm_90, at most
  // kMaxClusterChunks chunks).
  for (int variant : {0, 1, 2, 3, 4}) {
    const bool mma = variant > 0;
    if (mma && !kHasMma)
      continue;
    if (variant == 4 && !gClusters)
      continue;
    CUDA_CHECK(cudaMemset(dout.ptr, 0xff, dout.n * sizeof(T)));
    bool clustered = false;
    auto launch = [&](auto *mask) {
      using M = std::remove_const_t<std::remove_pointer_t<decltype(mask)>>;
      if constexpr (kHasMma)
        if (mma) {
          if (variant == 4) {
            clustered = launchAttentionDecodeMma<
                T, M, D, DV, AttentionDecodeMmaConfig::kStages,
                AttentionDecodeMmaConfig::kL2Prefetch, AttentionDecodeMmaConfig::kCoalesced, false,
                AttentionDecodeMmaConfig::kEvictFirst, Mod>(
                dq.ptr, kp, vp, mask, dout.ptr, oPart.ptr, lse.ptr, batch, hq, hkv, sq, skv,
                scale, causal, msB, msH, msQ, msK, chunkKeys, true);
            return;
          }
          if (variant == 3) {
            launchAttentionDecodeMma<T, M, D, DV, AttentionDecodeMmaConfig::kStages,
                                     AttentionDecodeMmaConfig::kL2Prefetch, true, true, true,
                                     Mod>(
                dq.ptr, kp, vp, mask, dout.ptr, oPart.ptr, lse.ptr, batch, hq, hkv, sq, skv,
                scale, causal, msB, msH, msQ, msK, chunkKeys);
            return;
          }
          // The contract's configuration, and per-lane copies without prefetch hints.
          auto go = [&](auto co) {
            constexpr bool Co = decltype(co)::value;
            launchAttentionDecodeMma<T, M, D, DV, AttentionDecodeMmaConfig::kStages,
                                     Co ? AttentionDecodeMmaConfig::kL2Prefetch : 0, Co, false,
                                     AttentionDecodeMmaConfig::kEvictFirst, Mod>(
                dq.ptr, kp, vp, mask, dout.ptr, oPart.ptr, lse.ptr, batch, hq, hkv, sq, skv,
                scale, causal, msB, msH, msQ, msK, chunkKeys);
          };
          if (variant == 2)
            return go(std::true_type());
          return go(std::false_type());
        }
      launchAttentionDecodeSplit<T, M, D, DV, 0, true, Mod>(
          dq.ptr, kp, vp, mask, dout.ptr, oPart.ptr, lse.ptr, batch, hq, hkv, sq, skv, scale,
          causal, msB, msH, msQ, msK, chunkKeys);
    };
    launchWithMask(maskKind, dkeep.ptr, dadd.ptr, launch);
    if (variant == 4 && !clustered)
      continue; // more chunks than a cluster takes: the launch of variant 2
    static const char *const kVariants[] = {"split", "mma-per-lane", "mma", "mma-bulk",
                                            "mma-cluster"};
    char name[200];
    std::snprintf(name, sizeof name,
                  "attention_decode_%s %s b%d hq%d hkv%d sq%lld skv%lld d%d dv%d%s%s%s%s%s chunk%lld",
                  kVariants[variant], Tol<T>::name(), batch, hq, hkv, sq, skv, D, DV,
                  causal ? " causal" : "",
                  maskKind == MaskKind::Keep ? " keep-mask"
                                             : (maskKind == MaskKind::Additive ? " add-mask" : ""),
                  perHead ? " per-head" : "", misaligned ? " misaligned" : "",
                  Mod::kActive ? " softcap" : "", chunkKeys);
    checkDecode(name, dout.get(), ref);
  }
}

template <class T> void testAttentionDecodeSuite() {
  // The benchmark's shape, smaller batch: GQA group 4, one query, long KV (32 chunks).
  testAttentionDecode<T, 128, 128>(2, 8, 2, 1, 8192, false, MaskKind::None);
  testAttentionDecode<T, 128, 128>(1, 4, 1, 1, 8192, true, MaskKind::Keep, 0, true);
  // Groups 1 / 4 / 8, qLen 1 and 3 (rows of a group over two row tiles), kvLen 1 and 77.
  testAttentionDecode<T, 64, 64>(2, 4, 4, 1, 77, false, MaskKind::None);
  testAttentionDecode<T, 64, 64>(2, 8, 1, 1, 1, false, MaskKind::None);
  testAttentionDecode<T, 128, 128>(1, 8, 2, 3, 77, true, MaskKind::None);
  testAttentionDecode<T, 128, 128>(1, 8, 1, 3, 300, true, MaskKind::Additive, 64);
  testAttentionDecode<T, 64, 64>(2, 8, 1, 3, 1000, false, MaskKind::Keep, 128);
  testAttentionDecode<T, 128, 128>(1, 4, 4, 3, 77, false, MaskKind::Additive, 32, true);
  // Chunks split mid-step, causal chunks past the last visible key, rows that see no key.
  testAttentionDecode<T, 128, 128>(2, 4, 1, 1, 77, true, MaskKind::Keep, 16);
  testAttentionDecode<T, 64, 64>(1, 4, 2, 3, 1, true, MaskKind::None);
  testAttentionDecode<T, 64, 64>(1, 4, 2, 3, 2, true, MaskKind::None, 1);
  // Other head dims: odd (scalar loads), 256 (rows capped at 4), D != DV.
  testAttentionDecode<T, 80, 80>(1, 8, 2, 1, 500, false, MaskKind::Keep, 64);
  testAttentionDecode<T, 256, 256>(1, 8, 1, 1, 600, true, MaskKind::None, 128);
  testAttentionDecode<T, 96, 48>(1, 2, 1, 2, 130, false, MaskKind::Additive, 64);
  testAttentionDecode<T, 100, 100>(1, 2, 2, 1, 90, false, MaskKind::None, 32);
  // The tensor-core kernel's own edges: 24 rows over two 16-row tiles, K and V not 16-byte
  // aligned, mixed head dims, keys not a multiple of its 16-key step.
  testAttentionDecode<T, 128, 128>(1, 16, 2, 3, 333, true, MaskKind::Keep, 0, true);
  testAttentionDecode<T, 128, 128>(2, 8, 2, 1, 1000, false, MaskKind::None, 0, false, true);
  testAttentionDecode<T, 64, 128>(1, 4, 1, 1, 500, true, MaskKind::Additive, 128);
  testAttentionDecode<T, 128, 64>(2, 8, 4, 2, 203, false, MaskKind::None, 64);
  // A full 16-row tile (GQA group 16) on the unmasked path, and a group of 8 over half a tile
  // on the causal one: the rows of the tile's second half with and without a softmax.
  testAttentionDecode<T, 128, 128>(1, 32, 2, 1, 3000, false, MaskKind::None);
  testAttentionDecode<T, 64, 64>(2, 16, 2, 1, 1500, true, MaskKind::None, 256);
  // Clusters of 2 to 8 chunks (the cluster merge): the benchmark's chunking at batch 4 (two
  // chunks per kv head), causal chunks that see no key, rows over two tiles, a per-head mask.
  testAttentionDecode<T, 128, 128>(4, 32, 8, 1, 2048, false, MaskKind::None);
  testAttentionDecode<T, 128, 128>(1, 8, 2, 3, 700, true, MaskKind::None, 96);
  testAttentionDecode<T, 128, 128>(1, 16, 2, 3, 333, true, MaskKind::Keep, 64, true);
  testAttentionDecode<T, 64, 64>(2, 8, 2, 1, 1000, false, MaskKind::Additive, 256);
  // Soft-capped scores (cap 1.5) on every decode path: two chunks merged in a cluster, the
  // masked path with the combine kernel, a keep-mask, an odd head dim (CUDA cores only).
  using Cap = SoftCap<0x3FC00000u>;
  testAttentionDecode<T, 128, 128, Cap>(4, 32, 8, 1, 2048, false, MaskKind::None);
  testAttentionDecode<T, 128, 128, Cap>(1, 8, 1, 3, 300, true, MaskKind::Additive, 64);
  testAttentionDecode<T, 64, 64, Cap>(2, 8, 2, 1, 1000, false, MaskKind::Keep, 256);
  testAttentionDecode<T, 80, 80, Cap>(1, 8, 2, 1, 500, false, MaskKind::Keep, 64);
}

//===--- elementwise ---===//

template <class T> void testElementwise() {
  const long long n = 10007;
  std::vector<double> rx, ru;
  auto x = randomT<T>(n, rx, -6.f, 6.f);
  auto u = randomT<T>(n, ru);
  DevBuf<T> dx(x), du(u), dy(n);
  std::vector<double> ref(n);
  std::string tag = Tol<T>::name();
  for (long long i = 0; i < n; ++i)
    ref[i] = 0.5 * rx[i] * (1 + std::erf(rx[i] / std::sqrt(2.0)));
  gelu_kernel<T><<<gridFor(n), 256>>>(dx.ptr, dy.ptr, n, false);
  expectClose("gelu erf " + tag, dy.get(), ref);
  for (long long i = 0; i < n; ++i)
    ref[i] = 0.5 * rx[i] *
             (1 + std::tanh(std::sqrt(2 / M_PI) * (rx[i] + 0.044715 * rx[i] * rx[i] * rx[i])));
  gelu_kernel<T><<<7, 256>>>(dx.ptr, dy.ptr, n, true);
  expectClose("gelu tanh " + tag, dy.get(), ref);
  for (long long i = 0; i < n; ++i)
    ref[i] = rx[i] / (1 + std::exp(-rx[i]));
  silu_kernel<T><<<gridFor(n), 256>>>(dx.ptr, dy.ptr, n);
  expectClose("silu " + tag, dy.get(), ref);
  for (long long i = 0; i < n; ++i)
    ref[i] = rx[i] / (1 + std::exp(-rx[i])) * ru[i];
  swiglu_kernel<T><<<gridFor(n), 256>>>(dx.ptr, du.ptr, dy.ptr, n);
  expectClose("swiglu " + tag, dy.get(), ref);
  for (long long i = 0; i < n; ++i)
    ref[i] = 1 / (1 + std::exp(-rx[i]));
  unary_kernel<T, T, Sigmoid><<<gridFor(n), 256>>>(dx.ptr, dy.ptr, n);
  expectClose("unary sigmoid " + tag, dy.get(), ref);
}

template <class T> void testGather(long long inner) {
  const long long outer = 3, axis = 50, numIdx = 9;
  std::vector<double> rd;
  auto d = randomT<T>(outer * axis * inner, rd);
  std::vector<long long> idx = {0, 49, -1, -50, 7, 7, 50, -51, 23}; // 50, -51: out of range
  DevBuf<T> dd(d), dout(outer * numIdx * inner);
  DevBuf<long long> didx(idx);
  std::vector<double> ref(outer * numIdx * inner);
  for (long long o = 0; o < outer; ++o)
    for (long long n = 0; n < numIdx; ++n) {
      long long j = idx[n] < 0 ? idx[n] + axis : idx[n];
      for (long long i = 0; i < inner; ++i)
        ref[(o * numIdx + n) * inner + i] =
            (j >= 0 && j < axis) ? rd[(o * axis + j) * inner + i] : 0.0;
    }
  gather_kernel<T, long long><<<gridFor(outer * numIdx * inner), 256>>>(
      dd.ptr, didx.ptr, dout.ptr, outer, axis, numIdx, inner);
  expectClose("gather " + std::string(Tol<T>::name()) + " inner " + std::to_string(inner),
              dout.get(), ref, 0, 0);
  // Embedding: rows of the [axis, inner] table of outer index 0.
  std::vector<int> ids = {3, 0, 49, 3};
  DevBuf<int> dids(ids);
  DevBuf<T> demb(ids.size() * inner);
  std::vector<double> eref(ids.size() * inner);
  for (size_t n = 0; n < ids.size(); ++n)
    for (long long i = 0; i < inner; ++i)
      eref[n * inner + i] = rd[ids[n] * inner + i];
  embedding_kernel<T, int><<<gridFor(ids.size() * inner), 256>>>(dd.ptr, dids.ptr, demb.ptr,
                                                                 ids.size(), axis, inner);
  expectClose("embedding " + std::string(Tol<T>::name()) + " dim " + std::to_string(inner),
              demb.get(), eref, 0, 0);
}

//===--- reductions ---===//

template <class T> void testReduce() {
  const long long outer = 4, n = 333, inner = 5;
  std::vector<double> rx;
  auto x = randomT<T>(outer * n * inner, rx);
  // Ties for argmax/argmin/topk: duplicate a few values within lines.
  for (long long o = 0; o < outer; ++o)
    for (long long i = 0; i < inner; ++i) {
      size_t a = (o * n + 10) * inner + i, b = (o * n + 200) * inner + i;
      x[b] = x[a];
      rx[b] = rx[a];
    }
  DevBuf<T> dx(x);
  std::string tag = Tol<T>::name();
  using Acc = acc_t<T>;
  // Row kernels: x viewed as [rows = outer, cols = n * inner].
  {
    long long rows = outer, cols = n * inner;
    DevBuf<T> dy(rows);
    std::vector<double> sum(rows), mx(rows), lse(rows);
    for (long long r = 0; r < rows; ++r) {
      double s = 0, m = -INFINITY;
      for (long long c = 0; c < cols; ++c)
        s += rx[r * cols + c], m = std::max(m, rx[r * cols + c]);
      double e = 0;
      for (long long c = 0; c < cols; ++c)
        e += std::exp(rx[r * cols + c] - m);
      sum[r] = s, mx[r] = m, lse[r] = m + std::log(e);
    }
    reduce_rows_kernel<T, T, ReduceSum<Acc>><<<unsigned(rows), 256>>>(dx.ptr, dy.ptr, rows, cols);
    expectClose("reduce_rows sum " + tag, dy.get(), sum, Tol<T>::rtol, Tol<T>::atol * 10);
    reduce_rows_kernel<T, T, ReduceMax<Acc>><<<unsigned(rows), 256>>>(dx.ptr, dy.ptr, rows, cols);
    expectClose("reduce_rows max " + tag, dy.get(), mx, 0, 0);
    reduce_rows_kernel<T, T, ReduceLogSumExp<Acc>><<<2, 64>>>(dx.ptr, dy.ptr, rows, cols);
    expectClose("reduce_rows logsumexp " + tag, dy.get(), lse);
  }
  {
    DevBuf<T> dy(outer * inner);
    std::vector<double> mean(outer * inner), l2(outer * inner);
    for (long long o = 0; o < outer; ++o)
      for (long long i = 0; i < inner; ++i) {
        double s = 0, q = 0;
        for (long long c = 0; c < n; ++c) {
          double v = rx[(o * n + c) * inner + i];
          s += v, q += v * v;
        }
        mean[o * inner + i] = s / n, l2[o * inner + i] = std::sqrt(q);
      }
    reduce_strided_kernel<T, T, ReduceMean<Acc>><<<1, 256>>>(dx.ptr, dy.ptr, outer, n, inner);
    expectClose("reduce_strided mean " + tag, dy.get(), mean);
    reduce_strided_kernel<T, T, ReduceL2<Acc>><<<1, 256>>>(dx.ptr, dy.ptr, outer, n, inner);
    expectClose("reduce_strided l2 " + tag, dy.get(), l2);
  }
  // arg_reduce (first / last index on ties), topk, cumsum along the middle axis.
  for (int isMax = 0; isMax < 2; ++isMax)
    for (int last = 0; last < 2; ++last) {
      DevBuf<long long> dy(outer * inner);
      std::vector<double> ref(outer * inner);
      for (long long o = 0; o < outer; ++o)
        for (long long i = 0; i < inner; ++i) {
          long long best = 0;
          for (long long c = 1; c < n; ++c) {
            double v = rx[(o * n + c) * inner + i], b = rx[(o * n + best) * inner + i];
            if (isMax ? (v > b || (last && v == b)) : (v < b || (last && v == b)))
              best = c;
          }
          ref[o * inner + i] = double(best);
        }
      if (isMax)
        arg_reduce_kernel<T, long long, true><<<5, 128>>>(dx.ptr, dy.ptr, outer, n, inner, last);
      else
        arg_reduce_kernel<T, long long, false><<<5, 128>>>(dx.ptr, dy.ptr, outer, n, inner, last);
      expectClose(std::string(isMax ? "argmax " : "argmin ") + tag + (last ? " last" : " first"),
                  dy.get(), ref, 0, 0);
    }
  for (int largest = 0; largest < 2; ++largest) {
    const int k = 7;
    DevBuf<T> dv(outer * k * inner);
    DevBuf<long long> di(outer * k * inner);
    std::vector<double> rvals(outer * k * inner), ridx(outer * k * inner);
    for (long long o = 0; o < outer; ++o)
      for (long long i = 0; i < inner; ++i) {
        std::vector<long long> order(n);
        for (long long c = 0; c < n; ++c)
          order[c] = c;
        std::stable_sort(order.begin(), order.end(), [&](long long a, long long b) {
          double va = rx[(o * n + a) * inner + i], vb = rx[(o * n + b) * inner + i];
          return largest ? va > vb : va < vb;
        });
        for (int r = 0; r < k; ++r) {
          rvals[(o * k + r) * inner + i] = rx[(o * n + order[r]) * inner + i];
          ridx[(o * k + r) * inner + i] = double(order[r]);
        }
      }
    topk_kernel<T, long long><<<3, 256>>>(dx.ptr, dv.ptr, di.ptr, outer, n, inner, k, largest);
    expectClose(std::string("topk values ") + tag + (largest ? " largest" : " smallest"),
                dv.get(), rvals, 0, 0);
    expectClose(std::string("topk indices ") + tag + (largest ? " largest" : " smallest"),
                di.get(), ridx, 0, 0);
  }
  for (int exclusive = 0; exclusive < 2; ++exclusive)
    for (int reverse = 0; reverse < 2; ++reverse) {
      DevBuf<float> dy(outer * n * inner);
      std::vector<double> ref(outer * n * inner);
      for (long long o = 0; o < outer; ++o)
        for (long long i = 0; i < inner; ++i) {
          double acc = 0;
          for (long long t = 0; t < n; ++t) {
            long long c = reverse ? n - 1 - t : t;
            double v = rx[(o * n + c) * inner + i];
            if (!exclusive)
              acc += v;
            ref[(o * n + c) * inner + i] = acc;
            if (exclusive)
              acc += v;
          }
        }
      cumsum_kernel<T, float><<<6, 64>>>(dx.ptr, dy.ptr, outer, n, inner, exclusive, reverse);
      expectClose(std::string("cumsum ") + tag + (exclusive ? " exclusive" : "") +
                      (reverse ? " reverse" : ""),
                  dy.get(), ref, 1e-5, 1e-4);
    }
  {
    // Integer cumsum (position ids from an attention mask): exact.
    std::vector<long long> m(1000);
    std::vector<double> ref(1000);
    long long acc = 0;
    for (int i = 0; i < 1000; ++i)
      m[i] = (i * 7) % 3 != 0, acc += m[i], ref[i] = double(acc);
    DevBuf<long long> dm(m), dy(1000);
    cumsum_kernel<long long, long long><<<1, 256>>>(dm.ptr, dy.ptr, 1, 1000, 1, false, false);
    std::vector<long long> got = dy.get();
    std::vector<double> gotD(got.begin(), got.end());
    std::vector<float> gotF(gotD.begin(), gotD.end());
    expectClose("cumsum i64", gotF, ref, 0, 0);
  }
}

template <class T> void testAll() {
  testNorms<T>(7, 768);
  testNorms<T>(5, 1001);
  testNorms<T>(3, 4096);
  testSoftmax<T>(6, 50);
  testSoftmax<T>(4, 3001);
  testSoftmax<T>(2, 32000);
  testRope<T>(false, 64);
  testRope<T>(false, 16);
  testRope<T>(true, 64);
  testRope<T>(true, 32);
  testElementwise<T>();
  testGather<T>(64);
  testGather<T>(3);
  testReduce<T>();
  testAttentionSuite<T>();
  testAttentionDecodeSuite<T>();
}


//===--- timing (--bench): first numbers, not a benchmark suite ---===//

// --bench-decode-flushed: each timed launch follows a write of this many bytes of scratch, as
// triton's do_bench clears L2 (256 MB), and is timed alone.
size_t gFlushBytes = 0;
void *gFlushBuffer = nullptr;

template <class F> float timeMs(F &&launch, int iters = 20) {
  launch(); // warm-up
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  if (gFlushBytes) {
    float total = 0;
    for (int i = 0; i < iters; ++i) {
      CUDA_CHECK(cudaMemsetAsync(gFlushBuffer, i & 0xff, gFlushBytes));
      CUDA_CHECK(cudaEventRecord(a));
      launch();
      CUDA_CHECK(cudaEventRecord(b));
      CUDA_CHECK(cudaEventSynchronize(b));
      float ms = 0;
      CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
      total += ms;
    }
    CUDA_CHECK(cudaGetLastError());
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return total / iters;
  }
  CUDA_CHECK(cudaEventRecord(a));
  for (int i = 0; i < iters; ++i)
    launch();
  CUDA_CHECK(cudaEventRecord(b));
  CUDA_CHECK(cudaEventSynchronize(b));
  CUDA_CHECK(cudaGetLastError());
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / iters;
}

// Median of five timings of `iters` launches each, after a warm-up.
template <class F> float medianMs(F &&launch, int iters = 10) {
  std::vector<float> ms;
  for (int i = 0; i < 5; ++i)
    ms.push_back(timeMs(launch, iters));
  std::sort(ms.begin(), ms.end());
  return ms[2];
}

// attention_fwd on random inputs; FLOPs 4 * B * HQ * S * S * D, half of that under causal.
template <class T, int D>
void benchAttention(int B, int HQ, int HKV, long long S, bool causal, int ws = 0,
                    bool fullGrid = false) {
  std::vector<double> unused;
  DevBuf<T> q(randomT<T>(size_t(B) * HQ * S * D, unused)),
      k(randomT<T>(size_t(B) * HKV * S * D, unused)), v(randomT<T>(size_t(B) * HKV * S * D, unused)),
      o(size_t(B) * HQ * S * D);
  const float scale = 1.0f / std::sqrt(float(D));
  float ms = medianMs([&] {
    launchAttentionFwd<T, float, D, D>(q.ptr, k.ptr, v.ptr, nullptr, o.ptr, B, HQ, HKV, S, S,
                                       scale, causal, 0, 0, 0, 0,
                                       fullGrid ? unsigned((S + 127) / 128) : 0, nullptr, ws);
  });
  double flops = 4.0 * B * HQ * S * S * D / (causal ? 2 : 1);
  std::printf("bench attention_fwd%s%s %s b%d hq%d hkv%d s%lld d%d%s: %.3f ms, %.1f TFLOP/s\n",
              wsSuffix(ws).c_str(), fullGrid ? " full-grid" : "", Tol<T>::name(), B, HQ, HKV, S,
              D, causal ? " causal" : "", ms,
              flops / ms / 1e9);
}

template <class T> void benchAttentionAll() {
  // 0: the previous kernel; 64 and 128: the warp-specialized kernel with key tiles of 64 / 128
  // (head dim 64 runs at 128 only).
  for (int ws : {0, 64, 128}) {
    if (ws && std::is_same_v<T, float>)
      continue; // the warp-specialized kernel takes f16 and bf16
    for (bool causal : {false, true}) {
      benchAttention<T, 128>(4, 16, 16, 4096, causal, ws);
      if (ws != 64)
        benchAttention<T, 64>(4, 16, 16, 4096, causal, ws);
    }
    benchAttention<T, 128>(4, 32, 8, 2048, true, ws);
    benchAttention<T, 128>(16, 16, 16, 1024, false, ws);
    // GPT-2's and Llama's shapes (head dim 64, short causal sequences): persistent and not.
    if (ws != 64)
      for (bool full : {false, true}) {
        if (full && !ws)
          continue;
        benchAttention<T, 64>(8, 12, 12, 1024, true, ws, full);
        benchAttention<T, 64>(1, 32, 32, 2048, true, ws, full);
        benchAttention<T, 128>(4, 16, 16, 4096, true, ws, full);
      }
  }
}

template <class T> void bench() {
  const char *tn = Tol<T>::name();
  benchAttentionAll<T>();
  {
    const int B = 8, HQ = 32, HKV = 8, D = 128;
    const long long SKV = 4096;
    DevBuf<T> q(size_t(B) * HQ * D), k(size_t(B) * HKV * SKV * D), v(size_t(B) * HKV * SKV * D),
        o(size_t(B) * HQ * D);
    CUDA_CHECK(cudaMemset(q.ptr, 0, q.n * sizeof(T)));
    CUDA_CHECK(cudaMemset(k.ptr, 0, k.n * sizeof(T)));
    CUDA_CHECK(cudaMemset(v.ptr, 0, v.n * sizeof(T)));
    float ms = timeMs([&] {
      attention_decode_kernel<T, float, D, D><<<dim3(1, B * HQ), AttentionDecodeConfig::kThreads>>>(
          q.ptr, k.ptr, v.ptr, nullptr, o.ptr, B, HQ, HKV, 1, SKV, 0.088f, true, 0, 0, 0, 0);
    });
    double bytes = 2.0 * B * HKV * SKV * D * sizeof(T);
    std::printf("bench attention_decode %s b%d hq%d hkv%d skv%lld d%d: %.3f ms, %.0f GB/s (K+V "
                "once)\n",
                tn, B, HQ, HKV, SKV, D, ms, bytes / ms / 1e6);
  }
  {
    const long long rows = 16384, cols = 4096;
    DevBuf<T> x(rows * cols), w(cols), y(rows * cols);
    CUDA_CHECK(cudaMemset(x.ptr, 0, x.n * sizeof(T)));
    CUDA_CHECK(cudaMemset(w.ptr, 0, w.n * sizeof(T)));
    double bytes = 2.0 * rows * cols * sizeof(T);
    float ms = timeMs([&] {
      layer_norm_kernel<T, T, T><<<unsigned(rows), 256>>>(x.ptr, w.ptr, w.ptr, y.ptr, rows, cols,
                                                          1e-5f);
    });
    std::printf("bench layer_norm %s %lldx%lld: %.3f ms, %.0f GB/s\n", tn, rows, cols, ms,
                bytes / ms / 1e6);
    ms = timeMs([&] {
      rms_norm_kernel<T, T, T><<<unsigned(rows), 256>>>(x.ptr, w.ptr, y.ptr, rows, cols, 1e-5f);
    });
    std::printf("bench rms_norm %s %lldx%lld: %.3f ms, %.0f GB/s\n", tn, rows, cols, ms,
                bytes / ms / 1e6);
    ms = timeMs([&] {
      softmax_kernel<T, T><<<unsigned(rows), 256>>>(x.ptr, y.ptr, rows, cols);
    });
    std::printf("bench softmax %s %lldx%lld: %.3f ms, %.0f GB/s\n", tn, rows, cols, ms,
                bytes / ms / 1e6);
  }
}


// Decode benchmark (--bench-decode): b8 hq32 hkv8 qLen 1 kvLen 8192 d128 bf16 (the project's
// benchmark row); GB/s counts K + V read once. Both kernels together, then variants.
// The benchmark row's tensors, made once for every variant.
struct DecodeBenchData {
  using T = __nv_bfloat16;
  static constexpr int B = 8, HQ = 32, HKV = 8, D = 128;
  static constexpr long long S = 8192;
  std::vector<double> unused;
  DevBuf<T> q{randomT<T>(size_t(B) * HQ * D, unused)};
  DevBuf<T> k{randomT<T>(size_t(B) * HKV * S * D, unused)};
  DevBuf<T> v{randomT<T>(size_t(B) * HKV * S * D, unused)};
  DevBuf<T> o{size_t(B) * HQ * D};
  DevBuf<float> oPart{decodeScratchFloats(B, HQ, 1, S, D)};
  DevBuf<float> lse{decodeScratchFloats(B, HQ, 1, S, D) / D};
  const float scale = 1.0f / std::sqrt(float(D));
  void print(const char *what, long long chunk, float ms) const {
    const double bytes = 2.0 * B * HKV * S * D * 2;
    std::printf("bench attention_decode bf16 b%d hq%d hkv%d s%lld d%d %-18s chunk %5lld: %.4f ms, "
                "%.0f GB/s\n",
                B, HQ, HKV, S, D, what, chunk, ms, bytes / ms / 1e6);
    std::fflush(stdout);
  }
};

template <int KPG, bool PF> void benchDecodeSplit(DecodeBenchData &d, const char *what, long long chunkKeys) {
  using T = __nv_bfloat16;
  using X = DecodeBenchData;
  const float ms = medianMs([&] {
    launchAttentionDecodeSplit<T, float, X::D, X::D, KPG, PF>(
        d.q.ptr, d.k.ptr, d.v.ptr, nullptr, d.o.ptr, d.oPart.ptr, d.lse.ptr, X::B, X::HQ, X::HKV, 1,
        X::S, d.scale, false, 0, 0, 0, 0, chunkKeys);
  }, 20);
  d.print(what, chunkKeys ? chunkKeys : AttentionDecodeSplitConfig::chunkKeysFor(X::S, X::B * X::HKV), ms);
}

template <int Stages, int PF, bool Co, bool Bk = false,
          bool Ef = AttentionDecodeMmaConfig::kEvictFirst>
void benchDecodeMma(DecodeBenchData &d, const char *what, long long chunkKeys,
                    bool cluster = false) {
  using T = __nv_bfloat16;
  using X = DecodeBenchData;
  if (!chunkKeys)
    chunkKeys = AttentionDecodeMmaConfig::chunkKeysFor(X::S, X::B * X::HKV);
  const float ms = medianMs([&] {
    launchAttentionDecodeMma<T, float, X::D, X::D, Stages, PF, Co, Bk, Ef>(
        d.q.ptr, d.k.ptr, d.v.ptr, nullptr, d.o.ptr, d.oPart.ptr, d.lse.ptr, X::B, X::HQ, X::HKV, 1,
        X::S, d.scale, false, 0, 0, 0, 0, chunkKeys, cluster);
  }, 20);
  d.print(what, chunkKeys, ms);
}

// Decode benchmark (--bench-decode): b8 hq32 hkv8 qLen 1 kvLen 8192 d128 bf16 (the project's
// benchmark row); GB/s counts K + V read once. Each line prints as it is measured. The
// tensor-core kernel's variants (bench/notes/decode.md): per-lane or coalesced (co) copies, ring
// depth (s), L2's evict-first policy (ef), bulk copies, each at the chunk given (0: the
// contract's, one block per SM).
void benchAttentionDecode() {
  DecodeBenchData d;
  using C = AttentionDecodeMmaConfig;
  benchDecodeSplit<0, true>(d, "cuda-core default", 0);
  // Copies per lane, then row-major (co), without and with L2's evict-first policy (ef), at two
  // blocks per SM (2048-key chunks, one wave) and one (4096, the contract's).
  benchDecodeMma<3, 0, false, false, false>(d, "mma per-lane s3", 2048);
  benchDecodeMma<3, C::kL2Prefetch, true, false, false>(d, "mma-co s3", 2048);
  benchDecodeMma<3, C::kL2Prefetch, true, false, false>(d, "mma-co s3", 0);
  benchDecodeMma<3, C::kL2Prefetch, true, false, true>(d, "mma-co-ef s3", 2048);
  benchDecodeMma<4, C::kL2Prefetch, true, false, true>(d, "mma-co-ef s4", 0);
  benchDecodeMma<C::kStages, C::kL2Prefetch, C::kCoalesced>(d, "mma default", 0);
  // The chunks of a kv head merged in a cluster (sm_90): two chunks of 4096 keys (one block
  // per SM), four of 2048 (two per SM), and 4 stages.
  if (gClusters) {
    benchDecodeMma<C::kStages, C::kL2Prefetch, C::kCoalesced>(d, "mma cluster", 0, true);
    benchDecodeMma<C::kStages, C::kL2Prefetch, C::kCoalesced>(d, "mma cluster", 2048, true);
    benchDecodeMma<4, C::kL2Prefetch, true>(d, "mma cluster s4", 0, true);
    benchDecodeMma<C::kStages, C::kL2Prefetch, C::kCoalesced>(d, "mma default again", 0);
    benchDecodeMma<C::kStages, C::kL2Prefetch, C::kCoalesced>(d, "mma cluster again", 0, true);
  }
  // One chunk per (batch, kv head): 64 blocks on 132 SMs, what half the SMs read
  // (bench/notes/decode.md: the kernel's rate is mostly per SM).
  benchDecodeMma<C::kStages, C::kL2Prefetch, C::kCoalesced>(d, "mma one chunk", 8192);
  // Bulk copies (sm_90), without and with evict-first.
  benchDecodeMma<3, C::kL2Prefetch, true, true, false>(d, "mma bulk s3", 0);
  benchDecodeMma<3, C::kL2Prefetch, true, true, true>(d, "mma bulk-ef s3", 0);
  benchDecodeMma<4, C::kL2Prefetch, true, true, true>(d, "mma bulk-ef s4", 0);
  benchDecodeMma<C::kStages, C::kL2Prefetch, C::kCoalesced>(d, "mma default again", 0);
  // Bulk copies with the cluster merge.
  if (gClusters) {
    benchDecodeMma<3, C::kL2Prefetch, true, true, true>(d, "mma cluster bulk-ef s3", 0, true);
    benchDecodeMma<4, C::kL2Prefetch, true, true, true>(d, "mma cluster bulk-ef s4", 0, true);
    benchDecodeMma<C::kStages, C::kL2Prefetch, C::kCoalesced>(d, "mma cluster again", 0, true);
  }
}

} // namespace

int main(int argc, char **argv) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device\n");
    return 0;
  }
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  gSMs = prop.multiProcessorCount;
  gClusters = prop.major >= 9;
  {
    int *flag = nullptr, has = 0;
    CUDA_CHECK(cudaMalloc(&flag, sizeof(int)));
    probeTensorCopies<<<1, 1>>>(flag);
    // A build without code this device runs fails here: say so and test nothing.
    CUDA_CHECK(cudaMemcpy(&has, flag, sizeof(int), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaFree(flag));
    gTma = has != 0;
    std::printf("tensor-copy attention kernels: %s\n", gTma ? "tested" : "not in this build");
  }
  if (argc > 1 && (std::string(argv[1]) == "--bench-decode" ||
                   std::string(argv[1]) == "--bench-decode-flushed")) {
    if (std::string(argv[1]) == "--bench-decode-flushed") {
      gFlushBytes = 256000000;
      CUDA_CHECK(cudaMalloc(&gFlushBuffer, gFlushBytes));
    }
    benchAttentionDecode();
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--test-attention") {
    testAttentionSuite<__half>();
    testAttentionSuite<__nv_bfloat16>();
    std::printf("%d passed, %d failed\n", gPasses, gFailures);
    return gFailures ? 1 : 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--test-decode") {
    testAttentionDecodeSuite<float>();
    testAttentionDecodeSuite<__half>();
    testAttentionDecodeSuite<__nv_bfloat16>();
    std::printf("%d passed, %d failed\n", gPasses, gFailures);
    return gFailures ? 1 : 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--bench-attention") {
    benchAttentionAll<__nv_bfloat16>();
    benchAttentionAll<__half>();
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--bench") {
    bench<float>();
    bench<__half>();
    bench<__nv_bfloat16>();
    return 0;
  }
  testAll<float>();
  testAll<__half>();
  testAll<__nv_bfloat16>();
  std::printf("%d passed, %d failed\n", gPasses, gFailures);
  return gFailures ? 1 : 0;
}
