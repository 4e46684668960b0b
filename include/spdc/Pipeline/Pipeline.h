//===- Pipeline.h - spdc's named pass pipelines ----------------*- C++ -*-===//

#ifndef SPDC_PIPELINE_PIPELINE_H
#define SPDC_PIPELINE_PIPELINE_H

#include "mlir/Support/LLVM.h"

namespace mlir {
class ModuleOp;
class OpPassManager;
class TimingScope;
} // namespace mlir

namespace spdc {

/// The inference pipeline on imported IR: canonicalize (folds constants and shape arithmetic)
/// and CSE. Later stages (composite recognition, fusion) are appended here.
void buildDefaultPipeline(mlir::OpPassManager &pm);

/// Runs the pipeline named `name` ("none" or "default") on `module`, honouring the
/// --mlir-print-ir-* and --mlir-timing command-line options when they were registered.
/// Runs the named pipeline. With `timing`, the passes' times nest under it; without, the
/// --mlir-timing options apply to this run alone.
mlir::LogicalResult runPipeline(mlir::ModuleOp module, llvm::StringRef name,
                                mlir::TimingScope *timing = nullptr);

/// Whether `name` names a pipeline.
bool isKnownPipeline(llvm::StringRef name);

} // namespace spdc

#endif // SPDC_PIPELINE_PIPELINE_H
