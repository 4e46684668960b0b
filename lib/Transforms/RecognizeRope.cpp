//===- RecognizeRope.cpp ------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace spdc {
#define GEN_PASS_DEF_SPDRECOGNIZEROPE
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;

void spdc::populateRecognizeRopePatterns(RewritePatternSet &patterns) {}

namespace {
struct RecognizeRopePass : spdc::impl::SpdRecognizeRopeBase<RecognizeRopePass> {
  void runOnOperation() override {}
};
} // namespace
