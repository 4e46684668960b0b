//===- CApiTest.cpp - the C API: error paths everywhere, a small model on a GPU -===//
//
// Without a GPU (CI), context creation must fail with SPDC_STATUS_NO_DEVICE and every entry
// point must refuse NULLs cleanly. With a GPU (tests named Gpu*, ctest label `gpu`), a hand-made
// bundle with a kernel, a biased matmul, a transposed matmul and a copy runs and is checked
// against a CPU reference, with and without CUDA graphs, and profiled.
//
//===----------------------------------------------------------------------===//

#include "spdc/runtime.h"

#include "bundle/Bundle.h"
#include "PlanTestSupport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <vector>

using namespace spdc::bundle;

namespace {

std::string tempPath(const std::string &name) {
  const char *dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/spdc-capi-test-" + std::to_string(::getpid()) +
         "-" + name;
}

/// Overwrites the last byte of the file at `path` (a bundle's checksum then fails).
bool overwriteLastByte(const std::string &path) {
  FILE *f = std::fopen(path.c_str(), "r+b");
  if (!f)
    return false;
  bool ok = std::fseek(f, -1, SEEK_END) == 0 && std::fputc(0x42, f) != EOF;
  return std::fclose(f) == 0 && ok;
}

/// A context on device 0, or null (and a visible notice) where there is no GPU.
spdc_context_t *gpuContext(bool graphs = true, const std::string &cacheDir = "",
                           bool dependentLaunch = true) {
  spdc_context_options_t options;
  spdc_context_options_initialize(&options);
  options.use_cuda_graphs = graphs;
  options.use_dependent_launch = dependentLaunch;
  if (!cacheDir.empty())
    options.cache_dir = cacheDir.c_str();
  spdc_context_t *ctx = nullptr;
  spdc_status_t s = spdc_context_create(&options, &ctx);
  if (s == SPDC_STATUS_NO_DEVICE) {
    std::printf("SKIPPED: no CUDA device (%s)\n", spdc_last_error());
    return nullptr;
  }
  EXPECT_EQ(s, SPDC_STATUS_OK) << spdc_last_error();
  return ctx;
}

BufferRef ref(Space space, uint64_t offset, uint32_t index = 0) {
  BufferRef r;
  r.space = space;
  r.index = index;
  r.offset = offset;
  return r;
}

// x: [2,3] input. h = x + 1 (kernel, arena). y = h @ W + bias (W [3,4] row-major);
// y2 = h @ V^T (V stored [4,3]); z = copy of h.
constexpr int M = 2, K = 3, N = 4;
const float kW[K * N] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
const float kBias[N] = {0.5f, -1, 2, 0};
const float kV[N * K] = {1, 0, -1, 2, 1, 0, 0, 3, 1, -2, 1, 1};

Plan smallPlan() {
  Plan p;
  p.inputs.push_back({"x", ElementType::F32, {M, K}});
  p.outputs.push_back({"y", ElementType::F32, {M, N}});
  p.outputs.push_back({"y2", ElementType::F32, {M, N}});
  p.outputs.push_back({"z", ElementType::F32, {M, K}});
  p.arenaBytes = 256;
  p.sources = {R"(
extern "C" __global__ void add_scalar(const float *in, float *out, long long n, float c) {
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i] + c;
}
)"};
  p.kernelNames = {"add_scalar"};
  p.kernelSources = {0};
  Launch l;
  l.block[0] = 32;
  KernelArg a;
  a.buffer = ref(Space::Input, 0);
  l.args.push_back(a);
  a.buffer = ref(Space::Arena, 0);
  l.args.push_back(a);
  KernelArg n;
  n.kind = KernelArg::Kind::I64;
  n.i64 = M * K;
  l.args.push_back(n);
  KernelArg c;
  c.kind = KernelArg::Kind::F32;
  c.f32 = 1.0f;
  l.args.push_back(c);
  p.launches.push_back(l);

  p.weights.resize(256);
  std::memcpy(p.weights.data(), kW, sizeof kW);
  std::memcpy(p.weights.data() + 64, kBias, sizeof kBias);
  std::memcpy(p.weights.data() + 128, kV, sizeof kV);
  Gemm g;
  g.m = M, g.n = N, g.k = K;
  g.lda = K, g.ldb = N, g.ldc = N;
  g.epilogue = Gemm::Epilogue::Bias;
  g.a = ref(Space::Arena, 0);
  g.b = ref(Space::Weights, 0);
  g.d = ref(Space::Output, 0, 0);
  g.bias = ref(Space::Weights, 64);
  p.gemms.push_back(g);
  Gemm t;
  t.m = M, t.n = N, t.k = K;
  t.transB = true;
  t.lda = K, t.ldb = K, t.ldc = N;
  t.a = ref(Space::Arena, 0);
  t.b = ref(Space::Weights, 128);
  t.d = ref(Space::Output, 0, 1);
  p.gemms.push_back(t);
  Copy cp;
  cp.src = ref(Space::Arena, 0);
  cp.dst = ref(Space::Output, 0, 2);
  cp.bytes = M * K * 4;
  p.copies.push_back(cp);
  p.steps = {{Step::Kind::Launch, 0, "/Add"},
             {Step::Kind::Gemm, 0, "/MatMul+Add"},
             {Step::Kind::Gemm, 1, "/MatMulT"},
             {Step::Kind::Copy, 0, "/Identity"}};
  return p;
}

void reference(const float *x, float *y, float *y2, float *z, int rows = M) {
  for (int i = 0; i < rows; ++i) {
    for (int k = 0; k < K; ++k)
      z[i * K + k] = x[i * K + k] + 1;
    for (int j = 0; j < N; ++j) {
      float s = kBias[j], s2 = 0;
      for (int k = 0; k < K; ++k) {
        s += z[i * K + k] * kW[k * N + j];
        s2 += z[i * K + k] * kV[j * K + k];
      }
      y[i * N + j] = s;
      y2[i * N + j] = s2;
    }
  }
}

} // namespace

TEST(CApi, ContextWithoutDeviceSaysNoDevice) {
  spdc_context_t *ctx = reinterpret_cast<spdc_context_t *>(0x1);
  spdc_status_t s = spdc_context_create(nullptr, &ctx);
  if (s == SPDC_STATUS_OK) {
    spdc_context_release(ctx);
    GTEST_SKIP() << "a CUDA device is present";
  }
  std::printf("%s\n", spdc_last_error());
  EXPECT_EQ(s, SPDC_STATUS_NO_DEVICE);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_EQ(std::string(spdc_last_error()).rfind("no CUDA device: ", 0), 0u) << spdc_last_error();
  EXPECT_STREQ(spdc_status_string(s), "SPDC_STATUS_NO_DEVICE");
}

TEST(CApi, NullArgumentsAreRefused) {
  EXPECT_EQ(spdc_context_create(nullptr, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(spdc_last_error()).find("out_context"), std::string::npos);
  spdc_model_t *model = reinterpret_cast<spdc_model_t *>(0x1);
  EXPECT_EQ(spdc_model_load(nullptr, "x.spdc", &model), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(model, nullptr);
  EXPECT_EQ(spdc_model_load(nullptr, "x.spdc", nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  size_t count = 7;
  EXPECT_EQ(spdc_model_input_count(nullptr, &count), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(count, 0u);
  EXPECT_EQ(spdc_model_output_count(nullptr, &count), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_model_input_count(nullptr, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  spdc_tensor_info_t info;
  EXPECT_EQ(spdc_model_input_info(nullptr, 0, &info), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(info.name, nullptr);
  EXPECT_EQ(spdc_model_output_info(nullptr, 0, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  float data[4];
  EXPECT_EQ(spdc_model_bind_input(nullptr, 0, data, SPDC_MEMORY_HOST, sizeof data),
            SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_model_bind_output(nullptr, 0, data, SPDC_MEMORY_HOST, sizeof data),
            SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_model_bind_output_pitched(nullptr, 0, data, sizeof data, 4),
            SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(spdc_last_error(), "spdc_model_bind_output_pitched: model is NULL");
  EXPECT_EQ(spdc_model_bind_output_pitched(nullptr, 0, data, sizeof data, 0),
            SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(spdc_last_error(), "spdc_model_bind_output_pitched: row_pitch 0 is not positive");
  int64_t pitch = 9;
  EXPECT_EQ(spdc_model_output_row_pitch(nullptr, 0, &pitch), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(pitch, 0);
  EXPECT_EQ(spdc_model_output_row_pitch(nullptr, 0, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_model_run(nullptr, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  const int64_t shape[2] = {2, 3};
  EXPECT_EQ(spdc_model_set_input_shape(nullptr, 0, shape, 2), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(spdc_last_error(), "spdc_model_set_input_shape: model is NULL");
  EXPECT_EQ(spdc_model_set_input_shape(nullptr, 0, nullptr, 0), SPDC_STATUS_INVALID_ARGUMENT);
  size_t rank = 9;
  int64_t dims[4];
  EXPECT_EQ(spdc_model_output_shape(nullptr, 0, dims, 4, &rank), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(rank, 0u);
  EXPECT_EQ(spdc_model_step_count(nullptr, &count), SPDC_STATUS_INVALID_ARGUMENT);
  double total = 5;
  EXPECT_EQ(spdc_model_profile(nullptr, 1, nullptr, 0, &total), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(total, 0);
  float ms[2] = {5, 5};
  EXPECT_EQ(spdc_model_time(nullptr, 2, ms), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_model_time_flushed(nullptr, 2, 1 << 20, ms), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(spdc_last_error(), "spdc_model_time_flushed: model is NULL");
  const char *origin = "x";
  EXPECT_EQ(spdc_model_code_origin(nullptr, &origin), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(origin, nullptr);
  void *p = reinterpret_cast<void *>(0x1);
  EXPECT_EQ(spdc_device_alloc(nullptr, 64, &p), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(spdc_device_alloc(nullptr, 64, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_device_free(nullptr, data), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_memcpy(nullptr, data, SPDC_MEMORY_HOST, data, SPDC_MEMORY_HOST, 4),
            SPDC_STATUS_INVALID_ARGUMENT);
  spdc_device_info_t dev;
  EXPECT_EQ(spdc_context_device_info(nullptr, &dev), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_context_device_info(nullptr, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
}

TEST(CApi, ReleasingNullIsFine) {
  spdc_context_release(nullptr);
  spdc_context_retain(nullptr);
  spdc_model_release(nullptr);
  spdc_model_retain(nullptr);
  spdc_context_options_initialize(nullptr);
}

TEST(CApi, OptionsAndVersion) {
  spdc_context_options_t o;
  std::memset(&o, 0x5a, sizeof o);
  spdc_context_options_initialize(&o);
  EXPECT_EQ(o.device, 0);
  EXPECT_EQ(o.cache_dir, nullptr);
  EXPECT_EQ(o.use_cache, 1);
  EXPECT_EQ(o.use_cuda_graphs, 1);
  EXPECT_EQ(o.cuda_include_dir, nullptr);
  EXPECT_EQ(o.use_dependent_launch, 1);
  EXPECT_STREQ(spdc_version(), spdcVersion());
  EXPECT_STREQ(spdc_status_string(SPDC_STATUS_COMPILE_ERROR), "SPDC_STATUS_COMPILE_ERROR");
}

TEST(CApi, LastErrorIsPerThread) {
  EXPECT_EQ(spdc_model_run(nullptr, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  std::string mine = spdc_last_error();
  std::thread([] {
    EXPECT_STREQ(spdc_last_error(), "");
    spdc_model_step_count(nullptr, nullptr);
  }).join();
  EXPECT_EQ(mine, spdc_last_error());
}

// No device needed: a missing, a corrupted and a valid bundle.
TEST(CApi, BundleValidateNeedsNoDevice) {
  EXPECT_EQ(spdc_bundle_validate(nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_bundle_validate("/nonexistent/model.spdc"), SPDC_STATUS_NOT_FOUND);
  EXPECT_NE(std::string(spdc_last_error()).find("/nonexistent/model.spdc"), std::string::npos);
  std::string path = tempPath("validate.spdc");
  ASSERT_EQ(writeBundle(smallPlan(), path), "");
  EXPECT_EQ(spdc_bundle_validate(path.c_str()), SPDC_STATUS_OK) << spdc_last_error();
  ASSERT_TRUE(overwriteLastByte(path));
  EXPECT_EQ(spdc_bundle_validate(path.c_str()), SPDC_STATUS_INVALID_BUNDLE);
  EXPECT_NE(std::string(spdc_last_error()).find("checksum mismatch"), std::string::npos);
  std::remove(path.c_str());
}

//===--- GPU ----------------------------------------------------------------===//

TEST(GpuCApi, LoadErrors) {
  spdc_context_t *ctx = gpuContext();
  if (!ctx)
    GTEST_SKIP() << "no CUDA device";
  spdc_model_t *model = nullptr;
  EXPECT_EQ(spdc_model_load(ctx, "/nonexistent/model.spdc", &model), SPDC_STATUS_NOT_FOUND);
  EXPECT_NE(std::string(spdc_last_error()).find("/nonexistent/model.spdc"), std::string::npos);
  std::string path = tempPath("corrupt.spdc");
  ASSERT_EQ(writeBundle(smallPlan(), path), "");
  ASSERT_TRUE(overwriteLastByte(path));
  EXPECT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_INVALID_BUNDLE);
  EXPECT_NE(std::string(spdc_last_error()).find("checksum mismatch"), std::string::npos);
  EXPECT_EQ(model, nullptr);

  Plan broken = smallPlan();
  broken.sources[0] += "this is not C++;";
  ASSERT_EQ(writeBundle(broken, path), "");
  EXPECT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_COMPILE_ERROR);
  EXPECT_NE(std::string(spdc_last_error()).find("NVRTC"), std::string::npos);
  std::remove(path.c_str());
  spdc_context_release(ctx);
}

class GpuModel : public ::testing::TestWithParam<bool> {};

TEST_P(GpuModel, RunsAndMatchesTheReference) {
  std::string cache = tempPath("cache");
  spdc_context_t *ctx = gpuContext(GetParam(), cache);
  if (!ctx)
    GTEST_SKIP() << "no CUDA device";
  spdc_device_info_t dev;
  ASSERT_EQ(spdc_context_device_info(ctx, &dev), SPDC_STATUS_OK);
  std::printf("device: %s (sm_%d%d, NVRTC target %s)\n", dev.name, dev.major, dev.minor, dev.arch);

  std::string path = tempPath("small.spdc");
  ASSERT_EQ(writeBundle(smallPlan(), path), "");
  spdc_model_t *model = nullptr;
  ASSERT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_OK) << spdc_last_error();
  spdc_context_release(ctx); // the model keeps it alive

  size_t inputs = 0, outputs = 0;
  ASSERT_EQ(spdc_model_input_count(model, &inputs), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_output_count(model, &outputs), SPDC_STATUS_OK);
  EXPECT_EQ(inputs, 1u);
  EXPECT_EQ(outputs, 3u);
  spdc_tensor_info_t info;
  ASSERT_EQ(spdc_model_output_info(model, 1, &info), SPDC_STATUS_OK);
  EXPECT_STREQ(info.name, "y2");
  EXPECT_EQ(info.rank, 2u);
  EXPECT_EQ(info.dims[1], N);
  EXPECT_EQ(info.bytes, size_t(M * N * 4));

  float x[M * K], y[M * N], y2[M * N], z[M * K];
  EXPECT_EQ(spdc_model_run(model, nullptr), SPDC_STATUS_FAILED_PRECONDITION);
  EXPECT_NE(std::string(spdc_last_error()).find("input 0 ('x') is not bound"), std::string::npos);
  EXPECT_EQ(spdc_model_bind_input(model, 0, x, SPDC_MEMORY_HOST, 4), SPDC_STATUS_INVALID_ARGUMENT);
  ASSERT_EQ(spdc_model_bind_input(model, 0, x, SPDC_MEMORY_HOST, sizeof x), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 0, y, SPDC_MEMORY_HOST, sizeof y), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 1, y2, SPDC_MEMORY_HOST, sizeof y2), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 2, z, SPDC_MEMORY_HOST, sizeof z), SPDC_STATUS_OK);

  // Several runs with new input values: a replayed graph must see them.
  for (int run = 0; run < 3; ++run) {
    for (int i = 0; i < M * K; ++i)
      x[i] = float(i) * 0.5f - float(run);
    ASSERT_EQ(spdc_model_run(model, nullptr), SPDC_STATUS_OK) << spdc_last_error();
    float ry[M * N], ry2[M * N], rz[M * K];
    reference(x, ry, ry2, rz);
    for (int i = 0; i < M * N; ++i) {
      EXPECT_NEAR(y[i], ry[i], 1e-4f) << "run " << run << " y[" << i << "]";
      EXPECT_NEAR(y2[i], ry2[i], 1e-4f) << "run " << run << " y2[" << i << "]";
    }
    for (int i = 0; i < M * K; ++i)
      EXPECT_EQ(z[i], rz[i]) << "run " << run << " z[" << i << "]";
  }

  size_t rank = 0;
  int64_t dims[4] = {};
  ASSERT_EQ(spdc_model_output_shape(model, 0, dims, 4, &rank), SPDC_STATUS_OK);
  EXPECT_EQ(rank, 2u);
  EXPECT_EQ(dims[0], M);

  size_t steps = 0;
  ASSERT_EQ(spdc_model_step_count(model, &steps), SPDC_STATUS_OK);
  ASSERT_EQ(steps, 4u);
  spdc_profile_entry_t entries[4];
  double total = 0;
  ASSERT_EQ(spdc_model_profile(model, 5, entries, 4, &total), SPDC_STATUS_OK) << spdc_last_error();
  EXPECT_GT(total, 0);
  EXPECT_STREQ(entries[0].kind, "kernel");
  EXPECT_STREQ(entries[0].name, "add_scalar");
  EXPECT_STREQ(entries[1].label, "/MatMul+Add");
  EXPECT_STREQ(entries[3].kind, "copy");
  for (const spdc_profile_entry_t &e : entries)
    EXPECT_GE(e.mean_ms, e.min_ms);
  spdc_model_release(model);

  // A second load of the same bundle finds the kernels in the cache.
  ctx = gpuContext(GetParam(), cache);
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_OK) << spdc_last_error();
  spdc_model_release(model);
  spdc_context_release(ctx);
  std::remove(path.c_str());
  std::system(("rm -rf '" + cache + "'").c_str());
}

INSTANTIATE_TEST_SUITE_P(Graphs, GpuModel, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "graphs" : "no_graphs"; });

namespace {

/// The few driver calls a test needs to make device buffers and streams, resolved from the
/// driver the runtime loaded (the test, like the library, links no libcuda).
struct TestDriver {
  int (*memAlloc)(unsigned long long *, size_t) = nullptr;
  int (*memFree)(unsigned long long) = nullptr;
  int (*memcpyHtoD)(unsigned long long, const void *, size_t) = nullptr;
  int (*memcpyDtoH)(void *, unsigned long long, size_t) = nullptr;
  int (*streamCreate)(spdc_cuda_stream_t *, unsigned) = nullptr;
  int (*streamSynchronize)(spdc_cuda_stream_t) = nullptr;
  int (*streamDestroy)(spdc_cuda_stream_t) = nullptr;

  bool load() {
    void *lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!lib)
      return false;
    memAlloc = reinterpret_cast<decltype(memAlloc)>(::dlsym(lib, "cuMemAlloc_v2"));
    memFree = reinterpret_cast<decltype(memFree)>(::dlsym(lib, "cuMemFree_v2"));
    memcpyHtoD = reinterpret_cast<decltype(memcpyHtoD)>(::dlsym(lib, "cuMemcpyHtoD_v2"));
    memcpyDtoH = reinterpret_cast<decltype(memcpyDtoH)>(::dlsym(lib, "cuMemcpyDtoH_v2"));
    streamCreate = reinterpret_cast<decltype(streamCreate)>(::dlsym(lib, "cuStreamCreate"));
    streamSynchronize =
        reinterpret_cast<decltype(streamSynchronize)>(::dlsym(lib, "cuStreamSynchronize"));
    streamDestroy = reinterpret_cast<decltype(streamDestroy)>(::dlsym(lib, "cuStreamDestroy_v2"));
    return memAlloc && memFree && memcpyHtoD && memcpyDtoH && streamCreate && streamSynchronize &&
           streamDestroy;
  }
};

uint16_t toBf16(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  b += 0x7fff + ((b >> 16) & 1); // round to nearest even
  return uint16_t(b >> 16);
}

float fromBf16(uint16_t h) {
  uint32_t b = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

} // namespace

// A launch whose special kernel takes a tensor map: where the map encodes, the special kernel
// runs on sm_90a and its tensor copy reads the input through the map (y = x + 2); where the
// driver refuses the map (a row stride that is not a multiple of 16 bytes), the portable kernel
// runs with the plain arguments (y = x + 1).
TEST(GpuCApi, TensorMapArgumentsOrThePortableKernel) {
  spdc_context_t *ctx = gpuContext(true);
  if (!ctx)
    GTEST_SKIP() << "no CUDA device";
  spdc_device_info_t dev;
  ASSERT_EQ(spdc_context_device_info(ctx, &dev), SPDC_STATUS_OK);
  constexpr int kRows = 8, kCols = 32;
  auto plan = [&](int64_t rowStrideBytes) {
    Plan p;
    p.inputs.push_back({"x", ElementType::F32, {kRows, kCols}});
    p.outputs.push_back({"y", ElementType::F32, {kRows, kCols}});
    p.arenaBytes = 256;
    p.sources = {R"(
struct alignas(64) Map { unsigned long long bits[16]; };
extern "C" __global__ void plus_one(const float *x, float *y, long long n) {
  for (long long i = threadIdx.x; i < n; i += blockDim.x)
    y[i] = x[i] + 1.0f;
}
extern "C" __global__ void plus_two_by_tensor_copy(const float *x, float *y, long long n,
                                                   const __grid_constant__ Map map) {
#if __CUDA_ARCH__ >= 900
  __shared__ alignas(128) float tile[8 * 32];
  __shared__ alignas(8) unsigned long long bar;
  const unsigned b = unsigned(__cvta_generic_to_shared(&bar));
  const unsigned t = unsigned(__cvta_generic_to_shared(tile));
  if (threadIdx.x == 0) {
    asm volatile("mbarrier.init.shared.b64 [%0], 1;\n" ::"r"(b) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(b),
                 "r"(unsigned(sizeof tile)) : "memory");
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(t),
                 "l"(reinterpret_cast<unsigned long long>(&map)), "r"(0), "r"(0), "r"(b)
                 : "memory");
  }
  __syncthreads();
  unsigned done = 0;
  while (!done)
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared.b64 p, [%1], 0;\n"
                 "selp.u32 %0, 1, 0, p;\n}\n" : "=r"(done) : "r"(b) : "memory");
  for (long long i = threadIdx.x; i < n; i += blockDim.x)
    y[i] = tile[i] + 2.0f;
#endif
}
)"};
    p.kernelNames = {"plus_one", "plus_two_by_tensor_copy"};
    p.kernelSources = {0, 0};
    using namespace spdc::bundle::test;
    Launch l;
    l.block[0] = 64;
    l.args = {bufferArg(ref(Space::Input, 0)), bufferArg(ref(Space::Output, 0)),
              i64Arg(kRows * kCols)};
    l.specialTarget = "sm_90a";
    l.specialKernel = 1;
    l.specialArgs.push_back(tensorMapArg(
        ref(Space::Input, 0), ElementType::F32, {kCols, kRows}, {rowStrideBytes}, {kCols, kRows},
        /*swizzle=*/0));
    p.launches.push_back(l);
    p.steps = {{Step::Kind::Launch, 0, "/Add"}};
    return p;
  };
  const bool sm90a = std::string(dev.arch) == "sm_90a";
  for (auto [stride, added] : {std::pair<int64_t, float>(kCols * 4, sm90a ? 2.0f : 1.0f),
                               std::pair<int64_t, float>(kCols * 4 + 4, 1.0f)}) {
    std::string path = tempPath("tensor-map.spdc");
    ASSERT_EQ(writeBundle(plan(stride), path), "");
    spdc_model_t *model = nullptr;
    ASSERT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_OK) << spdc_last_error();
    float x[kRows * kCols], y[kRows * kCols];
    for (int i = 0; i < kRows * kCols; ++i)
      x[i] = float(i) * 0.25f;
    ASSERT_EQ(spdc_model_bind_input(model, 0, x, SPDC_MEMORY_HOST, sizeof x), SPDC_STATUS_OK);
    ASSERT_EQ(spdc_model_bind_output(model, 0, y, SPDC_MEMORY_HOST, sizeof y), SPDC_STATUS_OK);
    for (int run = 0; run < 3; ++run) { // eager, captured, replayed
      std::fill(std::begin(y), std::end(y), -1.0f);
      ASSERT_EQ(spdc_model_run(model, nullptr), SPDC_STATUS_OK) << spdc_last_error();
      for (int i = 0; i < kRows * kCols; ++i)
        ASSERT_EQ(y[i], x[i] + added)
            << dev.arch << ", row stride " << stride << " bytes, run " << run << ", y[" << i << "]";
    }
    spdc_model_release(model);
    std::remove(path.c_str());
  }
  spdc_context_release(ctx);
}

TEST(GpuCApi, DeviceBindingsAndUserStreams) {
  spdc_context_t *ctx = gpuContext(true);
  if (!ctx)
    GTEST_SKIP() << "no CUDA device";
  std::string path = tempPath("device.spdc");
  ASSERT_EQ(writeBundle(smallPlan(), path), "");
  spdc_model_t *model = nullptr;
  ASSERT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_OK) << spdc_last_error();
  TestDriver cu;
  ASSERT_TRUE(cu.load());

  // The context is current on this thread after an spdc call on it.
  unsigned long long dx = 0, dy = 0, dy2 = 0, dz = 0;
  ASSERT_EQ(cu.memAlloc(&dx, M * K * 4), 0);
  ASSERT_EQ(cu.memAlloc(&dy, M * N * 4), 0);
  ASSERT_EQ(cu.memAlloc(&dy2, M * N * 4), 0);
  ASSERT_EQ(cu.memAlloc(&dz, M * K * 4), 0);
  auto ptr = [](unsigned long long p) { return reinterpret_cast<void *>(uintptr_t(p)); };
  ASSERT_EQ(spdc_model_bind_input(model, 0, ptr(dx), SPDC_MEMORY_DEVICE, M * K * 4),
            SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 0, ptr(dy), SPDC_MEMORY_DEVICE, M * N * 4),
            SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 1, ptr(dy2), SPDC_MEMORY_DEVICE, M * N * 4),
            SPDC_STATUS_OK);
  float z[M * K];
  ASSERT_EQ(spdc_model_bind_output(model, 2, z, SPDC_MEMORY_HOST, sizeof z), SPDC_STATUS_OK);
  EXPECT_EQ(spdc_model_bind_output(model, 2, ptr(dz + 4), SPDC_MEMORY_DEVICE, M * K * 4),
            SPDC_STATUS_INVALID_ARGUMENT); // misaligned

  spdc_cuda_stream_t stream = nullptr;
  ASSERT_EQ(cu.streamCreate(&stream, 0), 0);
  for (int run = 0; run < 4; ++run) {
    float x[M * K], y[M * N], y2[M * N];
    for (int i = 0; i < M * K; ++i)
      x[i] = float(i * (run + 1)) - 2.0f;
    ASSERT_EQ(cu.memcpyHtoD(dx, x, sizeof x), 0);
    if (run == 2) { // new addresses: a new graph
      ASSERT_EQ(spdc_model_bind_output(model, 2, ptr(dz), SPDC_MEMORY_DEVICE, M * K * 4),
                SPDC_STATUS_OK);
    }
    ASSERT_EQ(spdc_model_run(model, stream), SPDC_STATUS_OK) << spdc_last_error();
    ASSERT_EQ(cu.streamSynchronize(stream), 0);
    ASSERT_EQ(cu.memcpyDtoH(y, dy, sizeof y), 0);
    ASSERT_EQ(cu.memcpyDtoH(y2, dy2, sizeof y2), 0);
    if (run >= 2) {
      ASSERT_EQ(cu.memcpyDtoH(z, dz, sizeof z), 0);
    }
    float ry[M * N], ry2[M * N], rz[M * K];
    reference(x, ry, ry2, rz);
    for (int i = 0; i < M * N; ++i) {
      EXPECT_NEAR(y[i], ry[i], 1e-4f) << "run " << run << " y[" << i << "]";
      EXPECT_NEAR(y2[i], ry2[i], 1e-4f) << "run " << run << " y2[" << i << "]";
    }
    for (int i = 0; i < M * K; ++i)
      EXPECT_EQ(z[i], rz[i]) << "run " << run << " z[" << i << "]";
  }
  spdc_model_release(model);
  cu.streamDestroy(stream);
  for (unsigned long long p : {dx, dy, dy2, dz})
    cu.memFree(p);
  spdc_context_release(ctx);
  std::remove(path.c_str());
}

TEST(GpuCApi, DeviceMemoryAndTimedRuns) {
  spdc_context_t *ctx = gpuContext(true);
  if (!ctx)
    GTEST_SKIP() << "no CUDA device";
  void *p = nullptr;
  EXPECT_EQ(spdc_device_alloc(ctx, 0, &p), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_memcpy(ctx, &p, SPDC_MEMORY_HOST, &p, spdc_memory_t(7), 8),
            SPDC_STATUS_INVALID_ARGUMENT);
  std::string path = tempPath("timed.spdc");
  ASSERT_EQ(writeBundle(smallPlan(), path), "");
  spdc_model_t *model = nullptr;
  ASSERT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_OK) << spdc_last_error();
  void *dx = nullptr, *dy = nullptr, *dy2 = nullptr, *dz = nullptr;
  ASSERT_EQ(spdc_device_alloc(ctx, M * K * 4, &dx), SPDC_STATUS_OK) << spdc_last_error();
  ASSERT_EQ(spdc_device_alloc(ctx, M * N * 4, &dy), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_device_alloc(ctx, M * N * 4, &dy2), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_device_alloc(ctx, M * K * 4, &dz), SPDC_STATUS_OK);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(dx) % 256, 0u);
  float x[M * K];
  for (int i = 0; i < M * K; ++i)
    x[i] = 0.25f * float(i) - 1.0f;
  ASSERT_EQ(spdc_memcpy(ctx, dx, SPDC_MEMORY_DEVICE, x, SPDC_MEMORY_HOST, sizeof x),
            SPDC_STATUS_OK) << spdc_last_error();
  ASSERT_EQ(spdc_model_bind_input(model, 0, dx, SPDC_MEMORY_DEVICE, M * K * 4), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 0, dy, SPDC_MEMORY_DEVICE, M * N * 4), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 1, dy2, SPDC_MEMORY_DEVICE, M * N * 4),
            SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 2, dz, SPDC_MEMORY_DEVICE, M * K * 4), SPDC_STATUS_OK);
  // Eager, captured, then replayed: every timed run writes the same outputs.
  float ms[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  ASSERT_EQ(spdc_model_time(model, 8, ms), SPDC_STATUS_OK) << spdc_last_error();
  for (float t : ms) {
    EXPECT_GT(t, 0.0f);
    EXPECT_LT(t, 1000.0f);
  }
  EXPECT_EQ(spdc_model_time(model, 0, ms), SPDC_STATUS_INVALID_ARGUMENT);
  // Each run after a 64 MB scratch write: every run timed, each time positive and bounded.
  float flushed[4] = {-1, -1, -1, -1};
  ASSERT_EQ(spdc_model_time_flushed(model, 4, size_t(64) << 20, flushed), SPDC_STATUS_OK)
      << spdc_last_error();
  for (float t : flushed) {
    EXPECT_GT(t, 0.0f);
    EXPECT_LT(t, 1000.0f);
  }
  EXPECT_EQ(spdc_model_time_flushed(model, 0, 1, flushed), SPDC_STATUS_INVALID_ARGUMENT);
  float y[M * N], y2[M * N], z[M * K], ry[M * N], ry2[M * N], rz[M * K];
  ASSERT_EQ(spdc_memcpy(ctx, y, SPDC_MEMORY_HOST, dy, SPDC_MEMORY_DEVICE, sizeof y),
            SPDC_STATUS_OK);
  ASSERT_EQ(spdc_memcpy(ctx, y2, SPDC_MEMORY_HOST, dy2, SPDC_MEMORY_DEVICE, sizeof y2),
            SPDC_STATUS_OK);
  // Device to device, then down.
  ASSERT_EQ(spdc_memcpy(ctx, dx, SPDC_MEMORY_DEVICE, dz, SPDC_MEMORY_DEVICE, sizeof z),
            SPDC_STATUS_OK);
  ASSERT_EQ(spdc_memcpy(ctx, z, SPDC_MEMORY_HOST, dx, SPDC_MEMORY_DEVICE, sizeof z),
            SPDC_STATUS_OK);
  reference(x, ry, ry2, rz);
  for (int i = 0; i < M * N; ++i) {
    EXPECT_NEAR(y[i], ry[i], 1e-4f) << "y[" << i << "]";
    EXPECT_NEAR(y2[i], ry2[i], 1e-4f) << "y2[" << i << "]";
  }
  for (int i = 0; i < M * K; ++i)
    EXPECT_EQ(z[i], rz[i]) << "z[" << i << "]";
  spdc_model_release(model);
  for (void *q : {dx, dy, dy2, dz})
    EXPECT_EQ(spdc_device_free(ctx, q), SPDC_STATUS_OK);
  EXPECT_EQ(spdc_device_free(ctx, nullptr), SPDC_STATUS_OK);
  spdc_context_release(ctx);
  std::remove(path.c_str());
}

// Binds host vectors of n floats to input 0 and output 0 of `model` and runs it `runs` times,
// each with x[i] = input(i, run), expecting y[i] == expected(x[i]) exactly.
void expectElementwiseRuns(spdc_model_t *model, int64_t n, int runs,
                           const std::function<float(int64_t, int)> &input,
                           const std::function<float(float)> &expected) {
  std::vector<float> x(n), y(n);
  ASSERT_EQ(spdc_model_bind_input(model, 0, x.data(), SPDC_MEMORY_HOST, x.size() * 4),
            SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 0, y.data(), SPDC_MEMORY_HOST, y.size() * 4),
            SPDC_STATUS_OK);
  for (int run = 0; run < runs; ++run) {
    for (int64_t i = 0; i < n; ++i)
      x[i] = input(i, run);
    ASSERT_EQ(spdc_model_run(model, nullptr), SPDC_STATUS_OK) << spdc_last_error();
    int64_t wrong = 0, first = -1;
    for (int64_t i = 0; i < n; ++i)
      if (y[i] != expected(x[i]) && wrong++ == 0)
        first = i;
    EXPECT_EQ(wrong, 0) << "run " << run << ": first at " << first << ": " << y[first]
                        << " instead of " << expected(x[first]);
  }
}

// A chain of kChainLength kernels, each adding 1 to the previous one's 4M-element result
// (ping-pong between two arena buffers; the last writes the output). Launched dependent (on
// sm_90+ with programmatic dependent launch), each kernel's blocks are scheduled while the
// previous kernel's last blocks still write: only gridDependencySync keeps the sums exact.
constexpr int kChainLength = 24;
constexpr int64_t kChainElems = int64_t(1) << 22;

Plan dependentChainPlan() {
  Plan p;
  p.inputs.push_back({"x", ElementType::F32, {kChainElems}});
  p.outputs.push_back({"y", ElementType::F32, {kChainElems}});
  p.arenaBytes = 2 * kChainElems * 4;
  p.sources = {R"(#include "spdc/kernels/common.cuh"
extern "C" __global__ void add_one(const float *in, float *out, long long n) {
  spdc::kernels::gridDependencySync();
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = in[i] + 1.0f;
}
)"};
  p.kernelNames = {"add_one"};
  p.kernelSources = {0};
  for (int k = 0; k < kChainLength; ++k) {
    Launch l;
    l.grid[0] = 2048;
    l.block[0] = 256;
    l.dependentLaunch = true;
    KernelArg a;
    a.buffer = k == 0 ? ref(Space::Input, 0) : ref(Space::Arena, ((k - 1) % 2) * kChainElems * 4);
    l.args.push_back(a);
    a.buffer = k == kChainLength - 1 ? ref(Space::Output, 0)
                                     : ref(Space::Arena, (k % 2) * kChainElems * 4);
    l.args.push_back(a);
    KernelArg n;
    n.kind = KernelArg::Kind::I64;
    n.i64 = kChainElems;
    l.args.push_back(n);
    p.launches.push_back(l);
    p.steps.push_back({Step::Kind::Launch, uint32_t(k), "/Add" + std::to_string(k)});
  }
  return p;
}

class GpuDependentLaunch : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(GpuDependentLaunch, ChainKeepsItsOrder) {
  const auto [graphs, dependent] = GetParam();
  spdc_context_t *ctx = gpuContext(graphs, "", dependent);
  if (!ctx)
    GTEST_SKIP() << "no CUDA device";
  std::string path = tempPath("chain.spdc");
  ASSERT_EQ(writeBundle(dependentChainPlan(), path), "");
  spdc_model_t *model = nullptr;
  ASSERT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_OK) << spdc_last_error();
  // Eager, captured, then replayed (with graphs): each run's inputs differ.
  expectElementwiseRuns(
      model, kChainElems, 4, [](int64_t i, int run) { return float((i * 7 + run) % 1000); },
      [](float x) { return x + float(kChainLength); });
  spdc_model_release(model);
  spdc_context_release(ctx);
  std::remove(path.c_str());
}

// Test names of the (graphs, dependent launch) parameters.
std::string launchModeName(const ::testing::TestParamInfo<std::tuple<bool, bool>> &info) {
  return std::string(std::get<0>(info.param) ? "graphs" : "no_graphs") +
         (std::get<1>(info.param) ? "_dependent" : "_serialized");
}

INSTANTIATE_TEST_SUITE_P(Launches, GpuDependentLaunch,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()), launchModeName);

// y = 2 x + 1 in two launches (`twice` into the arena, then `plus_one` into the output), where
// the first has a special kernel for sm_90a that runs in clusters of two blocks and writes y
// itself, replacing the second launch. Each block of a pair doubles its own tile into shared
// memory and writes its partner's tile from the partner's shared memory: only a launch in
// clusters gives the right answer (the kernel traps without one), and only a dropped second
// launch leaves it (the arena tile it would read is never written).
constexpr int64_t kClusterTile = 256, kClusterElems = 64 * kClusterTile;

Plan clusterReplacePlan() {
  Plan p;
  p.inputs.push_back({"x", ElementType::F32, {kClusterElems}});
  p.outputs.push_back({"y", ElementType::F32, {kClusterElems}});
  p.arenaBytes = kClusterElems * 4;
  p.sources = {R"(#include "spdc/kernels/mma.cuh"
using namespace spdc::kernels;
extern "C" __global__ void twice(const float *x, float *part, float *y, long long tile) {
  gridDependencySync();
  const long long i = blockIdx.x * tile + threadIdx.x;
  part[i] = 2.0f * x[i];
}
extern "C" __global__ void plus_one(const float *part, float *y, long long tile) {
  gridDependencySync();
  const long long i = blockIdx.x * tile + threadIdx.x;
  y[i] = part[i] + 1.0f;
}
extern "C" __global__ void twice_plus_one_pairs(const float *x, float *part, float *y,
                                                long long tile) {
  gridDependencySync();
  __shared__ float doubled[1024];
  if (clusterBlocks() != 2)
    __trap();
  doubled[threadIdx.x] = 2.0f * x[blockIdx.x * tile + threadIdx.x];
  clusterSync();
  const unsigned partner = clusterRank() ^ 1u;
  const long long partnerBlock = (blockIdx.x ^ 1u);
  y[partnerBlock * tile + threadIdx.x] = loadClusterShared(&doubled[threadIdx.x], partner) + 1.0f;
  clusterSync();
}
)"};
  p.kernelNames = {"twice", "plus_one", "twice_plus_one_pairs"};
  p.kernelSources = {0, 0, 0};
  KernelArg x, part, y, tile;
  x.buffer = ref(Space::Input, 0);
  part.buffer = ref(Space::Arena, 0);
  y.buffer = ref(Space::Output, 0);
  tile.kind = KernelArg::Kind::I64;
  tile.i64 = kClusterTile;
  Launch first;
  first.kernel = 0;
  first.grid[0] = kClusterElems / kClusterTile;
  first.block[0] = kClusterTile;
  first.dependentLaunch = true;
  first.args = {x, part, y, tile};
  first.specialTarget = "sm_90a";
  first.specialKernel = 2;
  first.specialCluster = 2;
  first.specialReplaces = 1;
  Launch second = first;
  second.kernel = 1;
  second.args = {part, y, tile};
  second.specialTarget.clear();
  second.specialCluster = second.specialReplaces = 0;
  p.launches = {first, second};
  p.steps = {{Step::Kind::Launch, 0, "/Mul"}, {Step::Kind::Launch, 1, "/Add"}};
  return p;
}

class GpuSpecialKernel : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(GpuSpecialKernel, ClusterKernelReplacesTheNextLaunch) {
  const auto [graphs, dependent] = GetParam();
  std::string path = tempPath("cluster.spdc");
  ASSERT_EQ(writeBundle(clusterReplacePlan(), path), ""); // the plan validates, GPU or not
  spdc_context_t *ctx = gpuContext(graphs, "", dependent);
  if (!ctx) {
    std::remove(path.c_str());
    GTEST_SKIP() << "no CUDA device";
  }
  spdc_device_info_t info;
  ASSERT_EQ(spdc_context_device_info(ctx, &info), SPDC_STATUS_OK);
  const bool special = std::string(info.arch) == "sm_90a";
  spdc_model_t *model = nullptr;
  ASSERT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_OK) << spdc_last_error();
  size_t steps = 0;
  ASSERT_EQ(spdc_model_step_count(model, &steps), SPDC_STATUS_OK);
  EXPECT_EQ(steps, special ? 1u : 2u) << info.arch;
  expectElementwiseRuns(
      model, kClusterElems, 3, [](int64_t i, int run) { return float((i * 5 + run) % 301); },
      [](float x) { return 2.0f * x + 1.0f; });
  spdc_model_release(model);
  spdc_context_release(ctx);
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Launches, GpuSpecialKernel,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()), launchModeName);

TEST(GpuCApi, BatchedBf16MatmulWithBiasGelu) {
  spdc_context_t *ctx = gpuContext(true);
  if (!ctx)
    GTEST_SKIP() << "no CUDA device";
  // D[b] = gelu(A[b]^T-stored @ W + bias), A stored [k, m] per batch (transA), W shared (stride 0).
  constexpr int B = 3, m = 16, n = 24, k = 32;
  Plan p;
  p.inputs.push_back({"a", ElementType::BF16, {B, k, m}});
  p.outputs.push_back({"d", ElementType::BF16, {B, m, n}});
  std::vector<uint16_t> w(k * n), bias(n), a(B * k * m);
  for (int i = 0; i < k * n; ++i)
    w[i] = toBf16(float((i * 37) % 17 - 8) / 16.0f);
  for (int i = 0; i < n; ++i)
    bias[i] = toBf16(float(i % 5) / 4.0f - 0.5f);
  for (int i = 0; i < B * k * m; ++i)
    a[i] = toBf16(float((i * 11) % 13 - 6) / 8.0f);
  p.weights.resize(4096);
  std::memcpy(p.weights.data(), w.data(), w.size() * 2);
  std::memcpy(p.weights.data() + 2048, bias.data(), bias.size() * 2);
  Gemm g;
  g.type = ElementType::BF16;
  g.m = m, g.n = n, g.k = k, g.batch = B;
  g.transA = true;
  g.lda = m, g.ldb = n, g.ldc = n;
  g.strideA = k * m, g.strideB = 0, g.strideC = m * n;
  g.epilogue = Gemm::Epilogue::BiasGelu;
  g.a = ref(Space::Input, 0);
  g.b = ref(Space::Weights, 0);
  g.d = ref(Space::Output, 0);
  g.bias = ref(Space::Weights, 2048);
  p.gemms.push_back(g);
  p.steps = {{Step::Kind::Gemm, 0, "/MatMul+Add+Gelu"}};
  std::string path = tempPath("bf16.spdc");
  ASSERT_EQ(writeBundle(p, path), "");

  spdc_model_t *model = nullptr;
  ASSERT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_OK) << spdc_last_error();
  std::vector<uint16_t> d(B * m * n);
  ASSERT_EQ(spdc_model_bind_input(model, 0, a.data(), SPDC_MEMORY_HOST, a.size() * 2),
            SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 0, d.data(), SPDC_MEMORY_HOST, d.size() * 2),
            SPDC_STATUS_OK);
  for (int run = 0; run < 3; ++run)
    ASSERT_EQ(spdc_model_run(model, nullptr), SPDC_STATUS_OK) << spdc_last_error();
  // bf16 output: one bf16 ulp is 2^-8 relative; 1.5e-2 covers the rounding of D plus the
  // difference between cuBLASLt's GELU and the tanh formula below.
  for (int bi = 0; bi < B; ++bi)
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        float s = fromBf16(bias[j]);
        for (int kk = 0; kk < k; ++kk)
          s += fromBf16(a[bi * k * m + kk * m + i]) * fromBf16(w[kk * n + j]);
        float ref = 0.5f * s * (1 + std::tanh(0.7978845608f * (s + 0.044715f * s * s * s)));
        float got = fromBf16(d[(bi * m + i) * n + j]);
        EXPECT_NEAR(got, ref, 1.5e-2f * std::max(1.0f, std::fabs(ref)))
            << "batch " << bi << " [" << i << ", " << j << "]";
      }
  spdc_model_release(model);
  spdc_context_release(ctx);
  std::remove(path.c_str());
}

//===--- dynamic dimensions -------------------------------------------------===//

namespace {

using spdc::bundle::test::op;

/// smallPlan() with a dynamic row count: x [n, K] -> y, y2 [n, N], z [n, K]. Every size that
/// depends on n is an expression: the kernel's grid and element count, the matmuls' m, the
/// copy's bytes, the arena.
Plan dynamicSmallPlan() {
  using C = ExprOp::Code;
  Plan p = smallPlan();
  p.symbols = {"x.0"};
  enum : uint32_t { kRows, kElems, kBytes, kGrid };
  p.exprs = {{{op(C::Symbol, 0)}},
             {{op(C::Ref, kRows), op(C::Const, K), op(C::Mul)}},
             {{op(C::Ref, kElems), op(C::Const, 4), op(C::Mul)}},
             {{op(C::Ref, kElems), op(C::Const, 32), op(C::CeilDiv)}}};
  Int rows = Int::dynamic(kRows);
  p.inputs[0].shape[0] = rows;
  for (TensorInfo &t : p.outputs)
    t.shape[0] = rows;
  p.arenaBytes = Int::dynamic(kBytes);
  p.launches[0].grid[0] = Int::dynamic(kGrid);
  p.launches[0].args[2].i64 = Int::dynamic(kElems);
  for (Gemm &g : p.gemms)
    g.m = rows;
  p.copies[0].bytes = Int::dynamic(kBytes);
  return p;
}

std::string lastError() { return spdc_last_error(); }

} // namespace

TEST(CApi, DynamicPlanIsValidAtTheSampleShape) {
  EXPECT_EQ(validatePlan(dynamicSmallPlan(), 256), "");
}

class GpuDynamic : public ::testing::TestWithParam<bool> {};

TEST_P(GpuDynamic, ShapesChangeWithoutReloading) {
  spdc_context_t *ctx = gpuContext(GetParam());
  if (!ctx)
    GTEST_SKIP() << "no CUDA device";
  std::string path = tempPath("dynamic.spdc");
  ASSERT_EQ(writeBundle(dynamicSmallPlan(), path), "");
  spdc_model_t *model = nullptr;
  ASSERT_EQ(spdc_model_load(ctx, path.c_str(), &model), SPDC_STATUS_OK) << lastError();
  spdc_context_release(ctx);

  spdc_tensor_info_t info;
  ASSERT_EQ(spdc_model_input_info(model, 0, &info), SPDC_STATUS_OK);
  EXPECT_EQ(info.dims[0], -1);
  EXPECT_EQ(info.dims[1], K);
  EXPECT_EQ(info.bytes, 0u);
  ASSERT_EQ(spdc_model_output_info(model, 0, &info), SPDC_STATUS_OK);
  EXPECT_EQ(info.dims[0], -1);

  // Nothing works before the dynamic input has a shape, and every refusal names it.
  std::vector<float> x(8 * K), y(8 * N), y2(8 * N), z(8 * K);
  EXPECT_EQ(spdc_model_bind_input(model, 0, x.data(), SPDC_MEMORY_HOST, 2 * K * 4),
            SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("set its shape with spdc_model_set_input_shape"), std::string::npos)
      << lastError();
  int64_t dims[3] = {};
  size_t rank = 0;
  EXPECT_EQ(spdc_model_output_shape(model, 0, dims, 3, &rank), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("input 0 ('x') has dynamic dimensions and no shape"),
            std::string::npos)
      << lastError();
  EXPECT_EQ(spdc_model_run(model, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("input 0 ('x')"), std::string::npos) << lastError();
  const int64_t badRank[3] = {2, K, 1}, badDim[2] = {2, K + 1}, negative[2] = {-2, K};
  EXPECT_EQ(spdc_model_set_input_shape(model, 0, badRank, 3), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("has rank 2, got 3"), std::string::npos) << lastError();
  EXPECT_EQ(spdc_model_set_input_shape(model, 0, badDim, 2), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("dimension 1 is 3 in the model, got 4"), std::string::npos)
      << lastError();
  EXPECT_EQ(spdc_model_set_input_shape(model, 0, negative, 2), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(spdc_model_set_input_shape(model, 1, badDim, 2), SPDC_STATUS_INVALID_ARGUMENT);

  // More distinct shapes than the model keeps, then the first ones again: each run of each
  // shape (eager, captured, replayed) matches the reference.
  for (int rows : {2, 5, 2, 7, 1, 3, 4, 6, 8, 5, 2, 8}) {
    const int64_t shape[2] = {rows, K};
    ASSERT_EQ(spdc_model_set_input_shape(model, 0, shape, 2), SPDC_STATUS_OK) << lastError();
    ASSERT_EQ(spdc_model_output_shape(model, 1, dims, 3, &rank), SPDC_STATUS_OK) << lastError();
    ASSERT_EQ(rank, 2u);
    EXPECT_EQ(dims[0], rows);
    EXPECT_EQ(dims[1], N);
    size_t in = size_t(rows) * K * 4, out = size_t(rows) * N * 4;
    EXPECT_EQ(spdc_model_bind_input(model, 0, x.data(), SPDC_MEMORY_HOST, in + 4),
              SPDC_STATUS_INVALID_ARGUMENT);
    ASSERT_EQ(spdc_model_bind_input(model, 0, x.data(), SPDC_MEMORY_HOST, in), SPDC_STATUS_OK);
    ASSERT_EQ(spdc_model_bind_output(model, 0, y.data(), SPDC_MEMORY_HOST, out), SPDC_STATUS_OK);
    ASSERT_EQ(spdc_model_bind_output(model, 1, y2.data(), SPDC_MEMORY_HOST, out), SPDC_STATUS_OK);
    ASSERT_EQ(spdc_model_bind_output(model, 2, z.data(), SPDC_MEMORY_HOST, in), SPDC_STATUS_OK);
    for (int run = 0; run < 3; ++run) {
      for (int i = 0; i < rows * K; ++i)
        x[size_t(i)] = float(i % 7) * 0.5f - float(run) + float(rows);
      ASSERT_EQ(spdc_model_run(model, nullptr), SPDC_STATUS_OK) << lastError();
      std::vector<float> ry(size_t(rows) * N), ry2(size_t(rows) * N), rz(size_t(rows) * K);
      reference(x.data(), ry.data(), ry2.data(), rz.data(), rows);
      for (int i = 0; i < rows * N; ++i) {
        EXPECT_NEAR(y[size_t(i)], ry[size_t(i)], 1e-4f) << rows << " rows, run " << run;
        EXPECT_NEAR(y2[size_t(i)], ry2[size_t(i)], 1e-4f) << rows << " rows, run " << run;
      }
      for (int i = 0; i < rows * K; ++i)
        EXPECT_EQ(z[size_t(i)], rz[size_t(i)]) << rows << " rows, run " << run;
    }
  }
  // A new shape with the old bindings: refused until they are made again.
  const int64_t three[2] = {3, K};
  ASSERT_EQ(spdc_model_set_input_shape(model, 0, three, 2), SPDC_STATUS_OK);
  EXPECT_EQ(spdc_model_run(model, nullptr), SPDC_STATUS_FAILED_PRECONDITION);
  EXPECT_NE(lastError().find("input 0 ('x') is bound to 96 bytes, its current shape [3x3] "
                             "takes 36: bind it again"),
            std::string::npos)
      << lastError();
  // Timing and profiling run the current shape.
  ASSERT_EQ(spdc_model_bind_input(model, 0, x.data(), SPDC_MEMORY_HOST, 36), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 0, y.data(), SPDC_MEMORY_HOST, 48), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 1, y2.data(), SPDC_MEMORY_HOST, 48), SPDC_STATUS_OK);
  ASSERT_EQ(spdc_model_bind_output(model, 2, z.data(), SPDC_MEMORY_HOST, 36), SPDC_STATUS_OK);
  float ms[4] = {};
  ASSERT_EQ(spdc_model_time(model, 4, ms), SPDC_STATUS_OK) << lastError();
  for (float t : ms)
    EXPECT_GT(t, 0.0f);
  spdc_profile_entry_t entries[4];
  double total = 0;
  ASSERT_EQ(spdc_model_profile(model, 3, entries, 4, &total), SPDC_STATUS_OK) << lastError();
  EXPECT_STREQ(entries[3].kind, "copy");
  std::vector<float> ry(3 * N), ry2(3 * N), rz(3 * K);
  reference(x.data(), ry.data(), ry2.data(), rz.data(), 3);
  for (int i = 0; i < 3 * N; ++i)
    EXPECT_NEAR(y[size_t(i)], ry[size_t(i)], 1e-4f) << "after profiling";
  // Zero rows make a zero grid: the instance is refused, naming the symbol's value.
  const int64_t none[2] = {0, K};
  ASSERT_EQ(spdc_model_set_input_shape(model, 0, none, 2), SPDC_STATUS_OK);
  EXPECT_EQ(spdc_model_run(model, nullptr), SPDC_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("for x.0 = 0: launch 0: zero grid"), std::string::npos) << lastError();
  spdc_model_release(model);
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Graphs, GpuDynamic, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "graphs" : "no_graphs"; });
