//===- Common.cpp - pieces shared by the driver's commands ----------------===//

#include "Common.h"

#include "spdc/InitAll.h"
#include "spdc/Pipeline/Pipeline.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
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

OwningOpRef<ModuleOp> spdc::driver::importAndOptimize(MLIRContext &ctx, StringRef path,
                                                      StringRef pipeline,
                                                      const OnnxImportOptions &options,
                                                      std::string *diagnostics,
                                                      RemarkSink *remarks) {
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
        *remarks->os << diag.getLocation() << ": remark: " << text << "\n";
      return success();
    }
    if (!diagnostics)
      return failure(); // The context's default handler prints it.
    llvm::raw_string_ostream os(*diagnostics);
    if (!diagnostics->empty())
      os << "\n";
    os << diag.getLocation() << ": " << diag;
    for (Diagnostic &note : diag.getNotes())
      os << "\n  note: " << note;
    return success();
  });
  OwningOpRef<ModuleOp> module = importOnnxFile(path, ctx, options);
  if (!module)
    return nullptr;
  if (failed(runPipeline(*module, pipeline)))
    return nullptr;
  return module;
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
