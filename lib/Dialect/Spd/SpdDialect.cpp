//===- SpdDialect.cpp - spd dialect registration --------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"

using namespace mlir;
using namespace spdc::spd;

#include "Spd/SpdOpsDialect.cpp.inc"

void SpdDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "Spd/SpdOps.cpp.inc"
      >();
}

Operation *SpdDialect::materializeConstant(OpBuilder &builder, Attribute value, Type type,
                                           Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, type, elements);
}
