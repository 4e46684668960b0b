//===- Elementwise.cpp - ONNX elementwise converters ------------------------===//
//
// Unary, binary (numpy broadcasting), variadic and ternary elementwise ops, casts, Clip,
// Identity and inference-mode Dropout.
//
//===----------------------------------------------------------------------===//

#include "../ImportContext.h"

#include "mlir/IR/BuiltinAttributes.h"

#include <limits>

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

/// Input `i`, or an error naming it when absent.
FailureOr<Value> required(const onnx::NodeProto &node, ImportContext &ctx, int i) {
  Value v = ctx.input(node, i);
  if (!v)
    return ctx.error(node, "missing input " + llvm::Twine(i));
  return v;
}

FailureOr<RankedTensorType> broadcastType(const onnx::NodeProto &node, ImportContext &ctx,
                                          ArrayRef<Value> operands, Type elementType) {
  SmallVector<int64_t> shape;
  for (Value v : operands) {
    FailureOr<SmallVector<int64_t>> b = broadcastShapes(shape, tensorType(v).getShape());
    if (failed(b)) {
      std::string shapes;
      for (Value o : operands)
        shapes += (shapes.empty() ? "" : ", ") + typeString(o.getType());
      return ctx.error(node, "operand shapes do not broadcast: " + shapes);
    }
    shape = *b;
  }
  return RankedTensorType::get(shape, elementType);
}

LogicalResult sameElementType(const onnx::NodeProto &node, ImportContext &ctx, Value a,
                              Value b) {
  Type ta = tensorType(a).getElementType(), tb = tensorType(b).getElementType();
  if (ta != tb)
    return ctx.error(node, "operand element types differ: " + typeString(ta) + " vs " +
                               typeString(tb));
  return success();
}

/// lhs OP rhs with broadcasting; the result has the operands' element type, or i1 when
/// `predicate`.
template <typename OpT, bool predicate = false>
FailureOr<Value> buildBinary(const onnx::NodeProto &node, ImportContext &ctx, Value a, Value b) {
  if (failed(sameElementType(node, ctx, a, b)))
    return failure();
  Type elementType =
      predicate ? Type(ctx.builder().getI1Type()) : tensorType(a).getElementType();
  FailureOr<RankedTensorType> type = broadcastType(node, ctx, {a, b}, elementType);
  if (failed(type))
    return failure();
  return ctx.create<OpT>(ctx.loc(node), *type, a, b);
}

template <typename OpT, bool predicate = false>
LogicalResult convertBinary(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> a = required(node, ctx, 0), b = failed(a) ? a : required(node, ctx, 1);
  if (failed(b))
    return failure();
  FailureOr<Value> r = buildBinary<OpT, predicate>(node, ctx, *a, *b);
  if (failed(r))
    return failure();
  ctx.setOutput(node, 0, *r);
  return success();
}

/// Max, Min, Sum (and Mean's sum): a left-to-right chain over all inputs.
template <typename OpT>
FailureOr<Value> buildChain(const onnx::NodeProto &node, ImportContext &ctx) {
  if (node.input_size() == 0)
    return ctx.error(node, "needs at least one input");
  FailureOr<Value> acc = required(node, ctx, 0);
  for (int i = 1; succeeded(acc) && i < node.input_size(); ++i) {
    FailureOr<Value> next = required(node, ctx, i);
    if (failed(next))
      return failure();
    acc = buildBinary<OpT>(node, ctx, *acc, *next);
  }
  return acc;
}

template <typename OpT>
LogicalResult convertVariadic(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> r = buildChain<OpT>(node, ctx);
  if (failed(r))
    return failure();
  ctx.setOutput(node, 0, *r);
  return success();
}

LogicalResult convertMean(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> sum = buildChain<spd::AddOp>(node, ctx);
  if (failed(sum))
    return failure();
  Location loc = ctx.loc(node);
  Value n = ctx.constScalar(loc, tensorType(*sum).getElementType(), node.input_size());
  ctx.setOutput(node, 0, ctx.create<spd::DivOp>(loc, sum->getType(), *sum, n));
  return success();
}

LogicalResult convertPow(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> a = required(node, ctx, 0), b = failed(a) ? a : required(node, ctx, 1);
  if (failed(b))
    return failure();
  FailureOr<RankedTensorType> type =
      broadcastType(node, ctx, {*a, *b}, tensorType(*a).getElementType());
  if (failed(type))
    return failure();
  ctx.setOutput(node, 0, ctx.create<spd::PowOp>(ctx.loc(node), *type, *a, *b));
  return success();
}

LogicalResult convertMod(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> a = required(node, ctx, 0), b = failed(a) ? a : required(node, ctx, 1);
  if (failed(b) || failed(sameElementType(node, ctx, *a, *b)))
    return failure();
  Type elementType = tensorType(*a).getElementType();
  bool fmod = ctx.attrInt(node, "fmod", 0) != 0;
  if (isa<FloatType>(elementType) && !fmod)
    return ctx.error(node, "fmod must be 1 for floating-point operands");
  FailureOr<RankedTensorType> type = broadcastType(node, ctx, {*a, *b}, elementType);
  if (failed(type))
    return failure();
  ctx.setOutput(node, 0,
                ctx.create<spd::ModOp>(ctx.loc(node), *type, *a, *b,
                                       ctx.builder().getBoolAttr(fmod)));
  return success();
}

LogicalResult convertWhere(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> c = required(node, ctx, 0);
  FailureOr<Value> x = failed(c) ? c : required(node, ctx, 1);
  FailureOr<Value> y = failed(x) ? x : required(node, ctx, 2);
  if (failed(y) || failed(sameElementType(node, ctx, *x, *y)))
    return failure();
  if (!tensorType(*c).getElementType().isInteger(1))
    return ctx.error(node, "condition must be bool, got " + typeString(c->getType()));
  FailureOr<RankedTensorType> type =
      broadcastType(node, ctx, {*c, *x, *y}, tensorType(*x).getElementType());
  if (failed(type))
    return failure();
  ctx.setOutput(node, 0, ctx.create<spd::WhereOp>(ctx.loc(node), *type, *c, *x, *y));
  return success();
}

template <typename OpT>
LogicalResult convertUnary(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  ctx.setOutput(node, 0, ctx.create<OpT>(ctx.loc(node), x->getType(), *x));
  return success();
}

template <typename OpT>
LogicalResult convertPredicate(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  auto type = RankedTensorType::get(tensorType(*x).getShape(), ctx.builder().getI1Type());
  ctx.setOutput(node, 0, ctx.create<OpT>(ctx.loc(node), type, *x));
  return success();
}

LogicalResult convertIsInf(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  OpBuilder &b = ctx.builder();
  auto type = RankedTensorType::get(tensorType(*x).getShape(), b.getI1Type());
  ctx.setOutput(node, 0,
                ctx.create<spd::IsInfOp>(
                    ctx.loc(node), type, *x,
                    b.getBoolAttr(ctx.attrInt(node, "detect_positive", 1) != 0),
                    b.getBoolAttr(ctx.attrInt(node, "detect_negative", 1) != 0)));
  return success();
}

/// Unary ops with float parameters (alpha, beta).
LogicalResult convertLeakyRelu(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  ctx.setOutput(node, 0,
                ctx.create<spd::LeakyReluOp>(
                    ctx.loc(node), x->getType(), *x,
                    ctx.builder().getF32FloatAttr(ctx.attrFloat(node, "alpha", 0.01f))));
  return success();
}

LogicalResult convertElu(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  ctx.setOutput(node, 0,
                ctx.create<spd::EluOp>(
                    ctx.loc(node), x->getType(), *x,
                    ctx.builder().getF32FloatAttr(ctx.attrFloat(node, "alpha", 1.0f))));
  return success();
}

LogicalResult convertHardSigmoid(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  OpBuilder &b = ctx.builder();
  ctx.setOutput(node, 0,
                ctx.create<spd::HardSigmoidOp>(
                    ctx.loc(node), x->getType(), *x,
                    b.getF32FloatAttr(ctx.attrFloat(node, "alpha", 0.2f)),
                    b.getF32FloatAttr(ctx.attrFloat(node, "beta", 0.5f))));
  return success();
}

LogicalResult convertGelu(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  std::string approximate = ctx.attrString(node, "approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    return ctx.error(node, "unknown approximate \"" + approximate + "\"");
  ctx.setOutput(node, 0,
                ctx.create<spd::GeluOp>(ctx.loc(node), x->getType(), *x,
                                        ctx.builder().getStringAttr(approximate)));
  return success();
}

Value buildCast(const onnx::NodeProto &node, ImportContext &ctx, Value x, Type elementType) {
  auto type = RankedTensorType::get(tensorType(x).getShape(), elementType);
  if (type == x.getType())
    return x;
  return ctx.create<spd::CastOp>(ctx.loc(node), type, x);
}

LogicalResult convertCast(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  if (!ctx.attr(node, "to"))
    return ctx.error(node, "missing attribute 'to'");
  int64_t to = ctx.attrInt(node, "to", 0);
  Type elementType = elementTypeFromOnnx(ctx.context(), static_cast<int32_t>(to));
  if (!elementType)
    return ctx.error(node, "unsupported target type " + llvm::Twine(to));
  ctx.setOutput(node, 0, buildCast(node, ctx, *x, elementType));
  return success();
}

LogicalResult convertCastLike(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0), like = failed(x) ? x : required(node, ctx, 1);
  if (failed(like))
    return failure();
  ctx.setOutput(node, 0, buildCast(node, ctx, *x, tensorType(*like).getElementType()));
  return success();
}

LogicalResult convertClip(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  Location loc = ctx.loc(node);
  Type elementType = tensorType(*x).getElementType();
  Value lo, hi;
  if (ctx.opset() < 11) {
    // Before opset 11 the bounds are float attributes.
    if (ctx.attr(node, "min"))
      lo = ctx.constScalar(loc, elementType, ctx.attrFloat(node, "min", 0));
    if (ctx.attr(node, "max"))
      hi = ctx.constScalar(loc, elementType, ctx.attrFloat(node, "max", 0));
  } else {
    lo = ctx.input(node, 1);
    hi = ctx.input(node, 2);
    for (Value bound : {lo, hi}) {
      if (!bound)
        continue;
      if (tensorType(bound).getElementType() != elementType)
        return ctx.error(node, "bound element type " + typeString(bound.getType()) +
                                   " differs from the input's " + typeString(x->getType()));
      if (tensorType(bound).hasStaticShape() && tensorType(bound).getNumElements() != 1)
        return ctx.error(node, "min and max must be scalars, got " +
                                   typeString(bound.getType()));
    }
  }
  if (!lo && !hi) {
    ctx.setOutput(node, 0, *x);
    return success();
  }
  ctx.setOutput(node, 0, ctx.create<spd::ClipOp>(loc, x->getType(), *x, lo, hi));
  return success();
}

LogicalResult convertIdentity(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  ctx.setOutput(node, 0, *x);
  return success();
}

/// Inference only: the output is the input; the mask, when asked for, is all true.
LogicalResult convertDropout(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  if (Value training = ctx.input(node, 2)) {
    std::optional<SmallVector<int64_t>> mode = ctx.constantInts(training);
    if (!mode)
      return ctx.error(node, "training_mode must be a constant (only inference is supported)");
    if (!mode->empty() && (*mode)[0] != 0)
      return ctx.error(node, "training mode is not supported");
  }
  ctx.setOutput(node, 0, *x);
  if (!ctx.hasOutput(node, 1))
    return success();
  Location loc = ctx.loc(node);
  OpBuilder &b = ctx.builder();
  RankedTensorType in = tensorType(*x);
  Value shape = in.hasStaticShape()
                    ? ctx.constI64(loc, in.getShape())
                    : ctx.create<spd::ShapeOp>(
                          loc, RankedTensorType::get({in.getRank()}, b.getI64Type()), *x,
                          b.getI64IntegerAttr(0), b.getI64IntegerAttr(in.getRank()));
  auto one = DenseElementsAttr::get(RankedTensorType::get({1}, b.getI1Type()), true);
  auto maskType = RankedTensorType::get(in.getShape(), b.getI1Type());
  ctx.setOutput(node, 1,
                ctx.create<spd::ConstantOfShapeOp>(loc, maskType, shape, cast<ElementsAttr>(one)));
  return success();
}

//===--- Ops without an spd op of their own, built from the primitives ---===//

/// Builds elementwise arithmetic on values of one shape and element type, broadcasting
/// scalars: what the composite converters below need.
struct Arith {
  ImportContext &ctx;
  Location loc;
  RankedTensorType type; // of the node's input

  Type elementType() const { return type.getElementType(); }
  Value scalar(double v) { return ctx.constScalar(loc, elementType(), v); }
  RankedTensorType typeOf(Value a, Value b) {
    // Operands here are the input's shape or scalars; the bigger rank gives the shape.
    return tensorType(a).getRank() >= tensorType(b).getRank() ? tensorType(a) : tensorType(b);
  }
  template <typename OpT> Value bin(Value a, Value b) {
    return ctx.create<OpT>(loc, typeOf(a, b), a, b);
  }
  template <typename OpT> Value cmp(Value a, Value b) {
    auto t = RankedTensorType::get(typeOf(a, b).getShape(), ctx.builder().getI1Type());
    return ctx.create<OpT>(loc, t, a, b);
  }
  template <typename OpT> Value un(Value a) { return ctx.create<OpT>(loc, a.getType(), a); }
  Value add(Value a, Value b) { return bin<spd::AddOp>(a, b); }
  Value sub(Value a, Value b) { return bin<spd::SubOp>(a, b); }
  Value mul(Value a, Value b) { return bin<spd::MulOp>(a, b); }
  Value div(Value a, Value b) { return bin<spd::DivOp>(a, b); }
  Value select(Value c, Value a, Value b) {
    return ctx.create<spd::WhereOp>(loc, typeOf(a, b).getRank() >= tensorType(c).getRank()
                                             ? typeOf(a, b)
                                             : RankedTensorType::get(tensorType(c).getShape(),
                                                                     elementType()),
                                    c, a, b);
  }
};

/// A float-only converter: `build` gets the input and an Arith on its type.
template <Value (*build)(const onnx::NodeProto &, Arith &, Value)>
LogicalResult convertComposite(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0);
  if (failed(x))
    return failure();
  if (!isa<FloatType>(tensorType(*x).getElementType()))
    return ctx.error(node, "input must be floating point, got " + typeString(x->getType()));
  Arith a{ctx, ctx.loc(node), tensorType(*x)};
  ctx.setOutput(node, 0, build(node, a, *x));
  return success();
}

Value buildSelu(const onnx::NodeProto &node, Arith &a, Value x) {
  // Defaults from the ONNX spec (float32 roundings of the SELU paper's constants).
  float alpha = ImportContext::attrFloat(node, "alpha", 1.67326319217681884765625f);
  float gamma = ImportContext::attrFloat(node, "gamma", 1.05070102214813232421875f);
  Value elu = a.ctx.create<spd::EluOp>(a.loc, x.getType(), x,
                                       a.ctx.builder().getF32FloatAttr(alpha));
  return a.mul(elu, a.scalar(gamma));
}

Value buildCelu(const onnx::NodeProto &node, Arith &a, Value x) {
  // celu(x) = alpha * elu(x / alpha, 1).
  float alpha = ImportContext::attrFloat(node, "alpha", 1.0f);
  Value scaled = a.div(x, a.scalar(alpha));
  Value elu = a.ctx.create<spd::EluOp>(a.loc, x.getType(), scaled,
                                       a.ctx.builder().getF32FloatAttr(1.0f));
  return a.mul(elu, a.scalar(alpha));
}

Value buildThresholdedRelu(const onnx::NodeProto &node, Arith &a, Value x) {
  float alpha = ImportContext::attrFloat(node, "alpha", 1.0f);
  return a.select(a.cmp<spd::GreaterOp>(x, a.scalar(alpha)), x, a.scalar(0));
}

Value buildSoftsign(const onnx::NodeProto &, Arith &a, Value x) {
  return a.div(x, a.add(a.un<spd::AbsOp>(x), a.scalar(1)));
}

Value buildTan(const onnx::NodeProto &, Arith &a, Value x) {
  return a.div(a.un<spd::SinOp>(x), a.un<spd::CosOp>(x));
}

Value buildSinh(const onnx::NodeProto &, Arith &a, Value x) {
  Value e = a.un<spd::ExpOp>(x), en = a.un<spd::ExpOp>(a.un<spd::NegOp>(x));
  return a.mul(a.sub(e, en), a.scalar(0.5));
}

Value buildCosh(const onnx::NodeProto &, Arith &a, Value x) {
  Value e = a.un<spd::ExpOp>(x), en = a.un<spd::ExpOp>(a.un<spd::NegOp>(x));
  return a.mul(a.add(e, en), a.scalar(0.5));
}

Value buildAsinh(const onnx::NodeProto &, Arith &a, Value x) {
  Value root = a.un<spd::SqrtOp>(a.add(a.mul(x, x), a.scalar(1)));
  return a.un<spd::LogOp>(a.add(x, root));
}

Value buildAcosh(const onnx::NodeProto &, Arith &a, Value x) {
  Value root = a.un<spd::SqrtOp>(a.sub(a.mul(x, x), a.scalar(1)));
  return a.un<spd::LogOp>(a.add(x, root));
}

Value buildAtanh(const onnx::NodeProto &, Arith &a, Value x) {
  Value ratio = a.div(a.add(a.scalar(1), x), a.sub(a.scalar(1), x));
  return a.mul(a.un<spd::LogOp>(ratio), a.scalar(0.5));
}

Value buildShrink(const onnx::NodeProto &node, Arith &a, Value x) {
  float bias = ImportContext::attrFloat(node, "bias", 0.0f);
  float lambd = ImportContext::attrFloat(node, "lambd", 0.5f);
  Value above = a.select(a.cmp<spd::GreaterOp>(x, a.scalar(lambd)), a.sub(x, a.scalar(bias)),
                         a.scalar(0));
  return a.select(a.cmp<spd::LessOp>(x, a.scalar(-lambd)), a.add(x, a.scalar(bias)), above);
}

/// PRelu: x < 0 ? slope * x : x, the slope broadcasting to x.
LogicalResult convertPRelu(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = required(node, ctx, 0), slope = failed(x) ? x : required(node, ctx, 1);
  if (failed(slope) || failed(sameElementType(node, ctx, *x, *slope)))
    return failure();
  FailureOr<RankedTensorType> type =
      broadcastType(node, ctx, {*x, *slope}, tensorType(*x).getElementType());
  if (failed(type))
    return failure();
  Location loc = ctx.loc(node);
  Value zero = ctx.constScalar(loc, tensorType(*x).getElementType(), 0);
  auto condType = RankedTensorType::get(tensorType(*x).getShape(), ctx.builder().getI1Type());
  Value negative = ctx.create<spd::LessOp>(loc, condType, *x, zero);
  Value scaled = ctx.create<spd::MulOp>(loc, *type, *x, *slope);
  ctx.setOutput(node, 0, ctx.create<spd::WhereOp>(loc, *type, negative, scaled, *x));
  return success();
}

} // namespace

void registerElementwiseConverters(ConverterTable &table) {
  table.add("Add", convertBinary<spd::AddOp>);
  table.add("Sub", convertBinary<spd::SubOp>);
  table.add("Mul", convertBinary<spd::MulOp>);
  table.add("Div", convertBinary<spd::DivOp>);
  table.add("Pow", convertPow);
  table.add("Mod", convertMod);
  table.add("Max", convertVariadic<spd::MaxOp>);
  table.add("Min", convertVariadic<spd::MinOp>);
  table.add("Sum", convertVariadic<spd::AddOp>);
  table.add("Mean", convertMean);
  table.add("And", convertBinary<spd::AndOp>);
  table.add("Or", convertBinary<spd::OrOp>);
  table.add("Xor", convertBinary<spd::XorOp>);
  table.add("Equal", convertBinary<spd::EqualOp, true>);
  table.add("Less", convertBinary<spd::LessOp, true>);
  table.add("LessOrEqual", convertBinary<spd::LessEqualOp, true>);
  table.add("Greater", convertBinary<spd::GreaterOp, true>);
  table.add("GreaterOrEqual", convertBinary<spd::GreaterEqualOp, true>);
  table.add("Where", convertWhere);
  table.add("Not", convertUnary<spd::NotOp>);
  table.add("Sqrt", convertUnary<spd::SqrtOp>);
  table.add("Reciprocal", convertUnary<spd::ReciprocalOp>);
  table.add("Neg", convertUnary<spd::NegOp>);
  table.add("Exp", convertUnary<spd::ExpOp>);
  table.add("Log", convertUnary<spd::LogOp>);
  table.add("Abs", convertUnary<spd::AbsOp>);
  table.add("Erf", convertUnary<spd::ErfOp>);
  table.add("Tanh", convertUnary<spd::TanhOp>);
  table.add("Sigmoid", convertUnary<spd::SigmoidOp>);
  table.add("Relu", convertUnary<spd::ReluOp>);
  table.add("Softplus", convertUnary<spd::SoftplusOp>);
  table.add("HardSwish", convertUnary<spd::HardSwishOp>);
  table.add("Sin", convertUnary<spd::SinOp>);
  table.add("Cos", convertUnary<spd::CosOp>);
  table.add("Floor", convertUnary<spd::FloorOp>);
  table.add("Ceil", convertUnary<spd::CeilOp>);
  table.add("Round", convertUnary<spd::RoundOp>);
  table.add("Sign", convertUnary<spd::SignOp>);
  table.add("IsNaN", convertPredicate<spd::IsNaNOp>);
  table.add("IsInf", convertIsInf);
  table.add("LeakyRelu", convertLeakyRelu);
  table.add("Elu", convertElu);
  table.add("HardSigmoid", convertHardSigmoid);
  table.add("Gelu", convertGelu);
  table.add("Cast", convertCast);
  table.add("CastLike", convertCastLike);
  table.add("Clip", convertClip);
  table.add("Identity", convertIdentity);
  table.add("Dropout", convertDropout);
  table.add("PRelu", convertPRelu);
  table.add("Selu", convertComposite<buildSelu>);
  table.add("Celu", convertComposite<buildCelu>);
  table.add("ThresholdedRelu", convertComposite<buildThresholdedRelu>);
  table.add("Softsign", convertComposite<buildSoftsign>);
  table.add("Shrink", convertComposite<buildShrink>);
  table.add("Tan", convertComposite<buildTan>);
  table.add("Sinh", convertComposite<buildSinh>);
  table.add("Cosh", convertComposite<buildCosh>);
  table.add("Asinh", convertComposite<buildAsinh>);
  table.add("Acosh", convertComposite<buildAcosh>);
  table.add("Atanh", convertComposite<buildAtanh>);
}

} // namespace spdc::onnx_import
