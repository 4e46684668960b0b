//===- Quantization.cpp - ONNX QuantizeLinear, DequantizeLinear -----------===//
//
// Affine (de)quantization per tensor, per axis or blockwise (opset 21). The importer makes the
// zero point explicit (ONNX defaults it to a ui8 zero) so spd ops always carry one.
//
//===----------------------------------------------------------------------===//

#include "ConverterUtils.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace spdc;
using namespace spdc::onnx_import;
namespace spd = spdc::spd;

namespace {

/// Checks scale/zero-point granularity against the input and returns the normalized axis
/// (0 for per-tensor scales, where ONNX ignores it).
FailureOr<int64_t> checkGranularity(const onnx::NodeProto &node, ImportContext &ctx, Value input,
                                    Value scale, Value zeroPoint, int64_t blockSize) {
  RankedTensorType inputType = tensorType(input), scaleType = tensorType(scale);
  int64_t rawAxis = ImportContext::attrInt(node, "axis", 1);
  if (blockSize < 0) {
    (void)ctx.error(node, "block_size " + Twine(blockSize) + " is negative");
    return failure();
  }
  bool perTensor = scaleType.getRank() == 0 || (blockSize == 0 && scaleType.hasStaticShape() &&
                                                scaleType.getNumElements() == 1);
  FailureOr<int64_t> axis = normalizeAxis(rawAxis, inputType.getRank());
  if (perTensor) {
    axis = succeeded(axis) ? *axis : 0;
  } else if (failed(axis)) {
    (void)ctx.error(node, "axis " + Twine(rawAxis) + " is out of range for input " +
                              formatType(inputType));
    return failure();
  } else if (blockSize == 0) {
    int64_t dim = inputType.getDimSize(*axis);
    if (scaleType.getRank() != 1) {
      (void)ctx.error(node, "scale " + formatType(scaleType) +
                                " must be a scalar or 1-D (per axis) without block_size");
      return failure();
    }
    if (isKnown(dim) && isKnown(scaleType.getDimSize(0)) && scaleType.getDimSize(0) != dim) {
      (void)ctx.error(node, "scale " + formatType(scaleType) + " must have " + Twine(dim) +
                                " elements, the size of axis " + Twine(*axis) + " of input " +
                                formatType(inputType));
      return failure();
    }
  } else {
    if (scaleType.getRank() != inputType.getRank()) {
      (void)ctx.error(node, "blocked scale " + formatType(scaleType) +
                                " must have the rank of input " + formatType(inputType));
      return failure();
    }
    int64_t dim = inputType.getDimSize(*axis), blocks = scaleType.getDimSize(*axis);
    if (isKnown(dim) && isKnown(blocks) && blocks != (dim + blockSize - 1) / blockSize) {
      (void)ctx.error(node, "blocked scale " + formatType(scaleType) + " must have " +
                                Twine((dim + blockSize - 1) / blockSize) + " blocks along axis " +
                                Twine(*axis) + " for block_size " + Twine(blockSize));
      return failure();
    }
  }
  if (zeroPoint) {
    RankedTensorType zpType = tensorType(zeroPoint);
    if (failed(verifyCompatibleShape(zpType.getShape(), scaleType.getShape()))) {
      (void)ctx.error(node, "zero point " + formatType(zpType) + " and scale " +
                                formatType(scaleType) + " differ in shape");
      return failure();
    }
  }
  return *axis;
}

/// ONNX's default zero point: zeros of `elementType` in the scale's shape (a scalar for
/// per-tensor scales; per-axis and blocked scales need one zero point per scale).
Value defaultZeroPoint(ImportContext &ctx, Location loc, Value scale, Type elementType) {
  RankedTensorType scaleType = tensorType(scale);
  if (scaleType.getRank() == 0)
    return ctx.constScalar(loc, elementType, 0.0);
  int64_t rank = scaleType.getRank();
  Value shape = ctx.create<spd::ShapeOp>(
      loc, RankedTensorType::get({rank}, ctx.builder().getI64Type()), scale, 0, rank);
  auto zero = DenseElementsAttr::get(RankedTensorType::get({1}, elementType),
                                     ctx.builder().getZeroAttr(elementType));
  return ctx.create<spd::ConstantOfShapeOp>(
      loc, RankedTensorType::get(scaleType.getShape(), elementType), shape, zero);
}

LogicalResult convertQuantizeLinear(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = requiredInput(node, ctx, 0, "x");
  if (failed(x))
    return failure();
  FailureOr<Value> scale = requiredInput(node, ctx, 1, "y_scale");
  if (failed(scale))
    return failure();
  Value zeroPoint = ctx.input(node, 2);
  Location loc = ctx.loc(node);

  // Result type: the zero point's, else output_dtype (opset 21), else ui8.
  Type elementType = zeroPoint ? tensorType(zeroPoint).getElementType() : Type();
  if (int64_t dtype = ImportContext::attrInt(node, "output_dtype", 0)) {
    Type t = elementTypeFromOnnx(ctx.context(), dtype);
    if (!t)
      return ctx.error(node, "output_dtype " + Twine(dtype) + " is not supported");
    if (elementType && elementType != t)
      return ctx.error(node, "output_dtype " + formatType(t) + " differs from the zero point's " +
                                 formatType(elementType));
    elementType = t;
  }
  if (!elementType)
    elementType = IntegerType::get(ctx.context(), 8, IntegerType::Unsigned);

  int64_t blockSize = ImportContext::attrInt(node, "block_size", 0);
  FailureOr<int64_t> axis = checkGranularity(node, ctx, *x, *scale, zeroPoint, blockSize);
  if (failed(axis))
    return failure();
  if (!zeroPoint)
    zeroPoint = defaultZeroPoint(ctx, loc, *scale, elementType);

  auto type = RankedTensorType::get(tensorType(*x).getShape(), elementType);
  Value result =
      ctx.create<spd::QuantizeLinearOp>(loc, type, *x, *scale, zeroPoint, *axis, blockSize);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertDequantizeLinear(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = requiredInput(node, ctx, 0, "x");
  if (failed(x))
    return failure();
  FailureOr<Value> scale = requiredInput(node, ctx, 1, "x_scale");
  if (failed(scale))
    return failure();
  Value zeroPoint = ctx.input(node, 2);
  Location loc = ctx.loc(node);
  Type inputElementType = tensorType(*x).getElementType();
  if (zeroPoint && tensorType(zeroPoint).getElementType() != inputElementType)
    return ctx.error(node, "zero point " + formatType(zeroPoint.getType()) +
                               " must have the element type of x " + formatType(x->getType()));

  int64_t blockSize = ImportContext::attrInt(node, "block_size", 0);
  FailureOr<int64_t> axis = checkGranularity(node, ctx, *x, *scale, zeroPoint, blockSize);
  if (failed(axis))
    return failure();
  if (!zeroPoint)
    zeroPoint = defaultZeroPoint(ctx, loc, *scale, inputElementType);

  auto type = RankedTensorType::get(tensorType(*x).getShape(), tensorType(*scale).getElementType());
  Value result =
      ctx.create<spd::DequantizeLinearOp>(loc, type, *x, *scale, zeroPoint, *axis, blockSize);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertDynamicQuantizeLinear(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = requiredInput(node, ctx, 0, "x");
  if (failed(x))
    return failure();
  RankedTensorType type = tensorType(*x);
  if (!type.getElementType().isF32())
    return ctx.error(node, "x must be f32, got " + formatType(type));
  Type u8 = IntegerType::get(ctx.context(), 8, IntegerType::Unsigned);
  auto op = spd::DynamicQuantizeLinearOp::create(
      ctx.builder(), ctx.loc(node), RankedTensorType::get(type.getShape(), u8),
      RankedTensorType::get({}, ctx.builder().getF32Type()), RankedTensorType::get({}, u8), *x);
  SmallVector<Value> results = ctx.fold(op.getOperation());
  for (auto [i, r] : llvm::enumerate(results))
    if (ctx.hasOutput(node, i))
      ctx.setOutput(node, i, r);
  return success();
}

} // namespace

void spdc::onnx_import::registerQuantizationConverters(ConverterTable &table) {
  table.add("QuantizeLinear", convertQuantizeLinear);
  table.add("DequantizeLinear", convertDequantizeLinear);
  table.add("DynamicQuantizeLinear", convertDynamicQuantizeLinear);
}
