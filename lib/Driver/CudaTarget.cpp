//===- CudaTarget.cpp - running bundles through libspdcrt -----------------===//
//
// The GPU side of `spdc run`, `spdc bench` and `spdc test --target=cuda`: everything goes
// through the public C API (include/spdc/runtime.h), exactly as an embedding application would.
//
//===----------------------------------------------------------------------===//

#include "CudaTarget.h"

#include "spdc/runtime.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>
#include <memory>

using namespace spdc;
using llvm::Error;
using llvm::Expected;

namespace {

Error apiError(spdc_status_t status, llvm::StringRef what) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 what + ": " + spdc_status_string(status) + ": " +
                                     spdc_last_error());
}

/// bundle element types and interpreter dtypes, both ways.
std::optional<DType> toDType(spdc_dtype_t t) {
  switch (t) {
  case SPDC_DTYPE_F32: return DType::F32;
  case SPDC_DTYPE_F16: return DType::F16;
  case SPDC_DTYPE_BF16: return DType::BF16;
  case SPDC_DTYPE_F64: return DType::F64;
  case SPDC_DTYPE_I64: return DType::I64;
  case SPDC_DTYPE_I32: return DType::I32;
  case SPDC_DTYPE_I16: return DType::I16;
  case SPDC_DTYPE_I8: return DType::I8;
  case SPDC_DTYPE_U8: return DType::U8;
  case SPDC_DTYPE_U16: return DType::U16;
  case SPDC_DTYPE_U32: return DType::U32;
  case SPDC_DTYPE_U64: return DType::U64;
  case SPDC_DTYPE_BOOL: return DType::Bool;
  }
  return std::nullopt;
}

struct ContextDeleter {
  void operator()(spdc_context_t *c) const { spdc_context_release(c); }
};
struct ModelDeleter {
  void operator()(spdc_model_t *m) const { spdc_model_release(m); }
};

} // namespace

struct CudaSession::Impl {
  std::unique_ptr<spdc_context_t, ContextDeleter> context;
  std::unique_ptr<spdc_model_t, ModelDeleter> model;
  std::vector<Tensor> inputs, outputs;
  /// Device buffers of device-resident bindings (inputs, then outputs).
  std::vector<void *> deviceInputs, deviceOutputs;
  /// Per output: the pitch of its rows where it is bound pitched, else 0.
  std::vector<int64_t> outputPitch;

  void freeDevice() {
    for (std::vector<void *> *list : {&deviceInputs, &deviceOutputs}) {
      for (void *p : *list)
        spdc_device_free(context.get(), p);
      list->clear();
    }
  }
  ~Impl() {
    model.reset(); // before the buffers it may still be using
    freeDevice();
  }
};

CudaSession::CudaSession() : impl(std::make_unique<Impl>()) {}
CudaSession::~CudaSession() = default;

Expected<std::unique_ptr<CudaSession>>
CudaSession::load(llvm::StringRef bundlePath, bool useCudaGraphs, bool useDependentLaunch) {
  auto session = std::unique_ptr<CudaSession>(new CudaSession());
  spdc_context_options_t options;
  spdc_context_options_initialize(&options);
  options.use_cuda_graphs = useCudaGraphs ? 1 : 0;
  options.use_dependent_launch = useDependentLaunch ? 1 : 0;
  std::string path = bundlePath.str();
  spdc_context_t *context = nullptr;
  if (spdc_status_t s = spdc_context_create(&options, &context)) {
    // A missing or broken bundle is the thing to report, GPU or not.
    if (spdc_status_t b = spdc_bundle_validate(path.c_str()))
      return apiError(b, "reading the bundle");
    return apiError(s, "creating the CUDA context");
  }
  session->impl->context.reset(context);
  spdc_model_t *model = nullptr;
  if (spdc_status_t s = spdc_model_load(context, path.c_str(), &model))
    return apiError(s, "loading " + path);
  session->impl->model.reset(model);
  return std::move(session);
}

bool CudaSession::deviceAvailable(std::string &why) {
  spdc_context_t *context = nullptr;
  if (spdc_status_t s = spdc_context_create(nullptr, &context)) {
    why = std::string(spdc_status_string(s)) + ": " + spdc_last_error();
    return false;
  }
  spdc_context_release(context);
  return true;
}

std::string CudaSession::deviceName() const {
  spdc_device_info_t info;
  if (spdc_context_device_info(impl->context.get(), &info))
    return "?";
  return std::string(info.name) + " (" + info.arch + ")";
}

std::string CudaSession::deviceArch() const {
  spdc_device_info_t info;
  if (spdc_context_device_info(impl->context.get(), &info))
    return "?";
  return info.arch;
}

std::string CudaSession::codeOrigin() const {
  const char *origin = nullptr;
  if (spdc_model_code_origin(impl->model.get(), &origin) || !origin)
    return "?";
  return origin;
}

/// Bytes of `t` in device memory: packed, or in rows `pitch` elements apart.
static size_t deviceBytes(const Tensor &t, int64_t pitch) {
  return pitch ? t.byteSize() / size_t(t.shape().back()) * size_t(pitch) : t.byteSize();
}

size_t CudaSession::pitchedOutputCount() const {
  return size_t(llvm::count_if(impl->outputPitch, [](int64_t p) { return p != 0; }));
}

Error CudaSession::bind(llvm::ArrayRef<Tensor> inputs, bool deviceResident,
                        bool pitchedOutputs) {
  spdc_model_t *model = impl->model.get();
  impl->freeDevice();
  size_t inCount = 0, outCount = 0;
  spdc_model_input_count(model, &inCount);
  spdc_model_output_count(model, &outCount);
  if (inputs.size() != inCount)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the model takes " + std::to_string(inCount) + " inputs, got " +
                                       std::to_string(inputs.size()));
  impl->inputs.assign(inputs.begin(), inputs.end());
  for (size_t i = 0; i < inCount; ++i) {
    spdc_tensor_info_t info;
    spdc_model_input_info(model, i, &info);
    const Tensor &t = impl->inputs[i];
    std::optional<DType> want = toDType(info.dtype);
    if (!want || *want != t.dtype() || int64_t(info.rank) != t.rank())
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "input " + std::to_string(i) + " ('" + info.name + "') is " +
                                         t.typeString() + ", the bundle expects " +
                                         (want ? dtypeName(*want).str() : "?") + " of rank " +
                                         std::to_string(info.rank));
    // The shape of the data binds the bundle's dynamic dimensions (and must repeat the static
    // ones, which the runtime checks).
    if (spdc_status_t s = spdc_model_set_input_shape(model, i, t.shape().data(), t.shape().size()))
      return apiError(s, "input " + std::to_string(i) + " ('" + info.name + "') of shape " +
                             t.typeString());
    const void *data = t.raw();
    spdc_memory_t memory = SPDC_MEMORY_HOST;
    if (deviceResident && t.byteSize()) {
      void *p = nullptr;
      if (spdc_status_t s = spdc_device_alloc(impl->context.get(), t.byteSize(), &p))
        return apiError(s, "allocating input " + std::to_string(i));
      impl->deviceInputs.push_back(p);
      if (spdc_status_t s = spdc_memcpy(impl->context.get(), p, SPDC_MEMORY_DEVICE, t.raw(),
                                        SPDC_MEMORY_HOST, t.byteSize()))
        return apiError(s, "uploading input " + std::to_string(i));
      data = p;
      memory = SPDC_MEMORY_DEVICE;
    }
    if (spdc_status_t s = spdc_model_bind_input(model, i, data, memory, t.byteSize()))
      return apiError(s, "binding input " + std::to_string(i));
  }
  impl->outputs.clear();
  impl->outputPitch.assign(outCount, 0);
  for (size_t i = 0; i < outCount; ++i) {
    spdc_tensor_info_t info;
    spdc_model_output_info(model, i, &info);
    std::optional<DType> type = toDType(info.dtype);
    if (!type)
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "unknown output dtype");
    // Sized for the input shapes just set (the declared shape has -1 where it is dynamic).
    std::vector<int64_t> dims(info.rank);
    size_t rank = 0;
    if (spdc_status_t s = spdc_model_output_shape(model, i, dims.data(), dims.size(), &rank))
      return apiError(s, "shape of output " + std::to_string(i) + " ('" + info.name + "')");
    Expected<Tensor> t = Tensor::allocate(*type, dims);
    if (!t)
      return t.takeError();
    impl->outputs.push_back(std::move(*t));
    Tensor &out = impl->outputs.back();
    void *data = out.mutableRaw();
    spdc_memory_t memory = SPDC_MEMORY_HOST;
    int64_t pitch = 0;
    if (deviceResident && pitchedOutputs && out.byteSize())
      if (spdc_status_t s = spdc_model_output_row_pitch(model, i, &pitch))
        return apiError(s, "row pitch of output " + std::to_string(i));
    size_t bytes = deviceBytes(out, pitch);
    if (deviceResident && bytes) {
      void *p = nullptr;
      if (spdc_status_t s = spdc_device_alloc(impl->context.get(), bytes, &p))
        return apiError(s, "allocating output " + std::to_string(i));
      impl->deviceOutputs.push_back(p);
      data = p;
      memory = SPDC_MEMORY_DEVICE;
    }
    spdc_status_t s = pitch ? spdc_model_bind_output_pitched(model, i, data, bytes, pitch)
                            : spdc_model_bind_output(model, i, data, memory, bytes);
    if (s)
      return apiError(s, "binding output " + std::to_string(i));
    impl->outputPitch[i] = pitch;
  }
  return Error::success();
}

Expected<std::vector<Tensor>> CudaSession::run() {
  if (spdc_status_t s = spdc_model_run(impl->model.get(), nullptr))
    return apiError(s, "running the model");
  for (size_t i = 0; i < impl->deviceOutputs.size(); ++i) {
    Tensor &out = impl->outputs[i];
    int64_t pitch = impl->outputPitch[i];
    size_t bytes = deviceBytes(out, pitch);
    std::vector<char> padded(pitch ? bytes : 0);
    char *dst = pitch ? padded.data() : static_cast<char *>(out.mutableRaw());
    if (spdc_status_t s = spdc_memcpy(impl->context.get(), dst, SPDC_MEMORY_HOST,
                                      impl->deviceOutputs[i], SPDC_MEMORY_DEVICE, bytes))
      return apiError(s, "downloading output " + std::to_string(i));
    if (pitch) {
      // Rows of the pitch, packed into the tensor.
      size_t row = size_t(out.shape().back()) * dtypeSize(out.dtype());
      size_t rowPitch = size_t(pitch) * dtypeSize(out.dtype());
      char *packed = static_cast<char *>(out.mutableRaw());
      for (size_t r = 0, n = out.byteSize() / row; r < n; ++r)
        std::memcpy(packed + r * row, padded.data() + r * rowPitch, row);
    }
  }
  return impl->outputs;
}

std::vector<std::string> CudaSession::outputNames() const {
  std::vector<std::string> names;
  size_t n = 0;
  spdc_model_output_count(impl->model.get(), &n);
  for (size_t i = 0; i < n; ++i) {
    spdc_tensor_info_t info;
    spdc_model_output_info(impl->model.get(), i, &info);
    names.push_back(info.name);
  }
  return names;
}

std::vector<std::pair<std::string, Tensor>> CudaSession::inputDescriptions() const {
  std::vector<std::pair<std::string, Tensor>> result;
  size_t n = 0;
  spdc_model_input_count(impl->model.get(), &n);
  for (size_t i = 0; i < n; ++i) {
    spdc_tensor_info_t info;
    spdc_model_input_info(impl->model.get(), i, &info);
    std::optional<DType> type = toDType(info.dtype);
    Tensor shapeOnly = Tensor::view(type.value_or(DType::F32),
                                    llvm::ArrayRef<int64_t>(info.dims, info.rank), nullptr,
                                    nullptr);
    result.emplace_back(info.name, shapeOnly);
  }
  return result;
}

Expected<BenchResult> CudaSession::bench(int iterations, size_t flushBytes) {
  BenchResult result;
  spdc_model_t *model = impl->model.get();
  // Warm-up: the first run compiles nothing (the load did) but captures the CUDA graph.
  constexpr int kWarmup = 3;
  for (int i = 0; i < kWarmup; ++i)
    if (spdc_status_t s = spdc_model_run(model, nullptr))
      return apiError(s, "warm-up run");
  // Device time of each run, issued back to back (as a serving loop would), with events.
  std::vector<float> times(size_t(iterations), 0.0f);
  auto summarize = [&](double &median, double &min) {
    std::sort(times.begin(), times.end());
    median = times[times.size() / 2];
    min = times.front();
  };
  if (spdc_status_t s = spdc_model_time(model, iterations, times.data()))
    return apiError(s, "timed runs");
  result.iterations = iterations;
  summarize(result.medianMs, result.minMs);
  if (flushBytes) {
    result.backToBackMedianMs = result.medianMs;
    result.backToBackMinMs = result.minMs;
    if (spdc_status_t s =
            spdc_model_time_flushed(model, iterations, flushBytes, times.data()))
      return apiError(s, "timed runs after cache flushes");
    summarize(result.medianMs, result.minMs);
    result.flushBytes = flushBytes;
  }
  size_t steps = 0;
  spdc_model_step_count(model, &steps);
  std::vector<spdc_profile_entry_t> entries(steps);
  double profiledMs = 0;
  if (spdc_status_t s = spdc_model_profile(model, std::max(iterations / 4, 5), entries.data(),
                                           entries.size(), &profiledMs))
    return apiError(s, "profiling");
  for (const spdc_profile_entry_t &e : entries)
    result.steps.push_back({e.label ? e.label : "", e.kind ? e.kind : "", e.name ? e.name : "",
                            e.start_ms, e.mean_ms, e.min_ms});
  result.profiledMs = profiledMs;
  return result;
}

void spdc::printBenchTable(const BenchResult &r, llvm::raw_ostream &os) {
  os << llvm::format("latency: median %.3f ms, min %.3f ms (profiled, no graph: %.3f ms)\n",
                     r.medianMs, r.minMs, r.profiledMs);
  if (r.flushBytes)
    os << llvm::format("  each run after writing %.0f MB of scratch (caches flushed); back to back: "
                       "median %.3f ms, min %.3f ms\n",
                       double(r.flushBytes) / 1e6, r.backToBackMedianMs, r.backToBackMinMs);
  // Kernels by total time, the few that matter first.
  std::vector<const BenchStep *> order;
  double total = 0;
  for (const BenchStep &s : r.steps) {
    order.push_back(&s);
    total += s.meanMs;
  }
  llvm::sort(order, [](const BenchStep *a, const BenchStep *b) { return a->meanMs > b->meanMs; });
  os << llvm::format("%-8s %10s %7s  %-40s %s\n", "kind", "mean ms", "share", "kernel", "nodes");
  for (const BenchStep *s : order)
    os << llvm::format("%-8s %10.4f %6.1f%%  %-40s %s\n", s->kind.c_str(), s->meanMs,
                       total > 0 ? 100.0 * s->meanMs / total : 0.0,
                       s->name.substr(0, 40).c_str(), s->label.c_str());
}

std::string spdc::benchJson(const BenchResult &r, llvm::StringRef bundle,
                            llvm::StringRef device, llvm::StringRef codeOrigin, bool hostIO,
                            size_t pitchedOutputs) {
  std::string json;
  llvm::raw_string_ostream os(json);
  llvm::json::OStream j(os, 1);
  j.object([&] {
    j.attribute("bundle", bundle);
    j.attribute("device", device);
    j.attribute("kernels_from", codeOrigin);
    j.attribute("io", hostIO ? "host" : "device");
    j.attribute("pitched_outputs", int64_t(pitchedOutputs));
    j.attribute("iters", r.iterations);
    j.attribute("median_ms", r.medianMs);
    j.attribute("min_ms", r.minMs);
    j.attribute("profiled_ms", r.profiledMs);
    j.attribute("flush_bytes", int64_t(r.flushBytes));
    if (r.flushBytes) {
      j.attribute("back_to_back_median_ms", r.backToBackMedianMs);
      j.attribute("back_to_back_min_ms", r.backToBackMinMs);
    }
    j.attributeArray("steps", [&] {
      for (const BenchStep &s : r.steps)
        j.object([&] {
          j.attribute("kind", s.kind);
          j.attribute("name", s.name);
          j.attribute("nodes", s.label);
          j.attribute("mean_ms", s.meanMs);
        });
    });
  });
  os << "\n";
  return json;
}

std::string spdc::chromeTrace(const BenchResult &r) {
  std::string json;
  llvm::raw_string_ostream os(json);
  os << "{\"traceEvents\": [";
  for (auto [i, s] : llvm::enumerate(r.steps)) {
    std::string name = s.name.empty() ? s.kind : s.name;
    os << (i ? ",\n" : "\n") << "{\"name\": \"";
    os.write_escaped(name);
    os << "\", \"cat\": \"" << s.kind << "\", \"ph\": \"X\", \"pid\": 0, \"tid\": 0, "
       << llvm::format("\"ts\": %.3f, \"dur\": %.3f", s.startMs * 1000, s.minMs * 1000)
       << ", \"args\": {\"nodes\": \"";
    os.write_escaped(s.label);
    os << "\"}}";
  }
  os << "\n], \"displayTimeUnit\": \"ms\"}\n";
  return json;
}
