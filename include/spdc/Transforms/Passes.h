//===- Passes.h - spdc graph transformations -------------------*- C++ -*-===//

#ifndef SPDC_TRANSFORMS_PASSES_H
#define SPDC_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
} // namespace mlir

namespace spdc {

#define GEN_PASS_DECL
#include "spdc/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "spdc/Transforms/Passes.h.inc"

/// Patterns of each recognition pass, for reuse by other passes and tests.
void populateRecognizeNormsPatterns(mlir::RewritePatternSet &patterns);
void populateRecognizeActivationsPatterns(mlir::RewritePatternSet &patterns);
void populateRecognizeRopePatterns(mlir::RewritePatternSet &patterns);
void populateFuseAttentionPatterns(mlir::RewritePatternSet &patterns);

} // namespace spdc

#endif // SPDC_TRANSFORMS_PASSES_H
