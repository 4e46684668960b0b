//===- FuseAttention.cpp - decomposed attention into spd.attention --------===//
//
// Anchors on spd.softmax over the last axis whose probabilities (through casts and the IsNaN/
// Where guard of SDPA exports) are the left operand of a matmul with V, and whose scores come
// from a matmul Q x K^T through constant scales, masks and casts. The matchers below only
// inspect the IR and describe what they found; the rewrite then builds the few ops the fused
// form needs (a transpose of [b, s, h, d] keys, a squeeze of repeat_kv's unsqueezed K/V,
// reshapes of batched 3-D [b * h, s, d] operands, the mask) and one spd.attention. Softmaxes
// that look like attention but are not fused get a remark naming the reason, emitted once by
// the pass after rewriting.
//
// The scale is the product of the constant factors found on the scores, Q, K and K^T: a graph
// without any computes softmax(Q K^T) and gets scale 1 (OPT folds its scaling into q_proj), not
// the 1/sqrt(d) default of SDPA.
//
//===----------------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"
#include "spdc/Transforms/Utility.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/Debug.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <string>

#define DEBUG_TYPE "spd-fuse-attention"

namespace spdc {
#define GEN_PASS_DEF_SPDFUSEATTENTION
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;
namespace spd = spdc::spd;

namespace {

constexpr llvm::StringLiteral kPassName = "spd-fuse-attention";

/// A mask entry at or below this (after the scales applied to it) is "masked": exporters write
/// -inf, finfo(dtype).min (-3.4e38 in f32, -65504 in f16) or -10000 (older BERT code); exp of
/// anything this low underflows to 0 against any realistic score.
constexpr double kMaskedThreshold = -1.0e4;

/// Constant masks with more elements than this are not read to look for the causal pattern
/// (16 Mi elements: a 4096 x 4096 mask, 64 MiB as f32; reading it takes tens of milliseconds).
constexpr int64_t kMaxInspectedMaskElements = int64_t(1) << 24;

/// The most ops the matchers walk through between the softmax and the matmuls around it.
constexpr int kMaxChainLength = 16;

//===----------------------------------------------------------------------===//
// What the matchers find
//===----------------------------------------------------------------------===//

/// A [batch, heads, seq, head_dim] operand of the fused op, as found: `value` itself or a value
/// that one inserted op turns into it.
struct HeadsView {
  enum class Kind {
    Direct,        // value is [b, h, s, d]
    FromBshd,      // value is [b, s, h, d]: transpose [0, 2, 1, 3]
    FromKeyT,      // value is K^T [b, h, d, s]: transpose [0, 1, 3, 2]
    SqueezeHeads2, // value is repeat_kv's [b, kvh, 1, s, d]: squeeze axis 2
    FromFlat,      // value is [b * h, s, d] (batched 3-D matmuls): reshape
    FromFlatKeyT,  // value is K^T [b * h, d, s]: reshape, then transpose [0, 1, 3, 2]
  };
  Value value;
  Kind kind = Kind::Direct;
  /// Batch and heads of the flat kinds.
  int64_t batch = 0, heads = 0;
  /// Read from under repeat_kv: the kv_heads the graph repeated.
  bool unrepeated = false;
};

/// One mask applied to the scores between the QK matmul and the softmax.
struct MaskTerm {
  /// The float mask added to the scores, or (isSelect) the i1 condition of a where.
  Value value;
  /// The mask is subtracted (scores - mask) rather than added.
  bool negated = false;
  /// Applied to batched 3-D scores [b * h, sq, skv]: a leading b * h is split into [b, h].
  bool unflatten = false;
  /// where(cond, scores, fill) (keepWhereTrue) or where(cond, fill, scores).
  bool isSelect = false;
  bool keepWhereTrue = true;
  double fill = 0.0;
  /// Element type the where selects in (select terms), for building a float mask.
  Type selectType;
  /// Product of the scales applied to the scores after this term: the mask's weight.
  double factor = 1.0;
};

struct AttentionMatch {
  spd::SoftmaxOp softmax;
  spd::MatMulOp scoresMatmul, outputMatmul;
  HeadsView query, key, value;
  /// Batch and heads of the scores [b, h, sq, skv]; `flatScores` when Q K^T is a batched 3-D
  /// matmul (reshaped to 4-D before the softmax, or softmaxed as [b * h, sq, skv]),
  /// `flatOutput` when the probabilities are 3-D for a batched matmul with V (the output is
  /// then 3-D too).
  int64_t batch = 0, heads = 0;
  bool flatScores = false, flatOutput = false;
  double scale = 1.0;
  /// Gemma 2's soft-capping, softcap * tanh(scores / softcap) before the masks; 0 when none.
  double softcap = 0.0;
  SmallVector<MaskTerm> masks;
  bool causal = false;
};

/// Why a softmax was not fused. `nearMiss` marks the ones that looked like attention (the
/// probabilities feed a matmul), which the pass reports as remarks.
struct MatchFailure {
  std::string reason;
  bool nearMiss = false;
};

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

RankedTensorType tensorType(Value v) { return dyn_cast<RankedTensorType>(v.getType()); }

bool isFloatTensor(Value v) {
  RankedTensorType t = tensorType(v);
  return t && isa<FloatType>(t.getElementType());
}

/// Sizes that may be equal: equal, or one of them unknown.
bool dimsAgree(int64_t a, int64_t b) {
  return a == b || ShapedType::isDynamic(a) || ShapedType::isDynamic(b);
}

/// The product of `dims`, or dynamic if any is.
int64_t productOf(ArrayRef<int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims) {
    if (ShapedType::isDynamic(d))
      return ShapedType::kDynamic;
    p *= d;
  }
  return p;
}

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
  }
  return s + "]";
}

/// Whether a reshape to `shape` can be built from a constant shape: at most one unknown size,
/// written -1.
bool isBuildableShape(ArrayRef<int64_t> shape) {
  return llvm::count_if(shape, ShapedType::isDynamic) <= 1;
}

std::string opName(Operation *op) { return op->getName().getStringRef().str(); }

/// Whether `v` is (through its defining op) a float->float spd.cast; returns its input.
Value floatCastInput(Value v) {
  auto cast = v.getDefiningOp<spd::CastOp>();
  if (cast && isFloatTensor(cast.getInput()) && isFloatTensor(cast.getOutput()))
    return cast.getInput();
  return {};
}

/// The factor that `op`, a spd.mul or spd.div of `chain` by a constant splat, applies to
/// `chain`, or nullopt. The constant must not broadcast `chain` to a larger shape.
std::optional<double> constantScaleOf(Operation *op, Value chain) {
  if (op->getNumOperands() != 2 || op->getResult(0).getType() != chain.getType())
    return std::nullopt;
  if (auto mul = dyn_cast<spd::MulOp>(op)) {
    Value other = mul.getLhs() == chain ? mul.getRhs() : mul.getLhs();
    return spdc::getConstantSplat(other);
  }
  if (auto div = dyn_cast<spd::DivOp>(op)) {
    if (div.getLhs() != chain)
      return std::nullopt;
    std::optional<double> c = spdc::getConstantSplat(div.getRhs());
    if (!c || *c == 0.0)
      return std::nullopt;
    return 1.0 / *c;
  }
  return std::nullopt;
}

/// Follows `v` up through multiplications and divisions by constant splats, multiplying their
/// factors into `factor`: the value that is scaled.
Value peelScales(Value v, double &factor) {
  for (int i = 0; i < kMaxChainLength; ++i) {
    Operation *def = v.getDefiningOp();
    if (!def || !isa<spd::MulOp, spd::DivOp>(def))
      return v;
    bool peeled = false;
    for (Value operand : def->getOperands()) {
      if (operand.getType() != v.getType())
        continue;
      if (std::optional<double> c = constantScaleOf(def, operand)) {
        factor *= *c;
        v = operand;
        peeled = true;
        break;
      }
    }
    if (!peeled)
      return v;
  }
  return v;
}

/// Appends `n` packed little-endian floats of `type` from `raw` as doubles. Masks are long runs
/// of a few values, so a value converts once per run rather than through an APFloat each.
bool decodeFloats(ArrayRef<char> raw, int64_t n, FloatType type, std::vector<double> &values) {
  unsigned bytes = type.getWidth() / 8;
  if (bytes == 0 || bytes > 8 || static_cast<int64_t>(raw.size()) != n * bytes)
    return false;
  uint64_t lastBits = 0;
  double last = 0.0;
  bool haveLast = false;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t bits = 0;
    std::memcpy(&bits, raw.data() + i * bytes, bytes); // little-endian hosts, as the importer
    if (!haveLast || bits != lastBits) {
      if (type.isF32())
        last = llvm::bit_cast<float>(static_cast<uint32_t>(bits));
      else if (type.isF64())
        last = llvm::bit_cast<double>(bits);
      else
        last = APFloat(type.getFloatSemantics(), APInt(type.getWidth(), bits)).convertToDouble();
      lastBits = bits;
      haveLast = true;
    }
    values.push_back(last);
  }
  return true;
}

/// The elements of a constant as doubles (i1 as 0 / 1), from a dense or dense_resource
/// attribute, or just one element for a splat; nullopt for anything else, unsupported element
/// types and large constants.
std::optional<std::vector<double>> readConstant(Value v) {
  Attribute attr;
  if (!v || !matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr); dense && dense.isSplat()) {
    if (std::optional<double> value = spdc::getConstantSplat(v))
      return std::vector<double>{*value};
    return std::nullopt;
  }
  auto elements = dyn_cast<ElementsAttr>(attr);
  if (!elements || elements.getNumElements() > kMaxInspectedMaskElements)
    return std::nullopt;
  int64_t n = elements.getNumElements();
  Type elementType = elements.getElementType();
  std::vector<double> values;
  values.reserve(n);

  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (auto floatType = dyn_cast<FloatType>(elementType);
        floatType && floatType.getWidth() % 8 == 0) {
      if (!decodeFloats(dense.getRawData(), n, floatType, values))
        return std::nullopt;
    } else if (auto floatType = dyn_cast<FloatType>(elementType)) {
      for (APFloat x : dense.getValues<APFloat>())
        values.push_back(x.convertToDouble());
    } else if (elementType.isInteger(1)) {
      for (bool x : dense.getValues<bool>())
        values.push_back(x ? 1.0 : 0.0);
    } else if (isa<IntegerType>(elementType)) {
      for (APInt x : dense.getValues<APInt>())
        values.push_back(static_cast<double>(x.getSExtValue()));
    } else {
      return std::nullopt;
    }
    return values;
  }

  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!resource)
    return std::nullopt;
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return std::nullopt;
  ArrayRef<char> raw = blob->getData();
  // i1 resources hold one byte per element; everything else its natural width.
  int64_t width = elementType.isInteger(1) ? 8 : elementType.getIntOrFloatBitWidth();
  if (width % 8 != 0 || static_cast<int64_t>(raw.size()) != n * (width / 8))
    return std::nullopt;
  const char *p = raw.data();
  auto readBits = [&](int64_t i) {
    uint64_t bits = 0;
    std::memcpy(&bits, p + i * (width / 8), width / 8); // little-endian hosts, as the importer
    return bits;
  };
  if (auto floatType = dyn_cast<FloatType>(elementType)) {
    if (!decodeFloats(raw, n, floatType, values))
      return std::nullopt;
  } else if (elementType.isInteger(1)) {
    for (int64_t i = 0; i < n; ++i)
      values.push_back(p[i] != 0 ? 1.0 : 0.0);
  } else if (isa<IntegerType>(elementType)) {
    for (int64_t i = 0; i < n; ++i)
      values.push_back(static_cast<double>(APInt(width, readBits(i)).getSExtValue()));
  } else {
    return std::nullopt;
  }
  return values;
}

//===----------------------------------------------------------------------===//
// Matchers
//===----------------------------------------------------------------------===//

/// The SDPA export's guard `where(isnan(p), 0, p)` around `p`: the where, or null. `p` must have
/// no users besides the guard.
Operation *matchNanGuard(Value p) {
  spd::IsNaNOp isNaN;
  spd::WhereOp where;
  for (Operation *user : p.getUsers()) {
    if (auto u = dyn_cast<spd::IsNaNOp>(user); u && !isNaN)
      isNaN = u;
    else if (auto w = dyn_cast<spd::WhereOp>(user); w && !where)
      where = w;
    else
      return nullptr;
  }
  if (!isNaN || !where || !isNaN->hasOneUse() || where.getCondition() != isNaN.getOutput() ||
      where.getFalseValue() != p || where.getOutput().getType() != p.getType() ||
      !spdc::isConstantSplat(where.getTrueValue(), 0.0))
    return nullptr;
  return where;
}

/// Whether `reshape` only merges the leading [b, h] of a 4-D tensor into b * h.
bool isHeadsMerge(spd::ReshapeOp reshape) {
  RankedTensorType in = tensorType(reshape.getInput()), out = tensorType(reshape.getOutput());
  return in && out && in.getRank() == 4 && out.getRank() == 3 &&
         dimsAgree(out.getDimSize(0), productOf(in.getShape().take_front(2))) &&
         dimsAgree(out.getDimSize(1), in.getDimSize(2)) &&
         dimsAgree(out.getDimSize(2), in.getDimSize(3));
}

/// The matmul that takes the probabilities as its left operand, through float casts, NaN
/// guards and a merge of [b, h] (batched 3-D matmuls) that nothing else reads.
FailureOr<spd::MatMulOp> matchProbsConsumer(Value probs, bool &flatOutput, MatchFailure &why) {
  Value cur = probs;
  for (int i = 0; i < kMaxChainLength; ++i) {
    if (Operation *guard = matchNanGuard(cur)) {
      cur = guard->getResult(0);
      continue;
    }
    if (!cur.hasOneUse()) {
      // Attention weights returned beside the output (output_attentions) keep the softmax.
      for (Operation *user : cur.getUsers())
        if (auto mm = dyn_cast<spd::MatMulOp>(user); mm && mm.getLhs() == cur)
          why = {"the attention probabilities have other uses than the matmul with V", true};
      if (why.reason.empty())
        why.reason = "the softmax has several uses";
      return failure();
    }
    Operation *user = *cur.getUsers().begin();
    if (auto cast = dyn_cast<spd::CastOp>(user); cast && isFloatTensor(cast.getOutput())) {
      cur = cast.getOutput();
      continue;
    }
    if (auto reshape = dyn_cast<spd::ReshapeOp>(user);
        reshape && !flatOutput && isHeadsMerge(reshape)) {
      flatOutput = true;
      cur = reshape.getOutput();
      continue;
    }
    auto mm = dyn_cast<spd::MatMulOp>(user);
    if (mm && mm.getLhs() == cur && mm.getRhs() != cur)
      return mm;
    why.reason = "the softmax does not feed a matmul as its left operand";
    return failure();
  }
  why.reason = "the softmax feeds a chain of casts too long to follow";
  return failure();
}

/// Whether `v` is computed from a matmul through the ops a scores chain is made of. `visited`
/// keeps the walk linear in the size of the graph above `v`.
bool reachesMatmul(Value v, int depth, llvm::SmallPtrSetImpl<Operation *> &visited) {
  Operation *def = v.getDefiningOp();
  if (!def || depth > kMaxChainLength || !visited.insert(def).second)
    return false;
  if (isa<spd::MatMulOp>(def))
    return true;
  if (!isa<spd::CastOp, spd::MulOp, spd::DivOp, spd::AddOp, spd::SubOp, spd::WhereOp,
           spd::MaxOp, spd::TanhOp, spd::ReshapeOp>(def))
    return false;
  return llvm::any_of(def->getOperands(),
                      [&](Value operand) { return reachesMatmul(operand, depth + 1, visited); });
}

bool reachesMatmul(Value v) {
  llvm::SmallPtrSet<Operation *, 16> visited;
  return reachesMatmul(v, 0, visited);
}

/// Of the two operands of a binary op on the scores, the index of the one carrying the scores:
/// the one the QK matmul reaches, preferring the one of the result's type. When neither reaches
/// it, the one of the result's type, so that the walk goes on to the op that stops it.
std::optional<unsigned> scoresOperandIndex(Operation *op, unsigned first, unsigned second) {
  Type resultType = op->getResult(0).getType();
  bool a = reachesMatmul(op->getOperand(first)), b = reachesMatmul(op->getOperand(second));
  if (a != b)
    return a ? first : second;
  bool firstFull = op->getOperand(first).getType() == resultType;
  bool secondFull = op->getOperand(second).getType() == resultType;
  if (!a && firstFull == secondFull)
    return std::nullopt;
  return secondFull && !firstFull ? second : first;
}

/// Walks from the softmax input up to the QK matmul through float casts, constant scales,
/// additive masks and where-masks, recording scales and masks in `m`.
LogicalResult matchScores(Value input, AttentionMatch &m, MatchFailure &why) {
  why.nearMiss = true;
  Value cur = input;
  double factor = 1.0; // product of the scales between `cur` and the softmax
  for (int i = 0;; ++i) {
    if (i > kMaxChainLength) {
      why.reason = "the scores pass through too many ops between the matmul and the softmax";
      return failure();
    }
    Operation *def = cur.getDefiningOp();
    if (!def) {
      why.reason = "the scores are a block argument, not the result of a matmul";
      return failure();
    }
    if (m.softcap != 0.0 && isa<spd::AddOp, spd::SubOp, spd::WhereOp, spd::MaxOp>(def)) {
      why.reason = "the scores are masked or clamped inside the soft-capping tanh (found " +
                   opName(def) + ")";
      return failure();
    }
    if (auto mm = dyn_cast<spd::MatMulOp>(def)) {
      m.scoresMatmul = mm;
      m.scale *= factor;
      return success();
    }
    if (auto reshape = dyn_cast<spd::ReshapeOp>(def)) {
      // Batched 3-D scores [b * h, sq, skv] viewed as [b, h, sq, skv].
      RankedTensorType in = tensorType(reshape.getInput()), out = tensorType(cur);
      if (m.flatScores || in.getRank() != 3 || out.getRank() != 4 ||
          !dimsAgree(in.getDimSize(0), productOf(out.getShape().take_front(2))) ||
          !dimsAgree(in.getDimSize(1), out.getDimSize(2)) ||
          !dimsAgree(in.getDimSize(2), out.getDimSize(3))) {
        why.reason = "the scores come from spd.reshape, not from a matmul through scales, masks "
                     "and casts";
        return failure();
      }
      m.flatScores = true;
      cur = reshape.getInput();
      continue;
    }
    if (isa<spd::CastOp>(def)) {
      if (!(cur = floatCastInput(cur))) {
        why.reason = "the scores are cast from a non-float type";
        return failure();
      }
      continue;
    }
    if (isa<spd::MulOp, spd::DivOp>(def)) {
      std::optional<unsigned> idx = scoresOperandIndex(def, 0, 1);
      if (!idx) {
        why.reason = "the scores are not computed by a matmul (found " + opName(def) + ")";
        return failure();
      }
      Value chain = def->getOperand(*idx);
      std::optional<double> c = constantScaleOf(def, chain);
      if (!c) {
        why.reason = "the scores are scaled by a non-constant (" + opName(def) + ")";
        return failure();
      }
      factor *= *c;
      cur = chain;
      continue;
    }
    if (isa<spd::AddOp, spd::SubOp>(def)) {
      std::optional<unsigned> idx = scoresOperandIndex(def, 0, 1);
      if (idx && isa<spd::SubOp>(def) && *idx != 0) {
        why.reason = "the scores are subtracted from something (spd.sub)";
        return failure();
      }
      if (!idx) {
        why.reason = "the scores are not computed by a matmul (found " + opName(def) + ")";
        return failure();
      }
      Value chain = def->getOperand(*idx), mask = def->getOperand(1 - *idx);
      if (chain.getType() != def->getResult(0).getType()) {
        why.reason = "the mask " + shapeString(tensorType(mask).getShape()) +
                     " broadcasts the scores to a larger shape";
        return failure();
      }
      MaskTerm term;
      term.value = mask;
      term.negated = isa<spd::SubOp>(def);
      term.unflatten = m.flatScores;
      term.factor = factor;
      m.masks.push_back(term);
      cur = chain;
      continue;
    }
    if (isa<spd::TanhOp>(def)) {
      // Soft-capping (Gemma 2): cap * tanh(s / cap) before the masks. The scales between the
      // tanh and the softmax are the cap; those below it, times the cap, are the scale.
      if (m.softcap != 0.0 || !(factor > 0.0) || !std::isfinite(factor)) {
        why.reason = m.softcap != 0.0 ? "the scores pass through spd.tanh twice"
                                      : "the scores come from spd.tanh without a positive "
                                        "constant cap after it";
        return failure();
      }
      m.softcap = factor;
      cur = def->getOperand(0);
      continue;
    }
    if (isa<spd::MaxOp>(def)) {
      // A clamp from below at the type's lowest value, as eager exports write it
      // (torch.max(scores, finfo.min)): it only moves scores that masks pushed below the
      // bound, whose probabilities are zero either way. It makes a row whose every key is
      // masked with -inf average V where the fused op gives zeros; the masks exports add are
      // finfo.min rather than -inf, which the clamp leaves alone.
      std::optional<unsigned> idx = scoresOperandIndex(def, 0, 1);
      std::optional<double> bound =
          idx ? spdc::getConstantSplat(def->getOperand(1 - *idx)) : std::nullopt;
      if (!idx || !bound || def->getOperand(*idx).getType() != def->getResult(0).getType() ||
          !(*bound * factor <= kMaskedThreshold)) {
        why.reason = "the scores pass through spd.max with something other than a large "
                     "negative constant (a clamp of masked scores)";
        return failure();
      }
      cur = def->getOperand(*idx);
      continue;
    }
    if (auto where = dyn_cast<spd::WhereOp>(def)) {
      std::optional<unsigned> idx = scoresOperandIndex(def, 1, 2);
      if (!idx) {
        why.reason = "the scores are not computed by a matmul (found spd.where)";
        return failure();
      }
      Value chain = def->getOperand(*idx), fillValue = def->getOperand(*idx == 1 ? 2 : 1);
      if (chain.getType() != where.getOutput().getType()) {
        why.reason = "the where-mask broadcasts the scores to a larger shape";
        return failure();
      }
      std::optional<double> fill = spdc::getConstantSplat(fillValue);
      if (!fill || !(*fill <= kMaskedThreshold)) {
        why.reason = "the where on the scores does not fill with -inf or a large negative constant";
        return failure();
      }
      MaskTerm term;
      term.value = where.getCondition();
      term.isSelect = true;
      term.keepWhereTrue = *idx == 1;
      term.fill = *fill;
      term.selectType = tensorType(chain).getElementType();
      term.unflatten = m.flatScores;
      term.factor = factor;
      m.masks.push_back(term);
      cur = chain;
      continue;
    }
    why.reason = "the scores come from " + opName(def) +
                 ", not from a matmul through scales, masks and casts";
    return failure();
  }
}

/// repeat_kv's expand of the heads at `headAxis` (1 for [b, h, s, d], 2 for [b, s, h, d]):
/// [.., kvh, 1, ..] -> [.., kvh, n, ..] with the repeat axis after the heads. Returns the
/// un-repeated 4-D view, or nullopt when the expand broadcasts anything else.
std::optional<HeadsView> matchRepeatExpand(spd::ExpandOp expand, int64_t headAxis,
                                           HeadsView::Kind kind) {
  int64_t repeatAxis = headAxis + 1;
  RankedTensorType in = tensorType(expand.getInput()), out = tensorType(expand.getOutput());
  if (!in || !out || in.getRank() != 5 || out.getRank() != 5 || in.getDimSize(repeatAxis) != 1)
    return std::nullopt;
  SmallVector<int64_t, 4> kept;
  for (int64_t i = 0; i < 5; ++i) {
    if (i == repeatAxis)
      continue;
    int64_t a = in.getDimSize(i), b = out.getDimSize(i);
    if (!dimsAgree(a, b) || (a == 1 && b != 1))
      return std::nullopt;
    kept.push_back(a);
  }
  Value u = expand.getInput();
  if (auto unsqueeze = u.getDefiningOp<spd::UnsqueezeOp>()) {
    ArrayRef<int64_t> axes = unsqueeze.getAxes();
    if (axes.size() == 1 && axes[0] == repeatAxis)
      return HeadsView{unsqueeze.getInput(), kind, 0, 0, /*unrepeated=*/true};
  }
  if (auto reshape = u.getDefiningOp<spd::ReshapeOp>()) {
    RankedTensorType src = tensorType(reshape.getInput());
    if (src && src.hasStaticShape() && src.getShape() == ArrayRef<int64_t>(kept))
      return HeadsView{reshape.getInput(), kind, 0, 0, /*unrepeated=*/true};
  }
  if (kind == HeadsView::Kind::Direct)
    return HeadsView{u, HeadsView::Kind::SqueezeHeads2, 0, 0, /*unrepeated=*/true};
  return std::nullopt;
}

/// K or V written as repeat_kv(Y): Y [b, kvh, s, d] unsqueezed (or reshaped) to
/// [b, kvh, 1, s, d], expanded to [b, kvh, n, s, d] and reshaped to [b, kvh * n, s, d] (or the
/// same on the heads of [b, s, h, d]). Returns the view of Y, or nullopt.
std::optional<HeadsView> matchRepeatKV(Value x, int64_t headAxis, HeadsView::Kind kind) {
  auto reshape = x.getDefiningOp<spd::ReshapeOp>();
  if (!reshape)
    return std::nullopt;
  auto expand = reshape.getInput().getDefiningOp<spd::ExpandOp>();
  RankedTensorType out = tensorType(x);
  if (!expand || !out || out.getRank() != 4)
    return std::nullopt;
  ArrayRef<int64_t> e = tensorType(expand.getOutput()).getShape();
  if (e.size() != 5)
    return std::nullopt;
  for (int64_t i = 0, j = 0; i < 4; ++i, ++j) {
    int64_t expected = e[j];
    if (i == headAxis)
      expected = productOf(e.slice(j++, 2));
    if (!dimsAgree(out.getDimSize(i), expected))
      return std::nullopt;
  }
  return matchRepeatExpand(expand, headAxis, kind);
}

/// The keys behind a batched transpose that flattens the leading dimensions:
/// reshape(transpose(reshape(X, [N, s, d]), [0, 2, 1]), [b, h, d, s]), with X [b, h, s, d] or
/// repeat_kv's [b, kvh, n, s, d] (as the dynamo SDPA export writes K^T).
std::optional<HeadsView> matchFlattenedKeyTranspose(Value kT, double &factor) {
  auto outer = kT.getDefiningOp<spd::ReshapeOp>();
  if (!outer)
    return std::nullopt;
  auto transpose = outer.getInput().getDefiningOp<spd::TransposeOp>();
  if (!transpose || transpose.getPerm() != ArrayRef<int64_t>{0, 2, 1})
    return std::nullopt;
  auto inner = transpose.getInput().getDefiningOp<spd::ReshapeOp>();
  if (!inner)
    return std::nullopt;
  Value x = inner.getInput();
  ArrayRef<int64_t> xs = tensorType(x).getShape(), mid = tensorType(inner.getOutput()).getShape(),
                    out = tensorType(kT).getShape();
  int64_t r = xs.size();
  if (mid.size() != 3 || out.size() != 4 || r < 4 || r > 5)
    return std::nullopt;
  if (!dimsAgree(xs[r - 1], mid[2]) || !dimsAgree(xs[r - 1], out[2]) ||
      !dimsAgree(xs[r - 2], mid[1]) || !dimsAgree(xs[r - 2], out[3]) || !dimsAgree(xs[0], out[0]) ||
      !dimsAgree(productOf(xs.slice(1, r - 3)), out[1]) ||
      !dimsAgree(productOf(xs.drop_back(2)), mid[0]))
    return std::nullopt;
  if (r == 4)
    return HeadsView{peelScales(x, factor), HeadsView::Kind::Direct};
  if (auto expand = x.getDefiningOp<spd::ExpandOp>())
    return matchRepeatExpand(expand, /*headAxis=*/1, HeadsView::Kind::Direct);
  return std::nullopt;
}

/// K as [b, h, s, d] from the matmul's right operand K^T: a transpose swapping the last two
/// dimensions, a transpose [0, 2, 3, 1] of [b, s, h, d] keys, the flattened batched form, or
/// else any [b, h, d, s] value transposed back by an inserted op. Scales on K multiply `factor`.
HeadsView matchKeyTranspose(Value kT, double &factor) {
  if (auto transpose = kT.getDefiningOp<spd::TransposeOp>()) {
    ArrayRef<int64_t> perm = transpose.getPerm();
    if (perm == ArrayRef<int64_t>{0, 1, 3, 2})
      return {peelScales(transpose.getInput(), factor), HeadsView::Kind::Direct};
    if (perm == ArrayRef<int64_t>{0, 2, 3, 1})
      return {peelScales(transpose.getInput(), factor), HeadsView::Kind::FromBshd};
  }
  if (std::optional<HeadsView> view = matchFlattenedKeyTranspose(kT, factor))
    return *view;
  return {kT, HeadsView::Kind::FromKeyT};
}

/// The [b, h, s, d] shape a view stands for.
SmallVector<int64_t, 4> viewShape(const HeadsView &view) {
  ArrayRef<int64_t> s = tensorType(view.value).getShape();
  switch (view.kind) {
  case HeadsView::Kind::Direct:
    return {s[0], s[1], s[2], s[3]};
  case HeadsView::Kind::FromBshd:
    return {s[0], s[2], s[1], s[3]};
  case HeadsView::Kind::FromKeyT:
    return {s[0], s[1], s[3], s[2]};
  case HeadsView::Kind::SqueezeHeads2:
    return {s[0], s[1], s[3], s[4]};
  case HeadsView::Kind::FromFlat:
    return {view.batch, view.heads, s[1], s[2]};
  case HeadsView::Kind::FromFlatKeyT:
    return {view.batch, view.heads, s[2], s[1]};
  }
  return {};
}

/// Strips repeat_kv from a K or V view in [b, h, s, d] or [b, s, h, d] layout.
HeadsView stripRepeatKV(HeadsView view) {
  int64_t headAxis;
  if (view.kind == HeadsView::Kind::Direct)
    headAxis = 1;
  else if (view.kind == HeadsView::Kind::FromBshd)
    headAxis = 2;
  else
    return view;
  if (std::optional<HeadsView> inner = matchRepeatKV(view.value, headAxis, view.kind))
    return *inner;
  // [b, h, s, d] transposed from [b, s, h, d] keys or values repeated in that layout.
  auto transpose = view.value.getDefiningOp<spd::TransposeOp>();
  if (view.kind == HeadsView::Kind::Direct && transpose &&
      transpose.getPerm() == ArrayRef<int64_t>{0, 2, 1, 3})
    if (std::optional<HeadsView> inner =
            matchRepeatKV(transpose.getInput(), /*headAxis=*/2, HeadsView::Kind::FromBshd))
      return *inner;
  return view;
}

/// How a constant mask relates to the causal pattern.
enum class ConstantMaskKind { Causal, AllVisible, Other };

/// Looks through ops that only broadcast a mask over leading dimensions (expand, unsqueeze):
/// the values that decide which positions are visible keep their last two dimensions.
Value lookThroughBroadcast(Value v) {
  for (int i = 0; i < kMaxChainLength; ++i) {
    if (auto expand = v.getDefiningOp<spd::ExpandOp>())
      v = expand.getInput();
    else if (auto unsqueeze = v.getDefiningOp<spd::UnsqueezeOp>();
             unsqueeze && llvm::all_of(unsqueeze.getAxes(), [&](int64_t axis) {
               return axis < tensorType(unsqueeze.getOutput()).getRank() - 2;
             }))
      v = unsqueeze.getInput();
    else
      return v;
  }
  return v;
}

/// Classifies a constant mask term of the scores [.., sq, skv]: `Causal` when every slice over
/// the leading dimensions is visible exactly where key j <= i + skv - sq (bottom-right aligned,
/// as spd.attention's flag) and masked elsewhere. An additive mask may be written
/// where(cond, a, b) with constant splats a and b (torch's conversion of boolean masks); its
/// condition is classified then.
ConstantMaskKind classifyConstantMask(const MaskTerm &term, int64_t sq, int64_t skv) {
  if (term.factor <= 0.0)
    return ConstantMaskKind::Other;
  double weight = term.negated ? -term.factor : term.factor;
  // 1 visible, 0 masked, -1 neither (a finite penalty: not a mask pattern).
  auto additive = [&](double x) -> int {
    if (x == 0.0)
      return 1;
    return x * weight <= kMaskedThreshold ? 0 : -1;
  };
  std::function<int(double)> visibility;
  Value source = lookThroughBroadcast(term.value);
  if (term.isSelect) {
    visibility = [&](double x) { return (x != 0.0) == term.keepWhereTrue ? 1 : 0; };
  } else if (auto where = source.getDefiningOp<spd::WhereOp>()) {
    std::optional<double> a = spdc::getConstantSplat(where.getTrueValue()),
                          b = spdc::getConstantSplat(where.getFalseValue());
    if (!a || !b)
      return ConstantMaskKind::Other;
    int ifTrue = additive(*a), ifFalse = additive(*b);
    visibility = [=](double x) { return x != 0.0 ? ifTrue : ifFalse; };
    source = lookThroughBroadcast(where.getCondition());
  } else {
    visibility = additive;
  }
  std::optional<std::vector<double>> values = readConstant(source);
  if (!values || values->empty())
    return ConstantMaskKind::Other;
  // The visibility of each element, computed once per run of equal values (NaN never equals
  // itself and is recomputed).
  double lastValue = values->front();
  int lastVisibility = visibility(lastValue);
  auto visibilityOf = [&](double x) {
    if (x != lastValue || x != x) {
      lastValue = x;
      lastVisibility = visibility(x);
    }
    return lastVisibility;
  };
  if (llvm::all_of(*values, [&](double x) { return visibilityOf(x) == 1; }))
    return ConstantMaskKind::AllVisible;
  ArrayRef<int64_t> shape = tensorType(source).getShape();
  if (static_cast<int64_t>(values->size()) != productOf(shape))
    return ConstantMaskKind::Other; // a splat that hides something
  if (ShapedType::isDynamic(sq) || ShapedType::isDynamic(skv) || shape.size() < 2 ||
      shape[shape.size() - 2] != sq || shape.back() != skv)
    return ConstantMaskKind::Other;
  const double *x = values->data();
  for (size_t slice = 0, slices = values->size() / (sq * skv); slice < slices; ++slice)
    for (int64_t i = 0; i < sq; ++i)
      for (int64_t j = 0; j < skv; ++j, ++x)
        if (visibilityOf(*x) != (j <= i + skv - sq ? 1 : 0))
          return ConstantMaskKind::Other;
  return ConstantMaskKind::Causal;
}

/// Whether a mask of `shape` broadcasts to the scores' `target` [b, hq, sq, skv].
bool broadcastsTo(ArrayRef<int64_t> shape, ArrayRef<int64_t> target) {
  if (shape.size() > target.size())
    return false;
  size_t offset = target.size() - shape.size();
  for (auto [i, d] : llvm::enumerate(shape))
    if (d != 1 && !dimsAgree(d, target[i + offset]))
      return false;
  return true;
}

/// The shape a mask term has against the 4-D scores.
SmallVector<int64_t, 4> maskShape(const MaskTerm &term, int64_t batch, int64_t heads) {
  ArrayRef<int64_t> shape = tensorType(term.value).getShape();
  if (!term.unflatten)
    return SmallVector<int64_t, 4>(shape);
  return {batch, heads, shape[1], shape[2]};
}

/// A [b * h, s, d] operand of batched 3-D matmuls as a [b, h, s, d] view: the 4-D tensor it was
/// reshaped from (or repeat_kv's 5-D one), else the value itself with a reshape to insert.
/// Scales on the 4-D tensor multiply `factor` when `peel`.
HeadsView matchFlatView(Value y, int64_t batch, int64_t heads, double &factor, bool peel = true) {
  if (auto reshape = y.getDefiningOp<spd::ReshapeOp>()) {
    Value x = reshape.getInput();
    ArrayRef<int64_t> xs = tensorType(x).getShape(), ys = tensorType(y).getShape();
    int64_t r = xs.size();
    bool tailAgrees = r >= 4 && dimsAgree(xs[r - 2], ys[1]) && dimsAgree(xs[r - 1], ys[2]) &&
                      xs[0] == batch && productOf(xs.slice(1, r - 3)) == heads;
    if (tailAgrees && r == 4)
      return {peel ? peelScales(x, factor) : x, HeadsView::Kind::Direct};
    if (tailAgrees && r == 5)
      if (auto expand = x.getDefiningOp<spd::ExpandOp>())
        if (std::optional<HeadsView> view =
                matchRepeatExpand(expand, /*headAxis=*/1, HeadsView::Kind::Direct))
          return *view;
  }
  return {y, HeadsView::Kind::FromFlat, batch, heads};
}

/// The whole match rooted at `softmax`.
FailureOr<AttentionMatch> matchAttention(spd::SoftmaxOp softmax, MatchFailure &why) {
  AttentionMatch m;
  m.softmax = softmax;
  FailureOr<spd::MatMulOp> output = matchProbsConsumer(softmax.getOutput(), m.flatOutput, why);
  if (failed(output))
    return failure();
  m.outputMatmul = *output;
  why.nearMiss = true;

  int64_t rank = softmax.getType().getRank();
  int64_t axis = softmax.getAxis() < 0 ? softmax.getAxis() + rank : softmax.getAxis();
  if (axis != rank - 1) {
    why.reason = "softmax is over axis " + std::to_string(axis) + ", not the last axis of rank " +
                 std::to_string(rank);
    return failure();
  }
  if (rank != 4 && rank != 3) {
    why.reason =
        "the scores have rank " + std::to_string(rank) + ", not [batch, heads, q_len, kv_len]";
    return failure();
  }
  // Scores softmaxed as [b * h, sq, skv] between batched 3-D matmuls: [b, h] comes from the
  // 4-D scores merged just before the softmax, or else from the query's merge of [b, h].
  Value scores = softmax.getInput();
  if (rank == 3) {
    m.flatOutput = true;
    auto merge = scores.getDefiningOp<spd::ReshapeOp>();
    if (merge && isHeadsMerge(merge))
      scores = merge.getInput();
    else
      m.flatScores = true;
  }
  if (failed(matchScores(scores, m, why)))
    return failure();
  if (rank == 4 || scores != softmax.getInput()) {
    m.batch = tensorType(scores).getDimSize(0);
    m.heads = tensorType(scores).getDimSize(1);
  } else {
    double ignored = 1.0;
    auto merge = peelScales(m.scoresMatmul.getLhs(), ignored).getDefiningOp<spd::ReshapeOp>();
    if (!merge || !isHeadsMerge(merge)) {
      why.reason = "the scores are [batch * heads, q_len, kv_len] and the query is not a merge "
                   "of [batch, heads, q_len, head_dim] that would split them";
      return failure();
    }
    m.batch = tensorType(merge.getInput()).getDimSize(0);
    m.heads = tensorType(merge.getInput()).getDimSize(1);
  }

  Value q = m.scoresMatmul.getLhs(), kT = m.scoresMatmul.getRhs();
  Value v = m.outputMatmul.getRhs();
  int64_t scoresRank = m.flatScores ? 3 : 4, outputRank = m.flatOutput ? 3 : 4;
  if (tensorType(q).getRank() != scoresRank || tensorType(kT).getRank() != scoresRank ||
      tensorType(v).getRank() != outputRank) {
    why.reason = "query, key and value are not [batch, heads, seq, head_dim] (or [batch * heads, "
                 "seq, head_dim] for batched 3-D matmuls)";
    return failure();
  }
  if ((m.flatScores || m.flatOutput) &&
      (ShapedType::isDynamic(m.batch) || ShapedType::isDynamic(m.heads))) {
    why.reason = "batched 3-D attention with a dynamic batch is not supported";
    return failure();
  }
  HeadsView key, value;
  q = peelScales(q, m.scale);
  kT = peelScales(kT, m.scale);
  if (m.flatScores) {
    m.query = matchFlatView(q, m.batch, m.heads, m.scale);
    auto transpose = kT.getDefiningOp<spd::TransposeOp>();
    if (transpose && transpose.getPerm() == ArrayRef<int64_t>{0, 2, 1})
      key = matchFlatView(peelScales(transpose.getInput(), m.scale), m.batch, m.heads, m.scale);
    else
      key = {kT, HeadsView::Kind::FromFlatKeyT, m.batch, m.heads};
  } else {
    m.query = {q, HeadsView::Kind::Direct};
    key = matchKeyTranspose(kT, m.scale);
  }
  // V is not scaled: a factor on it is not the scores' scale, so it stays in the graph.
  double valueFactor = 1.0;
  value = m.flatOutput ? matchFlatView(v, m.batch, m.heads, valueFactor, /*peel=*/false)
                       : HeadsView{v, HeadsView::Kind::Direct};

  // Read K and V un-repeated when both were repeated alike; else as the graph has them.
  HeadsView strippedKey = stripRepeatKV(key), strippedValue = stripRepeatKV(value);
  m.key = key;
  m.value = value;
  if (strippedKey.unrepeated == strippedValue.unrepeated &&
      dimsAgree(viewShape(strippedKey)[1], viewShape(strippedValue)[1])) {
    m.key = strippedKey;
    m.value = strippedValue;
  } else if (key.unrepeated) {
    why.reason = "key and value are not repeated alike (repeat_kv on one of them only)";
    return failure();
  }

  SmallVector<int64_t, 4> qs = viewShape(m.query), ks = viewShape(m.key), vs = viewShape(m.value);
  if (!dimsAgree(qs[0], ks[0]) || !dimsAgree(ks[0], vs[0]) || !dimsAgree(qs[0], vs[0])) {
    why.reason = "query, key and value batch sizes differ (" + shapeString(qs) + ", " +
                 shapeString(ks) + ", " + shapeString(vs) + ")";
    return failure();
  }
  // Unknown head counts are checked by the kernel at run time: the matmuls being replaced read
  // K and V with the heads Q has (or repeat_kv made them so).
  bool headsKnown = !ShapedType::isDynamic(ks[1]) && !ShapedType::isDynamic(qs[1]);
  if (!dimsAgree(ks[1], vs[1]) || (headsKnown && (ks[1] == 0 || qs[1] % ks[1] != 0))) {
    why.reason = "mismatched heads: query " + shapeString(qs) + ", key " + shapeString(ks) +
                 ", value " + shapeString(vs) +
                 " (query heads must be a multiple of key/value heads)";
    return failure();
  }
  if (!dimsAgree(qs[3], ks[3]) || !dimsAgree(ks[2], vs[2])) {
    why.reason = "query/key head dims or key/value lengths differ";
    return failure();
  }

  Type elementType = tensorType(m.outputMatmul.getOutput()).getElementType();
  for (Value operand : {m.query.value, m.key.value, m.value.value}) {
    if (tensorType(operand).getElementType() != elementType) {
      why.reason = "query, key and value element types differ from the output's";
      return failure();
    }
  }
  if (m.scale == 0.0 || !std::isfinite(m.scale)) {
    why.reason = "the scale folds to " + std::to_string(m.scale);
    return failure();
  }

  for (const HeadsView *view : {&m.query, &m.key, &m.value}) {
    bool flat =
        view->kind == HeadsView::Kind::FromFlat || view->kind == HeadsView::Kind::FromFlatKeyT;
    if (flat && (tensorType(view->value).getDimSize(0) != m.batch * m.heads ||
                 !isBuildableShape(viewShape(*view)))) {
      why.reason = "a batched 3-D operand " + shapeString(tensorType(view->value).getShape()) +
                   " does not split into [batch, heads] = [" + std::to_string(m.batch) + ", " +
                   std::to_string(m.heads) + "]";
      return failure();
    }
  }
  if (m.flatOutput && !isBuildableShape(tensorType(m.outputMatmul.getOutput()).getShape())) {
    why.reason = "the batched 3-D output has more than one unknown size";
    return failure();
  }

  // Masks: constant causal patterns become the flag, constant no-ops vanish.
  SmallVector<int64_t, 4> target = {qs[0], qs[1], qs[2], ks[2]};
  ArrayRef<int64_t> scoresShape = softmax.getType().getShape().take_back(2);
  SmallVector<MaskTerm> kept;
  for (MaskTerm &term : m.masks) {
    // Masks of batched 3-D scores split a leading b * h into [b, h].
    term.unflatten = term.unflatten && tensorType(term.value).getRank() == 3 &&
                     tensorType(term.value).getDimSize(0) != 1;
    SmallVector<int64_t, 4> shape = maskShape(term, m.batch, m.heads);
    if (term.unflatten && (!dimsAgree(tensorType(term.value).getDimSize(0), m.batch * m.heads) ||
                           !isBuildableShape(shape))) {
      why.reason = "the mask " + shapeString(tensorType(term.value).getShape()) +
                   " of the batched 3-D scores does not split into [batch, heads]";
      return failure();
    }
    if (!broadcastsTo(shape, target)) {
      why.reason = "the mask " + shapeString(shape) + " does not broadcast to the scores " +
                   shapeString(target);
      return failure();
    }
    ConstantMaskKind kind = classifyConstantMask(term, scoresShape[0], scoresShape[1]);
    if (kind == ConstantMaskKind::Causal)
      m.causal = true;
    else if (kind == ConstantMaskKind::Other)
      kept.push_back(term);
  }
  m.masks = std::move(kept);
  for (size_t i = 1; i < m.masks.size(); ++i) {
    SmallVector<int64_t> shape;
    if (!OpTrait::util::getBroadcastedShape(maskShape(m.masks[0], m.batch, m.heads),
                                            maskShape(m.masks[i], m.batch, m.heads), shape)) {
      why.reason = "the masks do not broadcast together";
      return failure();
    }
  }
  return m;
}

//===----------------------------------------------------------------------===//
// Rewrite
//===----------------------------------------------------------------------===//

/// A splat constant of `type` filled with `value`.
Value splatConstant(OpBuilder &b, Location loc, RankedTensorType type, double value) {
  Attribute element = b.getFloatAttr(type.getElementType(), value);
  return spd::ConstantOp::create(b, loc, type, DenseElementsAttr::get(type, element));
}

/// `value` reshaped to `shape` (an unknown size, at most one, inferred).
Value reshapeTo(OpBuilder &b, Location loc, Value value, ArrayRef<int64_t> shape) {
  SmallVector<int64_t> dims;
  for (int64_t d : shape)
    dims.push_back(ShapedType::isDynamic(d) ? -1 : d);
  auto shapeType = RankedTensorType::get({static_cast<int64_t>(dims.size())}, b.getI64Type());
  Value shapeValue =
      spd::ConstantOp::create(b, loc, shapeType, DenseElementsAttr::get(shapeType, ArrayRef(dims)));
  auto type = RankedTensorType::get(shape, tensorType(value).getElementType());
  return spd::ReshapeOp::create(b, loc, type, value, shapeValue, b.getBoolAttr(false));
}

Value materialize(OpBuilder &b, Location loc, const HeadsView &view) {
  RankedTensorType type = tensorType(view.value);
  SmallVector<int64_t, 4> shape = viewShape(view);
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  switch (view.kind) {
  case HeadsView::Kind::Direct:
    return view.value;
  case HeadsView::Kind::FromBshd:
    return spd::TransposeOp::create(b, loc, resultType, view.value, ArrayRef<int64_t>{0, 2, 1, 3});
  case HeadsView::Kind::FromKeyT:
    return spd::TransposeOp::create(b, loc, resultType, view.value, ArrayRef<int64_t>{0, 1, 3, 2});
  case HeadsView::Kind::SqueezeHeads2:
    return spd::SqueezeOp::create(b, loc, resultType, view.value, ArrayRef<int64_t>{2});
  case HeadsView::Kind::FromFlat:
    return reshapeTo(b, loc, view.value, shape);
  case HeadsView::Kind::FromFlatKeyT: {
    ArrayRef<int64_t> s = type.getShape();
    Value kT = reshapeTo(b, loc, view.value, {view.batch, view.heads, s[1], s[2]});
    return spd::TransposeOp::create(b, loc, resultType, kT, ArrayRef<int64_t>{0, 1, 3, 2});
  }
  }
  return view.value;
}

RankedTensorType broadcastType(Value a, Value b, Type elementType) {
  SmallVector<int64_t> shape;
  if (!OpTrait::util::getBroadcastedShape(tensorType(a).getShape(), tensorType(b).getShape(),
                                          shape))
    return {};
  return RankedTensorType::get(shape, elementType);
}

/// The mask a term contributes: i1 (keep where true) for where-masks that fill with -inf, a
/// float mask to add otherwise.
Value buildMaskTerm(OpBuilder &b, Location loc, MaskTerm term, int64_t batch, int64_t heads) {
  if (term.unflatten)
    term.value = reshapeTo(b, loc, term.value, maskShape(term, batch, heads));
  RankedTensorType type = tensorType(term.value);
  if (!term.isSelect) {
    double weight = term.negated ? -term.factor : term.factor;
    if (weight == 1.0)
      return term.value;
    if (weight == -1.0)
      return spd::NegOp::create(b, loc, type, term.value);
    Value factor = splatConstant(b, loc, RankedTensorType::get({}, type.getElementType()), weight);
    return spd::MulOp::create(b, loc, type, term.value, factor);
  }
  if (std::isinf(term.fill)) {
    if (term.keepWhereTrue)
      return term.value;
    return spd::NotOp::create(b, loc, type, term.value);
  }
  auto scalar = RankedTensorType::get({}, term.selectType);
  Value zero = splatConstant(b, loc, scalar, 0.0);
  Value fill = splatConstant(b, loc, scalar, term.fill * term.factor);
  auto floatType = RankedTensorType::get(type.getShape(), term.selectType);
  return term.keepWhereTrue ? spd::WhereOp::create(b, loc, floatType, term.value, zero, fill)
                            : spd::WhereOp::create(b, loc, floatType, term.value, fill, zero);
}

/// All mask terms as one mask operand: i1 terms and-ed, or, when any is a float, all added as
/// floats (i1 terms as 0 / -inf).
Value buildMask(OpBuilder &b, Location loc, ArrayRef<MaskTerm> terms, int64_t batch,
                int64_t heads) {
  SmallVector<Value> parts;
  for (const MaskTerm &term : terms)
    parts.push_back(buildMaskTerm(b, loc, term, batch, heads));
  if (parts.empty())
    return {};
  Type floatType;
  for (Value part : parts)
    if (isFloatTensor(part) && !floatType)
      floatType = tensorType(part).getElementType();
  if (floatType) {
    for (Value &part : parts) {
      RankedTensorType type = tensorType(part);
      if (type.getElementType().isInteger(1)) {
        auto scalar = RankedTensorType::get({}, floatType);
        part = spd::WhereOp::create(b, loc, RankedTensorType::get(type.getShape(), floatType), part,
                                    splatConstant(b, loc, scalar, 0.0),
                                    splatConstant(b, loc, scalar, -INFINITY));
      } else if (type.getElementType() != floatType) {
        part = spd::CastOp::create(b, loc, RankedTensorType::get(type.getShape(), floatType), part);
      }
    }
  }
  Value mask = parts.front();
  for (Value part : ArrayRef<Value>(parts).drop_front()) {
    RankedTensorType type = broadcastType(mask, part, tensorType(mask).getElementType());
    mask = floatType ? Value(spd::AddOp::create(b, loc, type, mask, part))
                     : Value(spd::AndOp::create(b, loc, type, mask, part));
  }
  return mask;
}

struct FuseAttentionPattern : OpRewritePattern<spd::SoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(spd::SoftmaxOp softmax, PatternRewriter &rewriter) const override {
    MatchFailure why;
    FailureOr<AttentionMatch> match = matchAttention(softmax, why);
    if (failed(match))
      return rewriter.notifyMatchFailure(softmax, why.reason);
    AttentionMatch &m = *match;
    Location loc =
        rewriter.getFusedLoc({m.scoresMatmul.getLoc(), softmax.getLoc(), m.outputMatmul.getLoc()});
    rewriter.setInsertionPoint(m.outputMatmul);
    Value query = materialize(rewriter, loc, m.query);
    Value key = materialize(rewriter, loc, m.key);
    Value value = materialize(rewriter, loc, m.value);
    Value mask = buildMask(rewriter, loc, m.masks, m.batch, m.heads);
    LLVM_DEBUG(llvm::dbgs() << "fusing attention at " << softmax.getLoc() << " (scale " << m.scale
                            << ", causal " << m.causal << ", masks " << m.masks.size() << ")\n");
    RankedTensorType outType = tensorType(m.outputMatmul.getOutput());
    SmallVector<int64_t, 4> qs = viewShape(m.query);
    RankedTensorType attentionType =
        m.flatOutput ? RankedTensorType::get({qs[0], qs[1], qs[2], viewShape(m.value)[3]},
                                             outType.getElementType())
                     : outType;
    Value attention = spd::AttentionOp::create(
        rewriter, loc, attentionType, query, key, value, mask,
        rewriter.getF32FloatAttr(static_cast<float>(m.scale)), rewriter.getBoolAttr(m.causal),
        rewriter.getF32FloatAttr(static_cast<float>(m.softcap)));
    // Batched 3-D matmuls gave [b * h, sq, dv].
    if (m.flatOutput)
      attention = reshapeTo(rewriter, loc, attention, outType.getShape());
    rewriter.replaceOp(m.outputMatmul, attention);
    return success();
  }
};

struct FuseAttentionPass : spdc::impl::SpdFuseAttentionBase<FuseAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    spdc::populateFuseAttentionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns)))) {
      getOperation().emitError() << kPassName << ": the rewrite did not converge";
      return signalPassFailure();
    }
    // Remarks once per softmax left unfused that looked like attention; the patterns only
    // notify, since the greedy driver may visit an op many times.
    getOperation().walk([](spd::SoftmaxOp softmax) {
      MatchFailure why;
      if (failed(matchAttention(softmax, why)) && why.nearMiss)
        spdc::emitMissedRemark(softmax, kPassName, why.reason);
    });
  }
};

} // namespace

void spdc::populateFuseAttentionPatterns(RewritePatternSet &patterns) {
  patterns.add<FuseAttentionPattern>(patterns.getContext());
}
