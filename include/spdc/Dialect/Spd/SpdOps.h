//===- SpdOps.h - spd dialect ----------------------------------*- C++ -*-===//
//
// The spd dialect and its operations. Include this only where ops are built or matched: it
// pulls in the TableGen output.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_DIALECT_SPD_SPDOPS_H
#define SPDC_DIALECT_SPD_SPDOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Traits.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "Spd/SpdOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "Spd/SpdOps.h.inc"

#endif // SPDC_DIALECT_SPD_SPDOPS_H
