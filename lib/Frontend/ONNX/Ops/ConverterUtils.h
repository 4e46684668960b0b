//===- ConverterUtils.h - helpers shared by the ONNX converters -*- C++ -*-===//
//
// Small pieces the Reduction, Tensor, Shape and Quantization converters share: reading axes
// that moved from attributes to inputs, normalizing them, and formatting values for messages.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_LIB_FRONTEND_ONNX_OPS_CONVERTERUTILS_H
#define SPDC_LIB_FRONTEND_ONNX_OPS_CONVERTERUTILS_H

#include "../ImportContext.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace spdc::onnx_import {

inline bool isKnown(int64_t v) { return v != kUnknown; }

/// "[2, ?, 3]": a partially known integer vector (or a shape) for messages.
inline std::string formatInts(llvm::ArrayRef<int64_t> values) {
  std::string s = "[";
  llvm::raw_string_ostream os(s);
  llvm::interleaveComma(values, os, [&](int64_t v) {
    if (isKnown(v))
      os << v;
    else
      os << "?";
  });
  os << "]";
  return s;
}

/// "4" or "?" for messages.
inline std::string formatDim(int64_t d) { return isKnown(d) ? std::to_string(d) : "?"; }

/// "tensor<2x?xf32>" for messages.
inline std::string formatType(mlir::Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  type.print(os);
  return s;
}

/// Input `i` of `node`, which the op requires; an error naming it when it is absent.
inline mlir::FailureOr<mlir::Value> requiredInput(const onnx::NodeProto &node, ImportContext &ctx,
                                                  int i, llvm::StringRef what) {
  if (mlir::Value v = ctx.input(node, i))
    return v;
  (void)ctx.error(node, "missing required input " + llvm::Twine(i) + " (" + what + ")");
  return mlir::failure();
}

/// Integer list that older opsets give as attribute `attrName` and newer ones as input
/// `inputIndex` (which must then be a constant). Whichever the node carries is used, so a model
/// that mislabels its opset still imports. None when the node has neither.
inline mlir::FailureOr<std::optional<llvm::SmallVector<int64_t>>>
attrOrConstantInput(const onnx::NodeProto &node, ImportContext &ctx, int inputIndex,
                    llvm::StringRef attrName) {
  if (mlir::Value v = ctx.input(node, inputIndex)) {
    std::optional<llvm::SmallVector<int64_t>> values = ctx.constantInts(v);
    if (!values) {
      (void)ctx.error(node, "input '" + attrName +
                                "' must be a constant known at import, but it is computed at "
                                "run time");
      return mlir::failure();
    }
    return std::optional<llvm::SmallVector<int64_t>>(std::move(*values));
  }
  return ImportContext::attrInts(node, attrName);
}

/// Normalizes every axis against `rank` and checks that none repeats; sorted when `sort`.
inline mlir::FailureOr<llvm::SmallVector<int64_t>>
normalizeAxes(const onnx::NodeProto &node, ImportContext &ctx, llvm::ArrayRef<int64_t> axes,
              int64_t rank, bool sort = true, llvm::StringRef what = "axes") {
  llvm::SmallVector<int64_t> result;
  for (int64_t axis : axes) {
    mlir::FailureOr<int64_t> n = normalizeAxis(axis, rank);
    if (mlir::failed(n)) {
      (void)ctx.error(node, what + " " + formatInts(axes) + ": axis " + llvm::Twine(axis) +
                                " is out of range for rank " + llvm::Twine(rank));
      return mlir::failure();
    }
    if (llvm::is_contained(result, *n)) {
      (void)ctx.error(node, what + " " + formatInts(axes) + ": axis " + llvm::Twine(*n) +
                                " appears twice");
      return mlir::failure();
    }
    result.push_back(*n);
  }
  if (sort)
    llvm::sort(result);
  return result;
}

/// Records what is known of an integer vector the converter built, unless folding already made
/// it a constant (whose elements are known anyway).
inline void recordPartialInts(ImportContext &ctx, mlir::Value v, llvm::ArrayRef<int64_t> values) {
  if (!ctx.constant(v))
    ctx.setPartialInts(v, values);
}

/// A shape-valued input as far as known: its elements, or kUnknown for each when only its
/// length is static. Failure (after an error) when not even the length is known.
inline mlir::FailureOr<llvm::SmallVector<int64_t>>
knownVector(const onnx::NodeProto &node, ImportContext &ctx, mlir::Value v, llvm::StringRef what) {
  mlir::RankedTensorType type = tensorType(v);
  if (type.getRank() != 1) {
    (void)ctx.error(node, what + " must be a 1-D tensor, got " + formatType(type));
    return mlir::failure();
  }
  if (std::optional<llvm::SmallVector<int64_t>> known = ctx.partialInts(v))
    return *known;
  if (type.isDynamicDim(0)) {
    (void)ctx.error(node, what + " has a length unknown at import");
    return mlir::failure();
  }
  return llvm::SmallVector<int64_t>(type.getDimSize(0), kUnknown);
}

inline bool isIndexTensor(mlir::Value v) {
  mlir::Type t = tensorType(v).getElementType();
  return t.isSignlessInteger(32) || t.isSignlessInteger(64);
}

inline mlir::LogicalResult checkIndexTensor(const onnx::NodeProto &node, ImportContext &ctx,
                                            mlir::Value v, llvm::StringRef what) {
  if (!isIndexTensor(v))
    return ctx.error(node, what + " must be int32 or int64, got " + formatType(v.getType()));
  return mlir::success();
}

/// Product of `dims`, or kUnknown when one is unknown.
inline int64_t productOrUnknown(llvm::ArrayRef<int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims) {
    if (!isKnown(d))
      return kUnknown;
    p *= d;
  }
  return p;
}

} // namespace spdc::onnx_import

#endif // SPDC_LIB_FRONTEND_ONNX_OPS_CONVERTERUTILS_H
