//===- TestSymbolicShapes.cpp - print the SymbolicShapes analysis ----------===//
//
// Remarks that lit tests check: each op with a dynamic result says its dimensions as
// polynomials in the function's dynamic input dimensions.
//
//===----------------------------------------------------------------------===//

#include "spdc/Analysis/SymbolicShapes.h"
#include "spdc/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

namespace spdc {
#define GEN_PASS_DEF_SPDTESTSYMBOLICSHAPES
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;

namespace {

struct TestSymbolicShapes : spdc::impl::SpdTestSymbolicShapesBase<TestSymbolicShapes> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    spdc::SymbolicShapes shapes(fn);
    std::string symbols;
    for (unsigned i = 0; i < shapes.numSymbols(); ++i)
      symbols += (i ? ", s" : "s") + std::to_string(i) + " = " + shapes.symbolName(i);
    std::string equal;
    for (auto [a, b] : shapes.equalities())
      equal += (equal.empty() ? "" : ", ") + ("s" + std::to_string(a)) + " == s" +
               std::to_string(b);
    fn.emitRemark() << "symbols: " << (symbols.empty() ? "none" : symbols)
                    << "; equalities: " << (equal.empty() ? "none" : equal);
    fn.walk([&](Operation *op) {
      if (op->getNumResults() != 1)
        return;
      Value r = op->getResult(0);
      auto t = dyn_cast<RankedTensorType>(r.getType());
      std::optional<llvm::SmallVector<spdc::SymExpr>> e = shapes.elements(r);
      bool symbolicElements = e && llvm::any_of(*e, [](const spdc::SymExpr &x) {
                                return !x.getConstant().has_value();
                              });
      if (!t || (t.hasStaticShape() && !symbolicElements))
        return;
      InFlightDiagnostic d = op->emitRemark() << "dims " << shapes.dimsString(r);
      if (e) {
        d << " elements [";
        for (auto [i, x] : llvm::enumerate(*e))
          d << (i ? ", " : "") << x.str();
        d << "]";
      }
    });
  }
};

} // namespace
