//===- ShapeUtils.h - shape and index helpers of the kernels ---*- C++ -*-===//
//
// Strides, shape arithmetic that cannot overflow silently, and reading index tensors, for the
// kernels that compute their result shapes from operand values. Element-type dispatch lives in
// KernelUtils.h. Private to lib/Interpreter.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_LIB_INTERPRETER_SHAPEUTILS_H
#define SPDC_LIB_INTERPRETER_SHAPEUTILS_H

#include "spdc/Interpreter/Tensor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/MathExtras.h"

#include <cstdint>
#include <optional>
#include <string>

namespace spdc {

/// Row-major strides, in elements.
inline llvm::SmallVector<int64_t, 6> rowMajorStrides(llvm::ArrayRef<int64_t> shape) {
  llvm::SmallVector<int64_t, 6> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/// Product of `dims`, or nothing when one is negative or the product overflows int64.
inline std::optional<int64_t> checkedProduct(llvm::ArrayRef<int64_t> dims) {
  int64_t result = 1;
  for (int64_t d : dims) {
    if (d < 0 || llvm::MulOverflow(result, d, result))
      return std::nullopt;
  }
  return result;
}

inline int64_t product(llvm::ArrayRef<int64_t> dims) {
  int64_t result = 1;
  for (int64_t d : dims)
    result *= d;
  return result;
}

/// "[2x3x4]", "[]" for a scalar.
inline std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += "x";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

/// The values of an integer tensor (index vectors, shapes), widened to int64.
inline llvm::SmallVector<int64_t> readInts(const Tensor &t) {
  llvm::SmallVector<int64_t> values;
  int64_t n = t.numElements();
  values.reserve(n);
  switch (t.dtype()) {
  case DType::I64:
    values.append(t.data<int64_t>(), t.data<int64_t>() + n);
    break;
  case DType::I32:
    values.append(t.data<int32_t>(), t.data<int32_t>() + n);
    break;
  default:
    for (int64_t i = 0; i < n; ++i)
      values.push_back(t.getInt(i));
    break;
  }
  return values;
}

/// Element strides of `shape` read as broadcast to `outShape` (right-aligned): 0 where the
/// dimension is broadcast or missing.
inline llvm::SmallVector<int64_t, 6> broadcastStrides(llvm::ArrayRef<int64_t> shape,
                                                      llvm::ArrayRef<int64_t> outShape) {
  llvm::SmallVector<int64_t, 6> strides(outShape.size(), 0);
  llvm::SmallVector<int64_t, 6> own = rowMajorStrides(shape);
  size_t offset = outShape.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    strides[offset + i] = (shape[i] == 1 && outShape[offset + i] != 1) ? 0 : own[i];
  return strides;
}

} // namespace spdc

#endif // SPDC_LIB_INTERPRETER_SHAPEUTILS_H
