//===- Kernels.h - the interpreter's kernel table --------------*- C++ -*-===//
//
// One kernel per spd op, registered in one table keyed by the op's TypeID. A kernel reads its
// operands (concrete shapes), allocates its results with the actual shapes and fills them.
// Kernels are templates over the element type: no per-element virtual dispatch.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_LIB_INTERPRETER_KERNELS_H
#define SPDC_LIB_INTERPRETER_KERNELS_H

#include "spdc/Interpreter/Tensor.h"

#include "mlir/IR/Operation.h"
#include "mlir/Support/TypeID.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/Twine.h"

#include <vector>

namespace spdc {

using KernelFn = llvm::Error (*)(mlir::Operation *op, llvm::ArrayRef<Tensor> operands,
                                 std::vector<Tensor> &results);

class KernelTable {
public:
  template <typename OpT> void add(KernelFn fn) { kernels[mlir::TypeID::get<OpT>()] = fn; }
  KernelFn lookup(mlir::Operation *op) const {
    auto name = op->getRegisteredInfo();
    if (!name)
      return nullptr;
    return kernels.lookup(name->getTypeID());
  }

private:
  llvm::DenseMap<mlir::TypeID, KernelFn> kernels;
};

/// An error naming `op` and its location (the ONNX node): "spd.gather (node "Gather_3"): msg".
llvm::Error opError(mlir::Operation *op, const llvm::Twine &message);

/// The element type of result `i` of `op`.
llvm::Expected<DType> resultDType(mlir::Operation *op, unsigned i = 0);

// Each family registers its kernels; see the .cpp of the same name.
void registerElementwiseKernels(KernelTable &table);
void registerReductionKernels(KernelTable &table);
void registerNormalizationKernels(KernelTable &table);
void registerContractionKernels(KernelTable &table);
void registerMovementKernels(KernelTable &table);
void registerQuantizationKernels(KernelTable &table);
void registerActivationKernels(KernelTable &table);
void registerRopeKernels(KernelTable &table);
void registerAttentionKernels(KernelTable &table);

} // namespace spdc

#endif // SPDC_LIB_INTERPRETER_KERNELS_H
