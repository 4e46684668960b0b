//===- Utility.cpp - helpers shared by spdc's passes ----------------------===//

#include "spdc/Transforms/Utility.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;

void spdc::emitMissedRemark(Operation *op, StringRef pass, const Twine &why) {
  op->emitRemark() << pass << ": " << why;
}

/// Constants with more elements than this are not inspected for equal elements (weights).
static constexpr int64_t kMaxInspectedElements = 4096;

std::optional<double> spdc::getConstantSplat(Value v) {
  Attribute attr;
  if (!v || !matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense || dense.getNumElements() == 0)
    return std::nullopt;
  Type elementType = dense.getElementType();
  auto elementValue = [&](int64_t i) -> std::optional<double> {
    if (isa<FloatType>(elementType))
      return (dense.isSplat() ? dense.getSplatValue<APFloat>()
                              : dense.getValues<APFloat>()[i])
          .convertToDouble();
    if (auto intType = dyn_cast<IntegerType>(elementType)) {
      APInt value = dense.isSplat() ? dense.getSplatValue<APInt>() : dense.getValues<APInt>()[i];
      return intType.isUnsigned() || intType.getWidth() == 1
                 ? static_cast<double>(value.getZExtValue())
                 : static_cast<double>(value.getSExtValue());
    }
    return std::nullopt;
  };
  std::optional<double> first = elementValue(0);
  if (!first || dense.isSplat())
    return first;
  if (dense.getNumElements() > kMaxInspectedElements)
    return std::nullopt;
  for (int64_t i = 1, e = dense.getNumElements(); i < e; ++i)
    if (elementValue(i) != first)
      return std::nullopt;
  return first;
}

bool spdc::isConstantSplat(Value v, double expected, double relTol) {
  std::optional<double> value = getConstantSplat(v);
  return value && std::fabs(*value - expected) <= relTol * std::max(1.0, std::fabs(expected));
}
