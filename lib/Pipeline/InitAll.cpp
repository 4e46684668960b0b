//===- InitAll.cpp - register spdc dialects and passes --------------------===//

#include "spdc/InitAll.h"

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Pipeline/Pipeline.h"
#include "spdc/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

void spdc::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<spd::SpdDialect, mlir::func::FuncDialect>();
}

void spdc::registerAllPasses() {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  registerSpdcPasses();
  mlir::PassPipelineRegistration<>("spd-default-pipeline",
                                   "spdc's inference pipeline (what `spdc model.onnx` runs)",
                                   [](mlir::OpPassManager &pm) { buildDefaultPipeline(pm); });
}
