//===- Runtime.cpp - the C API of libspdcrt --------------------------------===//
//
// Contexts (a device and its primary CUDA context), models (a loaded bundle: module, arena,
// weights, bindings, and per input shape the instantiated plan, its cuBLASLt plans and its
// captured CUDA graph) and the plan executor. Every entry point catches C++ exceptions, so none
// crosses the C API; every CUDA call is checked and its failure names the step.
//
//===----------------------------------------------------------------------===//

#include "spdc/runtime.h"

#include "Driver.h"
#include "Gemm.h"
#include "Jit.h"
#include "JitCache.h"
#include "bundle/Bundle.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>

using namespace spdc;
using namespace spdc::rt;

// The C enum mirrors the format's element types.
static_assert(int(SPDC_DTYPE_F32) == int(bundle::ElementType::F32) &&
                  int(SPDC_DTYPE_BF16) == int(bundle::ElementType::BF16) &&
                  int(SPDC_DTYPE_I64) == int(bundle::ElementType::I64) &&
                  int(SPDC_DTYPE_U64) == int(bundle::ElementType::U64) &&
                  int(SPDC_DTYPE_BOOL) == int(bundle::ElementType::Bool),
              "spdc_dtype_t and bundle::ElementType disagree");

namespace {

thread_local std::string tlsError;

spdc_status_t fail(spdc_status_t status, std::string message) {
  tlsError = std::move(message);
  return status;
}

/// Runs `body`, turning exceptions (allocation failures in std containers) into statuses.
template <typename F> spdc_status_t guarded(const char *fn, F &&body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return fail(SPDC_STATUS_OUT_OF_MEMORY, std::string(fn) + ": out of host memory");
  } catch (const std::exception &e) {
    return fail(SPDC_STATUS_INTERNAL, std::string(fn) + ": " + e.what());
  } catch (...) {
    return fail(SPDC_STATUS_INTERNAL, std::string(fn) + ": unknown exception");
  }
}

// cuBLASLt workspace: NVIDIA recommends 32 MiB on Hopper for the best kernels (cuBLAS docs,
// "cublasSetWorkspace"); smaller GPUs are fine with it too.
constexpr size_t kGemmWorkspaceBytes = 32u << 20;
// Device allocations are at least 256-byte aligned; staging slots keep that alignment.
constexpr uint64_t kDeviceAlign = 256;
// Bound device pointers must be 16-byte aligned (vector loads; cuBLASLt's minimum we assume).
constexpr uint64_t kBoundAlign = 16;
// Kernels may use 48 KiB of dynamic shared memory without opting in.
constexpr uint32_t kDefaultSharedLimit = 48u << 10;

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint32_t alignmentOf(uint64_t offset, uint64_t base) {
  if (offset == 0)
    return uint32_t(base);
  return uint32_t(std::min<uint64_t>(base, offset & (~offset + 1)));
}

/// Bytes of a tensor of `type` and `dims`; false on overflow or a negative dimension.
bool bytesOf(bundle::ElementType type, const std::vector<int64_t> &dims, uint64_t &bytes) {
  bytes = bundle::elementSize(type);
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(bytes, uint64_t(d), &bytes))
      return false;
  return true;
}

bool isStatic(const bundle::TensorInfo &t) {
  return std::none_of(t.shape.begin(), t.shape.end(),
                      [](const bundle::Int &d) { return d.isDynamic(); });
}

/// Bytes of a tensor of static shape (every tensor of an instantiated plan; validated, so no
/// overflow); 0 for one with dynamic dimensions. With rowPitch, of its rows (the last
/// dimension) lying rowPitch elements apart (an output bound pitched).
uint64_t tensorBytes(const bundle::TensorInfo &t, int64_t rowPitch = 0) {
  if (!isStatic(t))
    return 0;
  uint64_t n = bundle::elementSize(t.type);
  for (size_t i = 0; i < t.shape.size(); ++i)
    n *= uint64_t(rowPitch && i + 1 == t.shape.size() ? rowPitch : int64_t(t.shape[i]));
  return n;
}

std::string shapeString(const std::vector<int64_t> &dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? "x" : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string tensorName(const char *what, size_t i, const bundle::TensorInfo &t) {
  return std::string(what) + " " + std::to_string(i) + " ('" + t.name + "')";
}

} // namespace

//===--- context ------------------------------------------------------------===//

struct spdc_context_t {
  std::atomic<int> refs{1};
  const Driver *driver = nullptr;
  CUdevice device = 0;
  CUcontext context = nullptr;
  spdc_device_info_t info = {};
  std::string target; ///< NVRTC target ("sm_90a"), empty if NVRTC knows nothing that fits
  int maxSharedPerBlock = 0; ///< dynamic shared memory a block may opt into (bytes)
  int multiprocessors = 0;
  std::string cacheDir;
  bool useCache = true, useGraphs = true;
  /// Launches marked dependentLaunch use programmatic dependent launch (option and sm_90+).
  bool dependentLaunch = false;
  std::string cudaIncludeDir;

  spdc_status_t makeCurrent() const {
    if (CUresult r = driver->ctxSetCurrent(context); r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, driver->error(r, "cuCtxSetCurrent"));
    return SPDC_STATUS_OK;
  }

  ~spdc_context_t() {
    if (context)
      driver->primaryCtxRelease(device);
  }
};

extern "C" {

const char *spdc_last_error(void) { return tlsError.c_str(); }

const char *spdc_status_string(spdc_status_t status) {
  switch (status) {
  case SPDC_STATUS_OK:
    return "SPDC_STATUS_OK";
  case SPDC_STATUS_INVALID_ARGUMENT:
    return "SPDC_STATUS_INVALID_ARGUMENT";
  case SPDC_STATUS_NOT_FOUND:
    return "SPDC_STATUS_NOT_FOUND";
  case SPDC_STATUS_INVALID_BUNDLE:
    return "SPDC_STATUS_INVALID_BUNDLE";
  case SPDC_STATUS_NO_DEVICE:
    return "SPDC_STATUS_NO_DEVICE";
  case SPDC_STATUS_COMPILE_ERROR:
    return "SPDC_STATUS_COMPILE_ERROR";
  case SPDC_STATUS_CUDA_ERROR:
    return "SPDC_STATUS_CUDA_ERROR";
  case SPDC_STATUS_OUT_OF_MEMORY:
    return "SPDC_STATUS_OUT_OF_MEMORY";
  case SPDC_STATUS_FAILED_PRECONDITION:
    return "SPDC_STATUS_FAILED_PRECONDITION";
  case SPDC_STATUS_INTERNAL:
    return "SPDC_STATUS_INTERNAL";
  }
  return "SPDC_STATUS_UNKNOWN";
}

const char *spdc_version(void) { return bundle::spdcVersion(); }

void spdc_context_options_initialize(spdc_context_options_t *options) {
  if (!options)
    return;
  std::memset(options, 0, sizeof *options);
  options->device = 0;
  options->use_cache = 1;
  options->use_cuda_graphs = 1;
  options->use_dependent_launch = 1;
}

spdc_status_t spdc_context_create(const spdc_context_options_t *options,
                                  spdc_context_t **out_context) {
  if (!out_context)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_context_create: out_context is NULL");
  *out_context = nullptr;
  return guarded("spdc_context_create", [&] {
    spdc_context_options_t defaults;
    spdc_context_options_initialize(&defaults);
    const spdc_context_options_t &o = options ? *options : defaults;
    if (o.device < 0)
      return fail(SPDC_STATUS_INVALID_ARGUMENT,
                  "spdc_context_create: negative device " + std::to_string(o.device));

    std::string error;
    const Driver *d = loadDriver(error);
    if (!d)
      return fail(SPDC_STATUS_NO_DEVICE, error);
    int count = 0;
    if (CUresult r = d->deviceGetCount(&count); r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_NO_DEVICE, "no CUDA device: " + d->error(r, "cuDeviceGetCount"));
    if (o.device >= count)
      return fail(SPDC_STATUS_NO_DEVICE, "no CUDA device: device " + std::to_string(o.device) +
                                             " requested, " + std::to_string(count) + " present");

    auto ctx = std::make_unique<spdc_context_t>();
    ctx->driver = d;
    if (CUresult r = d->deviceGet(&ctx->device, o.device); r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_NO_DEVICE, "no CUDA device: " + d->error(r, "cuDeviceGet"));
    if (CUresult r = d->primaryCtxRetain(&ctx->context, ctx->device); r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, d->error(r, "cuDevicePrimaryCtxRetain"));
    if (spdc_status_t s = ctx->makeCurrent())
      return s;

    spdc_device_info_t &info = ctx->info;
    if (CUresult r = d->deviceGetName(info.name, sizeof info.name, ctx->device); r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, d->error(r, "cuDeviceGetName"));
    if (CUresult r = d->deviceGetAttribute(
            &info.major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, ctx->device);
        r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, d->error(r, "cuDeviceGetAttribute(major)"));
    if (CUresult r = d->deviceGetAttribute(
            &info.minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, ctx->device);
        r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, d->error(r, "cuDeviceGetAttribute(minor)"));
    size_t total = 0;
    if (CUresult r = d->deviceTotalMem(&total, ctx->device); r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, d->error(r, "cuDeviceTotalMem"));
    info.total_memory = total;
    if (CUresult r = d->deviceGetAttribute(&ctx->maxSharedPerBlock,
                                           CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                                           ctx->device);
        r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, d->error(r, "cuDeviceGetAttribute(shared memory)"));
    if (CUresult r = d->deviceGetAttribute(&ctx->multiprocessors,
                                           CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, ctx->device);
        r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, d->error(r, "cuDeviceGetAttribute(SM count)"));
    bool ptx = false;
    ctx->target = nvrtcTarget(info.major, info.minor, ptx);
    std::snprintf(info.arch, sizeof info.arch, "%s", ctx->target.c_str());

    ctx->cacheDir = o.cache_dir && *o.cache_dir ? o.cache_dir : JitCache::defaultDir();
    ctx->useCache = o.use_cache != 0;
    ctx->useGraphs = o.use_cuda_graphs != 0;
    ctx->dependentLaunch = o.use_dependent_launch != 0 && info.major >= 9;
    ctx->cudaIncludeDir = findCudaIncludeDir(o.cuda_include_dir ? o.cuda_include_dir : "");
    *out_context = ctx.release();
    return SPDC_STATUS_OK;
  });
}

void spdc_context_retain(spdc_context_t *context) {
  if (context)
    context->refs.fetch_add(1, std::memory_order_relaxed);
}

void spdc_context_release(spdc_context_t *context) {
  if (context && context->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete context;
}

spdc_status_t spdc_context_device_info(const spdc_context_t *context,
                                       spdc_device_info_t *out_info) {
  if (!out_info)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_context_device_info: out_info is NULL");
  std::memset(out_info, 0, sizeof *out_info);
  if (!context)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_context_device_info: context is NULL");
  *out_info = context->info;
  return SPDC_STATUS_OK;
}

spdc_status_t spdc_device_alloc(spdc_context_t *context, size_t bytes, void **out_ptr) {
  if (!out_ptr)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_device_alloc: out_ptr is NULL");
  *out_ptr = nullptr;
  if (!context)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_device_alloc: context is NULL");
  if (bytes == 0)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_device_alloc: 0 bytes");
  return guarded("spdc_device_alloc", [&] {
    if (spdc_status_t s = context->makeCurrent())
      return s;
    CUdeviceptr p = 0;
    if (CUresult r = context->driver->memAlloc(&p, bytes); r != CUDA_SUCCESS)
      return fail(r == CUDA_ERROR_OUT_OF_MEMORY ? SPDC_STATUS_OUT_OF_MEMORY
                                                : SPDC_STATUS_CUDA_ERROR,
                  context->driver->error(r, ("cuMemAlloc(" + std::to_string(bytes) +
                                             " bytes)").c_str()));
    *out_ptr = reinterpret_cast<void *>(uintptr_t(p));
    return SPDC_STATUS_OK;
  });
}

spdc_status_t spdc_device_free(spdc_context_t *context, void *ptr) {
  if (!context)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_device_free: context is NULL");
  if (!ptr)
    return SPDC_STATUS_OK;
  return guarded("spdc_device_free", [&] {
    if (spdc_status_t s = context->makeCurrent())
      return s;
    if (CUresult r = context->driver->memFree(CUdeviceptr(reinterpret_cast<uintptr_t>(ptr)));
        r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, context->driver->error(r, "cuMemFree"));
    return SPDC_STATUS_OK;
  });
}

spdc_status_t spdc_memcpy(spdc_context_t *context, void *dst, spdc_memory_t dst_memory,
                          const void *src, spdc_memory_t src_memory, size_t bytes) {
  if (!context)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_memcpy: context is NULL");
  for (spdc_memory_t m : {dst_memory, src_memory})
    if (m != SPDC_MEMORY_HOST && m != SPDC_MEMORY_DEVICE)
      return fail(SPDC_STATUS_INVALID_ARGUMENT,
                  "spdc_memcpy: unknown memory kind " + std::to_string(m));
  if (bytes == 0)
    return SPDC_STATUS_OK;
  if (!dst || !src)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_memcpy: NULL pointer");
  return guarded("spdc_memcpy", [&] {
    if (spdc_status_t s = context->makeCurrent())
      return s;
    // Unified addressing: cuMemcpy infers the direction from the pointers.
    auto address = [](const void *p) { return CUdeviceptr(reinterpret_cast<uintptr_t>(p)); };
    if (CUresult r = context->driver->memcpy(address(dst), address(src), bytes); r != CUDA_SUCCESS)
      return fail(SPDC_STATUS_CUDA_ERROR, context->driver->error(r, "cuMemcpy"));
    return SPDC_STATUS_OK;
  });
}

} // extern "C"

//===--- model --------------------------------------------------------------===//

namespace {

struct Binding {
  bool bound = false;
  spdc_memory_t memory = SPDC_MEMORY_HOST;
  const void *host = nullptr; ///< input read by each run (SPDC_MEMORY_HOST)
  void *hostOut = nullptr;    ///< output written by each run (SPDC_MEMORY_HOST)
  CUdeviceptr device = 0;
  uint64_t bytes = 0; ///< as bound; a run checks it against the current shape
  int64_t rowPitch = 0; ///< an output bound pitched (Plan::pitchedOutputs): its rows' pitch
};

// Distinct shapes (symbol values) a model keeps ready: a server that alternates between a few
// batch sizes or sequence buckets finds their instances, cuBLASLt plans and graphs warm; one
// evicted costs an instantiation, a GEMM tuning and a graph capture when it comes back.
constexpr size_t kMaxShapeStates = 8;

/// What a model keeps per distinct set of symbol values (a plan of static shapes has one): the
/// plan instantiated for them, its cuBLASLt plans (tuned on the first eager run) and its graph.
struct ShapeState {
  std::vector<int64_t> symbols;
  bundle::Plan plan;
  std::vector<GemmPlan> gemmPlans;
  CUgraphExec graph = nullptr;
  std::vector<CUdeviceptr> graphKey; ///< the input/output addresses `graph` was captured with
  std::vector<CUdeviceptr> warmKey;  ///< those of the last eager run (captured on the next)
};

} // namespace

struct spdc_model_t {
  std::atomic<int> refs{1};
  spdc_context_t *ctx = nullptr;
  const Driver *d = nullptr;
  /// The plan as loaded (with its symbols and expressions when it has dynamic dimensions);
  /// runs use the instance of the current shape (`cur->plan`).
  bundle::Plan plan;
  bool dynamic = false; ///< the plan has symbols or expressions
  std::string path;
  uint64_t weightsSize = 0;

  std::vector<CUmodule> modules; ///< per source unit; null for units no launch here uses
  std::vector<CUfunction> functions;
  CUdeviceptr arena = 0, weights = 0, staging = 0, workspace = 0;
  uint64_t arenaCapacity = 0, stagingCapacity = 0; ///< bytes allocated (grown, never shrunk)
  std::vector<uint64_t> inputSlot, outputSlot;     ///< offsets in `staging`, for `cur`'s shapes
  std::vector<Binding> inputs, outputs;
  /// The current input shapes (spdc_model_set_input_shape; static inputs are set at load).
  std::vector<std::vector<int64_t>> inputShapes;
  std::vector<bool> shapeSet;
  std::unique_ptr<GemmRunner> gemm;
  /// Most recently used first; `cur` is the one the last run selected.
  std::vector<std::unique_ptr<ShapeState>> states;
  ShapeState *cur = nullptr;
  CUstream stream = nullptr;
  std::vector<std::string> stepNames;
  /// The symbol of each kernel in the module: its name, or the lowered name of a C++ name
  /// expression. Precompiled cubins must use extern "C" names.
  std::vector<std::string> kernelSymbols;
  std::vector<bool> used; ///< per kernel: some launch runs it on this device
  /// Per launch: blocks per thread block cluster of the special kernel that load() chose for
  /// it (bundle::specializePlan), 0 for none.
  std::vector<uint32_t> clusters;
  std::string codeOrigin = "none"; ///< spdc_model_code_origin
  /// The declared shapes for spdc_tensor_info_t (-1 for a dynamic dimension).
  std::vector<std::vector<int64_t>> inputDims, outputDims;
  bool capturing = false; ///< steps are being captured into a graph (nothing runs)

  ~spdc_model_t() {
    if (!ctx)
      return;
    // Best effort: the context must be current to free its resources.
    d->ctxSetCurrent(ctx->context);
    if (stream)
      d->streamSynchronize(stream);
    for (const std::unique_ptr<ShapeState> &st : states)
      if (st->graph)
        d->graphExecDestroy(st->graph);
    gemm.reset();
    if (stream)
      d->streamDestroy(stream);
    for (CUdeviceptr p : {arena, weights, staging, workspace})
      if (p)
        d->memFree(p);
    for (CUmodule m : modules)
      if (m)
        d->moduleUnload(m);
    spdc_context_release(ctx);
  }

  std::string where() const { return path + ": "; }

  spdc_status_t cudaFail(CUresult r, const std::string &step) {
    spdc_status_t s =
        r == CUDA_ERROR_OUT_OF_MEMORY ? SPDC_STATUS_OUT_OF_MEMORY : SPDC_STATUS_CUDA_ERROR;
    return fail(s, where() + d->error(r, step.c_str()));
  }

  spdc_status_t allocate(CUdeviceptr &ptr, uint64_t bytes, const char *what) {
    if (bytes == 0)
      return SPDC_STATUS_OK;
    if (CUresult r = d->memAlloc(&ptr, bytes); r != CUDA_SUCCESS)
      return cudaFail(r,
                      std::string("cuMemAlloc(") + what + ", " + std::to_string(bytes) + " bytes)");
    return SPDC_STATUS_OK;
  }

  /// The pitch of output `index`'s padded rows (Plan::pitchedOutputs), 0 for none.
  int64_t rowPitch(size_t index) const {
    for (const bundle::PitchedOutput &po : plan.pitchedOutputs)
      if (po.output == index)
        return po.rowPitch;
    return 0;
  }

  CUdeviceptr inputAddress(uint32_t i) const {
    return inputs[i].memory == SPDC_MEMORY_DEVICE ? inputs[i].device : staging + inputSlot[i];
  }
  CUdeviceptr outputAddress(uint32_t i) const {
    return outputs[i].memory == SPDC_MEMORY_DEVICE ? outputs[i].device : staging + outputSlot[i];
  }

  /// The address of a reference of an instantiated plan (offsets are constants).
  CUdeviceptr resolve(const bundle::BufferRef &r) const {
    uint64_t offset = uint64_t(int64_t(r.offset));
    switch (r.space) {
    case bundle::Space::Arena:
      return arena + offset;
    case bundle::Space::Weights:
      return weights + offset;
    case bundle::Space::Input:
      return inputAddress(r.index) + offset;
    case bundle::Space::Output:
      return outputAddress(r.index) + offset;
    }
    return 0;
  }

  /// Guaranteed alignment of a reference's address, for cuBLASLt's heuristics.
  static uint32_t alignment(const bundle::BufferRef &r) {
    bool bound = r.space == bundle::Space::Input || r.space == bundle::Space::Output;
    return alignmentOf(uint64_t(int64_t(r.offset)), bound ? kBoundAlign : kDeviceAlign);
  }

  spdc_status_t load();
  spdc_status_t loadModules();
  spdc_status_t symbolValues(const char *fn, std::vector<int64_t> &values) const;
  spdc_status_t outputShape(const char *fn, size_t index, std::vector<int64_t> &dims) const;
  spdc_status_t selectState(const char *fn);
  spdc_status_t prepareGemms(ShapeState &st);
  void dropState(ShapeState &st);
  void dropGraphs();
  spdc_status_t grow(CUdeviceptr &ptr, uint64_t &capacity, uint64_t bytes, const char *what);
  spdc_status_t prepareRun(const char *fn);
  spdc_status_t enqueueStep(size_t i, CUstream s);
  /// `arg`'s tensor map over the operand at `base`; false where the driver refuses it (an
  /// address or stride not a multiple of 16 bytes, an empty dimension).
  bool encodeTensorMap(const bundle::KernelArg &arg, CUdeviceptr base, CUtensorMap &map) const;
  spdc_status_t enqueueSteps(CUstream s, const std::vector<CUevent> *events);
  spdc_status_t checkBound() const;
  spdc_status_t copyInputs(CUstream s);
  spdc_status_t copyOutputs(CUstream s);
  spdc_status_t capture();
  spdc_status_t issue(CUstream s);
};

spdc_status_t spdc_model_t::loadModules() {
  kernelSymbols = plan.kernelNames;
  modules.assign(plan.sources.size(), nullptr);
  if (plan.kernelNames.empty())
    return SPDC_STATUS_OK; // only matmuls and copies: nothing to compile
  const std::string &target = ctx->target;
  // Per unit, the kernels some launch on this device runs; a unit without any is not loaded.
  std::vector<std::vector<size_t>> unitKernels(plan.sources.size());
  for (size_t k = 0; k < plan.kernelNames.size(); ++k)
    if (used[k])
      unitKernels[plan.kernelSources[k]].push_back(k);
  // Of those, the ones named by C++ name expressions, which NVRTC must resolve (kernel order).
  auto namedKernels = [&](size_t unit) {
    std::vector<size_t> named;
    for (size_t k : unitKernels[unit])
      if (!isCIdentifier(plan.kernelNames[k]))
        named.push_back(k);
    return named;
  };

  // A unit's cubin from the bundle for exactly this device's arch ("sm_90a"), or its non
  // arch-specific form ("sm_90"), skips NVRTC; if the driver refuses it, compile instead.
  // Cubins are looked up by extern "C" names only (name expressions need NVRTC's lowering).
  std::string base = target;
  if (!base.empty() && base.back() == 'a')
    base.pop_back();
  std::string precompiledError;
  std::vector<size_t> toCompile;
  for (size_t unit = 0; unit < plan.sources.size(); ++unit) {
    if (unitKernels[unit].empty())
      continue;
    bool allC = namedKernels(unit).empty();
    for (const bundle::Binary &b : plan.binaries) {
      if (!allC || target.empty() || b.source != unit || (b.arch != target && b.arch != base) ||
          b.code.empty())
        continue;
      CUresult r = d->moduleLoadData(&modules[unit], b.code.data());
      if (r == CUDA_SUCCESS)
        break;
      modules[unit] = nullptr;
      precompiledError = d->error(r, ("cuModuleLoadData(precompiled " + b.arch + ")").c_str());
    }
    if (!modules[unit])
      toCompile.push_back(unit);
  }
  if (toCompile.empty()) {
    codeOrigin = "bundle cubin " + target;
    return SPDC_STATUS_OK;
  }
  if (target.empty())
    return fail(SPDC_STATUS_COMPILE_ERROR, where() + "NVRTC cannot target compute capability " +
                                               std::to_string(ctx->info.major) + "." +
                                               std::to_string(ctx->info.minor));

  // The units without a usable cubin, compiled in parallel (NVRTC programs are independent).
  std::unique_ptr<JitCache> cache;
  if (ctx->useCache && !ctx->cacheDir.empty())
    cache = std::make_unique<JitCache>(ctx->cacheDir);
  struct Job {
    std::vector<size_t> named; ///< the unit's kernels of req.nameExpressions
    JitRequest req;
    JitResult result;
    JitStatus status = JitStatus::Ok;
    std::string error;
  };
  std::vector<Job> jobs(toCompile.size());
  for (size_t i = 0; i < toCompile.size(); ++i) {
    JitRequest &req = jobs[i].req;
    req.source = plan.sources[toCompile[i]];
    jobs[i].named = namedKernels(toCompile[i]);
    for (size_t k : jobs[i].named)
      req.nameExpressions.push_back(plan.kernelNames[k]);
    req.target = target;
    req.cudaIncludeDir = ctx->cudaIncludeDir;
    req.cache = cache.get();
  }
  auto run = [](Job &job) { job.status = compileCuda(job.req, job.result, job.error); };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < jobs.size(); ++i)
    threads.emplace_back(run, std::ref(jobs[i]));
  run(jobs[0]);
  for (std::thread &t : threads)
    t.join();

  bool allCached = true;
  for (size_t i = 0; i < jobs.size(); ++i) {
    Job &job = jobs[i];
    size_t unit = toCompile[i];
    switch (job.status) {
    case JitStatus::Ok:
      break;
    case JitStatus::CompileError:
      return fail(SPDC_STATUS_COMPILE_ERROR, where() + job.error);
    case JitStatus::Error:
      return fail(SPDC_STATUS_INTERNAL, where() + job.error);
    }
    for (size_t j = 0; j < job.named.size(); ++j)
      kernelSymbols[job.named[j]] = job.result.loweredNames[j];
    allCached = allCached && job.result.cacheHit;
    CUresult r = d->moduleLoadData(&modules[unit], job.result.code.data());
    if (r != CUDA_SUCCESS) {
      modules[unit] = nullptr;
      return cudaFail(r, std::string("cuModuleLoadData(") +
                             (job.result.ptx ? "PTX for " : "cubin for ") + target +
                             (job.result.cacheHit ? ", from the JIT cache" : "") + ")" +
                             (precompiledError.empty() ? "" : "; before that " + precompiledError));
    }
  }
  // What the load had to do at most: compile, or find in the JIT cache.
  codeOrigin = (allCached ? "JIT cache " : "NVRTC ") + target;
  return SPDC_STATUS_OK;
}

spdc_status_t spdc_model_t::load() {
  dynamic = !plan.symbols.empty() || !plan.exprs.empty();
  for (auto [list, dims] :
       {std::pair(&plan.inputs, &inputDims), std::pair(&plan.outputs, &outputDims)})
    for (const bundle::TensorInfo &t : *list) {
      dims->emplace_back();
      for (const bundle::Int &d : t.shape)
        dims->back().push_back(d.isDynamic() ? -1 : d.value);
    }
  // Static inputs have their shape from the start; dynamic ones wait for
  // spdc_model_set_input_shape.
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    bool known = isStatic(plan.inputs[i]);
    inputShapes.push_back(known ? inputDims[i] : std::vector<int64_t>());
    shapeSet.push_back(known);
  }
  // Launches with a kernel specialized for this device's target run it; the kernels no launch
  // runs then are neither compiled nor loaded.
  used.assign(plan.kernelNames.size(), false);
  // A special kernel with arguments of its own (tensor maps) keeps the portable one loaded:
  // from here on such a launch runs `kernel` with args and specialArgs, or `specialKernel` with
  // args alone where the maps cannot be encoded for the bound operands (enqueueStep). A launch
  // that a special kernel replaces runs no more (specializePlan drops its step).
  std::vector<bool> replaced;
  bundle::specializePlan(plan, ctx->target, uint32_t(ctx->maxSharedPerBlock), clusters, replaced);
  for (size_t i = 0; i < plan.launches.size(); ++i) {
    const bundle::Launch &l = plan.launches[i];
    if (replaced[i])
      continue;
    if (!l.specialArgs.empty())
      used[l.specialKernel] = true;
    if (l.sharedBytes > uint32_t(ctx->maxSharedPerBlock))
      return fail(SPDC_STATUS_FAILED_PRECONDITION,
                  where() + "kernel '" + plan.kernelNames[l.kernel] + "' needs " +
                      std::to_string(l.sharedBytes) + " bytes of shared memory per block; " +
                      ctx->info.name + " allows " + std::to_string(ctx->maxSharedPerBlock));
    used[l.kernel] = true;
  }
  if (spdc_status_t s = loadModules())
    return s;
  functions.assign(plan.kernelNames.size(), nullptr);
  for (size_t i = 0; i < plan.kernelNames.size(); ++i) {
    if (!used[i])
      continue;
    if (CUresult r = d->moduleGetFunction(&functions[i], modules[plan.kernelSources[i]],
                                          kernelSymbols[i].c_str());
        r != CUDA_SUCCESS)
      return cudaFail(r, "cuModuleGetFunction('" + plan.kernelNames[i] + "')");
  }
  std::vector<uint32_t> shared(functions.size(), 0);
  for (const bundle::Launch &l : plan.launches) {
    shared[l.kernel] = std::max(shared[l.kernel], l.sharedBytes);
    if (!l.specialArgs.empty())
      shared[l.specialKernel] = std::max(shared[l.specialKernel], l.specialSharedBytes);
  }
  for (size_t i = 0; i < functions.size(); ++i)
    if (used[i] && shared[i] > kDefaultSharedLimit)
      if (CUresult r = d->funcSetAttribute(
              functions[i], CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(shared[i]));
          r != CUDA_SUCCESS)
        return cudaFail(r, "cuFuncSetAttribute('" + plan.kernelNames[i] + "', " +
                               std::to_string(shared[i]) + " bytes of dynamic shared memory)");
  // The modules are loaded: instances need neither the sources nor the cubins.
  plan.sources.clear();
  plan.kernelSources.clear();
  plan.binaries.clear();

  if (!plan.gemms.empty())
    if (spdc_status_t s = allocate(workspace, kGemmWorkspaceBytes, "cuBLASLt workspace"))
      return s;
  if (CUresult r = d->streamCreate(&stream, CU_STREAM_NON_BLOCKING); r != CUDA_SUCCESS)
    return cudaFail(r, "cuStreamCreate");
  gemm = std::make_unique<GemmRunner>();
  if (!plan.gemms.empty())
    if (std::string e = gemm->init(kGemmWorkspaceBytes); !e.empty())
      return fail(SPDC_STATUS_CUDA_ERROR, where() + e);

  inputs.resize(plan.inputs.size());
  outputs.resize(plan.outputs.size());
  inputSlot.resize(plan.inputs.size());
  outputSlot.resize(plan.outputs.size());
  for (const bundle::Step &s : plan.steps)
    stepNames.push_back(s.kind == bundle::Step::Kind::Launch
                            ? plan.kernelNames[plan.launches[s.index].kernel]
                        : s.kind == bundle::Step::Kind::Gemm ? "cublasLt"
                                                             : "memcpy");
  // A static plan gets its one instance, arena, staging and cuBLASLt plans now, as it always
  // has (failures show at load); a dynamic one on the first run of each shape.
  if (!dynamic)
    if (spdc_status_t s = selectState("spdc_model_load"))
      return s;
  return SPDC_STATUS_OK;
}

/// The symbol values of the current input shapes (none for a static plan). Fails with
/// SPDC_STATUS_INVALID_ARGUMENT, naming the input, while a dynamic input has no shape, and
/// with bindSymbols' message when the shapes disagree.
spdc_status_t spdc_model_t::symbolValues(const char *fn, std::vector<int64_t> &values) const {
  values.clear();
  for (size_t i = 0; i < plan.inputs.size(); ++i)
    if (!shapeSet[i])
      return fail(SPDC_STATUS_INVALID_ARGUMENT,
                  std::string(fn) + ": " + where() + tensorName("input", i, plan.inputs[i]) +
                      " has dynamic dimensions and no shape: call spdc_model_set_input_shape");
  if (!dynamic)
    return SPDC_STATUS_OK;
  if (std::string e = bundle::bindSymbols(plan, inputShapes, values); !e.empty())
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": " + where() + e);
  return SPDC_STATUS_OK;
}

/// The shape output `index` has for the current input shapes.
spdc_status_t spdc_model_t::outputShape(const char *fn, size_t index,
                                        std::vector<int64_t> &dims) const {
  const bundle::TensorInfo &t = plan.outputs[index];
  dims = outputDims[index];
  if (isStatic(t))
    return SPDC_STATUS_OK;
  std::vector<int64_t> symbols, values;
  if (spdc_status_t s = symbolValues(fn, symbols))
    return s;
  if (cur && cur->symbols == symbols) { // the shapes of the last run: evaluated already
    for (size_t i = 0; i < dims.size(); ++i)
      dims[i] = cur->plan.outputs[index].shape[i];
    return SPDC_STATUS_OK;
  }
  if (std::string e = bundle::evaluateExprs(plan, symbols, values); !e.empty())
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": " + where() + e);
  for (size_t i = 0; i < dims.size(); ++i) {
    if (!t.shape[i].isDynamic())
      continue;
    dims[i] = values[size_t(t.shape[i].expr)];
    if (dims[i] < 0)
      return fail(SPDC_STATUS_INVALID_ARGUMENT,
                  std::string(fn) + ": " + where() + tensorName("output", index, t) +
                      " dimension " + std::to_string(i) + " is " + std::to_string(dims[i]) +
                      " for these input shapes");
  }
  return SPDC_STATUS_OK;
}

spdc_status_t spdc_model_t::prepareGemms(ShapeState &st) {
  for (size_t i = 0; i < st.plan.gemms.size(); ++i) {
    const bundle::Gemm &g = st.plan.gemms[i];
    GemmPlan p;
    std::string e =
        gemm->prepare(g, alignment(g.a), alignment(g.b), alignment(g.c), alignment(g.d), p);
    if (!e.empty()) {
      gemm->release(p);
      return fail(SPDC_STATUS_CUDA_ERROR,
                  where() + "gemm " + std::to_string(i) + " (m=" + std::to_string(g.m) +
                      " n=" + std::to_string(g.n) + " k=" + std::to_string(g.k) +
                      " batch=" + std::to_string(g.batch) + "): " + e);
    }
    st.gemmPlans.push_back(p);
  }
  return SPDC_STATUS_OK;
}

void spdc_model_t::dropState(ShapeState &st) {
  if (st.graph)
    d->graphExecDestroy(st.graph);
  st.graph = nullptr;
  for (const GemmPlan &p : st.gemmPlans)
    gemm->release(p);
  st.gemmPlans.clear();
}

/// Forgets every captured graph (they hold arena and staging addresses that are about to
/// change); each shape captures again after an eager run.
void spdc_model_t::dropGraphs() {
  for (const std::unique_ptr<ShapeState> &st : states) {
    if (st->graph)
      d->graphExecDestroy(st->graph);
    st->graph = nullptr;
    st->graphKey.clear();
    st->warmKey.clear();
  }
}

/// Makes `ptr` hold at least `bytes`: one allocation, replaced by a larger one when a shape
/// needs more (after the device finishes what may still use the old one).
spdc_status_t spdc_model_t::grow(CUdeviceptr &ptr, uint64_t &capacity, uint64_t bytes,
                                 const char *what) {
  if (bytes <= capacity)
    return SPDC_STATUS_OK;
  if (ptr) {
    if (CUresult r = d->ctxSynchronize(); r != CUDA_SUCCESS)
      return cudaFail(r, std::string("cuCtxSynchronize (before growing the ") + what + ")");
    dropGraphs();
    d->memFree(ptr);
    ptr = 0;
    capacity = 0;
  }
  if (spdc_status_t s = allocate(ptr, bytes, what))
    return s;
  capacity = bytes;
  return SPDC_STATUS_OK;
}

/// Makes the instance of the current input shapes current: found among the kept ones, or
/// instantiated (validated, cuBLASLt plans prepared), evicting the least recently used beyond
/// kMaxShapeStates; then the arena and the staging buffer fit it. The context must be current.
spdc_status_t spdc_model_t::selectState(const char *fn) {
  std::vector<int64_t> values;
  if (spdc_status_t s = symbolValues(fn, values))
    return s;
  auto it = std::find_if(states.begin(), states.end(), [&](const std::unique_ptr<ShapeState> &st) {
    return st->symbols == values;
  });
  if (it != states.end()) {
    std::rotate(states.begin(), it, it + 1);
  } else {
    auto st = std::make_unique<ShapeState>();
    st->symbols = values;
    if (std::string e = bundle::instantiatePlan(plan, values, weightsSize, st->plan); !e.empty())
      return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": " + where() + e);
    if (spdc_status_t s = prepareGemms(*st)) {
      dropState(*st);
      return s;
    }
    states.insert(states.begin(), std::move(st));
    while (states.size() > kMaxShapeStates) {
      dropState(*states.back());
      states.pop_back();
    }
  }
  cur = states.front().get();
  if (spdc_status_t s =
          grow(arena, arenaCapacity, uint64_t(int64_t(cur->plan.arenaBytes)), "arena"))
    return s;
  uint64_t stagingBytes = 0;
  for (size_t i = 0; i < cur->plan.inputs.size(); ++i) {
    inputSlot[i] = stagingBytes;
    stagingBytes += alignUp(tensorBytes(cur->plan.inputs[i]), kDeviceAlign);
  }
  for (size_t i = 0; i < cur->plan.outputs.size(); ++i) {
    outputSlot[i] = stagingBytes;
    stagingBytes += alignUp(tensorBytes(cur->plan.outputs[i]), kDeviceAlign);
  }
  return grow(staging, stagingCapacity, stagingBytes, "input/output staging");
}

/// What every run does first: the instance of the current shapes, and bindings that fit it.
spdc_status_t spdc_model_t::prepareRun(const char *fn) {
  if (spdc_status_t s = ctx->makeCurrent())
    return s;
  if (spdc_status_t s = selectState(fn))
    return s;
  return checkBound();
}

bool spdc_model_t::encodeTensorMap(const bundle::KernelArg &arg, CUdeviceptr base,
                                   CUtensorMap &map) const {
  const bundle::TensorMap &m = arg.map;
  CUtensorMapDataType type = m.type == bundle::ElementType::F16    ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                             : m.type == bundle::ElementType::BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                                                   : CU_TENSOR_MAP_DATA_TYPE_FLOAT32;
  CUtensorMapSwizzle swizzle = m.swizzle == 128  ? CU_TENSOR_MAP_SWIZZLE_128B
                               : m.swizzle == 64 ? CU_TENSOR_MAP_SWIZZLE_64B
                               : m.swizzle == 32 ? CU_TENSOR_MAP_SWIZZLE_32B
                                                 : CU_TENSOR_MAP_SWIZZLE_NONE;
  cuuint64_t dims[bundle::TensorMap::kMaxRank], strides[bundle::TensorMap::kMaxRank - 1];
  cuuint32_t box[bundle::TensorMap::kMaxRank], elementStrides[bundle::TensorMap::kMaxRank];
  for (uint32_t d = 0; d < m.rank; ++d) {
    if (int64_t(m.dims[d]) <= 0 || (d && int64_t(m.strides[d - 1]) <= 0))
      return false;
    dims[d] = cuuint64_t(int64_t(m.dims[d]));
    if (d)
      strides[d - 1] = cuuint64_t(int64_t(m.strides[d - 1]));
    box[d] = m.box[d];
    elementStrides[d] = 1;
  }
  return d->tensorMapEncodeTiled(&map, type, m.rank, reinterpret_cast<void *>(base), dims,
                                 strides, box, elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                 swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                 CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

spdc_status_t spdc_model_t::enqueueStep(size_t i, CUstream s) {
  const bundle::Plan &plan = cur->plan;
  const bundle::Step &step = plan.steps[i];
  auto stepFail = [&](spdc_status_t status, const std::string &what) {
    return fail(status, where() + "step " + std::to_string(i) + " ('" + step.label + "'): " + what);
  };
  // An output bound pitched takes its padded rows in place: its write step writes there, and
  // its pack step has nothing to do.
  const bundle::BufferRef *padded = nullptr;
  CUdeviceptr pitchedAddress = 0;
  for (const bundle::PitchedOutput &po : plan.pitchedOutputs) {
    if (!outputs[po.output].rowPitch)
      continue;
    if (i == po.packStep)
      return SPDC_STATUS_OK;
    if (i == po.writeStep)
      padded = &po.padded, pitchedAddress = outputAddress(po.output);
  }
  auto resolve = [&](const bundle::BufferRef &r) {
    if (padded && r.space == padded->space && int64_t(r.offset) == int64_t(padded->offset))
      return pitchedAddress;
    return this->resolve(r);
  };
  switch (step.kind) {
  case bundle::Step::Kind::Launch: {
    const bundle::Launch &l = plan.launches[step.index];
    // Values first, then pointers to them: cuLaunchKernelEx copies the arguments.
    std::vector<uint64_t> values(l.args.size());
    std::vector<void *> params(l.args.size() + l.specialArgs.size());
    for (size_t a = 0; a < l.args.size(); ++a) {
      const bundle::KernelArg &arg = l.args[a];
      switch (arg.kind) {
      case bundle::KernelArg::Kind::Buffer:
        values[a] = resolve(arg.buffer);
        break;
      case bundle::KernelArg::Kind::I64: {
        int64_t v = arg.i64;
        std::memcpy(&values[a], &v, 8);
        break;
      }
      case bundle::KernelArg::Kind::F32:
        std::memcpy(&values[a], &arg.f32, 4);
        break;
      case bundle::KernelArg::Kind::TensorMap:
        break; // only among specialArgs (the plan is validated)
      }
      params[a] = &values[a];
    }
    // The special kernel's tensor maps, or the portable kernel where one cannot be encoded.
    uint32_t kernel = l.kernel, sharedBytes = l.sharedBytes;
    std::vector<CUtensorMap> maps(l.specialArgs.size());
    for (size_t a = 0; a < l.specialArgs.size(); ++a) {
      if (!encodeTensorMap(l.specialArgs[a], resolve(l.specialArgs[a].buffer), maps[a])) {
        kernel = l.specialKernel, sharedBytes = l.specialSharedBytes;
        params.resize(l.args.size());
        break;
      }
      params[l.args.size() + a] = &maps[a];
    }
    // Grid dimensions are constants of the instance, validated to fit 32 bits; a persistent
    // kernel gets at most blocksPerSM blocks per SM.
    unsigned grid[3] = {unsigned(int64_t(l.grid[0])), unsigned(int64_t(l.grid[1])),
                        unsigned(int64_t(l.grid[2]))};
    const uint64_t persistent = uint64_t(l.blocksPerSM) * uint64_t(ctx->multiprocessors);
    if (persistent && uint64_t(grid[0]) * grid[1] * grid[2] > persistent)
      grid[0] = unsigned(persistent), grid[1] = grid[2] = 1;
    // Programmatic dependent launch (ctx->dependentLaunch: sm_90+ and the option) for kernels
    // that allow it: their blocks may be scheduled once every block of the previous kernel has
    // started, and wait in gridDependencySync for its results. Stream capture records it as a
    // programmatic graph edge. Without the attribute this is an ordinary launch.
    // The special kernel (load() made it `kernel`) in its thread block clusters, if it has any.
    CUlaunchAttribute attrs[2] = {};
    unsigned numAttrs = 0;
    if (ctx->dependentLaunch && l.dependentLaunch) {
      attrs[numAttrs].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
      attrs[numAttrs++].value.programmaticStreamSerializationAllowed = 1;
    }
    if (kernel == l.kernel && clusters[step.index]) {
      attrs[numAttrs].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
      attrs[numAttrs].value.clusterDim.x = clusters[step.index];
      attrs[numAttrs].value.clusterDim.y = 1;
      attrs[numAttrs++].value.clusterDim.z = 1;
    }
    CUlaunchConfig config{};
    config.gridDimX = grid[0], config.gridDimY = grid[1], config.gridDimZ = grid[2];
    config.blockDimX = l.block[0], config.blockDimY = l.block[1], config.blockDimZ = l.block[2];
    config.sharedMemBytes = sharedBytes;
    config.hStream = s;
    config.attrs = attrs;
    config.numAttrs = numAttrs;
    CUresult r = d->launchKernelEx(&config, functions[kernel],
                                   params.empty() ? nullptr : params.data(), nullptr);
    if (r != CUDA_SUCCESS)
      return stepFail(
          SPDC_STATUS_CUDA_ERROR,
          d->error(r, ("cuLaunchKernelEx('" + plan.kernelNames[kernel] + "')").c_str()));
    return SPDC_STATUS_OK;
  }
  case bundle::Step::Kind::Gemm: {
    const bundle::Gemm &g = plan.gemms[step.index];
    GemmPlan &gp = cur->gemmPlans[step.index];
    if (!gp.tuned && !capturing) {
      // The first eager run times cuBLASLt's candidates on the real operands (once per shape).
      std::string e = gemm->tune(*d, g, gp, resolve(g.a), resolve(g.b), resolve(g.c),
                                 resolve(g.d), resolve(g.bias), workspace, s);
      if (!e.empty())
        return stepFail(SPDC_STATUS_CUDA_ERROR, e);
    }
    std::string e = gemm->run(g, gp, resolve(g.a), resolve(g.b), resolve(g.c), resolve(g.d),
                              resolve(g.bias), workspace, s);
    if (!e.empty())
      return stepFail(SPDC_STATUS_CUDA_ERROR, e);
    return SPDC_STATUS_OK;
  }
  case bundle::Step::Kind::Copy: {
    const bundle::Copy &c = plan.copies[step.index];
    uint64_t bytes = uint64_t(int64_t(c.bytes));
    if (bytes == 0)
      return SPDC_STATUS_OK;
    if (CUresult r = d->memcpyDtoDAsync(resolve(c.dst), resolve(c.src), bytes, s);
        r != CUDA_SUCCESS)
      return stepFail(SPDC_STATUS_CUDA_ERROR, d->error(r, "cuMemcpyDtoDAsync"));
    return SPDC_STATUS_OK;
  }
  }
  return stepFail(SPDC_STATUS_INTERNAL, "unknown step kind");
}

spdc_status_t spdc_model_t::enqueueSteps(CUstream s, const std::vector<CUevent> *events) {
  for (size_t i = 0; i < cur->plan.steps.size(); ++i) {
    if (events)
      if (CUresult r = d->eventRecord((*events)[i], s); r != CUDA_SUCCESS)
        return cudaFail(r, "cuEventRecord");
    if (spdc_status_t st = enqueueStep(i, s))
      return st;
  }
  if (events)
    if (CUresult r = d->eventRecord(events->back(), s); r != CUDA_SUCCESS)
      return cudaFail(r, "cuEventRecord");
  return SPDC_STATUS_OK;
}

/// Every input and output bound, to as many bytes as the current shapes take (a binding made
/// before the shapes changed must be made again).
spdc_status_t spdc_model_t::checkBound() const {
  for (bool input : {true, false}) {
    const std::vector<Binding> &bindings = input ? inputs : outputs;
    const std::vector<bundle::TensorInfo> &ts = input ? cur->plan.inputs : cur->plan.outputs;
    for (size_t i = 0; i < bindings.size(); ++i) {
      std::string name = tensorName(input ? "input" : "output", i, ts[i]);
      if (!bindings[i].bound)
        return fail(SPDC_STATUS_FAILED_PRECONDITION, where() + name + " is not bound");
      if (uint64_t want = tensorBytes(ts[i], bindings[i].rowPitch); bindings[i].bytes != want) {
        std::vector<int64_t> dims(ts[i].shape.begin(), ts[i].shape.end());
        return fail(SPDC_STATUS_FAILED_PRECONDITION,
                    where() + name + " is bound to " + std::to_string(bindings[i].bytes) +
                        " bytes, its current shape " + shapeString(dims) + " takes " +
                        std::to_string(want) + ": bind it again");
      }
    }
  }
  return SPDC_STATUS_OK;
}

spdc_status_t spdc_model_t::copyInputs(CUstream s) {
  const bundle::Plan &plan = cur->plan;
  for (size_t i = 0; i < inputs.size(); ++i) {
    uint64_t bytes = tensorBytes(plan.inputs[i]);
    if (inputs[i].memory != SPDC_MEMORY_HOST || bytes == 0)
      continue;
    if (CUresult r = d->memcpyHtoDAsync(staging + inputSlot[i], inputs[i].host, bytes, s);
        r != CUDA_SUCCESS)
      return cudaFail(r, "cuMemcpyHtoDAsync(" + tensorName("input", i, plan.inputs[i]) + ")");
  }
  return SPDC_STATUS_OK;
}

spdc_status_t spdc_model_t::copyOutputs(CUstream s) {
  const bundle::Plan &plan = cur->plan;
  for (size_t i = 0; i < outputs.size(); ++i) {
    uint64_t bytes = tensorBytes(plan.outputs[i]);
    if (outputs[i].memory != SPDC_MEMORY_HOST || bytes == 0)
      continue;
    if (CUresult r = d->memcpyDtoHAsync(outputs[i].hostOut, staging + outputSlot[i], bytes, s);
        r != CUDA_SUCCESS)
      return cudaFail(r, "cuMemcpyDtoHAsync(" + tensorName("output", i, plan.outputs[i]) + ")");
  }
  return SPDC_STATUS_OK;
}

/// Issues one run on `s`: input copies, the steps (eagerly, captured or replayed) and output
/// copies; no synchronization.
spdc_status_t spdc_model_t::issue(CUstream s) {
  if (spdc_status_t st = copyInputs(s))
    return st;
  if (ctx->useGraphs) {
    std::vector<CUdeviceptr> key;
    for (uint32_t i = 0; i < inputs.size(); ++i)
      key.push_back(inputAddress(i));
    for (uint32_t i = 0; i < outputs.size(); ++i)
      key.push_back(outputAddress(i));
    for (const Binding &b : outputs)
      key.push_back(CUdeviceptr(b.rowPitch));
    // Per shape: its own graph, captured on the second run with the same addresses.
    if (cur->graph && key == cur->graphKey) {
      if (CUresult r = d->graphLaunch(cur->graph, s); r != CUDA_SUCCESS)
        return cudaFail(r, "cuGraphLaunch");
    } else if (key == cur->warmKey) {
      // Second run with these addresses: capture, then replay from now on. (The first ran
      // eagerly, so lazy module loading and cuBLASLt's first-call setup and tuning happen
      // outside capture.)
      cur->graphKey.clear();
      if (spdc_status_t st = capture())
        return st;
      cur->graphKey = std::move(key);
      if (CUresult r = d->graphLaunch(cur->graph, s); r != CUDA_SUCCESS)
        return cudaFail(r, "cuGraphLaunch");
    } else {
      if (spdc_status_t st = enqueueSteps(s, nullptr))
        return st;
      cur->warmKey = std::move(key);
    }
  } else if (spdc_status_t st = enqueueSteps(s, nullptr)) {
    return st;
  }
  if (spdc_status_t st = copyOutputs(s))
    return st;
  return SPDC_STATUS_OK;
}

/// Captures the steps into a graph on the model's own stream (nothing executes during capture);
/// the graph is then launched on whatever stream the run uses.
spdc_status_t spdc_model_t::capture() {
  if (cur->graph) {
    d->graphExecDestroy(cur->graph);
    cur->graph = nullptr;
  }
  if (CUresult r = d->streamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
      r != CUDA_SUCCESS)
    return cudaFail(r, "cuStreamBeginCapture");
  capturing = true;
  spdc_status_t status = enqueueSteps(stream, nullptr);
  capturing = false;
  CUgraph g = nullptr;
  CUresult r = d->streamEndCapture(stream, &g); // always end, so the stream leaves capture mode
  if (status != SPDC_STATUS_OK) {
    if (g)
      d->graphDestroy(g);
    return status;
  }
  if (r != CUDA_SUCCESS)
    return cudaFail(r, "cuStreamEndCapture");
  r = d->graphInstantiate(&cur->graph, g, 0);
  d->graphDestroy(g);
  if (r != CUDA_SUCCESS) {
    cur->graph = nullptr;
    return cudaFail(r, "cuGraphInstantiate");
  }
  return SPDC_STATUS_OK;
}

/// The C API's model queries: checks `out` and `model` (naming `fn` and the argument in the
/// error), clears *out first, then stores get(*model).
template <class T, class Get>
spdc_status_t queryModel(const char *fn, const char *outName, const spdc_model_t *model, T *out,
                         T cleared, Get &&get) {
  if (!out)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": " + outName + " is NULL");
  *out = cleared;
  if (!model)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": model is NULL");
  *out = get(*model);
  return SPDC_STATUS_OK;
}

namespace {
/// The file checks of spdc_model_load and spdc_bundle_validate: `path` exists and reads as a
/// valid bundle (readBundle's checks) into `loaded`.
spdc_status_t readBundleFile(const char *path, bundle::LoadedBundle &loaded) {
  struct stat st;
  if (::stat(path, &st) != 0)
    return fail(errno == ENOENT ? SPDC_STATUS_NOT_FOUND : SPDC_STATUS_INVALID_ARGUMENT,
                std::string(path) + ": " + std::strerror(errno));
  if (std::string e = bundle::readBundle(path, loaded); !e.empty())
    return fail(SPDC_STATUS_INVALID_BUNDLE, e);
  return SPDC_STATUS_OK;
}
} // namespace

extern "C" {

spdc_status_t spdc_bundle_validate(const char *bundle_path) {
  if (!bundle_path)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_bundle_validate: bundle_path is NULL");
  return guarded("spdc_bundle_validate", [&] {
    bundle::LoadedBundle loaded;
    return readBundleFile(bundle_path, loaded);
  });
}

spdc_status_t spdc_model_load(spdc_context_t *context, const char *bundle_path,
                              spdc_model_t **out_model) {
  if (!out_model)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_load: out_model is NULL");
  *out_model = nullptr;
  if (!context)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_load: context is NULL");
  if (!bundle_path)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_load: bundle_path is NULL");
  return guarded("spdc_model_load", [&] {
    bundle::LoadedBundle loaded;
    if (spdc_status_t s = readBundleFile(bundle_path, loaded))
      return s;
    if (spdc_status_t s = context->makeCurrent())
      return s;

    auto model = std::make_unique<spdc_model_t>();
    spdc_context_retain(context);
    model->ctx = context;
    model->d = context->driver;
    model->path = bundle_path;
    model->plan = std::move(loaded.plan);
    model->weightsSize = loaded.weightsSize;
    if (spdc_status_t s = model->load())
      return s;
    // Weights: uploaded once, synchronously, straight from the mapped file; the mapping is
    // dropped afterwards so the page cache can let it go.
    if (spdc_status_t s = model->allocate(model->weights, loaded.weightsSize, "weights"))
      return s;
    if (loaded.weightsSize)
      if (CUresult r = model->d->memcpyHtoD(model->weights, loaded.weights, loaded.weightsSize);
          r != CUDA_SUCCESS)
        return model->cudaFail(r, "cuMemcpyHtoD(weights, " + std::to_string(loaded.weightsSize) +
                                      " bytes)");
    *out_model = model.release();
    return SPDC_STATUS_OK;
  });
}

void spdc_model_retain(spdc_model_t *model) {
  if (model)
    model->refs.fetch_add(1, std::memory_order_relaxed);
}

void spdc_model_release(spdc_model_t *model) {
  if (model && model->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete model;
}

spdc_status_t spdc_model_code_origin(const spdc_model_t *model, const char **out_origin) {
  return queryModel("spdc_model_code_origin", "out_origin", model, out_origin,
                    static_cast<const char *>(nullptr),
                    [](const spdc_model_t &m) { return m.codeOrigin.c_str(); });
}

spdc_status_t spdc_model_input_count(const spdc_model_t *model, size_t *out_count) {
  return queryModel("spdc_model_input_count", "out_count", model, out_count, size_t(0),
                    [](const spdc_model_t &m) { return m.plan.inputs.size(); });
}

spdc_status_t spdc_model_output_count(const spdc_model_t *model, size_t *out_count) {
  return queryModel("spdc_model_output_count", "out_count", model, out_count, size_t(0),
                    [](const spdc_model_t &m) { return m.plan.outputs.size(); });
}

static spdc_status_t tensorInfo(const char *fn, const spdc_model_t *model, bool input, size_t index,
                                spdc_tensor_info_t *out_info) {
  if (!out_info)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": out_info is NULL");
  std::memset(out_info, 0, sizeof *out_info);
  if (!model)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": model is NULL");
  const auto &list = input ? model->plan.inputs : model->plan.outputs;
  if (index >= list.size())
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": index " + std::to_string(index) +
                                                  " out of range (" + std::to_string(list.size()) +
                                                  ")");
  const bundle::TensorInfo &t = list[index];
  out_info->name = t.name.c_str();
  out_info->dtype = spdc_dtype_t(t.type);
  out_info->rank = t.shape.size();
  out_info->dims = (input ? model->inputDims : model->outputDims)[index].data();
  out_info->bytes = tensorBytes(t);
  return SPDC_STATUS_OK;
}

spdc_status_t spdc_model_input_info(const spdc_model_t *model, size_t index,
                                    spdc_tensor_info_t *out_info) {
  return tensorInfo("spdc_model_input_info", model, true, index, out_info);
}

spdc_status_t spdc_model_output_info(const spdc_model_t *model, size_t index,
                                     spdc_tensor_info_t *out_info) {
  return tensorInfo("spdc_model_output_info", model, false, index, out_info);
}

/// Binds an input or output; rowPitch != 0 binds an output pitched (device memory).
static spdc_status_t bind(const char *fn, spdc_model_t *model, bool input, size_t index,
                          const void *data, spdc_memory_t memory, size_t bytes,
                          int64_t rowPitch = 0) {
  if (!model)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": model is NULL");
  const auto &list = input ? model->plan.inputs : model->plan.outputs;
  if (index >= list.size())
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": index " + std::to_string(index) +
                                                  " out of range (" + std::to_string(list.size()) +
                                                  ")");
  std::string name = tensorName(input ? "input" : "output", index, list[index]);
  if (memory != SPDC_MEMORY_HOST && memory != SPDC_MEMORY_DEVICE)
    return fail(SPDC_STATUS_INVALID_ARGUMENT,
                std::string(fn) + ": " + name + ": unknown memory kind " + std::to_string(memory));
  // The size of the current shape: an input's as set, an output's as the inputs' imply.
  std::vector<int64_t> dims;
  if (input && !model->shapeSet[index])
    return fail(SPDC_STATUS_INVALID_ARGUMENT,
                std::string(fn) + ": " + name +
                    " has dynamic dimensions: set its shape with spdc_model_set_input_shape first");
  if (input)
    dims = model->inputShapes[index];
  else if (spdc_status_t s = model->outputShape(fn, index, dims))
    return s;
  uint64_t expected = 0;
  std::string layout;
  if (rowPitch) {
    if (int64_t pitch = model->rowPitch(index); rowPitch != pitch)
      return fail(SPDC_STATUS_INVALID_ARGUMENT,
                  std::string(fn) + ": " + name +
                      (pitch ? " has rows " + std::to_string(pitch) + " elements apart, got " +
                                   std::to_string(rowPitch)
                             : " has no pitched layout (spdc_model_output_row_pitch gives 0)"));
    dims.back() = rowPitch; // the rows as the model writes them
    layout = " in rows of " + std::to_string(rowPitch);
  }
  if (!bytesOf(list[index].type, dims, expected))
    return fail(SPDC_STATUS_INVALID_ARGUMENT,
                std::string(fn) + ": " + name + " of shape " + shapeString(dims) + " is too large");
  if (bytes != expected)
    return fail(SPDC_STATUS_INVALID_ARGUMENT,
                std::string(fn) + ": " + name + " " + shapeString(dims) + layout + " is " +
                    std::to_string(expected) + " bytes, got " + std::to_string(bytes));
  if (!data && bytes)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": " + name + ": data is NULL");
  // Pitched rows replace an arena buffer, whose alignment the matmul that writes them was
  // planned for.
  const uint64_t align = rowPitch ? kDeviceAlign : kBoundAlign;
  if (memory == SPDC_MEMORY_DEVICE && reinterpret_cast<uintptr_t>(data) % align)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": " + name +
                                                  ": device pointer not " +
                                                  std::to_string(align) + "-byte aligned");
  Binding &b = (input ? model->inputs : model->outputs)[index];
  b.bound = true;
  b.memory = memory;
  b.host = memory == SPDC_MEMORY_HOST ? data : nullptr;
  b.hostOut = memory == SPDC_MEMORY_HOST ? const_cast<void *>(data) : nullptr;
  b.device = memory == SPDC_MEMORY_DEVICE ? CUdeviceptr(reinterpret_cast<uintptr_t>(data)) : 0;
  b.bytes = bytes;
  b.rowPitch = rowPitch;
  return SPDC_STATUS_OK;
}

spdc_status_t spdc_model_set_input_shape(spdc_model_t *model, size_t index, const int64_t *dims,
                                         size_t rank) {
  const char *fn = "spdc_model_set_input_shape";
  if (!model)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": model is NULL");
  if (index >= model->plan.inputs.size())
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": index " + std::to_string(index) +
                                                  " out of range (" +
                                                  std::to_string(model->plan.inputs.size()) + ")");
  if (rank && !dims)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": dims is NULL");
  return guarded(fn, [&] {
    const bundle::TensorInfo &t = model->plan.inputs[index];
    std::string name = tensorName("input", index, t);
    if (rank != t.shape.size())
      return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": " + name + " has rank " +
                                                    std::to_string(t.shape.size()) + ", got " +
                                                    std::to_string(rank));
    std::vector<int64_t> shape(dims, dims + rank);
    for (size_t i = 0; i < rank; ++i) {
      if (shape[i] < 0)
        return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": " + name + " dimension " +
                                                      std::to_string(i) + " is " +
                                                      std::to_string(shape[i]));
      if (!t.shape[i].isDynamic() && shape[i] != t.shape[i].value)
        return fail(SPDC_STATUS_INVALID_ARGUMENT,
                    std::string(fn) + ": " + name + " dimension " + std::to_string(i) + " is " +
                        std::to_string(t.shape[i].value) + " in the model, got " +
                        std::to_string(shape[i]));
    }
    uint64_t bytes = 0;
    if (!bytesOf(t.type, shape, bytes))
      return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(fn) + ": " + name + " of shape " +
                                                    shapeString(shape) + " is too large");
    model->inputShapes[index] = std::move(shape);
    model->shapeSet[index] = true;
    return SPDC_STATUS_OK;
  });
}

spdc_status_t spdc_model_bind_input(spdc_model_t *model, size_t index, const void *data,
                                    spdc_memory_t memory, size_t bytes) {
  return bind("spdc_model_bind_input", model, true, index, data, memory, bytes);
}

spdc_status_t spdc_model_bind_output(spdc_model_t *model, size_t index, void *data,
                                     spdc_memory_t memory, size_t bytes) {
  return bind("spdc_model_bind_output", model, false, index, data, memory, bytes);
}

spdc_status_t spdc_model_output_row_pitch(const spdc_model_t *model, size_t index,
                                          int64_t *out_row_pitch) {
  const char *fn = "spdc_model_output_row_pitch";
  if (spdc_status_t s = queryModel(fn, "out_row_pitch", model, out_row_pitch, int64_t(0),
                                   [](const spdc_model_t &) { return int64_t(0); }))
    return s;
  if (index >= model->plan.outputs.size())
    return fail(SPDC_STATUS_INVALID_ARGUMENT,
                std::string(fn) + ": index " + std::to_string(index) + " out of range (" +
                    std::to_string(model->plan.outputs.size()) + ")");
  *out_row_pitch = model->rowPitch(index);
  return SPDC_STATUS_OK;
}

spdc_status_t spdc_model_bind_output_pitched(spdc_model_t *model, size_t index, void *data,
                                             size_t bytes, int64_t row_pitch) {
  const char *fn = "spdc_model_bind_output_pitched";
  if (row_pitch <= 0)
    return fail(SPDC_STATUS_INVALID_ARGUMENT,
                std::string(fn) + ": row_pitch " + std::to_string(row_pitch) + " is not positive");
  return bind(fn, model, false, index, data, SPDC_MEMORY_DEVICE, bytes, row_pitch);
}

spdc_status_t spdc_model_run(spdc_model_t *model, spdc_cuda_stream_t stream) {
  if (!model)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_run: model is NULL");
  return guarded("spdc_model_run", [&] {
    if (spdc_status_t s = model->prepareRun("spdc_model_run"))
      return s;
    CUstream s = stream ? reinterpret_cast<CUstream>(stream) : model->stream;
    if (spdc_status_t st = model->issue(s))
      return st;
    if (!stream)
      if (CUresult r = model->d->streamSynchronize(s); r != CUDA_SUCCESS)
        return model->cudaFail(r, "cuStreamSynchronize (end of run)");
    return SPDC_STATUS_OK;
  });
}

spdc_status_t spdc_model_output_shape(const spdc_model_t *model, size_t index, int64_t *dims,
                                      size_t capacity, size_t *out_rank) {
  if (!out_rank)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_output_shape: out_rank is NULL");
  *out_rank = 0;
  if (!model)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_output_shape: model is NULL");
  if (index >= model->plan.outputs.size())
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_output_shape: index " +
                                                  std::to_string(index) + " out of range (" +
                                                  std::to_string(model->plan.outputs.size()) + ")");
  if (capacity && !dims)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_output_shape: dims is NULL");
  return guarded("spdc_model_output_shape", [&] {
    std::vector<int64_t> shape;
    if (spdc_status_t s = model->outputShape("spdc_model_output_shape", index, shape))
      return s;
    for (size_t i = 0; i < shape.size() && i < capacity; ++i)
      dims[i] = shape[i];
    *out_rank = shape.size();
    return SPDC_STATUS_OK;
  });
}

spdc_status_t spdc_model_step_count(const spdc_model_t *model, size_t *out_count) {
  return queryModel("spdc_model_step_count", "out_count", model, out_count, size_t(0),
                    [](const spdc_model_t &m) { return m.plan.steps.size(); });
}

namespace {
/// spdc_model_time and spdc_model_time_flushed: `iterations` runs issued back to back, each
/// between two events, optionally after writing `flushBytes` of scratch (not timed).
spdc_status_t timeRuns(const char *api, spdc_model_t *model, int iterations, size_t flushBytes,
                       float *out_ms) {
  if (!model)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(api) + ": model is NULL");
  if (iterations < 1)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(api) + ": iterations must be >= 1");
  if (!out_ms)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, std::string(api) + ": out_ms is NULL");
  return guarded(api, [&] {
    if (spdc_status_t s = model->prepareRun(api))
      return s;
    const Driver *d = model->d;
    CUstream s = model->stream;
    // Back to back, run i ends where run i + 1 starts: iterations + 1 events. Flushed, each run
    // has its own pair, so that the scratch writes between them are not timed.
    const size_t pairs = flushBytes ? size_t(iterations) : 0;
    std::vector<CUevent> events(size_t(iterations) + 1 + pairs, nullptr);
    CUdeviceptr scratch = 0;
    auto release = [&] {
      for (CUevent e : events)
        if (e)
          d->eventDestroy(e);
      if (scratch)
        d->memFree(scratch);
    };
    for (CUevent &e : events)
      if (CUresult r = d->eventCreate(&e, CU_EVENT_DEFAULT); r != CUDA_SUCCESS) {
        release();
        return model->cudaFail(r, "cuEventCreate");
      }
    const size_t words = (flushBytes + 3) / 4;
    if (flushBytes)
      if (CUresult r = d->memAlloc(&scratch, words * 4); r != CUDA_SUCCESS) {
        release();
        return model->cudaFail(r, "cuMemAlloc(" + std::to_string(flushBytes) +
                                      " bytes of cache-flush scratch)");
      }
    auto start = [&](int i) { return events[flushBytes ? 2 * size_t(i) : size_t(i)]; };
    auto stop = [&](int i) { return events[flushBytes ? 2 * size_t(i) + 1 : size_t(i) + 1]; };
    spdc_status_t status = SPDC_STATUS_OK;
    CUresult r = CUDA_SUCCESS;
    for (int i = 0; i < iterations && r == CUDA_SUCCESS && status == SPDC_STATUS_OK; ++i) {
      if (flushBytes)
        r = d->memsetD32Async(scratch, unsigned(i), words, s);
      if (r == CUDA_SUCCESS && (flushBytes || i == 0))
        r = d->eventRecord(start(i), s);
      if (r != CUDA_SUCCESS)
        break;
      status = model->issue(s);
      if (status == SPDC_STATUS_OK)
        r = d->eventRecord(stop(i), s);
    }
    if (r == CUDA_SUCCESS)
      r = d->streamSynchronize(s);
    for (int i = 0; i < iterations && r == CUDA_SUCCESS && status == SPDC_STATUS_OK; ++i)
      r = d->eventElapsedTime(&out_ms[i], start(i), stop(i));
    release();
    if (status != SPDC_STATUS_OK)
      return status;
    if (r != CUDA_SUCCESS)
      return model->cudaFail(r, "timing runs");
    return SPDC_STATUS_OK;
  });
}
} // namespace

spdc_status_t spdc_model_time(spdc_model_t *model, int iterations, float *out_ms) {
  return timeRuns("spdc_model_time", model, iterations, 0, out_ms);
}

spdc_status_t spdc_model_time_flushed(spdc_model_t *model, int iterations, size_t flush_bytes,
                                      float *out_ms) {
  return timeRuns("spdc_model_time_flushed", model, iterations, flush_bytes, out_ms);
}

spdc_status_t spdc_model_profile(spdc_model_t *model, int iterations, spdc_profile_entry_t *entries,
                                 size_t capacity, double *out_total_ms) {
  if (out_total_ms)
    *out_total_ms = 0;
  if (!model)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_profile: model is NULL");
  if (iterations < 1)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_profile: iterations must be >= 1");
  if (capacity && !entries)
    return fail(SPDC_STATUS_INVALID_ARGUMENT, "spdc_model_profile: entries is NULL");
  return guarded("spdc_model_profile", [&] {
    if (spdc_status_t s = model->prepareRun("spdc_model_profile"))
      return s;
    const Driver *d = model->d;
    size_t steps = model->plan.steps.size();
    std::vector<CUevent> events(steps + 1, nullptr);
    struct EventGuard {
      const Driver *d;
      std::vector<CUevent> &events;
      ~EventGuard() {
        for (CUevent e : events)
          if (e)
            d->eventDestroy(e);
      }
    } guard{d, events};
    for (CUevent &e : events)
      if (CUresult r = d->eventCreate(&e, CU_EVENT_DEFAULT); r != CUDA_SUCCESS)
        return model->cudaFail(r, "cuEventCreate");

    CUstream s = model->stream;
    std::vector<double> sum(steps, 0), best(steps, 1e30), fastestStart(steps, 0), totals;
    double fastest = 1e30;
    // One warm-up iteration (first-touch costs, cuBLASLt lazy initialization) is not counted.
    for (int it = -1; it < iterations; ++it) {
      if (spdc_status_t st = model->copyInputs(s))
        return st;
      if (spdc_status_t st = model->enqueueSteps(s, &events))
        return st;
      if (spdc_status_t st = model->copyOutputs(s))
        return st;
      if (CUresult r = d->streamSynchronize(s); r != CUDA_SUCCESS)
        return model->cudaFail(r, "cuStreamSynchronize (profile)");
      if (it < 0)
        continue;
      std::vector<double> start(steps, 0);
      for (size_t i = 0; i < steps; ++i) {
        float ms = 0, offset = 0;
        if (CUresult r = d->eventElapsedTime(&ms, events[i], events[i + 1]); r != CUDA_SUCCESS)
          return model->cudaFail(r, "cuEventElapsedTime");
        if (CUresult r = d->eventElapsedTime(&offset, events[0], events[i]); r != CUDA_SUCCESS)
          return model->cudaFail(r, "cuEventElapsedTime");
        sum[i] += ms;
        best[i] = std::min(best[i], double(ms));
        start[i] = offset;
      }
      float total = 0;
      if (CUresult r = d->eventElapsedTime(&total, events[0], events[steps]); r != CUDA_SUCCESS)
        return model->cudaFail(r, "cuEventElapsedTime");
      totals.push_back(total);
      if (total < fastest) {
        fastest = total;
        fastestStart = start;
      }
    }
    for (size_t i = 0; i < steps && i < capacity; ++i) {
      spdc_profile_entry_t &e = entries[i];
      const bundle::Step &step = model->plan.steps[i];
      e.label = step.label.c_str();
      e.kind = step.kind == bundle::Step::Kind::Launch ? "kernel"
               : step.kind == bundle::Step::Kind::Gemm ? "gemm"
                                                       : "copy";
      e.name = model->stepNames[i].c_str();
      e.start_ms = fastestStart[i];
      e.mean_ms = sum[i] / iterations;
      e.min_ms = best[i];
    }
    if (out_total_ms) {
      std::sort(totals.begin(), totals.end());
      *out_total_ms = totals[totals.size() / 2];
    }
    return SPDC_STATUS_OK;
  });
}

} // extern "C"
