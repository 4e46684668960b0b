//===- RecognizeActivations.cpp ------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace spdc {
#define GEN_PASS_DEF_SPDRECOGNIZEACTIVATIONS
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;

void spdc::populateRecognizeActivationsPatterns(RewritePatternSet &patterns) {}

namespace {
struct RecognizeActivationsPass : spdc::impl::SpdRecognizeActivationsBase<RecognizeActivationsPass> {
  void runOnOperation() override {}
};
} // namespace
