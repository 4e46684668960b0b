//===- Importer.h - ONNX to spd --------------------------------*- C++ -*-===//
//
// Imports an ONNX model (binary protobuf, with external data, or the ONNX textual syntax) into a
// module holding one `func.func @main` of spd ops. Problems are reported through the context's
// diagnostic engine at a location that names the file and the ONNX node; the result is null then.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_FRONTEND_ONNX_IMPORTER_H
#define SPDC_FRONTEND_ONNX_IMPORTER_H

#include "spdc/Interpreter/Tensor.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

namespace spdc {

struct OnnxImportOptions {
  /// Shapes the user fixes for graph inputs (`--input-shape=input_ids:2x16`); other inputs keep
  /// the model's dims, with symbolic ones dynamic.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Graph inputs replaced by constants of these values (specializes the model on them, as
  /// when an input carries axes or sizes that spd needs as attributes).
  llvm::StringMap<Tensor> boundInputs;
  /// Evaluate subgraphs whose operands are all known (shape arithmetic) at import.
  bool foldConstants = true;
  /// Constants with at most this many elements are `dense` (printable, foldable); larger ones
  /// are `dense_resource` blobs that are never printed.
  int64_t maxInlineElements = 64;
};

/// Imports the model in `path`. The ONNX textual syntax is recognized by the `.onnxtxt`
/// extension or by content; anything else is read as a binary ModelProto.
mlir::OwningOpRef<mlir::ModuleOp> importOnnxFile(llvm::StringRef path, mlir::MLIRContext &ctx,
                                                 const OnnxImportOptions &options = {});

/// Imports a model held in memory; `baseDir` resolves external-data locations.
mlir::OwningOpRef<mlir::ModuleOp> importOnnxBuffer(llvm::StringRef buffer,
                                                   llvm::StringRef fileName,
                                                   llvm::StringRef baseDir,
                                                   mlir::MLIRContext &ctx,
                                                   const OnnxImportOptions &options = {});

} // namespace spdc

#endif // SPDC_FRONTEND_ONNX_IMPORTER_H
