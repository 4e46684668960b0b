//===- Shape.cpp - ONNX Shape, Size, Constant, ConstantOfShape, Range -----===//
//
// The sources of shape arithmetic: Shape records the input's dims (kUnknown where dynamic) as
// the partial value of its result, which Gather, Concat, Reshape... then pass on.
//
//===----------------------------------------------------------------------===//

#include "../TensorConversion.h"
#include "ConverterUtils.h"

#include "mlir/IR/BuiltinAttributes.h"

#include <cmath>

using namespace mlir;
using namespace spdc;
using namespace spdc::onnx_import;
namespace spd = spdc::spd;

namespace {

LogicalResult convertShape(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  RankedTensorType type = tensorType(*data);
  int64_t rank = type.getRank();
  // Opset 15: start and end select a range of dims, negative counting from the end, clamped.
  int64_t start = ImportContext::attrInt(node, "start", 0);
  int64_t end = ImportContext::attrInt(node, "end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);

  auto resultType = RankedTensorType::get({end - start}, ctx.builder().getI64Type());
  Value result = ctx.create<spd::ShapeOp>(ctx.loc(node), resultType, *data, start, end);
  recordPartialInts(ctx, result, type.getShape().slice(start, end - start));
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertSize(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  auto resultType = RankedTensorType::get({}, ctx.builder().getI64Type());
  Value result = ctx.create<spd::SizeOp>(ctx.loc(node), resultType, *data);
  ctx.setOutput(node, 0, result);
  return success();
}

/// A 1-D tensor from a repeated attribute field.
template <typename T>
llvm::Expected<Tensor> tensorFromList(DType dtype, ArrayRef<T> values, bool scalar) {
  SmallVector<int64_t> shape;
  if (!scalar)
    shape.push_back(values.size());
  llvm::Expected<Tensor> t = Tensor::allocate(dtype, shape);
  if (t)
    llvm::copy(values, t->template mutableData<T>());
  return t;
}

/// The value of a Constant node given by value_float(s) or value_int(s).
llvm::Expected<Tensor> constantValue(const onnx::NodeProto &node, ImportContext &ctx) {
  if (const onnx::AttributeProto *a = ImportContext::attr(node, "value_float")) {
    float f = a->f();
    return tensorFromList<float>(DType::F32, ArrayRef(f), /*scalar=*/true);
  }
  if (const onnx::AttributeProto *a = ImportContext::attr(node, "value_floats")) {
    SmallVector<float> fs(a->floats().begin(), a->floats().end());
    return tensorFromList<float>(DType::F32, fs, /*scalar=*/false);
  }
  if (const onnx::AttributeProto *a = ImportContext::attr(node, "value_int")) {
    int64_t i = a->i();
    return tensorFromList<int64_t>(DType::I64, ArrayRef(i), /*scalar=*/true);
  }
  if (const onnx::AttributeProto *a = ImportContext::attr(node, "value_ints")) {
    SmallVector<int64_t> is(a->ints().begin(), a->ints().end());
    return tensorFromList<int64_t>(DType::I64, is, /*scalar=*/false);
  }
  for (StringRef unsupported : {"sparse_value", "value_string", "value_strings"})
    if (ImportContext::attr(node, unsupported))
      return llvm::createStringError("attribute '" + unsupported + "' is not supported");
  return llvm::createStringError("none of the attributes value, value_float(s), value_int(s) "
                                 "is set");
}

LogicalResult convertConstant(const onnx::NodeProto &node, ImportContext &ctx) {
  if (const onnx::AttributeProto *a = ImportContext::attr(node, "value")) {
    FailureOr<Value> result = ctx.constantFromProto(node, a->t());
    if (failed(result))
      return failure();
    ctx.setOutput(node, 0, *result);
    return success();
  }
  llvm::Expected<Tensor> tensor = constantValue(node, ctx);
  if (!tensor)
    return ctx.error(node, "cannot read the constant: " + llvm::toString(tensor.takeError()));
  ctx.setOutput(node, 0, ctx.constantFromTensor(ctx.loc(node), *tensor));
  return success();
}

/// The one-element `value` attribute of ConstantOfShape, as an elements attribute.
FailureOr<DenseElementsAttr> fillValue(const onnx::NodeProto &node, ImportContext &ctx) {
  auto oneElement = [](Type elementType) { return RankedTensorType::get({1}, elementType); };
  const onnx::AttributeProto *a = ImportContext::attr(node, "value");
  if (!a) // ONNX default: f32 zero.
    return DenseElementsAttr::get(oneElement(ctx.builder().getF32Type()), 0.0f);

  Type elementType = elementTypeFromOnnx(ctx.context(), a->t().data_type());
  if (!elementType) {
    (void)ctx.error(node, "value has the unsupported data type " + Twine(a->t().data_type()));
    return failure();
  }
  // The value is one element, so a copy of the proto costs nothing and owns the data.
  auto copy = std::make_shared<onnx::TensorProto>(a->t());
  llvm::Expected<Tensor> tensor = tensorFromProto(*copy, copy, /*external=*/nullptr);
  if (!tensor) {
    (void)ctx.error(node, "cannot read value: " + llvm::toString(tensor.takeError()));
    return failure();
  }
  if (tensor->numElements() != 1) {
    (void)ctx.error(node, "value must hold one element, it holds " + Twine(tensor->numElements()));
    return failure();
  }
  Attribute element;
  if (auto floatType = dyn_cast<FloatType>(elementType)) {
    element = FloatAttr::get(floatType, tensor->getDouble(0));
  } else if (auto intType = dyn_cast<IntegerType>(elementType)) {
    APInt bits(intType.getWidth(), static_cast<uint64_t>(tensor->getInt(0)),
               /*isSigned=*/true, /*implicitTrunc=*/true);
    element = IntegerAttr::get(intType, bits);
  } else {
    (void)ctx.error(node, "value has the unsupported element type " + formatType(elementType));
    return failure();
  }
  return DenseElementsAttr::get(oneElement(elementType), ArrayRef(element));
}

LogicalResult convertConstantOfShape(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> shapeValue = requiredInput(node, ctx, 0, "input");
  if (failed(shapeValue) || failed(checkIndexTensor(node, ctx, *shapeValue, "input")))
    return failure();
  FailureOr<SmallVector<int64_t>> dims = knownVector(node, ctx, *shapeValue, "input");
  if (failed(dims))
    return failure();
  for (int64_t d : *dims)
    if (isKnown(d) && d < 0)
      return ctx.error(node, "shape " + formatInts(*dims) + " has a negative dimension");
  FailureOr<DenseElementsAttr> value = fillValue(node, ctx);
  if (failed(value))
    return failure();
  auto type = RankedTensorType::get(*dims, value->getElementType());
  Value result = ctx.create<spd::ConstantOfShapeOp>(ctx.loc(node), type, *shapeValue, *value);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertRange(const onnx::NodeProto &node, ImportContext &ctx) {
  Value operands[3];
  const char *names[3] = {"start", "limit", "delta"};
  for (int i = 0; i < 3; ++i) {
    FailureOr<Value> v = requiredInput(node, ctx, i, names[i]);
    if (failed(v))
      return failure();
    operands[i] = *v;
    if (tensorType(*v).getRank() != 0)
      return ctx.error(node,
                       Twine(names[i]) + " must be a scalar, got " + formatType(v->getType()));
    if (v->getType() != operands[0].getType())
      return ctx.error(node, Twine(names[i]) + " " + formatType(v->getType()) +
                                 " differs in type from start " +
                                 formatType(operands[0].getType()));
  }
  Type elementType = tensorType(operands[0]).getElementType();

  // The length, when all three operands are known at import.
  double known[3];
  bool allKnown = true;
  for (int i = 0; i < 3; ++i) {
    if (isa<IntegerType>(elementType)) {
      std::optional<SmallVector<int64_t>> ints = ctx.partialInts(operands[i]);
      allKnown &= ints && ints->size() == 1 && isKnown(ints->front());
      if (allKnown)
        known[i] = static_cast<double>(ints->front());
    } else {
      std::optional<Tensor> t = ctx.constant(operands[i]);
      allKnown &= t.has_value();
      if (allKnown)
        known[i] = t->getDouble(0);
    }
    if (!allKnown)
      break;
  }
  int64_t length = kUnknown;
  if (allKnown) {
    if (known[2] == 0)
      return ctx.error(node, "delta is 0");
    length =
        std::max<int64_t>(static_cast<int64_t>(std::ceil((known[1] - known[0]) / known[2])), 0);
  }
  auto type = RankedTensorType::get({length}, elementType);
  Value result =
      ctx.create<spd::RangeOp>(ctx.loc(node), type, operands[0], operands[1], operands[2]);
  ctx.setOutput(node, 0, result);
  return success();
}

} // namespace

void spdc::onnx_import::registerShapeConverters(ConverterTable &table) {
  table.add("Shape", convertShape);
  table.add("Size", convertSize);
  table.add("Constant", convertConstant);
  table.add("ConstantOfShape", convertConstantOfShape);
  table.add("Range", convertRange);
}
