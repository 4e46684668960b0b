//===- Compile.cpp - `spdc model.onnx` ------------------------------------===//

#include "Common.h"

#include "spdc/Codegen/CUDA/Codegen.h"
#include "spdc/Driver/Driver.h"
#include "spdc/Pipeline/Pipeline.h"

#include "CompileCache.h"
#include "bundle/Bundle.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/Timing.h"

#include <chrono>
#include <optional>
#include <thread>
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
using namespace spdc;

/// Resources larger than this many bytes print as an elision marker: weights never reach IR text.
static constexpr int64_t kMaxPrintedResourceBytes = 64;

bool spdc::driver::parseInputShape(StringRef spec, OnnxImportOptions &options,
                                   std::string &error) {
  auto [name, dims] = spec.rsplit(':');
  if (name.empty() || dims.empty() || dims == spec) {
    error = ("--input-shape expects NAME:D0xD1x..., got '" + spec + "'").str();
    return false;
  }
  SmallVector<int64_t> shape;
  SmallVector<StringRef> parts;
  dims.split(parts, 'x');
  for (StringRef part : parts) {
    int64_t d;
    if (part == "?") {
      shape.push_back(ShapedType::kDynamic);
    } else if (part.getAsInteger(10, d) || d < 0) {
      error = ("--input-shape: '" + part + "' in '" + spec + "' is not a dimension").str();
      return false;
    } else {
      shape.push_back(d);
    }
  }
  if (dims == "scalar")
    shape.clear();
  options.inputShapes[name] = shape;
  return true;
}

namespace {

/// Composite ops by kind, in the order the summary prints them.
constexpr StringLiteral kCompositeKinds[] = {
    "spd.attention", "spd.layer_norm", "spd.rms_norm", "spd.gelu",
    "spd.silu",      "spd.swiglu",     "spd.rope"};

/// Ops that only name values (they launch nothing).
bool isFree(Operation *op) {
  return isa<ModuleOp, func::FuncOp, func::ReturnOp, spd::ConstantOp, spd::YieldOp>(op);
}

/// Whether `v` is computed from a matmul within a few elementwise steps (the scores of an
/// attention block: scale, mask, casts, clamps, soft-capping, views of batched 3-D scores).
bool fromMatmul(Value v, int depth = 8) {
  // A fusion region's argument stands for the operand outside it.
  if (auto arg = dyn_cast<BlockArgument>(v))
    if (auto fusion = dyn_cast<spd::FusionOp>(arg.getOwner()->getParentOp()))
      v = fusion->getOperand(arg.getArgNumber());
  Operation *def = v.getDefiningOp();
  if (!def || depth == 0)
    return false;
  if (isa<spd::MatMulOp>(def))
    return true;
  // A fusion region's result is what its body yields.
  if (isa<spd::FusionOp>(def))
    return fromMatmul(def->getRegion(0).front().getTerminator()->getOperand(
                          cast<OpResult>(v).getResultNumber()),
                      depth - 1);
  if (!isa<spd::AddOp, spd::SubOp, spd::MulOp, spd::DivOp, spd::WhereOp, spd::CastOp,
           spd::MaxOp, spd::TanhOp, spd::ReshapeOp>(def))
    return false;
  return llvm::any_of(def->getOperands(), [&](Value in) { return fromMatmul(in, depth - 1); });
}

/// Whether `v` feeds a matmul within a few steps (the probabilities times V).
bool intoMatmul(Value v, int depth = 3) {
  if (depth == 0)
    return false;
  return llvm::any_of(v.getUsers(), [&](Operation *user) {
    if (isa<spd::MatMulOp>(user))
      return true;
    // A value a fusion region yields goes on as the region's result.
    if (auto yield = dyn_cast<spd::YieldOp>(user))
      return llvm::any_of(user->getOpOperands(), [&](OpOperand &operand) {
        return operand.get() == v &&
               intoMatmul(yield->getParentOp()->getResult(operand.getOperandNumber()), depth - 1);
      });
    if (!isa<spd::CastOp, spd::WhereOp, spd::ReshapeOp>(user))
      return false;
    return intoMatmul(user->getResult(0), depth - 1);
  });
}

struct Summary {
  llvm::StringMap<int64_t> composites;
  int64_t attentionUnfused = 0;
  int64_t regions = 0;
  int64_t unfused = 0;
  llvm::MapVector<StringRef, int64_t> unfusedByName;
};

Summary summarizeModule(ModuleOp module) {
  Summary s;
  module->walk([&](Operation *op) {
    StringRef name = op->getName().getStringRef();
    if (llvm::is_contained(kCompositeKinds, name))
      ++s.composites[name];
    if (auto softmax = dyn_cast<spd::SoftmaxOp>(op))
      if (fromMatmul(softmax.getInput()) && intoMatmul(softmax.getResult()))
        ++s.attentionUnfused;
    if (isFree(op) || op->getParentOfType<spd::FusionOp>())
      return;
    if (isa<spd::FusionOp>(op)) {
      ++s.regions;
      return;
    }
    ++s.unfused;
    ++s.unfusedByName[name];
  });
  return s;
}

} // namespace

/// "sm_90" for an empty --arch; NVRTC's Hopper-specific form is what the runtime asks for.
static std::string nvrtcArch(const std::string &arch) { return arch.empty() ? "sm_90" : arch; }

int spdc::driver::compile(const CompileOptions &options, raw_ostream &out, raw_ostream &err) {
  static const char *kEmits[] = {"", "summary", "mlir", "cuda", "plan"};
  if (!llvm::is_contained(kEmits, options.emit)) {
    err << "spdc: unknown --emit=" << options.emit << " (expected summary, mlir, cuda or plan)\n";
    return 1;
  }
  if (!isKnownPipeline(options.pipeline)) {
    err << "spdc: unknown --pipeline=" << options.pipeline << " (expected none or default)\n";
    return 1;
  }
  if (options.dtype != "f32" && options.dtype != "bf16" && options.dtype != "f16") {
    err << "spdc: unknown --dtype=" << options.dtype << " (expected f32, bf16 or f16)\n";
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  auto elapsedMs = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  std::string bundlePath = options.outputPath;
  if (bundlePath.empty() || bundlePath == "-") {
    SmallString<256> p(options.inputPath);
    llvm::sys::path::replace_extension(p, "spdc");
    bundlePath = std::string(p);
  }
  std::optional<CompileCache> cache = CompileCache::forOptions(options);
  if (cache) {
    if (std::optional<std::string> summary = cache->fetch(bundlePath)) {
      out << *summary;
      uint64_t bundleSize = 0;
      llvm::sys::fs::file_size(bundlePath, bundleSize);
      out << "  bundle: " << bundlePath << " (" << bundleSize << " bytes"
          << (options.arch.empty() ? "" : ", cubin for " + options.arch) << ", dtype "
          << options.dtype << ")\n";
      out << "  compile time: " << llvm::format("%.0f", elapsedMs())
          << " ms (unchanged model: bundle from the compile cache)\n";
      return 0;
    }
  }
  // --mlir-timing: the driver's phases, with the passes nested under "pipeline".
  DefaultTimingManager timingManager;
  applyDefaultTimingManagerCLOptions(timingManager);
  TimingScope timing = timingManager.getRootScope();
  std::unique_ptr<MLIRContext> ctx = makeContext();
  RemarkSink remarks;
  remarks.print = options.remarks;
  remarks.filter = options.remarksFilter;
  remarks.os = &err;
  OwningOpRef<ModuleOp> module = importAndOptimize(*ctx, options.inputPath, options.pipeline,
                                                   options.import, nullptr, &remarks, &timing);
  if (!module)
    return 1;
  double ms = elapsedMs();

  std::string errorMessage;
  std::string textPath = options.emit.empty() || options.outputPath.empty()
                             ? std::string("-")
                             : options.outputPath;
  auto output = openOutputFile(textPath, &errorMessage);
  if (!output) {
    err << "spdc: " << errorMessage << "\n";
    return 1;
  }
  raw_ostream &os = output->os();
  if (options.emit == "mlir") {
    OpPrintingFlags flags;
    flags.elideLargeResourceString(kMaxPrintedResourceBytes);
    module->print(os, flags);
    os << "\n";
    output->keep();
    return 0;
  }

  codegen::CodegenOptions cgOptions = codegenOptions(options.dtype, options.kernels);
  codegen::CodegenStats cgStats;
  if (options.emit == "cuda" || options.emit == "plan") {
    FailureOr<bundle::Plan> plan = codegen::generatePlan(*module, cgOptions, cgStats);
    if (failed(plan))
      return 1;
    if (options.emit == "cuda")
      for (auto [i, source] : llvm::enumerate(plan->sources))
        os << (i ? "\n// ---- source unit " + std::to_string(i) + " ----\n" : "") << source;
    else {
      codegen::printPlan(*plan, os);
      for (const std::string &line : cgStats.bufferTable)
        os << "buffer " << line << "\n";
    }
    output->keep();
    if (options.checkNvrtc) {
      std::string e = codegen::compileWithNvrtc(*plan, nvrtcArch(options.arch));
      if (!e.empty()) {
        err << "spdc: " << options.inputPath << ": " << e << "\n";
        return 1;
      }
    }
    return 0;
  }

  // What the pipeline found and formed: the numbers a user checks first. Kept as text for the
  // compile cache, which prints it again for an unchanged model.
  Summary s = summarizeModule(*module);
  auto fn = *module->getOps<func::FuncOp>().begin();
  std::string summaryText;
  llvm::raw_string_ostream sos(summaryText);
  sos << options.inputPath << ": " << fn.getNumArguments() << " inputs, " << fn.getNumResults()
     << " outputs, pipeline '" << options.pipeline << "', " << llvm::format("%.0f", ms)
     << " ms\n";
  sos << "  composites:";
  bool any = false;
  for (StringRef kind : kCompositeKinds) {
    if (int64_t n = s.composites.lookup(kind)) {
      sos << " " << kind.drop_front(4) << " " << n;
      any = true;
    }
  }
  sos << (any ? "\n" : " none\n");
  int64_t fused = s.composites.lookup("spd.attention");
  sos << "  attention blocks: " << fused << " fused of " << fused + s.attentionUnfused
     << " found\n";
  sos << "  kernels: " << s.regions + s.unfused << " (" << s.regions << " fusion regions, "
     << s.unfused << " ops left unfused";
  if (!s.unfusedByName.empty()) {
    sos << ":";
    for (auto &[name, count] : s.unfusedByName)
      sos << " " << name.drop_front(4) << " " << count;
  }
  sos << ")\n";
  sos << "  remarks: " << remarks.count;
  if (remarks.count && !options.remarks)
    sos << " (see them with --remarks)";
  sos << "\n";
  os << summaryText;
  os.flush();
  if (options.emit == "summary") {
    output->keep();
    return 0;
  }

  // The bundle. With --arch, NVRTC compiles each template instantiation as soon as code
  // generation adds it; units compiled before (a template instantiation of another model) come
  // from the JIT cache, unless --no-cache.
  std::optional<codegen::UnitCompiler> compiler;
  if (!options.arch.empty()) {
    compiler.emplace(options.arch,
                     options.useCache ? codegen::defaultJitCacheDir() : std::string());
    cgOptions.onTemplateUnit = [&](const std::string &source, const std::string &name) {
      compiler->start(source, {name});
    };
  }
  TimingScope codegenTimer = timing.nest("code generation");
  FailureOr<bundle::Plan> plan = codegen::generatePlan(*module, cgOptions, cgStats);
  codegenTimer.stop();
  if (failed(plan)) {
    err << "spdc: " << options.inputPath << ": no bundle written (code generation failed)\n";
    return 1;
  }
  // With --arch, NVRTC compiles the kernels on another thread while this one writes the
  // weights (most of the bundle); the plan section follows once the kernels' names are lowered.
  bundle::BundleWriter writer;
  size_t binaryCount = options.arch.empty() ? 0 : plan->sources.size();
  std::optional<codegen::CompiledUnits> compiled;
  {
    TimingScope nvrtcAndWrite = timing.nest(options.arch.empty() ? "write bundle"
                                                                  : "NVRTC + write weights");
    std::thread nvrtc;
    if (compiler)
      nvrtc = std::thread([&] { compiled = compiler->compile(*plan); });
    std::string e = writer.begin(*plan, bundlePath, binaryCount);
    if (nvrtc.joinable())
      nvrtc.join();
    if (!e.empty()) {
      err << "spdc: " << e << "\n";
      return 1;
    }
  }
  if (compiled) {
    if (std::string e = codegen::addBinaries(*plan, options.arch, std::move(*compiled));
        !e.empty()) {
      err << "spdc: " << options.inputPath << ": " << e << "\n";
      return 1;
    }
  }
  TimingScope writeTimer = timing.nest("write plan and binaries");
  if (std::string e = writer.finish(*plan); !e.empty()) {
    err << "spdc: " << e << "\n";
    return 1;
  }
  writeTimer.stop();
  uint64_t bundleSize = 0;
  llvm::sys::fs::file_size(bundlePath, bundleSize);
  double totalMs = elapsedMs();
  std::string planText;
  llvm::raw_string_ostream pos(planText);
  pos << "  kernels emitted: " << cgStats.kernels << " launches of " << plan->kernelNames.size()
      << " kernels; GEMMs: " << cgStats.gemms << "; copies: " << cgStats.copies << "\n";
  if (cgStats.symbols.empty()) {
    pos << "  peak activation memory: " << cgStats.peakArenaBytes << " bytes; weights: "
        << cgStats.weightBytes << " bytes\n";
  } else {
    pos << "  dynamic dimensions:";
    for (auto [i, name] : llvm::enumerate(cgStats.symbols))
      pos << (i ? ", " : " ") << "s" << i << " = " << name;
    pos << "\n  activation memory: at most " << cgStats.arenaExpression
        << " bytes (planned when shapes are bound); weights: " << cgStats.weightBytes
        << " bytes\n";
  }
  os << planText;
  if (cache)
    cache->store(bundlePath, summaryText + planText);
  os << "  bundle: " << bundlePath << " (" << bundleSize << " bytes"
     << (options.arch.empty() ? "" : ", cubin for " + options.arch) << ", dtype "
     << options.dtype << ")\n";
  os << "  compile time: " << llvm::format("%.0f", totalMs) << " ms\n";
  output->keep();
  return 0;
}
