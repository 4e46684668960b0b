//===- Driver.h - what the spdc command does -------------------*- C++ -*-===//
//
// The logic behind `spdc`'s commands, so that tools/spdc stays a thin flag parser. Each entry
// point prints to the given streams and returns the process exit status.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_DRIVER_DRIVER_H
#define SPDC_DRIVER_DRIVER_H

#include "spdc/Frontend/ONNX/Importer.h"

#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace spdc::driver {

/// Parses "input_ids:2x16" (or "input_ids:2x?") into `options.inputShapes`. Returns false and
/// sets `error` when malformed.
bool parseInputShape(llvm::StringRef spec, OnnxImportOptions &options, std::string &error);

/// Kernel choices: the codegen::CodegenOptions of the same names.
struct KernelChoices {
  bool attentionInPlace = true;
  bool attentionWarpSpecialized = true;
  bool attentionPersistent = true;
  bool attentionWideKeyTiles = true;
  bool attentionTensorCopies = true;
  bool gemmPaddedRows = true;
};

struct CompileOptions {
  std::string inputPath;
  /// "" (print the summary and write the bundle) | summary (print it only) | mlir | cuda | plan
  std::string emit;
  std::string pipeline = "default";
  /// With --emit: where the text goes ("-" = stdout). Without: the bundle's path (empty =
  /// the model's path with the extension .spdc).
  std::string outputPath;
  /// Precompile the kernels for this GPU architecture ("sm_90") with NVRTC into the bundle.
  std::string arch;
  /// Storage type of float weights and activations: f32, bf16 or f16.
  std::string dtype = "f32";
  /// With --emit=cuda: compile the source with NVRTC (for `arch`, default sm_90) and fail on
  /// errors; the ctest nvrtc-compile-models uses it.
  bool checkNvrtc = false;
  /// Print the passes' remarks (what was not rewritten, and why) to stderr.
  bool remarks = false;
  /// Only remarks matching this regex (e.g. the pass name "spd-fuse-attention").
  std::string remarksFilter;
  /// Reuse the bundle of an unchanged model from the compile cache (CompileCache.h).
  bool useCache = true;
  KernelChoices kernels;
  OnnxImportOptions import;
};

/// `spdc model.onnx`: import, run the pipeline, print what was asked.
int compile(const CompileOptions &options, llvm::raw_ostream &out, llvm::raw_ostream &err);

struct RunOptions {
  std::string modelPath;
  std::string target = "interp";
  /// "name=file.pb" pairs.
  std::vector<std::string> inputs;
  /// A backend-test data folder (input_N.pb in argument order).
  std::string inputDir;
  std::string outputDir;
  std::string pipeline = "default";
  OnnxImportOptions import;
};

/// `spdc run model.onnx|model.spdc --input ...`: runs on the interpreter (`interp`, ONNX only)
/// or on the GPU (`cuda`: a bundle, or an ONNX model compiled on the fly) and prints each
/// output's summary (type, shape, min / max / mean, first values); writes outputs as .pb when
/// `outputDir` is set.
int run(const RunOptions &options, llvm::raw_ostream &out, llvm::raw_ostream &err);

struct BenchOptions {
  std::string bundlePath;
  int iterations = 100;
  /// Chrome / Perfetto trace of one profiled run.
  std::string tracePath;
  /// Inputs (input_N.pb); without it, deterministic non-zero inputs are made up.
  std::string inputDir;
  bool useCudaGraphs = true;
  /// Programmatic dependent launch on sm_90+ (spdc_context_options_t::use_dependent_launch).
  bool useDependentLaunch = true;
  /// Bind inputs and outputs in host memory, so that every run copies them (else they live in
  /// device memory and runs move no data between host and device).
  bool hostIO = false;
  /// Bind device outputs that have a pitched layout (padded rows, spdc_model_output_row_pitch)
  /// contiguous instead, which costs the model a packing kernel per run.
  bool packedOutputs = false;
  /// Time each run after writing this many megabytes of scratch device memory, so that it
  /// starts with cold caches (triton.testing.do_bench's method, 256 MB); 0: back to back only.
  unsigned flushL2Mb = 0;
  /// Also write the result as JSON here ({"median_ms", "min_ms", "iters", "device", ...}).
  std::string jsonPath;
  /// --input-shape: the shapes of made-up inputs where the bundle's are dynamic (required for
  /// those), and the shapes an ONNX model is compiled for.
  OnnxImportOptions import;
};

/// `spdc bench model.spdc`: median / min latency over `iterations` runs and a per-kernel table.
int bench(const BenchOptions &options, llvm::raw_ostream &out, llvm::raw_ostream &err);

struct TestOptions {
  /// Relative and absolute tolerance for floating outputs: |got - want| <= atol + rtol * |want|.
  /// The defaults are the ONNX backend test's rtol with an atol that admits float32
  /// transcendental differences near zero.
  double rtol = 1e-3;
  double atol = 1e-5;
  std::string pipeline = "none";
  /// File of "test_name  reason" lines: tests skipped on purpose (out of scope), with why.
  std::string skipList;
  /// interp: run and compare; nvrtc: generate CUDA and compile it with NVRTC for `arch` (no
  /// GPU needed), PASS when NVRTC accepts it.
  std::string target = "interp";
  std::string arch = "sm_90";
  /// With cuda: precompile the kernels for `arch` into the bundle and check that the runtime
  /// loads that cubin (rather than compiling the source).
  bool precompile = false;
  /// With cuda and nvrtc: storage type of float weights and activations (f32, bf16, f16).
  std::string dtype = "f32";
  /// Keep the model's dynamic dimensions: compile each folder once and run every data set,
  /// whatever its shapes, on that one bundle (with cuda: one loaded model), instead of
  /// specializing the model on each data set's shapes.
  bool dynamicShapes = false;
  /// With cuda: inputs and outputs in device memory, and outputs that the model computes in
  /// padded rows bound in those rows (the runtime then skips their packing step).
  bool pitchedOutputs = false;
  KernelChoices kernels;
  OnnxImportOptions import;
};

/// `spdc test PATH...`: runs backend-test folders and prints one PASS / FAIL / SKIP line each,
/// then "N passed, N failed, N skipped". Non-zero when any failed.
int test(llvm::ArrayRef<std::string> paths, const TestOptions &options, llvm::raw_ostream &out);

} // namespace spdc::driver

#endif // SPDC_DRIVER_DRIVER_H
