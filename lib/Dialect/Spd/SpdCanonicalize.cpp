//===- SpdCanonicalize.cpp - spd canonicalization patterns ----------------===//
//
// Small rewrites that remove what exporters leave behind (reshape chains, identity transposes,
// round-trip casts, unsqueeze/squeeze pairs, multiplications by one, expands that a broadcasting
// op makes redundant) so that the recognition passes see one spelling of each computation. Each
// pattern is exact: the rewritten IR computes the same values bit for bit, except that `x + 0`
// turns a -0 result into +0.
//
//===----------------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace spdc::spd;

namespace {

/// Whether `v` is a constant whose elements all equal `expected` (integer or float).
bool isSplatOf(Value v, double expected) {
  DenseElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) || !attr.isSplat())
    return false;
  Type elem = attr.getElementType();
  if (isa<FloatType>(elem))
    return attr.getSplatValue<APFloat>().convertToDouble() == expected;
  if (elem.isInteger(1))
    return false;
  if (isa<IntegerType>(elem))
    return static_cast<double>(attr.getSplatValue<APInt>().getSExtValue()) == expected;
  return false;
}

/// `op(x, c)` or `op(c, x)` with `c` a splat of `identity` (and `c` only on the right unless
/// `commutative`) becomes `x`, when `x` already has the result's type (c does not broadcast).
template <typename OpT> struct BinaryIdentity : OpRewritePattern<OpT> {
  BinaryIdentity(MLIRContext *ctx, double identity, bool commutative)
      : OpRewritePattern<OpT>(ctx), identity(identity), commutative(commutative) {}

  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rewriter) const override {
    Value lhs = op.getLhs(), rhs = op.getRhs();
    if (lhs.getType() == op.getType() && isSplatOf(rhs, identity)) {
      rewriter.replaceOp(op, lhs);
      return success();
    }
    if (commutative && rhs.getType() == op.getType() && isSplatOf(lhs, identity)) {
      rewriter.replaceOp(op, rhs);
      return success();
    }
    return rewriter.notifyMatchFailure(op, "no identity operand, or it broadcasts the other");
  }

  double identity;
  bool commutative;
};

/// `op(expand(y, s), b)` -> `op(y, b)` when broadcasting `y` against `b` already gives the
/// result's static shape: the op broadcasts by itself, so the materialized expand is waste
/// (exporters write it for tables and masks).
template <typename OpT> struct BroadcastInsteadOfExpand : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rewriter) const override {
    auto result = cast<RankedTensorType>(op.getType());
    if (!result.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic result shape");
    for (unsigned k = 0; k < 2; ++k) {
      auto expand = op->getOperand(k).template getDefiningOp<ExpandOp>();
      if (!expand)
        continue;
      Value y = expand.getInput();
      SmallVector<int64_t> shape;
      if (!OpTrait::util::getBroadcastedShape(
              cast<ShapedType>(y.getType()).getShape(),
              cast<ShapedType>(op->getOperand(1 - k).getType()).getShape(), shape) ||
          ArrayRef<int64_t>(shape) != result.getShape())
        continue;
      rewriter.modifyOpInPlace(op, [&] { op->setOperand(k, y); });
      return success();
    }
    return rewriter.notifyMatchFailure(op, "no expand that the op's broadcast makes redundant");
  }
};

/// An op whose result has the same static type as its input, and for which that means the op
/// copies its input (reshape, expand): becomes the input.
template <typename OpT> struct SameStaticTypeIsIdentity : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    if (op.getInput().getType() != type || !type.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "result type differs from the input's or is dynamic");
    rewriter.replaceOp(op, op.getInput());
    return success();
  }
};

/// reshape(reshape(x, s1), s2) -> reshape(x, s2). Sound unless s2 has a 0 that copies a
/// dimension of the inner result (allowzero unset): then s2 must be a constant without zeros.
struct ReshapeOfReshape : OpRewritePattern<ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReshapeOp op, PatternRewriter &rewriter) const override {
    auto inner = op.getInput().getDefiningOp<ReshapeOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "input is not a reshape");
    if (!op.getAllowzero()) {
      DenseIntElementsAttr shape;
      if (!matchPattern(op.getShape(), m_Constant(&shape)))
        return rewriter.notifyMatchFailure(op, "shape is not constant and may copy dimensions");
      if (llvm::any_of(shape.getValues<APInt>(), [](const APInt &d) { return d.isZero(); }))
        return rewriter.notifyMatchFailure(op, "shape copies a dimension of the inner reshape");
    }
    rewriter.replaceOpWithNewOp<ReshapeOp>(op, op.getType(), inner.getInput(), op.getShape(),
                                           op.getAllowzero());
    return success();
  }
};

/// transpose(x, identity) -> x; transpose(transpose(x, p1), p2) -> transpose(x, p1 o p2).
struct SimplifyTranspose : OpRewritePattern<TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TransposeOp op, PatternRewriter &rewriter) const override {
    auto isIdentity = [](ArrayRef<int64_t> perm) {
      return llvm::all_of(llvm::enumerate(perm),
                          [](auto it) { return static_cast<int64_t>(it.index()) == it.value(); });
    };
    if (isIdentity(op.getPerm()) && op.getInput().getType() == op.getType()) {
      rewriter.replaceOp(op, op.getInput());
      return success();
    }
    auto inner = op.getInput().getDefiningOp<TransposeOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "not an identity and input is not a transpose");
    // out[i] = mid[p2[i]] = x[p1[p2[i]]].
    ArrayRef<int64_t> p1 = inner.getPerm(), p2 = op.getPerm();
    SmallVector<int64_t> perm;
    for (int64_t p : p2)
      perm.push_back(p1[p]);
    if (isIdentity(perm) && inner.getInput().getType() == op.getType()) {
      rewriter.replaceOp(op, inner.getInput());
      return success();
    }
    rewriter.replaceOpWithNewOp<TransposeOp>(op, op.getType(), inner.getInput(),
                                             rewriter.getDenseI64ArrayAttr(perm));
    return success();
  }
};

/// Whether every value of float type `from` is exactly representable in `to`.
bool isExactFloatWidening(Type from, Type to) {
  if (from.isF16() || from.isBF16())
    return to.isF32() || to.isF64();
  if (from.isF32())
    return to.isF64();
  return false;
}

/// cast(cast(x: A -> B) -> C) -> cast(x: A -> C), or x when C == A, if A -> B is exact: the
/// outer cast then sees x's values unchanged. (f32 -> f16 -> f32 rounds and is kept.)
struct CastOfExactCast : OpRewritePattern<CastOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CastOp op, PatternRewriter &rewriter) const override {
    auto inner = op.getInput().getDefiningOp<CastOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "input is not a cast");
    Type from = getElementTypeOrSelf(inner.getInput().getType());
    Type mid = getElementTypeOrSelf(inner.getType());
    if (!isExactFloatWidening(from, mid))
      return rewriter.notifyMatchFailure(op, "inner cast is not an exact float widening");
    if (inner.getInput().getType() == op.getType()) {
      rewriter.replaceOp(op, inner.getInput());
      return success();
    }
    rewriter.replaceOpWithNewOp<CastOp>(op, op.getType(), inner.getInput());
    return success();
  }
};

/// squeeze(unsqueeze(x, axes), axes) -> x and unsqueeze(squeeze(x, axes), axes) -> x: both
/// remove and re-insert the same size-1 dimensions at the same positions.
template <typename OpT, typename InnerT> struct InverseAxesOp : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rewriter) const override {
    auto inner = op.getInput().template getDefiningOp<InnerT>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "input is not the inverse op");
    SmallVector<int64_t> a(op.getAxes()), b(inner.getAxes());
    llvm::sort(a);
    llvm::sort(b);
    if (a != b || inner.getInput().getType() != op.getType())
      return rewriter.notifyMatchFailure(op, "axes or types differ");
    rewriter.replaceOp(op, inner.getInput());
    return success();
  }
};

/// concat of one input -> that input.
struct SingleInputConcat : OpRewritePattern<ConcatOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ConcatOp op, PatternRewriter &rewriter) const override {
    if (op.getInputs().size() != 1 || op.getInputs()[0].getType() != op.getType())
      return rewriter.notifyMatchFailure(op, "more than one input");
    rewriter.replaceOp(op, op.getInputs()[0]);
    return success();
  }
};

} // namespace

void AddOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<BinaryIdentity<AddOp>>(ctx, 0.0, /*commutative=*/true);
  results.add<BroadcastInsteadOfExpand<AddOp>>(ctx);
}
void SubOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<BinaryIdentity<SubOp>>(ctx, 0.0, /*commutative=*/false);
  results.add<BroadcastInsteadOfExpand<SubOp>>(ctx);
}
void MulOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<BinaryIdentity<MulOp>>(ctx, 1.0, /*commutative=*/true);
  results.add<BroadcastInsteadOfExpand<MulOp>>(ctx);
}
void DivOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<BinaryIdentity<DivOp>>(ctx, 1.0, /*commutative=*/false);
  results.add<BroadcastInsteadOfExpand<DivOp>>(ctx);
}
void CastOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<CastOfExactCast>(ctx);
}
void ConcatOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<SingleInputConcat>(ctx);
}
void ReshapeOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<ReshapeOfReshape, SameStaticTypeIsIdentity<ReshapeOp>>(ctx);
}
void TransposeOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<SimplifyTranspose>(ctx);
}
void UnsqueezeOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<InverseAxesOp<UnsqueezeOp, SqueezeOp>>(ctx);
}
void SqueezeOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<InverseAxesOp<SqueezeOp, UnsqueezeOp>>(ctx);
}
void ExpandOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *ctx) {
  results.add<SameStaticTypeIsIdentity<ExpandOp>>(ctx);
}
