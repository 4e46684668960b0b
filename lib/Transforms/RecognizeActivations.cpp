//===- RecognizeActivations.cpp - GELU, SiLU and SwiGLU -> spd ops --------===//
//
// GELU anchors on its spd.erf or spd.tanh and walks outwards:
//   erf form   0.5 * x * (1 + erf(x / sqrt2)), x / 1.41421 or x * 0.70710
//   tanh form  0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), x^3 as pow(x, 3),
//              x * x * x or x * pow(x, 2); the scale distributed
//              (0.79788 * x + 0.035677 * x^3) or factored (x * (1 + 0.044715 * x^2))
//   outside    `1 + t` multiplied by x and by 0.5 (or divided by 2) in any order, or by a
//              precomputed 0.5 * x (GPT-2's NewGELU)
// Constants match within kConstantRelTol, widened to one ulp of a half-precision constant's
// type. SiLU anchors on spd.sigmoid (x * sigmoid(x)); SwiGLU on spd.silu (silu(gate) * up).
//
//===----------------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"
#include "spdc/Transforms/Utility.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/Debug.h"
#include "llvm/Support/Format.h"

#include <cmath>

#define DEBUG_TYPE "spd-recognize-activations"

namespace spdc {
#define GEN_PASS_DEF_SPDRECOGNIZEACTIVATIONS
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;
using namespace spdc;

static constexpr llvm::StringLiteral kPassName = "spd-recognize-activations";

/// Relative tolerance on GELU's constants: exporters print them with 5 or more significant
/// digits (1.41421, 0.70710678, 0.7978845608), all within 1e-4 of the exact values.
static constexpr double kConstantRelTol = 1e-4;

static constexpr double kSqrt2 = 1.41421356237309504880;
static constexpr double kSqrt2OverPi = 0.79788456080286535588;
static constexpr double kGeluCubic = 0.044715;

namespace {

template <typename OpTy> OpTy defOf(Value v) { return v ? v.getDefiningOp<OpTy>() : OpTy(); }

template <typename OpTy> Value otherOperand(OpTy op, Value v) {
  if (op.getLhs() == v)
    return op.getRhs();
  if (op.getRhs() == v)
    return op.getLhs();
  return {};
}

Operation *singleUser(Value v) { return v.hasOneUse() ? *v.getUsers().begin() : nullptr; }

/// A splat constant operand of a binary op and the other operand.
template <typename OpTy> bool splitConstant(OpTy op, Value &constant, Value &other) {
  for (auto [c, o] : {std::pair(op.getLhs(), op.getRhs()), std::pair(op.getRhs(), op.getLhs())})
    if (getConstantSplat(c)) {
      constant = c;
      other = o;
      return true;
    }
  return false;
}

/// The tolerance for a constant of `v`'s element type: kConstantRelTol, or one ulp of a
/// narrower float type (bf16 holds 0.7978845 as 0.796875).
double toleranceFor(Value v) {
  auto floatType = dyn_cast<FloatType>(getElementTypeOrSelf(v.getType()));
  if (!floatType)
    return kConstantRelTol;
  return std::max(kConstantRelTol, std::ldexp(1.0, 1 - floatType.getFPMantissaWidth()));
}

/// A constant the structure needs, checked once the structure is known: a splat's value, or
/// the product of several (a factored scale), with the tolerance of its type.
struct ExpectedConstant {
  ExpectedConstant(Value v, double expected, const char *what)
      : actual(getConstantSplat(v).value_or(NAN)), tolerance(toleranceFor(v)), expected(expected),
        what(what) {}
  ExpectedConstant(double actual, double tolerance, double expected, const char *what)
      : actual(actual), tolerance(tolerance), expected(expected), what(what) {}
  double actual, tolerance, expected;
  const char *what;
};

/// The first constant off by more than its tolerance, as a remark's reason.
std::optional<std::string> checkConstants(ArrayRef<ExpectedConstant> constants) {
  for (const ExpectedConstant &c : constants) {
    if (std::fabs(c.actual - c.expected) <= c.tolerance * std::max(1.0, std::fabs(c.expected)))
      continue;
    std::string why;
    llvm::raw_string_ostream os(why);
    os << c.what << " is " << llvm::format("%g", c.actual) << ", expected "
       << llvm::format("%g", c.expected);
    return why;
  }
  return std::nullopt;
}

/// Factors of a product: the product of its splat constants (with the summed tolerance of
/// their types; 0 when there are none) and the other factors. Products of more than
/// kMaxFactors factors are not GELU's and are not flattened.
struct Product {
  double scale = 1.0, tolerance = 0.0;
  SmallVector<Value> factors;
};
static constexpr size_t kMaxFactors = 5;

std::optional<Product> flattenProduct(Value v) {
  Product p;
  SmallVector<Value> pending = {v};
  while (!pending.empty()) {
    if (p.factors.size() + pending.size() > kMaxFactors)
      return std::nullopt;
    Value f = pending.pop_back_val();
    if (auto mul = defOf<spd::MulOp>(f)) {
      pending.append({mul.getLhs(), mul.getRhs()});
    } else if (std::optional<double> c = getConstantSplat(f)) {
      p.scale *= *c;
      p.tolerance += toleranceFor(f);
    } else {
      p.factors.push_back(f);
    }
  }
  return p;
}

/// The base of a power of one value (x, x * x, pow(x, 2), x * x * x, pow(x, 3), x * pow(x, 2),
/// in any association) given as its non-constant factors, and its degree; null if the factors
/// are powers of different values or a pow has a non-integer exponent.
Value powerBase(ArrayRef<Value> factors, int &degree) {
  Value base;
  degree = 0;
  for (Value f : factors) {
    Value b = f;
    int d = 1;
    if (auto pow = defOf<spd::PowOp>(f)) {
      std::optional<double> e = getConstantSplat(pow.getRhs());
      if (!e || (*e != 2.0 && *e != 3.0))
        return {};
      b = pow.getLhs();
      d = static_cast<int>(*e);
    }
    if (base && b != base)
      return {};
    base = b;
    degree += d;
  }
  return base;
}

/// `x` if `v` is c * x^degree with a constant c (else null); records c as `what`.
Value matchScaledPower(Value v, int degree, double expected, const char *what,
                       SmallVectorImpl<ExpectedConstant> &constants) {
  std::optional<Product> p = flattenProduct(v);
  int d = 0;
  Value x = p && p->tolerance > 0.0 ? powerBase(p->factors, d) : Value();
  if (!x || d != degree)
    return {};
  constants.push_back({p->scale, p->tolerance, expected, what});
  return x;
}

/// `x` if `v` is the argument of GELU's tanh, in one of its spellings.
Value matchTanhArgument(Value v, SmallVectorImpl<ExpectedConstant> &constants) {
  // Distributed: sqrt(2/pi) * x + sqrt(2/pi) * 0.044715 * x^3.
  if (auto add = defOf<spd::AddOp>(v)) {
    for (auto [a, b] :
         {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())}) {
      SmallVector<ExpectedConstant> found;
      Value x = matchScaledPower(a, 1, kSqrt2OverPi, "the coefficient of x", found);
      if (x &&
          matchScaledPower(b, 3, kSqrt2OverPi * kGeluCubic, "the coefficient of x^3", found) == x) {
        constants.append(found);
        return x;
      }
    }
    return {};
  }
  // Factored: a constant sqrt(2/pi) times either (x + 0.044715 x^3) or x and
  // (1 + 0.044715 x^2), in any association (HF's gelu_fast: x * 0.79788 * (1 + 0.044715 x x)).
  std::optional<Product> p = flattenProduct(v);
  if (!p || p->tolerance == 0.0)
    return {};
  ExpectedConstant factor(p->scale, p->tolerance, kSqrt2OverPi, "the factor sqrt(2/pi)");
  auto sumWithPower = [&](Value sum, int degree, const char *what, Value &term) -> Value {
    auto add = defOf<spd::AddOp>(sum);
    if (!add)
      return {};
    for (auto [a, b] :
         {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())}) {
      SmallVector<ExpectedConstant> found;
      if (Value x = matchScaledPower(b, degree, kGeluCubic, what, found)) {
        term = a;
        constants.append(found);
        return x;
      }
    }
    return {};
  };
  Value term;
  if (p->factors.size() == 1) {
    // x + 0.044715 * x^3.
    Value x = sumWithPower(p->factors[0], 3, "the coefficient of x^3", term);
    if (!x || term != x)
      return {};
    constants.push_back(factor);
    return x;
  }
  if (p->factors.size() != 2)
    return {};
  // x * (1 + 0.044715 * x^2).
  for (auto [x, poly] :
       {std::pair(p->factors[0], p->factors[1]), std::pair(p->factors[1], p->factors[0])}) {
    SmallVector<ExpectedConstant> saved(constants.begin(), constants.end());
    if (sumWithPower(poly, 2, "the coefficient of x^2", term) == x && getConstantSplat(term)) {
      constants.push_back(factor);
      constants.push_back({term, 1.0, "the constant of 1 + 0.044715 x^2"});
      return x;
    }
    constants.assign(saved.begin(), saved.end());
  }
  return {};
}

/// `x` if `v` is the argument of GELU's erf: x / sqrt2 or x * (1 / sqrt2).
Value matchErfArgument(Value v, SmallVectorImpl<ExpectedConstant> &constants) {
  if (auto div = defOf<spd::DivOp>(v)) {
    if (!getConstantSplat(div.getRhs()))
      return {};
    constants.push_back({div.getRhs(), kSqrt2, "the divisor of x"});
    return div.getLhs();
  }
  if (auto mul = defOf<spd::MulOp>(v)) {
    Value c, x;
    if (!splitConstant(mul, c, x))
      return {};
    constants.push_back({c, 1.0 / kSqrt2, "the factor of x"});
    return x;
  }
  return {};
}

enum class MatchKind { None, NearMiss, Match };

struct GeluMatch {
  MatchKind kind = MatchKind::None;
  std::string why;
  Value x;
  Operation *root = nullptr;
  SmallVector<Operation *> ops;
};

/// GELU around `fn` (an spd.erf or spd.tanh).
GeluMatch matchGelu(Operation *fn) {
  GeluMatch m;
  bool isTanh = isa<spd::TanhOp>(fn);
  SmallVector<ExpectedConstant> constants;
  Value x = isTanh ? matchTanhArgument(fn->getOperand(0), constants)
                   : matchErfArgument(fn->getOperand(0), constants);
  if (!x) {
    m.why = "the argument is not GELU's";
    return m;
  }
  // 1 + fn(...).
  auto plusOne = dyn_cast_or_null<spd::AddOp>(singleUser(fn->getResult(0)));
  Value one, t;
  if (!plusOne || !splitConstant(plusOne, one, t)) {
    m.why = "no 1 + " + fn->getName().getStringRef().str();
    return m;
  }
  constants.push_back({one, 1.0, "the constant added"});
  m.ops = {fn, plusOne};
  // The product with x and 0.5, in any order.
  Value cur = plusOne.getResult();
  bool needX = true, needHalf = true;
  while (needX || needHalf) {
    Operation *user = singleUser(cur);
    if (auto mul = dyn_cast_or_null<spd::MulOp>(user)) {
      Value other = otherOperand(mul, cur);
      Value c, y;
      if (needX && other == x) {
        needX = false;
      } else if (needHalf && getConstantSplat(other)) {
        constants.push_back({other, 0.5, "the factor 0.5"});
        needHalf = false;
      } else if (needX && needHalf && defOf<spd::MulOp>(other) &&
                 splitConstant(defOf<spd::MulOp>(other), c, y) && y == x) {
        constants.push_back({c, 0.5, "the factor 0.5"});
        m.ops.push_back(other.getDefiningOp());
        needX = needHalf = false;
      } else if (needX && needHalf && defOf<spd::DivOp>(other) &&
                 defOf<spd::DivOp>(other).getLhs() == x &&
                 getConstantSplat(defOf<spd::DivOp>(other).getRhs())) {
        constants.push_back({defOf<spd::DivOp>(other).getRhs(), 2.0, "the divisor 2"});
        m.ops.push_back(other.getDefiningOp());
        needX = needHalf = false;
      } else {
        break;
      }
      m.ops.push_back(mul);
      cur = mul.getResult();
      continue;
    }
    if (auto div = dyn_cast_or_null<spd::DivOp>(user)) {
      if (needHalf && div.getLhs() == cur && getConstantSplat(div.getRhs())) {
        constants.push_back({div.getRhs(), 2.0, "the divisor 2"});
        needHalf = false;
        m.ops.push_back(div);
        cur = div.getResult();
        continue;
      }
    }
    break;
  }
  if (needX || needHalf) {
    // The inner form alone is distinctive enough to call this a near miss.
    m.kind = MatchKind::NearMiss;
    m.why = std::string("1 + ") + (isTanh ? "tanh" : "erf") + "(...) is not multiplied by " +
            (needX && needHalf ? "x and 0.5"
             : needX           ? "x"
                               : "0.5");
    return m;
  }
  if (std::optional<std::string> off = checkConstants(constants)) {
    m.kind = MatchKind::NearMiss;
    m.why = "not GELU: " + *off;
    return m;
  }
  if (cur.getType() != x.getType()) {
    m.kind = MatchKind::NearMiss;
    m.why = "the product broadcasts x to another shape";
    return m;
  }
  m.kind = MatchKind::Match;
  m.x = x;
  m.root = cur.getDefiningOp();
  return m;
}

Location fusedLoc(PatternRewriter &rewriter, ArrayRef<Operation *> ops) {
  SmallVector<Location> locs;
  for (Operation *op : ops)
    locs.push_back(op->getLoc());
  return rewriter.getFusedLoc(locs);
}

template <typename FnOp> struct GeluPattern : OpRewritePattern<FnOp> {
  using OpRewritePattern<FnOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(FnOp fn, PatternRewriter &rewriter) const override {
    GeluMatch m = matchGelu(fn);
    if (m.kind != MatchKind::Match)
      return rewriter.notifyMatchFailure(fn, m.why);
    rewriter.setInsertionPoint(m.root);
    StringRef approximate = std::is_same_v<FnOp, spd::TanhOp> ? "tanh" : "none";
    auto gelu =
        spd::GeluOp::create(rewriter, fusedLoc(rewriter, m.ops), m.x.getType(), m.x, approximate);
    LLVM_DEBUG(llvm::dbgs() << "gelu (" << approximate << ") from " << m.ops.size() << " ops\n");
    rewriter.replaceOp(m.root, gelu.getResult());
    return success();
  }
};

/// x * sigmoid(x) -> silu(x), for each such product of the sigmoid.
struct SiluPattern : OpRewritePattern<spd::SigmoidOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(spd::SigmoidOp sigmoid, PatternRewriter &rewriter) const override {
    Value x = sigmoid.getInput();
    for (Operation *user : sigmoid->getUsers()) {
      auto mul = dyn_cast<spd::MulOp>(user);
      if (!mul || otherOperand(mul, sigmoid.getResult()) != x || mul.getType() != x.getType())
        continue;
      rewriter.setInsertionPoint(mul);
      auto silu = spd::SiluOp::create(rewriter, fusedLoc(rewriter, {sigmoid, mul}), x.getType(), x);
      rewriter.replaceOp(mul, silu.getResult());
      return success();
    }
    return rewriter.notifyMatchFailure(sigmoid, "no x * sigmoid(x)");
  }
};

/// x / (1 + exp(-x)) and x * (1 / (1 + exp(-x))) -> silu(x): the sigmoid written out, as
/// hand-written Swish modules and some older exporters produce it.
struct SiluFromExpPattern : OpRewritePattern<spd::ExpOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(spd::ExpOp exp, PatternRewriter &rewriter) const override {
    Value x;
    if (auto neg = defOf<spd::NegOp>(exp.getInput())) {
      x = neg.getInput();
    } else if (auto mul = defOf<spd::MulOp>(exp.getInput())) {
      Value c, other;
      if (splitConstant(mul, c, other) && isConstantSplat(c, -1.0))
        x = other;
    }
    if (!x)
      return rewriter.notifyMatchFailure(exp, "not exp(-x)");
    auto add = dyn_cast_or_null<spd::AddOp>(singleUser(exp.getResult()));
    Value one, e;
    if (!add || !splitConstant(add, one, e) || !isConstantSplat(one, 1.0))
      return rewriter.notifyMatchFailure(exp, "no 1 + exp(-x)");
    SmallVector<Operation *> ops = {exp, add};
    Operation *root = nullptr;
    Operation *user = singleUser(add.getResult());
    if (auto div = dyn_cast_or_null<spd::DivOp>(user)) {
      if (div.getRhs() == add.getResult() && div.getLhs() == x)
        root = div;
      else if (div.getRhs() == add.getResult() && isConstantSplat(div.getLhs(), 1.0))
        user = div;
    }
    if (!root && user && isa<spd::ReciprocalOp, spd::DivOp>(user)) {
      ops.push_back(user);
      auto mul = dyn_cast_or_null<spd::MulOp>(singleUser(user->getResult(0)));
      if (mul && otherOperand(mul, user->getResult(0)) == x)
        root = mul;
    }
    if (!root || root->getResult(0).getType() != x.getType())
      return rewriter.notifyMatchFailure(exp, "1 + exp(-x) does not divide x");
    ops.push_back(root);
    rewriter.setInsertionPoint(root);
    auto silu = spd::SiluOp::create(rewriter, fusedLoc(rewriter, ops), x.getType(), x);
    rewriter.replaceOp(root, silu.getResult());
    return success();
  }
};

/// silu(gate) * up, of the same type (else a near miss with its reason).
struct SwiGluMatch {
  MatchKind kind = MatchKind::None;
  std::string why;
  spd::MulOp mul;
  Value up;
};

SwiGluMatch matchSwiGlu(spd::SiluOp silu) {
  SwiGluMatch m;
  m.why = "silu(gate) is not multiplied by another value";
  for (Operation *user : silu->getUsers()) {
    auto mul = dyn_cast<spd::MulOp>(user);
    Value up = mul ? otherOperand(mul, silu.getResult()) : Value();
    if (!up || up == silu.getResult())
      continue;
    if (up.getType() != silu.getType() || mul.getType() != silu.getType()) {
      m.kind = MatchKind::NearMiss;
      llvm::raw_string_ostream os(m.why);
      m.why.clear();
      os << "silu(gate) of type " << silu.getType() << " is multiplied by " << up.getType()
         << ": swiglu needs gate and up of one type";
      continue;
    }
    m.kind = MatchKind::Match;
    m.mul = mul;
    m.up = up;
    return m;
  }
  return m;
}

struct SwiGluPattern : OpRewritePattern<spd::SiluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(spd::SiluOp silu, PatternRewriter &rewriter) const override {
    SwiGluMatch m = matchSwiGlu(silu);
    if (m.kind != MatchKind::Match)
      return rewriter.notifyMatchFailure(silu, m.why);
    rewriter.setInsertionPoint(m.mul);
    auto swiglu = spd::SwiGluOp::create(rewriter, fusedLoc(rewriter, {silu, m.mul}), silu.getType(),
                                        silu.getInput(), m.up);
    rewriter.replaceOp(m.mul, swiglu.getResult());
    return success();
  }
};

} // namespace

void spdc::populateRecognizeActivationsPatterns(RewritePatternSet &patterns) {
  patterns.add<GeluPattern<spd::ErfOp>, GeluPattern<spd::TanhOp>, SiluPattern, SiluFromExpPattern,
               SwiGluPattern>(patterns.getContext());
}

namespace {
struct RecognizeActivationsPass
    : spdc::impl::SpdRecognizeActivationsBase<RecognizeActivationsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateRecognizeActivationsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // Near misses left after rewriting: one remark per anchor.
    getOperation().walk([](Operation *op) {
      if (isa<spd::ErfOp, spd::TanhOp>(op)) {
        GeluMatch m = matchGelu(op);
        if (m.kind == MatchKind::NearMiss)
          emitMissedRemark(op, kPassName, m.why);
      } else if (auto silu = dyn_cast<spd::SiluOp>(op)) {
        SwiGluMatch m = matchSwiGlu(silu);
        if (m.kind == MatchKind::NearMiss)
          emitMissedRemark(op, kPassName, m.why);
      }
    });
  }
};
} // namespace
