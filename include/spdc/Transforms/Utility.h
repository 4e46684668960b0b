//===- Utility.h - helpers shared by spdc's passes -------------*- C++ -*-===//

#ifndef SPDC_TRANSFORMS_UTILITY_H
#define SPDC_TRANSFORMS_UTILITY_H

#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"

#include <optional>

namespace spdc {

/// Emits a remark at `op` for an optimization a pass did not apply: "<pass>: <why>". spdc shows
/// remarks with --remarks (filtered by pass with --remarks-filter); spdc-opt tests match them
/// with expected-remark.
void emitMissedRemark(mlir::Operation *op, llvm::StringRef pass, const llvm::Twine &why);

/// The value of a constant whose elements are all equal (a scalar or a splat), as a double.
std::optional<double> getConstantSplat(mlir::Value v);

/// Whether `v` is a constant splat equal to `expected` within `relTol`.
bool isConstantSplat(mlir::Value v, double expected, double relTol = 1e-6);

} // namespace spdc

#endif // SPDC_TRANSFORMS_UTILITY_H
