//===- Common.h - pieces shared by the driver's commands -------*- C++ -*-===//

#ifndef SPDC_LIB_DRIVER_COMMON_H
#define SPDC_LIB_DRIVER_COMMON_H

#include "spdc/Frontend/ONNX/Importer.h"
#include "spdc/Interpreter/Tensor.h"

#include "mlir/IR/MLIRContext.h"

#include <memory>
#include <string>

namespace spdc::driver {

/// A context with every dialect spdc's IR may hold, loaded.
std::unique_ptr<mlir::MLIRContext> makeContext();

/// Imports `path` and runs `pipeline`; diagnostics go to `diagnostics` (one per line) when not
/// null, else to stderr.
mlir::OwningOpRef<mlir::ModuleOp> importAndOptimize(mlir::MLIRContext &ctx, llvm::StringRef path,
                                                    llvm::StringRef pipeline,
                                                    const OnnxImportOptions &options,
                                                    std::string *diagnostics);

/// "f32[2x16]: min -1.2 max 3.4 mean 0.01 [0.1, 0.2, ...]".
std::string summarize(const Tensor &t);

} // namespace spdc::driver

#endif // SPDC_LIB_DRIVER_COMMON_H
