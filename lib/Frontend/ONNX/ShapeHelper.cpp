//===- ShapeHelper.cpp - shape rules shared by the ONNX converters ----------===//

#include "ImportContext.h"

using namespace mlir;

namespace spdc::onnx_import {

FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Right-aligned: missing leading dims act as 1.
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    bool dynA = ShapedType::isDynamic(da), dynB = ShapedType::isDynamic(db);
    if (dynA && dynB)
      result[i] = ShapedType::kDynamic;
    else if (dynA)
      result[i] = db == 1 ? ShapedType::kDynamic : db;
    else if (dynB)
      result[i] = da == 1 ? ShapedType::kDynamic : da;
    else if (da == db || db == 1)
      result[i] = da;
    else if (da == 1)
      result[i] = db;
    else
      return failure();
  }
  return result;
}

FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return failure();
  return axis < 0 ? axis + rank : axis;
}

Type elementTypeFromOnnx(MLIRContext *ctx, int32_t t) {
  auto uint = [&](unsigned width) {
    return IntegerType::get(ctx, width, IntegerType::Unsigned);
  };
  switch (t) {
  case onnx::TensorProto::FLOAT: return Float32Type::get(ctx);
  case onnx::TensorProto::FLOAT16: return Float16Type::get(ctx);
  case onnx::TensorProto::BFLOAT16: return BFloat16Type::get(ctx);
  case onnx::TensorProto::DOUBLE: return Float64Type::get(ctx);
  case onnx::TensorProto::INT8: return IntegerType::get(ctx, 8);
  case onnx::TensorProto::INT16: return IntegerType::get(ctx, 16);
  case onnx::TensorProto::INT32: return IntegerType::get(ctx, 32);
  case onnx::TensorProto::INT64: return IntegerType::get(ctx, 64);
  case onnx::TensorProto::UINT8: return uint(8);
  case onnx::TensorProto::UINT16: return uint(16);
  case onnx::TensorProto::UINT32: return uint(32);
  case onnx::TensorProto::UINT64: return uint(64);
  case onnx::TensorProto::BOOL: return IntegerType::get(ctx, 1);
  default: return {};
  }
}

} // namespace spdc::onnx_import
