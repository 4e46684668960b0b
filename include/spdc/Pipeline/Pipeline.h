//===- Pipeline.h - spdc's named pass pipelines ----------------*- C++ -*-===//

#ifndef SPDC_PIPELINE_PIPELINE_H
#define SPDC_PIPELINE_PIPELINE_H

#include "mlir/Support/LLVM.h"

namespace mlir {
class ModuleOp;
class OpPassManager;
} // namespace mlir

namespace spdc {

/// The inference pipeline on imported IR: canonicalize (folds constants and shape arithmetic)
/// and CSE. Later stages (composite recognition, fusion) are appended here.
void buildDefaultPipeline(mlir::OpPassManager &pm);

/// Runs the pipeline named `name` ("none" or "default") on `module`, honouring the
/// --mlir-print-ir-* and --mlir-timing command-line options when they were registered.
mlir::LogicalResult runPipeline(mlir::ModuleOp module, llvm::StringRef name);

/// Whether `name` names a pipeline.
bool isKnownPipeline(llvm::StringRef name);

} // namespace spdc

#endif // SPDC_PIPELINE_PIPELINE_H
