//===- Pipeline.cpp - spdc's named pass pipelines -------------------------===//

#include "spdc/Pipeline/Pipeline.h"

#include "spdc/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void spdc::buildDefaultPipeline(OpPassManager &pm) {
  OpPassManager &fn = pm.nest<func::FuncOp>();
  // Fold constants and shape arithmetic first: recognition matches the simplified graph.
  fn.addPass(createCanonicalizerPass());
  fn.addPass(createCSEPass());
  fn.addPass(createSpdRecognizeNorms());
  fn.addPass(createSpdRecognizeActivations());
  fn.addPass(createSpdRecognizeRope());
  fn.addPass(createSpdFuseAttention());
  fn.addPass(createCanonicalizerPass());
  fn.addPass(createCSEPass());
  fn.addPass(createSpdMergeSiblingMatmuls());
  fn.addPass(createSpdFormFusionRegions());
}

bool spdc::isKnownPipeline(StringRef name) { return name == "none" || name == "default"; }

LogicalResult spdc::runPipeline(ModuleOp module, StringRef name, TimingScope *timing) {
  if (name == "none")
    return success();
  PassManager pm(module.getContext());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  if (timing)
    pm.enableTiming(*timing);
  else
    applyDefaultTimingPassManagerCLOptions(pm);
  buildDefaultPipeline(pm);
  return pm.run(module);
}
