//===- NN.cpp - ONNX softmax and normalization converters -------------------===//

#include "../ImportContext.h"

using namespace mlir;
namespace spd = spdc::spd;

namespace spdc::onnx_import {
namespace {

std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// Softmax and LogSoftmax. From opset 13 they act along one axis (default -1); before, the
/// input is coerced to 2-D at `axis` (default 1) and normalized along the flattened trailing
/// part, which equals the one-axis form when `axis` is the last dimension.
template <typename OpT>
LogicalResult convertSoftmax(const onnx::NodeProto &node, ImportContext &ctx) {
  Value x = ctx.input(node, 0);
  if (!x)
    return ctx.error(node, "missing input 0");
  RankedTensorType type = tensorType(x);
  int64_t rank = type.getRank();
  bool legacy = ctx.opset() < 13;
  FailureOr<int64_t> axis =
      normalizeAxis(ctx.attrInt(node, "axis", legacy ? 1 : -1), std::max<int64_t>(rank, 1));
  if (failed(axis) || rank == 0)
    return ctx.error(node, "axis " + llvm::Twine(ctx.attrInt(node, "axis", legacy ? 1 : -1)) +
                               " is out of range for " + typeString(type));
  Location loc = ctx.loc(node);
  if (!legacy || *axis == rank - 1) {
    ctx.setOutput(node, 0, ctx.create<OpT>(loc, type, x, static_cast<uint64_t>(*axis)));
    return success();
  }
  // Coerce to 2-D, normalize the rows, and restore the shape (taken from the input when it
  // has dynamic dims).
  int64_t rows = 1, cols = 1;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t &part = i < *axis ? rows : cols;
    if (type.isDynamicDim(i) || ShapedType::isDynamic(part))
      part = ShapedType::kDynamic;
    else
      part *= type.getDimSize(i);
  }
  auto flatType = RankedTensorType::get({rows, cols}, type.getElementType());
  Value flat = ctx.create<spd::FlattenOp>(loc, flatType, x, static_cast<uint64_t>(*axis));
  Value y = ctx.create<OpT>(loc, flatType, flat, static_cast<uint64_t>(1));
  OpBuilder &b = ctx.builder();
  Value shape =
      type.hasStaticShape()
          ? ctx.constI64(loc, type.getShape())
          : ctx.create<spd::ShapeOp>(loc, RankedTensorType::get({rank}, b.getI64Type()), x,
                                     b.getI64IntegerAttr(0), b.getI64IntegerAttr(rank));
  ctx.setOutput(node, 0, ctx.create<spd::ReshapeOp>(loc, type, y, shape, false));
  return success();
}

/// LayerNormalization: Y is spd.layer_norm; the optional Mean and InvStdDev outputs are
/// computed beside it in f32 (the stash type) from reductions over the normalized dims.
LogicalResult convertLayerNorm(const onnx::NodeProto &node, ImportContext &ctx) {
  Value x = ctx.input(node, 0), scale = ctx.input(node, 1), bias = ctx.input(node, 2);
  if (!x || !scale)
    return ctx.error(node, "needs X and Scale inputs");
  RankedTensorType type = tensorType(x);
  Type elementType = type.getElementType();
  if (!isa<FloatType>(elementType))
    return ctx.error(node, "X must be floating point, got " + typeString(type));
  for (Value v : {scale, bias})
    if (v && tensorType(v).getElementType() != elementType)
      return ctx.error(node, "Scale and B must have X's element type " +
                                 typeString(elementType) + ", got " + typeString(v.getType()));
  int64_t rank = type.getRank();
  FailureOr<int64_t> axis = normalizeAxis(ctx.attrInt(node, "axis", -1), rank);
  if (failed(axis))
    return ctx.error(node, "axis " + llvm::Twine(ctx.attrInt(node, "axis", -1)) +
                               " is out of range for " + typeString(type));
  for (Value v : {scale, bias})
    if (v && tensorType(v).getRank() > rank - *axis)
      return ctx.error(node, "Scale and B must not have more dimensions than the " +
                                 llvm::Twine(rank - *axis) + " normalized ones, got " +
                                 typeString(v.getType()));
  float epsilon = ctx.attrFloat(node, "epsilon", 1e-5f);
  Location loc = ctx.loc(node);
  OpBuilder &b = ctx.builder();
  ctx.setOutput(node, 0,
                ctx.create<spd::LayerNormOp>(loc, type, x, scale, bias,
                                             b.getI64IntegerAttr(*axis),
                                             b.getF32FloatAttr(epsilon)));
  if (!ctx.hasOutput(node, 1) && !ctx.hasOutput(node, 2))
    return success();

  Type f32 = b.getF32Type();
  auto f32Type = RankedTensorType::get(type.getShape(), f32);
  Value x32 = elementType == f32 ? x : ctx.create<spd::CastOp>(loc, f32Type, x);
  SmallVector<int64_t> axes, reducedShape(type.getShape());
  for (int64_t i = *axis; i < rank; ++i) {
    axes.push_back(i);
    reducedShape[i] = 1;
  }
  auto reducedType = RankedTensorType::get(reducedShape, f32);
  Value mean = ctx.create<spd::ReduceMeanOp>(loc, reducedType, x32, b.getDenseI64ArrayAttr(axes),
                                             b.getBoolAttr(true));
  ctx.setOutput(node, 1, mean);
  if (!ctx.hasOutput(node, 2))
    return success();
  Value centered = ctx.create<spd::SubOp>(loc, f32Type, x32, mean);
  Value squared = ctx.create<spd::MulOp>(loc, f32Type, centered, centered);
  Value var = ctx.create<spd::ReduceMeanOp>(loc, reducedType, squared,
                                            b.getDenseI64ArrayAttr(axes), b.getBoolAttr(true));
  Value shifted =
      ctx.create<spd::AddOp>(loc, reducedType, var, ctx.constScalar(loc, f32, epsilon));
  Value stddev = ctx.create<spd::SqrtOp>(loc, reducedType, shifted);
  ctx.setOutput(node, 2, ctx.create<spd::ReciprocalOp>(loc, reducedType, stddev));
  return success();
}

} // namespace

void registerNNConverters(ConverterTable &table) {
  table.add("Softmax", convertSoftmax<spd::SoftmaxOp>);
  table.add("LogSoftmax", convertSoftmax<spd::LogSoftmaxOp>);
  table.add("LayerNormalization", convertLayerNorm);
}

} // namespace spdc::onnx_import
