//===- RecognizeNorms.cpp - RMSNorm and decomposed LayerNorm -> spd ops ---===//
//
// Exporters write RMSNorm as `x * rsqrt(mean(x^2) + eps) * w` and LayerNorm (below opset 17,
// or from hand-written modules) as `(x - mean) / sqrt(var + eps) * g + b`, each in several
// spellings. Both patterns anchor on the first spd.reduce_mean of the chain, walk forward to
// the op that yields the normalized value and replace that op.
//
// What is matched:
//   square      pow(x, 2) | x * x
//   inv. sqrt   reciprocal(sqrt(a)) | div(1, sqrt(a)) | pow(a, -0.5), multiplied into x;
//               or div(x, sqrt(a))
//   epilogue    [cast] [* w | * (1 + w)] [+ b (LayerNorm)] [cast], where w and b broadcast to
//               the normalized dimensions; (1 + w) with a constant w is folded into a new
//               constant, otherwise kept as a computed operand
//   input cast  a widening float cast of the input (LLaMA's `x.to(float32)`) is looked
//               through when the epilogue casts back to the input's type
//
//===----------------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"
#include "spdc/Transforms/Utility.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/Debug.h"

#include <cstring>

#define DEBUG_TYPE "spd-recognize-norms"

namespace spdc {
#define GEN_PASS_DEF_SPDRECOGNIZENORMS
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;
using namespace spdc;

static constexpr llvm::StringLiteral kPassName = "spd-recognize-norms";

namespace {

//===----------------------------------------------------------------------===//
// Small matchers
//===----------------------------------------------------------------------===//

template <typename OpTy> OpTy defOf(Value v) { return v ? v.getDefiningOp<OpTy>() : OpTy(); }

/// For a binary op with `v` as one operand, the other operand (the first one if both are `v`).
template <typename OpTy> Value otherOperand(OpTy op, Value v) {
  if (op.getLhs() == v)
    return op.getRhs();
  if (op.getRhs() == v)
    return op.getLhs();
  return {};
}

/// `x` if `sq` is pow(x, 2) or x * x.
Value matchSquare(Value sq) {
  if (auto pow = defOf<spd::PowOp>(sq))
    return isConstantSplat(pow.getRhs(), 2.0) ? pow.getLhs() : Value();
  if (auto mul = defOf<spd::MulOp>(sq))
    return mul.getLhs() == mul.getRhs() ? mul.getLhs() : Value();
  return {};
}

/// Whether `v` is a constant, possibly behind casts.
bool isConstantLike(Value v) {
  while (auto cast = defOf<spd::CastOp>(v))
    v = cast.getInput();
  return v && matchPattern(v, m_Constant());
}

bool isFloatCast(Operation *op) {
  auto cast = dyn_cast_or_null<spd::CastOp>(op);
  return cast && isa<FloatType>(getElementTypeOrSelf(cast.getInput().getType())) &&
         isa<FloatType>(getElementTypeOrSelf(cast.getType()));
}

/// A float cast to a type at least as wide (exact: it may be looked through).
bool isWideningFloatCast(Operation *op) {
  if (!isFloatCast(op))
    return false;
  auto from = cast<FloatType>(getElementTypeOrSelf(op->getOperand(0).getType()));
  auto to = cast<FloatType>(getElementTypeOrSelf(op->getResult(0).getType()));
  return from == to || (from.getFPMantissaWidth() <= to.getFPMantissaWidth() &&
                        APFloat::semanticsMaxExponent(from.getFloatSemantics()) <=
                            APFloat::semanticsMaxExponent(to.getFloatSemantics()));
}

/// Whether `axes` are the trailing dimensions `axis..rank-1` of a rank-`rank` tensor; sets
/// `axis`.
bool areTrailingAxes(ArrayRef<int64_t> axes, int64_t rank, int64_t &axis) {
  if (axes.empty())
    return false;
  axis = rank - static_cast<int64_t>(axes.size());
  for (auto [i, a] : llvm::enumerate(axes))
    if (a != axis + static_cast<int64_t>(i))
      return false;
  return true;
}

std::string formatAxes(ArrayRef<int64_t> axes) {
  std::string s = "[";
  for (auto [i, a] : llvm::enumerate(axes))
    s += (i ? ", " : "") + std::to_string(a);
  return s + "]";
}

/// The single user of `v`, if `v` has exactly one use.
Operation *singleUser(Value v) { return v.hasOneUse() ? *v.getUsers().begin() : nullptr; }

//===----------------------------------------------------------------------===//
// The shared core: `num * rsqrt(a)` in its spellings
//===----------------------------------------------------------------------===//

/// Finds, among the users of `a` (the `variance + eps` value), the op computing
/// `num / sqrt(a)` for a `num` accepted by `isNumerator`; records matched ops.
Operation *matchInverseSqrtProduct(Value a, function_ref<bool(Value)> isNumerator,
                                   SmallVectorImpl<Operation *> &matched, Value &numerator) {
  auto fromFactor = [&](Value r) -> Operation * {
    for (Operation *user : r.getUsers())
      if (auto mul = dyn_cast<spd::MulOp>(user)) {
        Value other = otherOperand(mul, r);
        if (other && other != r && isNumerator(other)) {
          numerator = other;
          return mul;
        }
      }
    return nullptr;
  };
  for (Operation *user : a.getUsers()) {
    if (auto sqrt = dyn_cast<spd::SqrtOp>(user)) {
      for (Operation *sqrtUser : sqrt->getUsers()) {
        Operation *found = nullptr;
        if (auto recip = dyn_cast<spd::ReciprocalOp>(sqrtUser)) {
          found = fromFactor(recip);
          if (found)
            matched.append({sqrt, recip});
        } else if (auto div = dyn_cast<spd::DivOp>(sqrtUser)) {
          if (div.getRhs() != sqrt.getResult())
            continue;
          if (isConstantSplat(div.getLhs(), 1.0)) {
            found = fromFactor(div);
            if (found)
              matched.append({sqrt, div});
          } else if (isNumerator(div.getLhs())) {
            numerator = div.getLhs();
            found = div;
            matched.push_back(sqrt);
          }
        }
        if (found)
          return found;
      }
    } else if (auto pow = dyn_cast<spd::PowOp>(user)) {
      if (pow.getLhs() == a && isConstantSplat(pow.getRhs(), -0.5))
        if (Operation *found = fromFactor(pow)) {
          matched.push_back(pow);
          return found;
        }
    }
  }
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Epilogue: casts, scale and bias after the normalized value
//===----------------------------------------------------------------------===//

struct Epilogue {
  Operation *root = nullptr; // the op whose result the norm op replaces
  Value scale, bias;         // as found (before folding / reshaping)
  Value scaleOnePlus;        // w of a `(1 + w)` scale
  SmallVector<Operation *> ops;
};

/// Ops looked at when checking that a parameter does not depend on the norm; weights are
/// constants or arguments a few ops away, so a longer chain is taken as dependent.
static constexpr unsigned kMaxDependenceWalk = 64;

/// Whether `v` is computed from `op`'s result (conservatively true past kMaxDependenceWalk).
bool dependsOn(Value v, Operation *op) {
  SmallVector<Value> pending = {v};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!pending.empty()) {
    Operation *def = pending.pop_back_val().getDefiningOp();
    if (!def || !seen.insert(def).second)
      continue;
    if (def == op || seen.size() > kMaxDependenceWalk)
      return true;
    llvm::append_range(pending, def->getOperands());
  }
  return false;
}

/// How a candidate scale or bias fits the normalized dimensions.
enum class ParamFit { Fits, DoesNotBroadcast, Unknown };

/// Whether `param` broadcasts to the `normalized` trailing dimensions of `input` without
/// broadcasting over the others (leading size-1 dimensions are allowed; they are dropped).
ParamFit paramFits(Value param, RankedTensorType input, int64_t axis) {
  auto type = dyn_cast<RankedTensorType>(param.getType());
  if (!type)
    return ParamFit::Unknown;
  int64_t normalized = input.getRank() - axis;
  int64_t rank = type.getRank();
  for (int64_t i = 0; i < rank; ++i) {
    int64_t d = type.getDimSize(rank - 1 - i);
    if (i >= normalized) {
      if (d != 1)
        return ShapedType::isDynamic(d) ? ParamFit::Unknown : ParamFit::DoesNotBroadcast;
      continue;
    }
    int64_t target = input.getDimSize(input.getRank() - 1 - i);
    if (d == 1 || d == target)
      continue;
    if (ShapedType::isDynamic(d) || ShapedType::isDynamic(target))
      return ParamFit::Unknown;
    return ParamFit::DoesNotBroadcast;
  }
  return ParamFit::Fits;
}

/// Walks the users after the normalized value `cur`: [cast] [* scale] [+ bias] [cast].
/// Fails (with `why`) only for a constant scale of a shape that cannot be the norm's scale;
/// anything else ends the epilogue.
LogicalResult matchEpilogue(Operation *core, RankedTensorType input, int64_t axis, bool allowBias,
                            Epilogue &ep, std::string &why) {
  ep.root = core;
  bool castSeen = false;
  auto tryCast = [&]() {
    Operation *user = singleUser(ep.root->getResult(0));
    if (!castSeen && isFloatCast(user)) {
      ep.root = user;
      ep.ops.push_back(user);
      castSeen = true;
    }
  };
  tryCast();
  // A scale or bias computed from the norm's own chain (x * norm(x)) is not a parameter.
  auto isParam = [&](Value v, Value cur) { return v && v != cur && !dependsOn(v, core); };
  // The product or sum must not broadcast the normalized value to a larger shape.
  auto sameShape = [](Operation *op, Value v) {
    return cast<RankedTensorType>(op->getResult(0).getType()).getShape() ==
           cast<RankedTensorType>(v.getType()).getShape();
  };
  if (auto mul = dyn_cast_or_null<spd::MulOp>(singleUser(ep.root->getResult(0)))) {
    Value cur = ep.root->getResult(0);
    Value w = otherOperand(mul, cur);
    ParamFit fit = isParam(w, cur) ? paramFits(w, input, axis) : ParamFit::Unknown;
    if (fit == ParamFit::DoesNotBroadcast && isConstantLike(w)) {
      llvm::raw_string_ostream os(why);
      os << "the weight of type " << w.getType()
         << " does not broadcast to the normalized dimensions";
      return failure();
    }
    if (fit == ParamFit::Fits && sameShape(mul, cur)) {
      ep.scale = w;
      ep.root = mul;
      ep.ops.push_back(mul);
      if (auto add = defOf<spd::AddOp>(w)) {
        for (Value one : {add.getLhs(), add.getRhs()})
          if (isConstantSplat(one, 1.0) && otherOperand(add, one) != one) {
            ep.scaleOnePlus = otherOperand(add, one);
            break;
          }
      }
    }
  }
  if (allowBias)
    if (auto add = dyn_cast_or_null<spd::AddOp>(singleUser(ep.root->getResult(0)))) {
      Value cur = ep.root->getResult(0);
      Value b = otherOperand(add, cur);
      if (isParam(b, cur) && paramFits(b, input, axis) == ParamFit::Fits && sameShape(add, cur)) {
        ep.bias = b;
        ep.root = add;
        ep.ops.push_back(add);
      }
    }
  tryCast();
  return success();
}

//===----------------------------------------------------------------------===//
// Rewriting helpers
//===----------------------------------------------------------------------===//

/// Elements of a float constant attribute (inline or resource) as APFloats.
std::optional<SmallVector<APFloat>> readFloatElements(ElementsAttr attr) {
  auto floatType = dyn_cast<FloatType>(attr.getElementType());
  if (!floatType)
    return std::nullopt;
  SmallVector<APFloat> values;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    for (APFloat v : dense.getValues<APFloat>())
      values.push_back(v);
    if (dense.isSplat())
      values.resize(dense.getNumElements(), values.front());
    return values;
  }
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  AsmResourceBlob *blob = resource ? resource.getRawHandle().getBlob() : nullptr;
  if (!blob)
    return std::nullopt;
  unsigned bits = floatType.getWidth();
  ArrayRef<char> raw = blob->getData();
  int64_t n = attr.getNumElements();
  if (bits % 8 != 0 || bits > 64 || static_cast<int64_t>(raw.size()) != n * (bits / 8))
    return std::nullopt;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t word = 0;
    std::memcpy(&word, raw.data() + i * (bits / 8), bits / 8);
    values.emplace_back(floatType.getFloatSemantics(), APInt(bits, word));
  }
  return values;
}

/// `1 + w` for a constant `w` (possibly behind float casts), in `elementType`, shaped as
/// `shape`; null if `w` is not such a constant.
Value foldOnePlus(PatternRewriter &rewriter, Location loc, Value w, FloatType elementType,
                  ArrayRef<int64_t> shape) {
  while (auto cast = defOf<spd::CastOp>(w))
    w = cast.getInput();
  ElementsAttr attr;
  if (!w || !matchPattern(w, m_Constant(&attr)))
    return {};
  std::optional<SmallVector<APFloat>> values = readFloatElements(attr);
  if (!values)
    return {};
  bool lost;
  for (APFloat &v : *values) {
    v.convert(elementType.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
    v.add(APFloat::getOne(elementType.getFloatSemantics()), APFloat::rmNearestTiesToEven);
  }
  auto type = RankedTensorType::get(shape, elementType);
  if (isa<DenseElementsAttr>(attr))
    return spd::ConstantOp::create(rewriter, loc, type, DenseElementsAttr::get(type, *values));
  // Weights stay resources: a new blob holds the folded values.
  unsigned bytes = elementType.getWidth() / 8;
  SmallVector<char> data(values->size() * bytes);
  for (auto [i, v] : llvm::enumerate(*values)) {
    uint64_t word = v.bitcastToAPInt().getZExtValue();
    std::memcpy(data.data() + i * bytes, &word, bytes);
  }
  StringRef key = cast<DenseResourceElementsAttr>(attr).getRawHandle().getKey();
  auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(ArrayRef<char>(data), bytes);
  auto resource = DenseResourceElementsAttr::get(type, (key + "_plus_one").str(), std::move(blob));
  return spd::ConstantOp::create(rewriter, loc, type, resource);
}

/// `param` with leading size-1 dimensions dropped down to `rank` dimensions, and widening
/// float casts of constants looked through; null if that needs more than a new constant.
Value normalizeParam(PatternRewriter &rewriter, Location loc, Value param, int64_t rank) {
  if (auto cast = defOf<spd::CastOp>(param))
    if (isWideningFloatCast(cast) && isConstantLike(cast.getInput()))
      param = cast.getInput();
  auto type = cast<RankedTensorType>(param.getType());
  if (type.getRank() <= rank)
    return param;
  auto newType = RankedTensorType::get(type.getShape().take_back(rank), type.getElementType());
  ElementsAttr attr;
  if (!matchPattern(param, m_Constant(&attr)))
    return {};
  ElementsAttr reshaped;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    reshaped = dense.reshape(newType);
  else if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr))
    reshaped = DenseResourceElementsAttr::get(newType, resource.getRawHandle());
  if (!reshaped)
    return {};
  return spd::ConstantOp::create(rewriter, loc, newType, reshaped);
}

/// The scale operand of the norm: `w`, or `1 + w` folded into a constant when `w` is one.
Value buildScale(PatternRewriter &rewriter, Location loc, const Epilogue &ep, int64_t rank,
                 Type computeType) {
  if (!ep.scale)
    return {};
  if (ep.scaleOnePlus) {
    auto elementType = cast<FloatType>(getElementTypeOrSelf(computeType));
    auto wType = cast<RankedTensorType>(ep.scaleOnePlus.getType());
    int64_t keep = std::min<int64_t>(wType.getRank(), rank);
    bool leadingOnes =
        llvm::all_of(wType.getShape().drop_back(keep), [](int64_t d) { return d == 1; });
    if (leadingOnes)
      if (Value folded = foldOnePlus(rewriter, loc, ep.scaleOnePlus, elementType,
                                     wType.getShape().take_back(keep)))
        return folded;
  }
  return normalizeParam(rewriter, loc, ep.scale, rank);
}

/// The value to normalize: `x`, or the narrower value a widening cast produced `x` from when
/// the norm's result has that value's type (the LLaMA round trip through f32).
Value normInput(Value x, Type resultType) {
  auto cast = defOf<spd::CastOp>(x);
  if (cast && isWideningFloatCast(cast) &&
      getElementTypeOrSelf(cast.getInput().getType()) == getElementTypeOrSelf(resultType))
    return cast.getInput();
  return x;
}

Location fusedLoc(PatternRewriter &rewriter, ArrayRef<Operation *> ops) {
  SmallVector<Location> locs;
  for (Operation *op : ops)
    locs.push_back(op->getLoc());
  return rewriter.getFusedLoc(locs);
}

/// The epsilon of `a = mean + eps`, if `a` is such an add; `eps` is null if not constant.
spd::AddOp matchEpsilonAdd(Value mean, Value &eps) {
  for (Operation *user : mean.getUsers())
    if (auto add = dyn_cast<spd::AddOp>(user)) {
      eps = otherOperand(add, mean);
      if (eps == mean)
        continue;
      return add;
    }
  return {};
}

//===----------------------------------------------------------------------===//
// RMSNorm
//===----------------------------------------------------------------------===//

/// What a matcher found: a rewrite, a near miss (remarked by the pass) or nothing.
enum class MatchKind { None, NearMiss, Match };

struct NormMatch {
  MatchKind kind = MatchKind::None;
  std::string why;
  Value x;
  int64_t axis = 0;
  double epsilon = 0.0;
  Epilogue ep;
  SmallVector<Operation *> ops;
};

NormMatch none(StringRef why) {
  NormMatch m;
  m.why = why.str();
  return m;
}
NormMatch nearMiss(const Twine &why) {
  NormMatch m;
  m.kind = MatchKind::NearMiss;
  m.why = why.str();
  return m;
}

/// Checks the mean's axes and the epsilon once the structure is known.
std::optional<NormMatch> checkMeanAndEpsilon(spd::ReduceMeanOp mean, Value eps, NormMatch &m) {
  auto inputType = cast<RankedTensorType>(mean.getInput().getType());
  if (!areTrailingAxes(mean.getAxes(), inputType.getRank(), m.axis))
    return nearMiss("the mean is over axes " + formatAxes(mean.getAxes()) +
                    ", not the trailing dimensions of a rank-" + Twine(inputType.getRank()) +
                    " tensor");
  if (!mean.getKeepdims())
    return nearMiss("the mean does not keep the reduced dimensions");
  std::optional<double> epsilon = getConstantSplat(eps);
  if (!epsilon)
    return nearMiss("epsilon is not a constant");
  m.epsilon = *epsilon;
  return std::nullopt;
}

/// The matchers' common tail: the core (`form`, for the message) keeps x's shape, and the
/// epilogue after it (scale, bias if allowed, casts) joins the match.
NormMatch finishNormMatch(NormMatch m, Operation *core, Value x, bool allowBias,
                          StringRef form) {
  auto inputType = cast<RankedTensorType>(x.getType());
  if (cast<RankedTensorType>(core->getResult(0).getType()).getShape() != inputType.getShape())
    return nearMiss(form + " broadcasts x to another shape");
  std::string why;
  if (failed(matchEpilogue(core, inputType, m.axis, allowBias, m.ep, why)))
    return nearMiss(why);
  m.ops.append(m.ep.ops);
  m.x = x;
  m.kind = MatchKind::Match;
  return m;
}

NormMatch matchRmsNorm(spd::ReduceMeanOp mean) {
  Value x = matchSquare(mean.getInput());
  if (!x)
    return none("the mean is not of a square");
  // mean((y - mean(y))^2) is a LayerNorm's variance: that pattern owns it.
  if (auto sub = defOf<spd::SubOp>(x))
    if (auto centre = defOf<spd::ReduceMeanOp>(sub.getRhs()))
      if (centre.getInput() == sub.getLhs())
        return none("the squared value is centred: a LayerNorm");
  Value eps;
  spd::AddOp add = matchEpsilonAdd(mean, eps);
  if (!add)
    return none("no epsilon is added to the mean");
  NormMatch m;
  m.ops = {mean.getInput().getDefiningOp(), mean, add};
  Value numerator;
  Operation *core = matchInverseSqrtProduct(
      add, [&](Value v) { return v == x; }, m.ops, numerator);
  if (!core)
    return none("no x * rsqrt(mean + eps)");
  m.ops.push_back(core);
  if (std::optional<NormMatch> miss = checkMeanAndEpsilon(mean, eps, m))
    return *miss;
  return finishNormMatch(std::move(m), core, x, /*allowBias=*/false,
                         "x * rsqrt(mean(x^2) + eps)");
}

struct RmsNormPattern : OpRewritePattern<spd::ReduceMeanOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(spd::ReduceMeanOp mean, PatternRewriter &rewriter) const override {
    NormMatch m = matchRmsNorm(mean);
    if (m.kind != MatchKind::Match)
      return rewriter.notifyMatchFailure(mean, m.why);
    Operation *root = m.ep.root;
    Type resultType = root->getResult(0).getType();
    Location loc = fusedLoc(rewriter, m.ops);
    rewriter.setInsertionPoint(root);
    int64_t rank = cast<RankedTensorType>(m.x.getType()).getRank() - m.axis;
    Value scale = buildScale(rewriter, loc, m.ep, rank, m.x.getType());
    if (m.ep.scale && !scale)
      return rewriter.notifyMatchFailure(mean, "the scale cannot be reshaped");
    Value input = normInput(m.x, resultType);
    auto norm = spd::RmsNormOp::create(rewriter, loc, resultType, input, scale, m.axis,
                                       APFloat(static_cast<float>(m.epsilon)));
    LLVM_DEBUG(llvm::dbgs() << "rms_norm from " << m.ops.size() << " ops at " << loc << "\n");
    rewriter.replaceOp(root, norm.getResult());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// LayerNorm
//===----------------------------------------------------------------------===//

NormMatch matchLayerNorm(spd::ReduceMeanOp mean) {
  Value x = mean.getInput();
  // d = x - mean(x), squared into a second mean (the variance).
  auto isCentred = [&](Value v) {
    auto sub = defOf<spd::SubOp>(v);
    return sub && sub.getLhs() == x && sub.getRhs() == mean.getResult();
  };
  spd::SubOp centred;
  Operation *square = nullptr;
  spd::ReduceMeanOp variance;
  for (Operation *user : mean->getUsers()) {
    auto sub = dyn_cast<spd::SubOp>(user);
    if (!sub || !isCentred(sub))
      continue;
    for (Operation *subUser : sub->getUsers()) {
      if (!isa<spd::PowOp, spd::MulOp>(subUser) || matchSquare(subUser->getResult(0)) != sub)
        continue;
      for (Operation *sqUser : subUser->getUsers())
        if (auto var = dyn_cast<spd::ReduceMeanOp>(sqUser)) {
          centred = sub;
          square = subUser;
          variance = var;
        }
    }
  }
  if (!variance)
    return none("no mean((x - mean(x))^2)");
  Value eps;
  spd::AddOp add = matchEpsilonAdd(variance, eps);
  if (!add)
    return none("no epsilon is added to the variance");
  NormMatch m;
  m.ops = {mean, centred, square, variance, add};
  Value numerator;
  Operation *core = matchInverseSqrtProduct(add, isCentred, m.ops, numerator);
  if (!core)
    return none("no (x - mean) / sqrt(var + eps)");
  m.ops.push_back(core);
  if (std::optional<NormMatch> miss = checkMeanAndEpsilon(mean, eps, m))
    return *miss;
  if (variance.getAxes() != mean.getAxes() || !variance.getKeepdims())
    return nearMiss("the variance is over axes " + formatAxes(variance.getAxes()) +
                    ", the mean over " + formatAxes(mean.getAxes()));
  return finishNormMatch(std::move(m), core, x, /*allowBias=*/true,
                         "(x - mean) / sqrt(var + eps)");
}

struct LayerNormPattern : OpRewritePattern<spd::ReduceMeanOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(spd::ReduceMeanOp mean, PatternRewriter &rewriter) const override {
    NormMatch m = matchLayerNorm(mean);
    if (m.kind != MatchKind::Match)
      return rewriter.notifyMatchFailure(mean, m.why);
    Operation *root = m.ep.root;
    Type resultType = root->getResult(0).getType();
    Location loc = fusedLoc(rewriter, m.ops);
    rewriter.setInsertionPoint(root);
    auto xType = cast<RankedTensorType>(m.x.getType());
    int64_t rank = xType.getRank() - m.axis;
    Value scale = buildScale(rewriter, loc, m.ep, rank, xType);
    Value bias = m.ep.bias ? normalizeParam(rewriter, loc, m.ep.bias, rank) : Value();
    if ((m.ep.scale && !scale) || (m.ep.bias && !bias))
      return rewriter.notifyMatchFailure(mean, "the scale or bias cannot be reshaped");
    if (!scale) {
      // spd.layer_norm requires a scale: ones over the normalized dimensions.
      auto onesType =
          RankedTensorType::get({xType.getDimSize(xType.getRank() - 1)}, xType.getElementType());
      if (ShapedType::isDynamic(onesType.getDimSize(0)))
        onesType = RankedTensorType::get({1}, xType.getElementType());
      scale = spd::ConstantOp::create(
          rewriter, loc, onesType,
          DenseElementsAttr::get(onesType, rewriter.getFloatAttr(xType.getElementType(), 1.0)));
    }
    Value input = normInput(m.x, resultType);
    auto norm = spd::LayerNormOp::create(rewriter, loc, resultType, input, scale, bias, m.axis,
                                         APFloat(static_cast<float>(m.epsilon)));
    rewriter.replaceOp(root, norm.getResult());
    return success();
  }
};

} // namespace

void spdc::populateRecognizeNormsPatterns(RewritePatternSet &patterns) {
  // LayerNorm first: its variance is, on its own, an RMSNorm of the centred input.
  patterns.add<LayerNormPattern>(patterns.getContext(), /*benefit=*/2);
  patterns.add<RmsNormPattern>(patterns.getContext(), /*benefit=*/1);
}

namespace {
struct RecognizeNormsPass : spdc::impl::SpdRecognizeNormsBase<RecognizeNormsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateRecognizeNormsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // What is left unrewritten and looked like a norm: one remark per anchor.
    getOperation().walk([](spd::ReduceMeanOp mean) {
      for (NormMatch m : {matchLayerNorm(mean), matchRmsNorm(mean)})
        if (m.kind == MatchKind::NearMiss) {
          emitMissedRemark(mean, kPassName, m.why);
          return;
        }
    });
  }
};
} // namespace
