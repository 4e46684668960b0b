//===- RecognizeRope.cpp - x*cos + rotate(x)*sin -> spd.rope --------------===//
//
// Exporters write rotary embeddings as
//   x * cos + rotate(x) * sin
// with rotate-half as concat(-x[..., d/2:], x[..., :d/2]) (Slice/Neg/Concat, or Split/Neg/
// Concat), or interleaved (GPT-J) as reshape(concat(unsqueeze(-x[..., 1::2]),
// unsqueeze(x[..., 0::2]))). The tables are whatever the model computes (folded constants, or
// Cos/Sin of position products with dynamic shapes) and become the op's operands unchanged.
// Partial rotary (GPT-NeoX, Phi) applies it to x[..., :r] and concatenates x[..., r:]; once the
// inner rope is recognized, the concat becomes one spd.rope on x with rotary_dim = r.
//
// The patterns only match; near misses are reported after the rewrite, by a walk that runs the
// same matchers on what is left, so each remark is emitted once.
//
//===----------------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"
#include "spdc/Transforms/Utility.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/Sequence.h"
#include "llvm/Support/Debug.h"

#include <algorithm>
#include <optional>
#include <string>

#define DEBUG_TYPE "spd-recognize-rope"

namespace spdc {
#define GEN_PASS_DEF_SPDRECOGNIZEROPE
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;
using namespace spdc;

namespace {

constexpr llvm::StringLiteral kPassName = "spd-recognize-rope";

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

/// The static size of `v`'s last dimension, if it has one.
std::optional<int64_t> lastDim(Value v) {
  RankedTensorType t = tensorType(v);
  if (t.getRank() < 1 || t.isDynamicDim(t.getRank() - 1))
    return std::nullopt;
  return t.getDimSize(t.getRank() - 1);
}

bool isLastAxis(int64_t axis, int64_t rank) { return axis == rank - 1 || axis == -1; }

//===----------------------------------------------------------------------===//
// Pieces of the last dimension
//===----------------------------------------------------------------------===//

/// `source[..., start:end:step]`, everything else of `source` taken whole; start and end
/// normalized to [0, d] as ONNX Slice clamps them.
struct Piece {
  Value source;
  int64_t start = 0, end = 0, step = 1;
  bool is(Value x, int64_t s, int64_t e, int64_t st = 1) const {
    return source == x && start == s && end == e && step == st;
  }
};

/// One element of a small integer tensor: its value where known at compile time, and where it
/// was read from a shape, which dimension of which value it is (known or not).
struct IntEntry {
  std::optional<int64_t> value;
  Value dimOf;
  int64_t dim = -1;
  bool isDim(Value v, int64_t d) const { return dimOf && dimOf == v && dim == d; }
};
/// A small integer tensor, flattened.
using PartialInts = SmallVector<IntEntry>;

/// Integer tensors with more elements than this are not evaluated (slice parameters and
/// shapes are a handful).
constexpr int64_t kMaxEvaluatedInts = 64;
/// How many producers deep the evaluation follows shape arithmetic.
constexpr unsigned kMaxEvalDepth = 12;

std::optional<SmallVector<int64_t>> constantInts(Value v);

/// The value of an integer tensor computed from constants and shapes: the shape arithmetic
/// exporters write around Slice and Reshape with dynamic shapes (Shape -> Gather or Slice ->
/// Div -> Unsqueeze -> Concat). The importer folds fully constant chains; these keep a Shape of
/// a dynamic tensor at their root, so their entries are static dimensions (known values) or
/// dynamic ones (known only as "dimension i of v").
std::optional<PartialInts> evalInts(Value v, unsigned depth = 0) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !isa<IntegerType>(type.getElementType()) || !type.hasStaticShape() ||
      type.getNumElements() > kMaxEvaluatedInts || depth > kMaxEvalDepth)
    return std::nullopt;
  Operation *def = v.getDefiningOp();
  if (!def)
    return std::nullopt;
  DenseIntElementsAttr attr;
  if (matchPattern(v, m_Constant(&attr))) {
    PartialInts values;
    for (const APInt &i : attr.getValues<APInt>())
      values.push_back({i.getSExtValue()});
    return values;
  }
  if (auto shape = dyn_cast<spd::ShapeOp>(def)) {
    PartialInts values;
    ArrayRef<int64_t> dims = tensorType(shape.getInput()).getShape();
    for (int64_t i = shape.getStart(); i < shape.getEnd(); ++i)
      values.push_back(
          {ShapedType::isDynamic(dims[i]) ? std::nullopt : std::optional<int64_t>(dims[i]),
           shape.getInput(), i});
    return values;
  }
  if (auto gather = dyn_cast<spd::GatherOp>(def)) {
    std::optional<PartialInts> data = evalInts(gather.getData(), depth + 1);
    std::optional<SmallVector<int64_t>> indices = constantInts(gather.getIndices());
    if (!data || !indices || gather.getAxis() != 0 || tensorType(gather.getData()).getRank() != 1)
      return std::nullopt;
    PartialInts values;
    int64_t n = static_cast<int64_t>(data->size());
    for (int64_t i : *indices) {
      if (i < -n || i >= n)
        return std::nullopt;
      values.push_back((*data)[i < 0 ? i + n : i]);
    }
    return values;
  }
  if (auto slice = dyn_cast<spd::SliceOp>(def)) {
    std::optional<PartialInts> data = evalInts(slice.getInput(), depth + 1);
    auto starts = constantInts(slice.getStarts()), ends = constantInts(slice.getEnds());
    auto axes = constantInts(slice.getAxes()), steps = constantInts(slice.getSteps());
    if (!data || tensorType(slice.getInput()).getRank() != 1 || !starts || !ends || !axes ||
        !steps || axes->size() != 1 || ((*axes)[0] != 0 && (*axes)[0] != -1) ||
        starts->size() != 1 || ends->size() != 1 || steps->size() != 1 || (*steps)[0] <= 0)
      return std::nullopt;
    int64_t n = static_cast<int64_t>(data->size());
    auto clamp = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
    PartialInts values;
    for (int64_t i = clamp((*starts)[0]), e = clamp((*ends)[0]); i < e; i += (*steps)[0])
      values.push_back((*data)[i]);
    return values;
  }
  // Ops that keep the elements in order: only the shape or the integer width changes.
  if (isa<spd::UnsqueezeOp, spd::SqueezeOp, spd::ReshapeOp, spd::CastOp>(def)) {
    Value in = def->getOperand(0);
    if (!isa<IntegerType>(getElementTypeOrSelf(in.getType())))
      return std::nullopt;
    return evalInts(in, depth + 1);
  }
  if (auto concat = dyn_cast<spd::ConcatOp>(def)) {
    if (type.getRank() != 1)
      return std::nullopt;
    PartialInts values;
    for (Value in : concat.getInputs()) {
      std::optional<PartialInts> part = evalInts(in, depth + 1);
      if (!part)
        return std::nullopt;
      values.append(part->begin(), part->end());
    }
    return values;
  }
  if (isa<spd::AddOp, spd::SubOp, spd::MulOp, spd::DivOp>(def)) {
    std::optional<PartialInts> a = evalInts(def->getOperand(0), depth + 1);
    std::optional<PartialInts> b = evalInts(def->getOperand(1), depth + 1);
    if (!a || !b || (a->size() != b->size() && a->size() != 1 && b->size() != 1))
      return std::nullopt;
    PartialInts values;
    for (size_t i = 0, e = std::max(a->size(), b->size()); i < e; ++i) {
      std::optional<int64_t> x = (*a)[a->size() == 1 ? 0 : i].value;
      std::optional<int64_t> y = (*b)[b->size() == 1 ? 0 : i].value;
      if (!x || !y) {
        values.push_back({});
        continue;
      }
      if (isa<spd::AddOp>(def))
        values.push_back({*x + *y});
      else if (isa<spd::SubOp>(def))
        values.push_back({*x - *y});
      else if (isa<spd::MulOp>(def))
        values.push_back({*x * *y});
      else if (*y == 0)
        return std::nullopt;
      else
        values.push_back({*x / *y}); // integers truncate toward zero, as spd.div does
    }
    return values;
  }
  return std::nullopt;
}

/// `v`'s value if every element is known at compile time.
std::optional<SmallVector<int64_t>> constantInts(Value v) {
  std::optional<PartialInts> partial = evalInts(v);
  if (!partial)
    return std::nullopt;
  SmallVector<int64_t> values;
  for (const IntEntry &e : *partial) {
    if (!e.value)
      return std::nullopt;
    values.push_back(*e.value);
  }
  return values;
}

/// ONNX Slice's clamping of a start or end for a positive step.
int64_t clampIndex(int64_t i, int64_t dim) {
  if (i < 0)
    i += dim;
  return std::clamp<int64_t>(i, 0, dim);
}

/// `v` as a piece of another value's last dimension: a constant Slice that touches only the
/// last axis (other axes, if listed, taken whole), or a result of a Split along the last axis.
std::optional<Piece> getPiece(Value v) {
  if (auto slice = v.getDefiningOp<spd::SliceOp>()) {
    Value in = slice.getInput();
    RankedTensorType t = tensorType(in);
    int64_t rank = t.getRank();
    std::optional<int64_t> d = lastDim(in);
    auto starts = constantInts(slice.getStarts()), ends = constantInts(slice.getEnds());
    auto axes = constantInts(slice.getAxes()), steps = constantInts(slice.getSteps());
    if (!d || !starts || !ends || !axes || !steps || starts->size() != axes->size() ||
        ends->size() != axes->size() || steps->size() != axes->size())
      return std::nullopt;
    Piece p{in, 0, *d, 1};
    for (size_t i = 0; i < axes->size(); ++i) {
      int64_t axis = (*axes)[i] < 0 ? (*axes)[i] + rank : (*axes)[i];
      int64_t step = (*steps)[i];
      if (step <= 0)
        return std::nullopt;
      if (axis == rank - 1) {
        int64_t start = clampIndex((*starts)[i], *d), end = clampIndex((*ends)[i], *d);
        // One spelling per element set: x[0:7:2] is x[0:8:2] for d = 8.
        if (end > start)
          end = std::min(*d, start + (end - start + step - 1) / step * step);
        p = Piece{in, start, end, step};
        continue;
      }
      // Another axis: must be taken whole.
      if (axis < 0 || axis >= rank || t.isDynamicDim(axis) || step != 1 ||
          clampIndex((*starts)[i], t.getDimSize(axis)) != 0 ||
          clampIndex((*ends)[i], t.getDimSize(axis)) != t.getDimSize(axis))
        return std::nullopt;
    }
    return p;
  }
  if (auto split = v.getDefiningOp<spd::SplitOp>()) {
    Value in = split.getInput();
    if (!isLastAxis(split.getAxis(), tensorType(in).getRank()) || !lastDim(in))
      return std::nullopt;
    int64_t start = 0;
    unsigned index = cast<OpResult>(v).getResultNumber();
    ArrayRef<int64_t> sizes = split.getSizes();
    for (unsigned i = 0; i < index; ++i)
      start += sizes[i];
    return Piece{in, start, start + sizes[index], 1};
  }
  return std::nullopt;
}

std::string describe(const Piece &p) {
  std::string s = "[" + std::to_string(p.start) + ":" + std::to_string(p.end);
  if (p.step != 1)
    s += ":" + std::to_string(p.step);
  return s + "]";
}

//===----------------------------------------------------------------------===//
// rotate(x)
//===----------------------------------------------------------------------===//

/// Why a match failed, and whether what failed looked enough like a rope to say so.
struct Miss {
  std::string why;
  bool nearMiss = false;
  void set(std::string reason, bool near = true) {
    if (nearMiss && !near)
      return; // keep the more specific reason
    why = std::move(reason);
    nearMiss = near;
  }
};

struct Rotation {
  Value x;
  bool interleaved = false;
};

/// `y` if `v` is `-y`: a Neg, or a multiplication by the constant -1 that does not broadcast.
std::optional<Value> negated(Value v) {
  if (auto neg = v.getDefiningOp<spd::NegOp>())
    return neg.getInput();
  if (auto mul = v.getDefiningOp<spd::MulOp>()) {
    for (unsigned k = 0; k < 2; ++k)
      if (mul->getOperand(k).getType() == mul.getType() &&
          isConstantSplat(mul->getOperand(1 - k), -1.0, 0.0))
        return mul->getOperand(k);
  }
  return std::nullopt;
}

/// concat(-x[..., h:], x[..., :h]) along the last axis with h = d / 2 (rotate-half).
FailureOr<Rotation> matchRotateHalf(spd::ConcatOp concat, Miss &miss) {
  if (concat.getInputs().size() != 2 || !isLastAxis(concat.getAxis(), concat.getType().getRank())) {
    miss.set("not a two-part concat along the last axis", false);
    return failure();
  }
  Value first = concat.getInputs()[0], second = concat.getInputs()[1];
  std::optional<Value> neg1 = negated(first), neg2 = negated(second);
  if (!neg1 && !neg2) {
    miss.set("no negated part", false);
    return failure();
  }
  std::optional<Piece> a = getPiece(neg1 ? *neg1 : first);
  std::optional<Piece> b = getPiece(neg2 ? *neg2 : second);
  if (!a || !b || a->source != b->source) {
    miss.set("rotate_half parts are not slices of one value's last dimension");
    return failure();
  }
  Value x = a->source;
  std::optional<int64_t> d = lastDim(x);
  if (!d || *d % 2 != 0) {
    miss.set("the rotated value's last dimension is dynamic or odd");
    return failure();
  }
  int64_t h = *d / 2;
  if (neg1 && neg2) {
    miss.set("both halves are negated");
    return failure();
  }
  if (a->step != 1 || b->step != 1) {
    miss.set("rotate_half parts are strided slices " + describe(*a) + " and " + describe(*b));
    return failure();
  }
  bool swapped = a->is(x, h, *d) && b->is(x, 0, h);
  bool inPlace = a->is(x, 0, h) && b->is(x, h, *d);
  if (!swapped && !inPlace) {
    miss.set("rotate_half concatenates x" + describe(*a) + " and x" + describe(*b) +
             ", not the halves at " + std::to_string(h) + " of the last dimension " +
             std::to_string(*d));
    return failure();
  }
  if (!swapped || neg2) {
    miss.set(std::string("neg on the wrong half: concat(") + (neg1 ? "-" : "") + "x" +
             describe(*a) + ", " + (neg2 ? "-" : "") + "x" + describe(*b) +
             ") is not rotate_half (concat(-x2, x1))");
    return failure();
  }
  return Rotation{x, false};
}

/// Whether `reshape` maps [L..., a, b] to [L..., a * b] with a and b static. Its shape
/// operand may say so (each leading entry copies the input's dimension: 0, that dimension read
/// from the input's shape, or its static size; the last is -1 or a * b), or its types may (the
/// same leading dimensions with at most one dynamic, which the element count then pins, and a
/// static last dimension a * b).
bool mergesLastTwoDims(spd::ReshapeOp reshape) {
  RankedTensorType in = tensorType(reshape.getInput()), out = reshape.getType();
  int64_t rank = out.getRank();
  if (in.getRank() != rank + 1 || rank < 1 || in.isDynamicDim(rank) || in.isDynamicDim(rank - 1))
    return false;
  int64_t merged = in.getDimSize(rank - 1) * in.getDimSize(rank);
  ArrayRef<int64_t> lead = in.getShape().drop_back(2);
  std::optional<PartialInts> shape = evalInts(reshape.getShape());
  if (shape && shape->size() == static_cast<size_t>(rank)) {
    auto copies = [&](int64_t i) {
      const IntEntry &e = (*shape)[i];
      return (e.value && *e.value == 0 && !reshape.getAllowzero()) ||
             e.isDim(reshape.getInput(), i) ||
             (e.value && !ShapedType::isDynamic(lead[i]) && *e.value == lead[i]);
    };
    std::optional<int64_t> last = shape->back().value;
    if (llvm::all_of(llvm::seq<int64_t>(0, rank - 1), copies) && last &&
        (*last == -1 || *last == merged))
      return true;
  }
  return out.getShape().drop_back() == lead && out.getDimSize(rank - 1) == merged &&
         llvm::count_if(lead, ShapedType::isDynamic) <= 1;
}

/// The static size of a table's last dimension: from its type, or through a reshape that
/// merges two static dimensions (GPT-J's repeat_interleave of the tables, exported with dynamic
/// shapes, types its result [1, ?, 1, ?]).
std::optional<int64_t> tableLastDim(Value table) {
  if (std::optional<int64_t> d = lastDim(table))
    return d;
  auto reshape = table.getDefiningOp<spd::ReshapeOp>();
  if (!reshape || !mergesLastTwoDims(reshape))
    return std::nullopt;
  ArrayRef<int64_t> in = tensorType(reshape.getInput()).getShape();
  return in[in.size() - 1] * in[in.size() - 2];
}

/// Whether a broadcast of x against a table, typed `result`, leaves x's shape as it is, as far
/// as the types tell: no dimension where the table can be the larger one. Where both are
/// dynamic the types cannot tell; the interpreter and the kernels check the tables at run time.
bool keepsShapeOf(Type result, Value x) {
  auto r = cast<RankedTensorType>(result);
  RankedTensorType xt = tensorType(x);
  if (r.getRank() != xt.getRank())
    return false;
  for (auto [xd, rd] : llvm::zip(xt.getShape(), r.getShape())) {
    bool xDyn = ShapedType::isDynamic(xd), rDyn = ShapedType::isDynamic(rd);
    if (!xDyn && !rDyn && xd != rd)
      return false;
    if (!xDyn && rDyn && xd == 1)
      return false;
    if (xDyn && !rDyn && rd != 1)
      return false;
  }
  return true;
}

/// reshape(concat(unsqueeze(-x[..., 1::2]), unsqueeze(x[..., 0::2])), x's shape): the
/// interleaved rotation (-b, a) of each pair (a, b), as torch.stack(...).flatten(-2) exports it.
FailureOr<Rotation> matchRotateInterleaved(spd::ReshapeOp reshape, Miss &miss) {
  auto concat = reshape.getInput().getDefiningOp<spd::ConcatOp>();
  if (!concat || concat.getInputs().size() != 2 ||
      !isLastAxis(concat.getAxis(), concat.getType().getRank())) {
    miss.set("not a reshape of a two-part concat", false);
    return failure();
  }
  int64_t rank = concat.getType().getRank();
  auto stacked = [&](Value v) -> std::optional<Value> {
    auto u = v.getDefiningOp<spd::UnsqueezeOp>();
    if (!u || u.getAxes().size() != 1 || u.getAxes()[0] != rank - 1)
      return std::nullopt;
    return u.getInput();
  };
  std::optional<Value> first = stacked(concat.getInputs()[0]);
  std::optional<Value> second = stacked(concat.getInputs()[1]);
  if (!first || !second) {
    miss.set("concat parts are not unsqueezed on the last axis", false);
    return failure();
  }
  std::optional<Value> neg1 = negated(*first), neg2 = negated(*second);
  if (!neg1 && !neg2) {
    miss.set("no negated part", false);
    return failure();
  }
  std::optional<Piece> a = getPiece(neg1 ? *neg1 : *first);
  std::optional<Piece> b = getPiece(neg2 ? *neg2 : *second);
  if (!a || !b || a->source != b->source) {
    miss.set("interleaved rotation parts are not slices of one value's last dimension");
    return failure();
  }
  Value x = a->source;
  std::optional<int64_t> d = lastDim(x);
  if (!d || *d % 2 != 0) {
    miss.set("the rotated value's last dimension is dynamic or odd");
    return failure();
  }
  if (!neg1 || neg2 || !a->is(x, 1, *d, 2) || !b->is(x, 0, *d, 2)) {
    miss.set(std::string("interleaved rotation stacks ") + (neg1 ? "-" : "") + "x" + describe(*a) +
             " and " + (neg2 ? "-" : "") + "x" + describe(*b) + ", not -x[1::2] and x[0::2]");
    return failure();
  }
  if (failed(verifyCompatibleShape(reshape.getType(), x.getType())) ||
      !mergesLastTwoDims(reshape)) {
    miss.set("the reshape after the interleaved stack does not restore x's shape");
    return failure();
  }
  return Rotation{x, true};
}

FailureOr<Rotation> matchRotation(Value r, Miss &miss) {
  if (auto concat = r.getDefiningOp<spd::ConcatOp>())
    return matchRotateHalf(concat, miss);
  if (auto reshape = r.getDefiningOp<spd::ReshapeOp>())
    return matchRotateInterleaved(reshape, miss);
  miss.set("not a rotation", false);
  return failure();
}

//===----------------------------------------------------------------------===//
// x * cos + rotate(x) * sin
//===----------------------------------------------------------------------===//

struct RopeMatch {
  Value x, cos, sin;
  bool interleaved = false;
};

/// Checks the tables of a rotation of `x`: last dimension d, broadcast without enlarging x.
LogicalResult checkTables(Value x, Value cos, Value sin, spd::MulOp cosMul, spd::MulOp sinMul,
                          spd::AddOp add, Miss &miss) {
  if (!keepsShapeOf(cosMul.getType(), x) || !keepsShapeOf(sinMul.getType(), x) ||
      !keepsShapeOf(add.getType(), x)) {
    miss.set("the products or the sum have another type than x (the tables broadcast x to a "
             "larger shape)");
    return failure();
  }
  int64_t d = *lastDim(x);
  for (auto [table, name] : {std::pair(cos, "cos"), std::pair(sin, "sin")}) {
    std::optional<int64_t> last = tableLastDim(table);
    if (!last || *last != d) {
      miss.set(std::string(name) + " table's last dimension is " +
               (last ? std::to_string(*last) : std::string("dynamic")) +
               ", not the rotated dimension " + std::to_string(d));
      return failure();
    }
  }
  return success();
}

FailureOr<RopeMatch> matchRopeAdd(spd::AddOp add, Miss &miss) {
  if (!isa<FloatType>(add.getType().getElementType())) {
    miss.set("not a float add", false);
    return failure();
  }
  auto lhs = add.getLhs().getDefiningOp<spd::MulOp>();
  auto rhs = add.getRhs().getDefiningOp<spd::MulOp>();
  if (!lhs || !rhs) {
    miss.set("not a sum of two products", false);
    return failure();
  }
  // Either add order, either operand order in the sin product.
  for (auto [cosMul, sinMul] : {std::pair(lhs, rhs), std::pair(rhs, lhs)}) {
    for (unsigned k = 0; k < 2; ++k) {
      Value rotated = sinMul->getOperand(k), sin = sinMul->getOperand(1 - k);
      FailureOr<Rotation> rot = matchRotation(rotated, miss);
      if (failed(rot))
        continue;
      Value x = rot->x, cos;
      if (cosMul.getLhs() == x)
        cos = cosMul.getRhs();
      else if (cosMul.getRhs() == x)
        cos = cosMul.getLhs();
      else {
        miss.set("the other product does not multiply the rotated value");
        continue;
      }
      if (failed(checkTables(x, cos, sin, cosMul, sinMul, add, miss)))
        continue;
      return RopeMatch{x, cos, sin, rot->interleaved};
    }
  }
  return failure();
}

struct RecognizeRopeAdd : OpRewritePattern<spd::AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(spd::AddOp add, PatternRewriter &rewriter) const override {
    Miss miss;
    FailureOr<RopeMatch> m = matchRopeAdd(add, miss);
    if (failed(m))
      return rewriter.notifyMatchFailure(add, miss.why);
    int64_t d = *lastDim(m->x);
    LLVM_DEBUG(llvm::dbgs() << "rope at " << add.getLoc() << ", d = " << d
                            << (m->interleaved ? ", interleaved\n" : "\n"));
    rewriter.replaceOpWithNewOp<spd::RopeOp>(add, add.getType(), m->x, m->cos, m->sin, d,
                                             m->interleaved);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Partial rotary: concat(rope(x[..., :r]), x[..., r:]) -> rope(x)
//===----------------------------------------------------------------------===//

FailureOr<Value> matchPartialRotary(spd::ConcatOp concat, spd::RopeOp &inner, Miss &miss) {
  if (concat.getInputs().size() != 2 || !isLastAxis(concat.getAxis(), concat.getType().getRank())) {
    miss.set("not a two-part concat along the last axis", false);
    return failure();
  }
  inner = concat.getInputs()[0].getDefiningOp<spd::RopeOp>();
  std::optional<Piece> rest = getPiece(concat.getInputs()[1]);
  std::optional<Piece> rotated = inner ? getPiece(inner.getInput()) : std::nullopt;
  if (!inner || !rest || !rotated || rotated->source != rest->source) {
    miss.set("not a rope of a slice followed by the rest of it", false);
    return failure();
  }
  Value x = rest->source;
  int64_t d = *lastDim(x);
  int64_t r = rotated->end;
  if (!rotated->is(x, 0, r) || !rest->is(x, r, d)) {
    miss.set("rotated part x" + describe(*rotated) + " and pass-through part x" + describe(*rest) +
             " do not split the last dimension (" + std::to_string(d) + ") at one point");
    return failure();
  }
  if (failed(verifyCompatibleShape(concat.getType(), x.getType()))) {
    miss.set("the concat's type differs from x's");
    return failure();
  }
  return x;
}

struct RecognizePartialRotary : OpRewritePattern<spd::ConcatOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(spd::ConcatOp concat, PatternRewriter &rewriter) const override {
    Miss miss;
    spd::RopeOp inner;
    FailureOr<Value> x = matchPartialRotary(concat, inner, miss);
    if (failed(x))
      return rewriter.notifyMatchFailure(concat, miss.why);
    rewriter.replaceOpWithNewOp<spd::RopeOp>(concat, concat.getType(), *x, inner.getCos(),
                                             inner.getSin(), inner.getRotaryDim(),
                                             inner.getInterleaved());
    return success();
  }
};

struct RecognizeRopePass : spdc::impl::SpdRecognizeRopeBase<RecognizeRopePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateRecognizeRopePatterns(patterns);
    // Only the rope patterns: folding, constant CSE and region simplification are
    // canonicalize's job, and left out they keep the rest of the IR as it came.
    GreedyRewriteConfig config;
    config.enableFolding(false).enableConstantCSE(false).setRegionSimplificationLevel(
        GreedySimplifyRegionLevel::Disabled);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), config))) {
      getOperation().emitError(kPassName) << ": the rewrite did not converge";
      return signalPassFailure();
    }
    // What is left and looked like a rope: say why it was not rewritten.
    getOperation().walk([](Operation *op) {
      Miss miss;
      if (auto add = dyn_cast<spd::AddOp>(op))
        (void)matchRopeAdd(add, miss);
      else if (auto concat = dyn_cast<spd::ConcatOp>(op)) {
        spd::RopeOp inner;
        (void)matchPartialRotary(concat, inner, miss);
      }
      if (miss.nearMiss)
        emitMissedRemark(op, kPassName, miss.why);
    });
  }
};

} // namespace

void spdc::populateRecognizeRopePatterns(RewritePatternSet &patterns) {
  patterns.add<RecognizeRopeAdd, RecognizePartialRotary>(patterns.getContext());
}
