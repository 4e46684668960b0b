//===- CudaTarget.h - running bundles through libspdcrt --------*- C++ -*-===//

#ifndef SPDC_LIB_DRIVER_CUDATARGET_H
#define SPDC_LIB_DRIVER_CUDATARGET_H

#include "spdc/Interpreter/Tensor.h"

#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <string>
#include <vector>

namespace spdc {

struct BenchStep {
  std::string label, kind, name;
  double startMs, meanMs, minMs;
};

struct BenchResult {
  /// Of the timed runs: back to back, or each after a cache flush when flushBytes > 0.
  double medianMs = 0, minMs = 0, profiledMs = 0;
  /// With a flush: the same number of runs back to back, for comparison.
  double backToBackMedianMs = 0, backToBackMinMs = 0;
  size_t flushBytes = 0;
  int iterations = 0;
  std::vector<BenchStep> steps;
};

/// A bundle loaded on the GPU through the C API, with host inputs and outputs.
class CudaSession {
public:
  ~CudaSession();
  /// Creates a context on device 0 and loads `bundlePath`. Without a GPU: the runtime's
  /// "no CUDA device" error.
  static llvm::Expected<std::unique_ptr<CudaSession>> load(llvm::StringRef bundlePath,
                                                           bool useCudaGraphs = true,
                                                           bool useDependentLaunch = true);
  std::string deviceName() const;
  /// What NVRTC targets on this device ("sm_90a").
  std::string deviceArch() const;
  /// Where the kernels came from (spdc_model_code_origin: "bundle cubin sm_90a", "NVRTC sm_90a",
  /// "JIT cache sm_90a", "none").
  std::string codeOrigin() const;
  /// Whether a CUDA device can be used; `why` gets the runtime's message when not.
  static bool deviceAvailable(std::string &why);
  /// Names, types and declared shapes of the inputs (tensors without data); a dynamic
  /// dimension is -1.
  std::vector<std::pair<std::string, Tensor>> inputDescriptions() const;
  std::vector<std::string> outputNames() const;
  /// Sets each input's shape from its tensor (spdc_model_set_input_shape: that is what binds a
  /// bundle's dynamic dimensions), binds the inputs (kept alive by the session) and allocates
  /// the outputs at the shapes that follow (spdc_model_output_shape). With
  /// `deviceResident`, both live in device memory (inputs uploaded once here, outputs
  /// downloaded by run()), so that runs move no data between host and device; with
  /// `pitchedOutputs` too, outputs that have a pitched layout (spdc_model_output_row_pitch)
  /// are bound in it, as the model writes them without packing.
  llvm::Error bind(llvm::ArrayRef<Tensor> inputs, bool deviceResident = false,
                   bool pitchedOutputs = false);
  /// Outputs bound pitched by the last bind().
  size_t pitchedOutputCount() const;
  /// One synchronous run; the outputs share the session's buffers.
  llvm::Expected<std::vector<Tensor>> run();
  /// Median/min device time of `iterations` runs issued back to back after warm-up (CUDA
  /// events around each run), and a per-step profile. With `flushBytes`, the runs are timed
  /// each after writing that much scratch memory (spdc_model_time_flushed: triton's do_bench
  /// method), and the back-to-back times are kept beside them.
  llvm::Expected<BenchResult> bench(int iterations, size_t flushBytes = 0);

private:
  CudaSession();
  struct Impl;
  std::unique_ptr<Impl> impl;
};

/// The per-kernel table `spdc bench` prints.
void printBenchTable(const BenchResult &r, llvm::raw_ostream &os);
/// The result as one JSON object: median_ms, min_ms, iters, device, bundle, io, profiled_ms and
/// the steps (kind, name, nodes, mean_ms).
std::string benchJson(const BenchResult &r, llvm::StringRef bundle, llvm::StringRef device,
                      llvm::StringRef codeOrigin, bool hostIO, size_t pitchedOutputs);
/// Chrome/Perfetto trace JSON of one profiled run.
std::string chromeTrace(const BenchResult &r);

} // namespace spdc

#endif // SPDC_LIB_DRIVER_CUDATARGET_H
