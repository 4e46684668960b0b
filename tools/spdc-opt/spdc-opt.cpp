//===- spdc-opt.cpp - the spd pass driver ---------------------------------===//
//
// mlir-opt with the spd dialect and every spdc pass registered; the driver of the lit tests.
//
//===----------------------------------------------------------------------===//

#include "spdc/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  spdc::registerAllDialects(registry);
  spdc::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "spdc pass driver\n", registry));
}
