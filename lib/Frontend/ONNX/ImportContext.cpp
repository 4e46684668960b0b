//===- ImportContext.cpp - attribute and constant helpers for converters ----===//

#include "ImportContext.h"

#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;

namespace spdc::onnx_import {

const onnx::AttributeProto *ImportContext::attr(const onnx::NodeProto &node,
                                                llvm::StringRef name) {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t ImportContext::attrInt(const onnx::NodeProto &node, llvm::StringRef name,
                               int64_t dflt) {
  const onnx::AttributeProto *a = attr(node, name);
  if (!a)
    return dflt;
  if (a->type() == onnx::AttributeProto::FLOAT)
    return static_cast<int64_t>(a->f());
  return a->has_i() || a->type() == onnx::AttributeProto::INT ? a->i() : dflt;
}

float ImportContext::attrFloat(const onnx::NodeProto &node, llvm::StringRef name, float dflt) {
  const onnx::AttributeProto *a = attr(node, name);
  if (!a)
    return dflt;
  if (a->type() == onnx::AttributeProto::INT)
    return static_cast<float>(a->i());
  return a->has_f() || a->type() == onnx::AttributeProto::FLOAT ? a->f() : dflt;
}

std::string ImportContext::attrString(const onnx::NodeProto &node, llvm::StringRef name,
                                      llvm::StringRef dflt) {
  const onnx::AttributeProto *a = attr(node, name);
  if (!a || !(a->has_s() || a->type() == onnx::AttributeProto::STRING))
    return dflt.str();
  return a->s();
}

std::optional<llvm::SmallVector<int64_t>> ImportContext::attrInts(const onnx::NodeProto &node,
                                                                  llvm::StringRef name) {
  const onnx::AttributeProto *a = attr(node, name);
  if (!a)
    return std::nullopt;
  if (a->type() == onnx::AttributeProto::INT)
    return llvm::SmallVector<int64_t>{a->i()};
  return llvm::SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

std::optional<llvm::SmallVector<int64_t>> ImportContext::constantInts(Value v) {
  if (!v)
    return std::nullopt;
  std::optional<Tensor> t = constant(v);
  if (!t || isFloat(t->dtype()))
    return std::nullopt;
  llvm::SmallVector<int64_t> values;
  values.reserve(t->numElements());
  for (int64_t i = 0, e = t->numElements(); i < e; ++i)
    values.push_back(t->getInt(i));
  return values;
}

Value ImportContext::constI64(Location loc, llvm::ArrayRef<int64_t> values) {
  auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                    builder_.getIntegerType(64));
  auto attr = DenseElementsAttr::get(type, values);
  return spd::ConstantOp::create(builder_, loc, type, cast<ElementsAttr>(attr));
}

Value ImportContext::constScalar(Location loc, Type elementType, double value) {
  auto type = RankedTensorType::get({}, elementType);
  Attribute element;
  if (auto ft = dyn_cast<FloatType>(elementType)) {
    element = builder_.getFloatAttr(ft, value);
  } else if (auto it = dyn_cast<IntegerType>(elementType)) {
    if (it.getWidth() == 1)
      element = IntegerAttr::get(it, APInt(1, value != 0));
    else if (it.isUnsigned())
      element = IntegerAttr::get(it, APInt(it.getWidth(), static_cast<uint64_t>(value)));
    else
      element = IntegerAttr::get(
          it, APInt(it.getWidth(), static_cast<uint64_t>(static_cast<int64_t>(value)),
                    /*isSigned=*/true, /*implicitTrunc=*/true));
  } else {
    element = builder_.getZeroAttr(elementType);
  }
  auto attr = DenseElementsAttr::get(type, element);
  return spd::ConstantOp::create(builder_, loc, type, cast<ElementsAttr>(attr));
}

const ConverterTable &ConverterTable::get() {
  static const ConverterTable table = [] {
    ConverterTable t;
    registerElementwiseConverters(t);
    registerMathConverters(t);
    registerNNConverters(t);
    registerReductionConverters(t);
    registerTensorConverters(t);
    registerShapeConverters(t);
    registerQuantizationConverters(t);
    return t;
  }();
  return table;
}

} // namespace spdc::onnx_import
