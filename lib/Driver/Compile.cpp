//===- Compile.cpp - `spdc model.onnx` ------------------------------------===//

#include "Common.h"

#include "spdc/Driver/Driver.h"
#include "spdc/Pipeline/Pipeline.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/FileSystem.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

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

int spdc::driver::compile(const CompileOptions &options, raw_ostream &out, raw_ostream &err) {
  if (options.emit != "summary" && options.emit != "mlir") {
    err << "spdc: unknown --emit=" << options.emit << " (expected summary or mlir)\n";
    return 1;
  }
  if (!isKnownPipeline(options.pipeline)) {
    err << "spdc: unknown --pipeline=" << options.pipeline << " (expected none or default)\n";
    return 1;
  }
  std::unique_ptr<MLIRContext> ctx = makeContext();
  OwningOpRef<ModuleOp> module =
      importAndOptimize(*ctx, options.inputPath, options.pipeline, options.import, nullptr);
  if (!module)
    return 1;

  std::string errorMessage;
  auto output = openOutputFile(options.outputPath, &errorMessage);
  if (!output) {
    err << "spdc: " << errorMessage << "\n";
    return 1;
  }
  if (options.emit == "mlir") {
    OpPrintingFlags flags;
    flags.elideLargeResourceString(kMaxPrintedResourceBytes);
    module->print(output->os(), flags);
    output->os() << "\n";
    output->keep();
    return 0;
  }

  // Summary: what the model holds, op by op kind.
  llvm::MapVector<StringRef, int64_t> counts;
  int64_t total = 0;
  module->walk([&](Operation *op) {
    if (isa<ModuleOp, func::FuncOp, func::ReturnOp>(op))
      return;
    ++counts[op->getName().getStringRef()];
    ++total;
  });
  auto fn = *module->getOps<func::FuncOp>().begin();
  output->os() << options.inputPath << ": " << fn.getNumArguments() << " inputs, "
               << fn.getNumResults() << " outputs, " << total << " ops after pipeline '"
               << options.pipeline << "'\n";
  for (auto &[name, count] : counts)
    output->os() << "  " << name << " " << count << "\n";
  output->keep();
  return 0;
}
