//===- Common.cpp - pieces shared by the driver's commands ----------------===//

#include "Common.h"

#include "spdc/Codegen/CUDA/Codegen.h"
#include "spdc/InitAll.h"

#include "bundle/Bundle.h"
#include "spdc/Pipeline/Pipeline.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>

using namespace mlir;

std::unique_ptr<MLIRContext> spdc::driver::makeContext() {
  DialectRegistry registry;
  registerAllDialects(registry);
  auto ctx = std::make_unique<MLIRContext>(registry);
  ctx->loadAllAvailableDialects();
  return ctx;
}

/// "model.onnx: Gather_3 (Gather)" for a node's location, the file alone for the model's, and
/// the first node plus a count for the fused location of a composite op.
static std::string formatLocation(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc)) {
    std::string where = formatLocation(name.getChildLoc());
    std::string node = name.getName().str();
    return where.empty() ? node : where + ": " + node;
  }
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    ArrayRef<Location> locs = fused.getLocations();
    if (locs.empty())
      return "";
    std::string first = formatLocation(locs.front());
    if (locs.size() > 1)
      first += " (+" + std::to_string(locs.size() - 1) + " more nodes)";
    return first;
  }
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return file.getFilename().str();
  if (isa<UnknownLoc>(loc))
    return "";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << loc;
  return s;
}

static StringRef severityName(DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Error:
    return "error";
  case DiagnosticSeverity::Warning:
    return "warning";
  case DiagnosticSeverity::Remark:
    return "remark";
  case DiagnosticSeverity::Note:
    return "note";
  }
  return "note";
}

OwningOpRef<ModuleOp> spdc::driver::importAndOptimize(MLIRContext &ctx, StringRef path,
                                                      StringRef pipeline,
                                                      const OnnxImportOptions &options,
                                                      std::string *diagnostics,
                                                      RemarkSink *remarks, TimingScope *timing) {
  std::optional<llvm::Regex> filter;
  if (remarks && !remarks->filter.empty())
    filter.emplace(remarks->filter);
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &diag) -> LogicalResult {
    if (diag.getSeverity() == DiagnosticSeverity::Remark) {
      if (!remarks)
        return success();
      ++remarks->count;
      std::string text = diag.str();
      if (remarks->print && remarks->os && (!filter || filter->match(text)))
        *remarks->os << formatLocation(diag.getLocation()) << ": remark: " << text << "\n";
      return success();
    }
    std::string message;
    llvm::raw_string_ostream os(message);
    os << formatLocation(diag.getLocation()) << ": " << severityName(diag.getSeverity()) << ": "
       << diag;
    for (Diagnostic &note : diag.getNotes())
      os << "\n  " << formatLocation(note.getLocation()) << ": note: " << note;
    if (!diagnostics) {
      llvm::errs() << message << "\n";
      return success();
    }
    if (!diagnostics->empty())
      *diagnostics += "\n";
    *diagnostics += message;
    return success();
  });
  TimingScope importTimer = timing ? timing->nest("import ONNX") : TimingScope();
  OwningOpRef<ModuleOp> module = importOnnxFile(path, ctx, options);
  importTimer.stop();
  if (!module)
    return nullptr;
  TimingScope pipelineTimer = timing ? timing->nest("pipeline") : TimingScope();
  if (failed(runPipeline(*module, pipeline, timing ? &pipelineTimer : nullptr)))
    return nullptr;
  return module;
}

spdc::codegen::CodegenOptions spdc::driver::codegenOptions(const std::string &dtype,
                                                     const KernelChoices &kernels) {
  codegen::CodegenOptions o;
  o.dtype = dtype;
  o.attentionInPlace = kernels.attentionInPlace;
  o.attentionWarpSpecialized = kernels.attentionWarpSpecialized;
  o.attentionPersistent = kernels.attentionPersistent;
  o.attentionWideKeyTiles = kernels.attentionWideKeyTiles;
  o.attentionTensorCopies = kernels.attentionTensorCopies;
  o.gemmPaddedRows = kernels.gemmPaddedRows;
  return o;
}

std::string spdc::driver::writeModuleBundle(ModuleOp module, const std::string &path,
                                           const codegen::CodegenOptions &options,
                                           const std::string &arch) {
  std::string diagnostic;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    if (diagnostic.empty())
      diagnostic = formatLocation(d.getLocation()) + ": " + d.str();
    return success();
  });
  codegen::CodegenStats stats;
  FailureOr<bundle::Plan> plan = codegen::generatePlan(module, options, stats);
  if (failed(plan))
    return "code generation failed: " + diagnostic;
  if (!arch.empty())
    if (std::string e = codegen::precompile(*plan, arch); !e.empty())
      return "precompiling for " + arch + ": " + e;
  return bundle::writeBundle(*plan, path);
}

std::vector<std::string> spdc::driver::numberedFiles(StringRef dir, StringRef prefix) {
  std::vector<std::string> files;
  for (int i = 0;; ++i) {
    SmallString<256> path(dir);
    llvm::sys::path::append(path, (prefix + Twine(i) + ".pb").str());
    if (!llvm::sys::fs::exists(path))
      break;
    files.push_back(std::string(path));
  }
  return files;
}

std::string spdc::driver::summarize(const Tensor &t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t.typeString();
  int64_t n = t.numElements();
  if (n == 0)
    return s;
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  int64_t nans = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v = t.getDouble(i);
    if (std::isnan(v)) {
      ++nans;
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  os << ": min " << lo << " max " << hi << " mean " << sum / std::max<int64_t>(n - nans, 1);
  if (nans)
    os << " nan " << nans;
  os << " [";
  constexpr int64_t kShown = 4;
  for (int64_t i = 0; i < std::min(n, kShown); ++i)
    os << (i ? ", " : "") << t.getDouble(i);
  os << (n > kShown ? ", ...]" : "]");
  return s;
}
