//===- Interpreter.h - CPU reference executor of spd IR --------*- C++ -*-===//
//
// Executes spd IR on the host with ONNX semantics. It is the oracle every pass and backend is
// checked against. Errors (a shape that disagrees at run time, an index out of range, an op it
// cannot run) come back as llvm::Error naming the op and its location; nothing aborts.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_INTERPRETER_INTERPRETER_H
#define SPDC_INTERPRETER_INTERPRETER_H

#include "spdc/Interpreter/Tensor.h"

#include <vector>

namespace mlir {
class Operation;
class Type;
class Attribute;
class ElementsAttr;
class MLIRContext;
namespace func {
class FuncOp;
} // namespace func
} // namespace mlir

namespace spdc {

/// Runs `func` on `inputs` (one per argument, in order) and returns its results. Dynamic
/// dimensions take the inputs' actual sizes; a static dimension that disagrees is an error.
llvm::Expected<std::vector<Tensor>> runFunction(mlir::func::FuncOp func,
                                                llvm::ArrayRef<Tensor> inputs);

/// Executes one op on concrete operands (used to fold constant subgraphs at import). The op's
/// regions, if any, are executed too.
llvm::Expected<std::vector<Tensor>> evaluateOp(mlir::Operation *op,
                                               llvm::ArrayRef<Tensor> operands);

/// The element type of an MLIR type (f32, i64, ui8, i1, ...), or an error naming it.
llvm::Expected<DType> dtypeFromType(mlir::Type type);
/// The MLIR element type of `dtype`.
mlir::Type typeFromDType(mlir::MLIRContext *ctx, DType dtype);

/// The value of a constant attribute (dense or dense_resource) as a tensor; resource blobs are
/// viewed, not copied.
llvm::Expected<Tensor> tensorFromAttr(mlir::ElementsAttr attr);
/// A dense attribute holding `t` (for folding small values back into the IR).
mlir::ElementsAttr attrFromTensor(mlir::MLIRContext *ctx, const Tensor &t);

} // namespace spdc

#endif // SPDC_INTERPRETER_INTERPRETER_H
