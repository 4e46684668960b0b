//===- Codegen.h - spd IR to a .spdc launch plan ----------------*- C++ -*-===//
//
// Turns the function of a module after the default pipeline (spd ops and spd.fusion regions)
// into a bundle::Plan: CUDA C++ kernels (one per fusion region or unfused op, instantiating the
// templates of runtime/kernels), cuBLASLt GEMM descriptors, copies, and the memory plan (one
// arena with offsets, weights 64-byte aligned).
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_CODEGEN_CUDA_CODEGEN_H
#define SPDC_CODEGEN_CUDA_CODEGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/raw_ostream.h"

#include "bundle/Plan.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace spdc::codegen {

struct CodegenOptions {
  /// Storage type of float activations and weights: "f32" (as declared), "bf16" or "f16".
  /// Graph inputs and outputs keep their declared types.
  std::string dtype = "f32";
  /// Attention reads Q, K and V in place when they are strided views of a buffer (the head
  /// transposes of a fused QKV projection) and writes its output in the layout its one reader
  /// transposes it to; false: they are copied to and from contiguous [b, h, s, d] buffers.
  bool attentionInPlace = true;
  /// f16/bf16 attention at head dims 64 and 128 through the warp-specialized kernel
  /// (attention_fwd_ws_kernel: a producer warpgroup, mbarrier stages, ping-pong consumers);
  /// false: attention_fwd_kernel's 128-row path.
  bool attentionWarpSpecialized = true;
  /// The warp-specialized kernel launched persistent: one block per SM walks the (query tile,
  /// head) pairs (Launch::blocksPerSM); false: one block per pair.
  bool attentionPersistent = true;
  /// At head dim 128 the warp-specialized launch is specialized for sm_90a to key tiles of 128
  /// (161 KiB of shared memory, Q read from shared memory); false: 64 everywhere. With the
  /// persistent grid, 13-14 % faster on the H100 at b4 h16 s4096 d128 (bench/notes/attention.md).
  bool attentionWideKeyTiles = true;
  /// The warp-specialized launch is specialized for sm_90a to a kernel whose producer moves Q,
  /// K and V with tensor copies (TMA: one thread, tensor maps the runtime encodes per bound
  /// operand), with 128-key tiles at every head dim; false: cp.async from the producer
  /// warpgroup. On the H100 at b4 h16 s4096 d128: 0.89 against 1.08 ms
  /// (bench/notes/attention.md).
  bool attentionTensorCopies = true;
  /// A wide GEMM output whose rows are not a multiple of 16 bytes (a language-model head over
  /// 50257 tokens) is computed into rows padded to 16 bytes, then packed (cuBLASLt's fast
  /// kernels need aligned rows); false: written in place with its unaligned rows, no pack
  /// (GPT-2 124M B8 on the H100: 10.15 ms against 5.45, so the pack stays).
  bool gemmPaddedRows = true;
  /// Called with each template instantiation's source unit as code generation adds it, so that
  /// a UnitCompiler can compile it while the rest of the plan is generated.
  std::function<void(const std::string &source, const std::string &kernelName)> onTemplateUnit;
};

struct CodegenStats {
  int64_t kernels = 0;      ///< launches in the plan
  int64_t gemms = 0;        ///< cuBLASLt calls
  int64_t copies = 0;
  uint64_t peakArenaBytes = 0;
  /// With dynamic dimensions: the symbols ("input_ids.0", ...) and the arena size in them
  /// ("256*s0*s1 + ..."), which the runtime evaluates at bind time; empty for static plans.
  std::vector<std::string> symbols;
  std::string arenaExpression;
  uint64_t weightBytes = 0;
  /// One line per arena buffer: offset, bytes, type and shape, what it holds, live steps.
  std::vector<std::string> bufferTable;
};

/// Generates the plan of `module`'s single function. Failures are reported as diagnostics on
/// the op that could not be generated (its location names the ONNX node).
mlir::FailureOr<bundle::Plan> generatePlan(mlir::ModuleOp module, const CodegenOptions &options,
                                           CodegenStats &stats);

/// A readable listing of the plan: inputs/outputs, buffers, steps with their launches, GEMMs
/// and copies.
void printPlan(const bundle::Plan &plan, llvm::raw_ostream &os);

/// Whether this build can run NVRTC (the runtime's JIT library was built with the toolkit).
bool nvrtcAvailable();

/// Compiles every unit of `plan.sources` with NVRTC for `arch` ("sm_90"), the units in
/// parallel. Returns an empty string, or the first failing unit's NVRTC log.
std::string compileWithNvrtc(const bundle::Plan &plan, const std::string &arch);

/// The runtime's JIT cache folder ($XDG_CACHE_HOME/spdc or ~/.cache/spdc); empty without NVRTC
/// or a home.
std::string defaultJitCacheDir();

/// NVRTC's output for each unit of a plan, which addBinaries puts into it.
struct CompiledUnits {
  std::string error; ///< the first failing unit's NVRTC log; empty on success
  std::vector<std::vector<uint8_t>> cubins;
  /// Per unit, the lowered names of its template kernels, in kernel order.
  std::vector<std::vector<std::string>> loweredNames;
};

/// Compiles every unit of `plan` for `arch`, in parallel, reading `plan` only (another thread
/// may read it meanwhile, e.g. BundleWriter::begin). With a `jitCacheDir`, as precompile.
CompiledUnits compileUnits(const bundle::Plan &plan, const std::string &arch,
                           const std::string &jitCacheDir = "");

/// Compiles source units for one architecture on a thread pool as soon as they are known
/// (start(): a template instantiation while code generation goes on), then the units of a whole
/// plan (compile(): those started before are waited for, the others compiled). Equal sources
/// compile once.
class UnitCompiler {
public:
  /// With a `jitCacheDir`, as precompile.
  UnitCompiler(std::string arch, std::string jitCacheDir);
  ~UnitCompiler();
  UnitCompiler(const UnitCompiler &) = delete;
  UnitCompiler &operator=(const UnitCompiler &) = delete;

  /// Starts compiling `source`, whose kernels (if not extern "C") are `nameExpressions`.
  void start(const std::string &source, const std::vector<std::string> &nameExpressions);
  /// Every unit of `plan`, reading `plan` only, as compileUnits.
  CompiledUnits compile(const bundle::Plan &plan);

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

/// Adds `units` to the plan as precompile does. Returns the units' error, if any.
std::string addBinaries(bundle::Plan &plan, const std::string &arch, CompiledUnits units);

/// Precompiles the plan for `arch` into Plan::binaries, one cubin per unit, the units in
/// parallel. The template kernels' names become their lowered (mangled) names, which the units
/// instantiate explicitly, so the runtime finds every kernel of a cubin by name (and NVRTC
/// still compiles the sources for other architectures). With a `jitCacheDir`, units compiled
/// before (a template instantiation another model uses too) come from the runtime's JIT cache
/// there and new ones are stored. Returns an empty string or the NVRTC log.
std::string precompile(bundle::Plan &plan, const std::string &arch,
                       const std::string &jitCacheDir = "");

} // namespace spdc::codegen

#endif // SPDC_CODEGEN_CUDA_CODEGEN_H
