//===- InitAll.cpp - register spdc dialects and passes --------------------===//

#include "spdc/InitAll.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void spdc::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<spd::SpdDialect, mlir::func::FuncDialect>();
}

void spdc::registerAllPasses() {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
}
