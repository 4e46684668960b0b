//===- FuseAttention.cpp ------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace spdc {
#define GEN_PASS_DEF_SPDFUSEATTENTION
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;

void spdc::populateFuseAttentionPatterns(RewritePatternSet &patterns) {}

namespace {
struct FuseAttentionPass : spdc::impl::SpdFuseAttentionBase<FuseAttentionPass> {
  void runOnOperation() override {}
};
} // namespace
