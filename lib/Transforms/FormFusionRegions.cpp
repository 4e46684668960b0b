//===- FormFusionRegions.cpp ------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace spdc {
#define GEN_PASS_DEF_SPDFORMFUSIONREGIONS
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;


namespace {
struct FormFusionRegionsPass : spdc::impl::SpdFormFusionRegionsBase<FormFusionRegionsPass> {
  void runOnOperation() override {}
};
} // namespace
