//===- FormFusionRegions.cpp - group ops into spd.fusion kernels ----------===//
//
// Groups the ops of a function into `spd.fusion` regions, one region = one future GPU kernel.
// The pass is an analysis (assign each op to a group) followed by one IR rewrite (build a
// region per group of two or more ops, in a topological order of the groups).
//
// Cost rules (why a group is or isn't formed):
//
//  R1 Elementwise chains fuse. Unary, binary, compare, where, cast, clip, pow, the activation
//     composites (gelu, silu, swiglu), rope, (de)quantize are elementwise: in one kernel each
//     intermediate stays in registers instead of a round trip through memory.
//  R2 No recomputation across a broadcast. A value computed inside a region may feed an
//     elementwise op (or expand/tile/gather) only if it has that op's element count; otherwise
//     the kernel, iterating the larger shape, would recompute it once per broadcast element.
//     Values read from outside (region inputs) may be broadcast freely: that is only indexing.
//  R3 A reduction-like op (reduce_* over trailing axes, softmax/log_softmax over the last axis,
//     layer_norm, rms_norm) forms a "reduction" region with its elementwise producers (the
//     residual add before a norm, the square before a mean) and consumers, as long as every op
//     iterates the same rows (its shape starts with the reduction's row dimensions): one
//     thread block per row computes the row's per-row scalars once and broadcasts them within
//     the row. Several reductions over the same rows share the region (an unrecognized
//     layer norm: mean, then variance). A reduction over other axes stays alone.
//  R4 A matmul keeps its epilogue: elementwise consumers of its result (bias add, activation,
//     residual add, cast) join a "matmul_epilogue" region whose first op is the matmul, as a
//     GEMM library (cuBLASLt) or a hand-written GEMM applies them on the accumulator tile.
//     Nothing joins before the matmul (its operands are read by the GEMM's own loads). An
//     elementwise op that only feeds reductions is left to the reduction's region (R3): there
//     it is computed once per row instead of being written by the GEMM only for the norm to
//     read it back.
//  R5 Attention keeps its prologue in one region of kind "attention" (the attention is its
//     last compute op): rope on Q and K, casts, and the transposes/reshapes/slices feeding
//     Q, K, V and the mask are applied while a flash-attention kernel loads its tiles, so the
//     rotated, transposed Q/K never reach memory. One kernel rather than a separate
//     "attention_prologue" region: a prologue kernel would write Q and K once more. A prologue
//     op joins only if all its users are in the region (the attention kernel writes only its
//     output). Pure index remaps of the attention's output (the transpose/reshape back to
//     [batch, seq, hidden]) join as the kernel's store layout.
//  R6 Data movement (transpose, reshape, (un)squeeze, flatten, expand, slice, concat, split,
//     gather, gather_nd, tile, pad) is a pure index remap: in an elementwise region it is the way
//     the region indexes its inputs or its computed values (subject to R2 for the broadcasting
//     ones: expand, tile, gather). A matmul epilogue and a reduction region take only
//     layout-preserving views (reshape, (un)squeeze, flatten) after their compute, which
//     change no address; a reduction region also takes remaps among its producers (the
//     embedding gather before the first norm) when they iterate its rows.
//  R7 Constants are never region members. Weights (and any constant of more than
//     kMaxClonedConstantElements elements) are passed as region operands; splats and tiny
//     constants (scalars, epsilons, shape vectors) are cloned into each region that reads
//     them, so codegen sees them as immediates.
//  R8 Expensive work (matmul, reductions, attention) is never duplicated: an op belongs to at
//     most one region, and a value used by several regions becomes an output of its region.
//     The only duplication: a cheap op left alone (a view, a cast, an add/mul/where...) whose
//     users all lie in other regions is cloned into each of them, which removes its kernel.
//  R9 No cycles: an op joins a region only if no path leaves the region and comes back to it
//     through another region or an unfused op; otherwise the regions could not be ordered.
//  R10 Single ops stay as they are (counted as "ops left unfused"): a region of one op adds
//     nothing for codegen.
//
// Growth order: attention prologues, then matmul epilogues, then reduction regions, then the
// remaining elementwise chains, then duplication of cheap shared ops (R8). An op that could not
// join a neighbouring region and is left alone gets a remark with the reason.
//
//===----------------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"
#include "spdc/Transforms/Utility.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Debug.h"

#include <queue>

#define DEBUG_TYPE "spd-form-fusion-regions"

namespace spdc {
#define GEN_PASS_DEF_SPDFORMFUSIONREGIONS
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;
using namespace spdc;

static constexpr llvm::StringLiteral kPassName = "spd-form-fusion-regions";

/// Constants with at most this many elements (scalars, epsilons, shape and axis vectors) are
/// cloned into the regions that read them (R7); larger ones are weights, passed as operands.
static constexpr int64_t kMaxClonedConstantElements = 16;

namespace {

enum class OpClass { Constant, Elementwise, Movement, Reduction, Matmul, Attention, Opaque };

OpClass classify(Operation *op) {
  if (op->hasTrait<OpTrait::ConstantLike>())
    return OpClass::Constant;
  if (op->getNumRegions() != 0 || op->getNumResults() == 0 ||
      !llvm::all_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>))
    return OpClass::Opaque;
  if (isa<spd::NegOp, spd::AbsOp, spd::SqrtOp, spd::ReciprocalOp, spd::ExpOp, spd::LogOp,
          spd::ErfOp, spd::TanhOp, spd::SigmoidOp, spd::ReluOp, spd::SinOp, spd::CosOp,
          spd::FloorOp, spd::CeilOp, spd::RoundOp, spd::SignOp, spd::SoftplusOp, spd::HardSwishOp,
          spd::NotOp, spd::LeakyReluOp, spd::EluOp, spd::HardSigmoidOp, spd::GeluOp, spd::SiluOp,
          spd::IsNaNOp, spd::IsInfOp, spd::CastOp, spd::ClipOp>(op))
    return OpClass::Elementwise;
  if (isa<spd::AddOp, spd::SubOp, spd::MulOp, spd::DivOp, spd::MaxOp, spd::MinOp, spd::AndOp,
          spd::OrOp, spd::XorOp, spd::ModOp, spd::PowOp, spd::EqualOp, spd::LessOp,
          spd::LessEqualOp, spd::GreaterOp, spd::GreaterEqualOp, spd::WhereOp, spd::SwiGluOp,
          spd::RopeOp, spd::QuantizeLinearOp, spd::DequantizeLinearOp>(op))
    return OpClass::Elementwise;
  if (isa<spd::TransposeOp, spd::ReshapeOp, spd::SqueezeOp, spd::UnsqueezeOp, spd::FlattenOp,
          spd::ExpandOp, spd::SliceOp, spd::ConcatOp, spd::SplitOp, spd::GatherOp,
          spd::GatherElementsOp, spd::GatherNDOp, spd::TileOp, spd::PadOp>(op))
    return OpClass::Movement;
  if (isa<spd::ReduceSumOp, spd::ReduceMeanOp, spd::ReduceMaxOp, spd::ReduceMinOp,
          spd::ReduceProdOp, spd::ReduceSumSquareOp, spd::ReduceL1Op, spd::ReduceL2Op,
          spd::ReduceLogSumOp, spd::ReduceLogSumExpOp, spd::SoftmaxOp, spd::LogSoftmaxOp,
          spd::LayerNormOp, spd::RmsNormOp>(op))
    return OpClass::Reduction;
  if (isa<spd::MatMulOp, spd::MatMulIntegerOp>(op))
    return OpClass::Matmul;
  if (isa<spd::AttentionOp>(op))
    return OpClass::Attention;
  return OpClass::Opaque;
}

/// Views keep the linear layout: folding them into a producer changes no address (R6).
bool isView(Operation *op) {
  return isa<spd::ReshapeOp, spd::SqueezeOp, spd::UnsqueezeOp, spd::FlattenOp>(op);
}

/// Movement ops that read one input element for several output elements (R2).
bool isBroadcastingMovement(Operation *op) {
  return isa<spd::ExpandOp, spd::TileOp, spd::GatherOp, spd::GatherElementsOp, spd::GatherNDOp>(op);
}

/// Ops cheap enough to be cloned into several regions (R8): index remaps and one-instruction
/// arithmetic, no transcendental.
bool isCheapToDuplicate(Operation *op) {
  return isa<spd::TransposeOp, spd::ReshapeOp, spd::SqueezeOp, spd::UnsqueezeOp, spd::FlattenOp,
             spd::ExpandOp, spd::SliceOp, spd::CastOp, spd::NegOp, spd::AbsOp, spd::AddOp,
             spd::SubOp, spd::MulOp, spd::MaxOp, spd::MinOp, spd::AndOp, spd::OrOp, spd::NotOp,
             spd::EqualOp, spd::LessOp, spd::LessEqualOp, spd::GreaterOp, spd::GreaterEqualOp,
             spd::WhereOp, spd::ClipOp, spd::ReluOp>(op);
}

/// The leading (row) dimensions a reduction-like op keeps, or nothing when it reduces over
/// other than trailing axes or over all axes (R3).
std::optional<SmallVector<int64_t>> reductionRows(Operation *op) {
  auto inType = cast<RankedTensorType>(op->getOperand(0).getType());
  int64_t rank = inType.getRank();
  int64_t first = rank;
  if (auto axes = op->getAttrOfType<DenseI64ArrayAttr>("axes")) {
    ArrayRef<int64_t> a = axes.asArrayRef();
    if (!a.empty()) {
      first = a.front();
      for (auto [i, axis] : llvm::enumerate(a))
        if (axis != first + static_cast<int64_t>(i))
          return std::nullopt;
      if (a.back() != rank - 1)
        return std::nullopt;
    }
  } else if (auto axis = op->getAttrOfType<IntegerAttr>("axis")) {
    first = axis.getInt() < 0 ? axis.getInt() + rank : axis.getInt();
    if (isa<spd::SoftmaxOp, spd::LogSoftmaxOp>(op) && first != rank - 1)
      return std::nullopt;
  } else {
    return std::nullopt;
  }
  // A reduction over every axis has no rows to give thread blocks: it stays alone.
  if (first <= 0 || first > rank)
    return std::nullopt;
  return SmallVector<int64_t>(inType.getShape().take_front(first));
}

/// Whether `type` iterates `rows`: its shape starts with them (a dynamic dimension matches a
/// dynamic one; batch and sequence stay symbolic through the pipeline).
bool iteratesRows(Type type, ArrayRef<int64_t> rows) {
  auto t = dyn_cast<RankedTensorType>(type);
  if (!t || t.getRank() < static_cast<int64_t>(rows.size()))
    return false;
  return llvm::equal(t.getShape().take_front(rows.size()), rows);
}

/// Whether two tensor types provably have the same number of elements.
bool sameElementCount(Type a, Type b) {
  auto ta = dyn_cast<RankedTensorType>(a), tb = dyn_cast<RankedTensorType>(b);
  if (!ta || !tb)
    return false;
  auto summarize = [](RankedTensorType t) {
    int64_t product = 1, dynamic = 0;
    for (int64_t d : t.getShape())
      ShapedType::isDynamic(d) ? ++dynamic : product *= d;
    return std::make_pair(product, dynamic);
  };
  return summarize(ta) == summarize(tb);
}

/// A constant cloned into regions rather than passed as an operand (R7).
bool isClonedConstant(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def || !def->hasTrait<OpTrait::ConstantLike>() || def->getNumOperands() != 0)
    return false;
  Attribute attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return false;
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  return dense && (dense.isSplat() || dense.getNumElements() <= kMaxClonedConstantElements);
}

enum class Kind { Elementwise, Reduction, Matmul, Attention };

StringRef kindName(Kind kind) {
  switch (kind) {
  case Kind::Elementwise:
    return "elementwise";
  case Kind::Reduction:
    return "reduction";
  case Kind::Matmul:
    return "matmul_epilogue";
  case Kind::Attention:
    return "attention";
  }
  return "elementwise";
}

struct Group {
  Kind kind = Kind::Elementwise;
  SmallVector<Operation *> members;
  /// Cheap ops cloned into this region; the original is erased (R8).
  SmallVector<Operation *> dups;
  /// Row dimensions of a reduction region (R3).
  SmallVector<int64_t> rows;
  unsigned minIndex = 0, maxIndex = 0;
  bool alive = true;
  size_t size() const { return members.size() + dups.size(); }
};

/// The grouping analysis: assigns every non-constant top-level op of a block to a group.
class FusionPlanner {
public:
  explicit FusionPlanner(Block &block) : block(block) {
    for (Operation &op : block) {
      index[&op] = order.size();
      order.push_back(&op);
      OpClass c = classify(&op);
      opClass[&op] = c;
      if (c == OpClass::Constant || op.hasTrait<OpTrait::IsTerminator>())
        continue;
      groupOf[&op] = groups.size();
      Group g;
      g.members.push_back(&op);
      g.minIndex = g.maxIndex = index[&op];
      groups.push_back(std::move(g));
    }
  }

  void plan() {
    for (Operation *op : order)
      if (opClass[op] == OpClass::Attention)
        grow(seed(op, Kind::Attention));
    for (Operation *op : order)
      if (opClass[op] == OpClass::Matmul)
        grow(seed(op, Kind::Matmul));
    for (Operation *op : order) {
      if (opClass[op] != OpClass::Reduction || !isAlone(op))
        continue;
      if (std::optional<SmallVector<int64_t>> rows = reductionRows(op)) {
        unsigned g = seed(op, Kind::Reduction);
        groups[g].rows = *rows;
        grow(g);
      } else {
        noteFailure(op, "reduces over non-trailing axes or over all axes; it stays alone");
      }
    }
    for (Operation *op : order)
      if ((opClass[op] == OpClass::Elementwise || opClass[op] == OpClass::Movement) && isAlone(op))
        grow(seed(op, Kind::Elementwise));
    duplicateCheapSharedOps();
  }

  /// Rewrites the block: one spd.fusion per group of two or more ops, in a topological order
  /// of the groups. Returns the number of regions formed.
  FailureOr<unsigned> rewrite();

  void emitRemarks() {
    for (Operation *op : order) {
      auto it = groupOf.find(op);
      if (it == groupOf.end() || groups[it->second].size() != 1)
        continue;
      auto reason = failureReason.find(op);
      if (reason != failureReason.end())
        emitMissedRemark(op, kPassName, reason->second);
    }
  }

private:
  bool isAlone(Operation *op) {
    auto it = groupOf.find(op);
    return it != groupOf.end() && groups[it->second].size() == 1 && !dupGroups.count(op);
  }

  unsigned seed(Operation *op, Kind kind) {
    unsigned g = groupOf.lookup(op);
    groups[g].kind = kind;
    return g;
  }

  void noteFailure(Operation *op, const Twine &why) { failureReason[op] = why.str(); }

  /// Groups an op belongs to: its own, or the regions it is cloned into.
  SmallVector<unsigned, 2> groupsOf(Operation *op) {
    auto dup = dupGroups.find(op);
    if (dup != dupGroups.end())
      return SmallVector<unsigned, 2>(dup->second.begin(), dup->second.end());
    auto it = groupOf.find(op);
    if (it == groupOf.end())
      return {};
    return {it->second};
  }

  bool inGroup(Operation *op, unsigned g) { return llvm::is_contained(groupsOf(op), g); }

  SmallVector<unsigned> successors(unsigned g) {
    SmallVector<unsigned> result;
    auto visit = [&](Operation *op) {
      for (Value r : op->getResults())
        for (Operation *user : r.getUsers())
          for (unsigned s : groupsOf(user))
            if (s != g && !llvm::is_contained(result, s))
              result.push_back(s);
    };
    // A clone of a cheap op feeds only its own region: dups add no edge out of `g`.
    for (Operation *op : groups[g].members)
      visit(op);
    return result;
  }

  /// Whether a path leaves `from` and reaches one of `targets` through other groups (R9).
  /// Groups that start after every target cannot lead back to one and are not expanded.
  bool reaches(ArrayRef<unsigned> from, ArrayRef<unsigned> targets) {
    unsigned limit = 0;
    for (unsigned t : targets)
      limit = std::max(limit, groups[t].maxIndex);
    llvm::DenseSet<unsigned> visited(from.begin(), from.end());
    SmallVector<unsigned> stack;
    for (unsigned f : from)
      for (unsigned s : successors(f))
        if (!llvm::is_contained(from, s))
          stack.push_back(s);
    while (!stack.empty()) {
      unsigned g = stack.pop_back_val();
      if (llvm::is_contained(targets, g))
        return true;
      if (!visited.insert(g).second || groups[g].minIndex > limit)
        continue;
      for (unsigned s : successors(g))
        stack.push_back(s);
    }
    return false;
  }

  /// Whether `v` is computed inside group `g` (not merely an index remap of region inputs).
  bool isComputedIn(Value v, unsigned g) {
    Operation *def = v.getDefiningOp();
    if (!def || !inGroup(def, g))
      return false;
    if (opClass[def] != OpClass::Movement)
      return true;
    return llvm::any_of(def->getOperands(), [&](Value in) { return isComputedIn(in, g); });
  }

  /// R2: `user` (in or joining `g`) may read `v` (in or joining `g`) without recomputation.
  bool readsWithoutRecompute(Operation *user, Value v, unsigned g) {
    OpClass c = opClass[user];
    bool broadcasts = c == OpClass::Elementwise || isBroadcastingMovement(user);
    if (!broadcasts || !isComputedIn(v, g))
      return true;
    // In a reduction region a per-row scalar (the mean, the inverse norm) is computed once per
    // row and broadcast within it (R3).
    if (groups[g].kind == Kind::Reduction) {
      auto t = cast<RankedTensorType>(v.getType());
      if (llvm::all_of(
              t.getShape().drop_front(std::min<size_t>(groups[g].rows.size(), t.getRank())),
              [](int64_t d) { return d == 1; }))
        return true;
    }
    return llvm::all_of(user->getResultTypes(),
                        [&](Type t) { return sameElementCount(v.getType(), t); });
  }

  /// Whether `op` may join group `g`; `reason` says why not.
  bool canJoin(Operation *op, unsigned g, bool asProducer, std::string &reason) {
    Group &group = groups[g];
    OpClass c = opClass[op];
    switch (group.kind) {
    case Kind::Attention:
      if (asProducer) {
        if (c != OpClass::Movement && !isa<spd::RopeOp, spd::CastOp>(op)) {
          reason = "only rope, casts and index remaps join an attention prologue";
          return false;
        }
        for (Value r : op->getResults())
          for (Operation *user : r.getUsers())
            if (!inGroup(user, g)) {
              reason = "result is also used outside the attention region";
              return false;
            }
      } else {
        if (c != OpClass::Movement) {
          reason = "only index remaps of its output join an attention region";
          return false;
        }
        for (Value in : op->getOperands()) {
          Operation *def = in.getDefiningOp();
          if (def && inGroup(def, g) && !in.hasOneUse()) {
            reason = "the attention output is used by two regions";
            return false;
          }
        }
      }
      break;
    case Kind::Matmul:
      if (asProducer) {
        reason = "a matmul is the first op of its region; its operands are GEMM loads";
        return false;
      }
      if (c != OpClass::Elementwise && !(c == OpClass::Movement && isView(op))) {
        reason = "only elementwise ops and views join a matmul epilogue";
        return false;
      }
      if (feedsOnlyReductions(op)) {
        reason = "feeds only reductions; left to the reduction's region";
        return false;
      }
      break;
    case Kind::Reduction:
      if (c == OpClass::Reduction) {
        std::optional<SmallVector<int64_t>> rows = reductionRows(op);
        if (!rows || *rows != group.rows) {
          reason = "reduces other rows than its neighbour's reduction region";
          return false;
        }
      } else if (c != OpClass::Elementwise &&
                 !(c == OpClass::Movement && (asProducer || isView(op)))) {
        reason = "only elementwise ops, index remaps and same-row reductions join a "
                 "reduction region";
        return false;
      }
      // A view after the compute is the region's store layout (the [batch, seq, hidden] ->
      // [batch * seq, hidden] before a matmul); later ops must still iterate the rows.
      if (!asProducer && c == OpClass::Movement)
        break;
      for (Type t : op->getResultTypes())
        if (!iteratesRows(t, group.rows)) {
          reason = "does not iterate the rows of its neighbour's reduction";
          return false;
        }
      break;
    case Kind::Elementwise:
      // Other classes are never candidates of an elementwise region: no remark.
      if (c != OpClass::Elementwise && c != OpClass::Movement)
        return false;
      break;
    }
    // R2 over the whole group with `op` tentatively in it: joining can make values computed
    // that were inputs, for its users and for what they remap.
    unsigned own = groupOf.lookup(op);
    groupOf[op] = g;
    auto readsOk = [&](Operation *m) {
      return llvm::all_of(m->getOperands(),
                          [&](Value in) { return readsWithoutRecompute(m, in, g); });
    };
    bool ok = readsOk(op) && llvm::all_of(group.members, readsOk);
    groupOf[op] = own;
    if (!ok) {
      reason = "would recompute a broadcast value";
      return false;
    }
    if (reaches({g, own}, {g, own})) {
      reason = "would create a cycle between regions";
      return false;
    }
    return true;
  }

  bool feedsOnlyReductions(Operation *op) {
    bool any = false;
    for (Value r : op->getResults())
      for (Operation *user : r.getUsers()) {
        if (opClass.lookup(user) != OpClass::Reduction)
          return false;
        any = true;
      }
    return any;
  }

  void join(Operation *op, unsigned g) {
    unsigned own = groupOf.lookup(op);
    groups[own].members.clear();
    groups[own].alive = false;
    groupOf[op] = g;
    Group &group = groups[g];
    group.members.push_back(op);
    group.minIndex = std::min(group.minIndex, index[op]);
    group.maxIndex = std::max(group.maxIndex, index[op]);
    failureReason.erase(op);
  }

  void tryJoin(Operation *op, unsigned g, bool asProducer, SmallVectorImpl<Operation *> &work) {
    if (!op || !isAlone(op) || groupOf.lookup(op) == g)
      return;
    OpClass c = opClass[op];
    if (c == OpClass::Constant || c == OpClass::Opaque || c == OpClass::Matmul ||
        c == OpClass::Attention || (c == OpClass::Reduction && groups[g].kind != Kind::Reduction))
      return;
    std::string reason;
    if (!canJoin(op, g, asProducer, reason)) {
      // The first neighbour that refused says most: it was the preferred region.
      if (!reason.empty() && !failureReason.count(op))
        noteFailure(op, "cannot join the " + kindName(groups[g].kind) + " region of '" +
                            groups[g].members.front()->getName().getStringRef() + "': " + reason);
      return;
    }
    join(op, g);
    work.push_back(op);
  }

  void grow(unsigned g) {
    SmallVector<Operation *> work(groups[g].members.begin(), groups[g].members.end());
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      for (Value in : op->getOperands())
        tryJoin(in.getDefiningOp(), g, /*asProducer=*/true, work);
      for (Value r : op->getResults())
        for (Operation *user : llvm::make_early_inc_range(r.getUsers()))
          tryJoin(user, g, /*asProducer=*/false, work);
    }
  }

  /// R8: a cheap op left alone whose users all lie in regions is cloned into each of them.
  void duplicateCheapSharedOps() {
    for (Operation *op : order) {
      if (!isAlone(op) || !isCheapToDuplicate(op))
        continue;
      SmallVector<unsigned> targets;
      bool allInRegions = true;
      for (Value r : op->getResults())
        for (Operation *user : r.getUsers()) {
          auto it = groupOf.find(user);
          if (it == groupOf.end() || dupGroups.count(user)) {
            allInRegions = false;
            continue;
          }
          if (!llvm::is_contained(targets, it->second))
            targets.push_back(it->second);
        }
      if (!allInRegions || targets.size() < 2)
        continue;
      // Producers of the op's operands must not depend on any target (R9), and each target
      // must accept the op (R4, R5: attention takes remaps and casts, a matmul nothing).
      SmallVector<unsigned> producers;
      for (Value in : op->getOperands())
        if (Operation *def = in.getDefiningOp())
          for (unsigned p : groupsOf(def))
            if (!llvm::is_contained(producers, p))
              producers.push_back(p);
      bool ok = true;
      std::string reason;
      for (unsigned t : targets) {
        Kind k = groups[t].kind;
        if (k == Kind::Matmul ||
            (k == Kind::Attention && opClass[op] != OpClass::Movement && !isa<spd::CastOp>(op))) {
          reason = "result used by two regions, one of which cannot take it";
          ok = false;
          break;
        }
        if (k == Kind::Reduction && !llvm::all_of(op->getResultTypes(), [&](Type ty) {
              return iteratesRows(ty, groups[t].rows);
            })) {
          reason = "result used by two regions, one of which iterates other rows";
          ok = false;
          break;
        }
        SmallVector<unsigned> others;
        for (unsigned p : producers)
          if (p != t)
            others.push_back(p);
        if (!others.empty() && reaches({t}, others)) {
          reason = "result used by two regions; cloning it would create a cycle";
          ok = false;
          break;
        }
      }
      if (!ok) {
        noteFailure(op, reason);
        continue;
      }
      unsigned own = groupOf.lookup(op);
      groups[own].members.clear();
      groups[own].alive = false;
      groupOf.erase(op);
      for (unsigned t : targets) {
        groups[t].dups.push_back(op);
        groups[t].minIndex = std::min(groups[t].minIndex, index[op]);
      }
      dupGroups[op] = SmallVector<unsigned, 2>(targets.begin(), targets.end());
      failureReason.erase(op);
    }
  }

  /// Builds the spd.fusion of group `g` before `before`, rewires the uses and erases the
  /// members.
  void buildRegion(unsigned g, Operation *before);

  Block &block;
  std::vector<Operation *> order;
  llvm::DenseMap<Operation *, unsigned> index;
  llvm::DenseMap<Operation *, OpClass> opClass;
  llvm::DenseMap<Operation *, unsigned> groupOf;
  llvm::DenseMap<Operation *, SmallVector<unsigned, 2>> dupGroups;
  llvm::DenseMap<Operation *, std::string> failureReason;
  std::vector<Group> groups;
};

} // namespace

void FusionPlanner::buildRegion(unsigned g, Operation *before) {
  Group &group = groups[g];
  SmallVector<Operation *> ops(group.members.begin(), group.members.end());
  ops.append(group.dups.begin(), group.dups.end());
  llvm::sort(ops, [&](Operation *a, Operation *b) { return index[a] < index[b]; });
  llvm::SmallPtrSet<Operation *, 16> inRegion(ops.begin(), ops.end());
  llvm::SmallPtrSet<Operation *, 16> members(group.members.begin(), group.members.end());

  // A use stays inside when its owner is a member, or a clone of a cheap op whose only copy is
  // here; a clone also living in another region reads the value as that region's input.
  auto usedOutside = [&](Value v) {
    return llvm::any_of(v.getUsers(), [&](Operation *user) {
      if (members.contains(user))
        return false;
      auto dup = dupGroups.find(user);
      return dup == dupGroups.end() ||
             llvm::any_of(dup->second, [&](unsigned t) { return t != g; });
    });
  };

  llvm::SetVector<Value> inputs;
  for (Operation *op : ops)
    for (Value v : op->getOperands()) {
      Operation *def = v.getDefiningOp();
      if ((def && inRegion.contains(def)) || isClonedConstant(v))
        continue;
      inputs.insert(v);
    }
  SmallVector<Value> outputs;
  for (Operation *op : group.members)
    for (Value r : op->getResults())
      if (usedOutside(r))
        outputs.push_back(r);
  llvm::sort(outputs, [&](Value a, Value b) {
    unsigned ia = index[a.getDefiningOp()], ib = index[b.getDefiningOp()];
    if (ia != ib)
      return ia < ib;
    return cast<OpResult>(a).getResultNumber() < cast<OpResult>(b).getResultNumber();
  });

  MLIRContext *ctx = before->getContext();
  SmallVector<Location> locs;
  for (Operation *op : ops)
    locs.push_back(op->getLoc());
  OpBuilder builder(before);
  auto fusion =
      spd::FusionOp::create(builder, FusedLoc::get(ctx, locs), ValueRange(outputs).getTypes(),
                            inputs.getArrayRef(), kindName(group.kind));
  SmallVector<Location> argLocs;
  for (Value v : inputs)
    argLocs.push_back(v.getLoc());
  Block *body = builder.createBlock(&fusion.getBody(), {},
                                    ValueRange(inputs.getArrayRef()).getTypes(), argLocs);
  IRMapping map;
  for (auto [v, arg] : llvm::zip_equal(inputs, body->getArguments()))
    map.map(v, arg);
  for (Operation *op : ops) {
    for (Value v : op->getOperands())
      if (!map.contains(v) && isClonedConstant(v))
        builder.clone(*v.getDefiningOp(), map);
    builder.clone(*op, map);
  }
  SmallVector<Value> yielded;
  for (Value v : outputs)
    yielded.push_back(map.lookup(v));
  spd::YieldOp::create(builder, fusion.getLoc(), yielded);

  for (auto [v, result] : llvm::zip_equal(outputs, fusion.getResults()))
    v.replaceUsesWithIf(result, [&](OpOperand &use) { return !members.contains(use.getOwner()); });
  SmallVector<Operation *> toErase(group.members.begin(), group.members.end());
  llvm::sort(toErase, [&](Operation *a, Operation *b) { return index[a] > index[b]; });
  for (Operation *op : toErase)
    op->erase();
}

FailureOr<unsigned> FusionPlanner::rewrite() {
  // Edges between groups; the analysis guarantees they form a DAG (R9).
  SmallVector<unsigned> alive;
  for (auto [g, group] : llvm::enumerate(groups))
    if (group.alive && group.size() != 0)
      alive.push_back(g);
  llvm::DenseMap<unsigned, llvm::SmallSetVector<unsigned, 4>> succ;
  llvm::DenseMap<unsigned, unsigned> inDegree;
  for (unsigned g : alive) {
    inDegree[g];
    auto visit = [&](Operation *op) {
      for (Value v : op->getOperands())
        if (Operation *def = v.getDefiningOp()) {
          // A cloned op read here is the clone inside `g`, not an edge from another region.
          auto dup = dupGroups.find(def);
          if (dup != dupGroups.end() && llvm::is_contained(dup->second, g))
            continue;
          for (unsigned p : groupsOf(def))
            if (p != g && succ[p].insert(g))
              ++inDegree[g];
        }
    };
    for (Operation *op : groups[g].members)
      visit(op);
    for (Operation *op : groups[g].dups)
      visit(op);
  }
  // Kahn's algorithm, earliest original position first, so the order changes only where a
  // region must move past the ops between its members.
  auto later = [&](unsigned a, unsigned b) { return groups[a].minIndex > groups[b].minIndex; };
  std::priority_queue<unsigned, std::vector<unsigned>, decltype(later)> ready(later);
  for (unsigned g : alive)
    if (inDegree[g] == 0)
      ready.push(g);
  Operation *terminator = block.getTerminator();
  unsigned emitted = 0, regions = 0;
  while (!ready.empty()) {
    unsigned g = ready.top();
    ready.pop();
    ++emitted;
    if (groups[g].size() == 1 && groups[g].dups.empty()) {
      groups[g].members.front()->moveBefore(terminator);
    } else {
      buildRegion(g, terminator);
      ++regions;
    }
    for (unsigned s : succ[g])
      if (--inDegree[s] == 0)
        ready.push(s);
  }
  if (emitted != alive.size())
    return failure();
  for (auto &[op, targets] : dupGroups) {
    if (!op->use_empty())
      return failure();
    op->erase();
  }
  return regions;
}

namespace {
struct FormFusionRegionsPass : spdc::impl::SpdFormFusionRegionsBase<FormFusionRegionsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal() || !func.getBody().hasOneBlock())
      return;
    FusionPlanner planner(func.getBody().front());
    planner.plan();
    planner.emitRemarks();
    FailureOr<unsigned> regions = planner.rewrite();
    if (failed(regions)) {
      func.emitError() << kPassName << ": the fusion regions could not be ordered";
      return signalPassFailure();
    }
    LLVM_DEBUG(llvm::dbgs() << kPassName << ": @" << func.getSymName() << ": " << *regions
                            << " regions\n");
  }
};
} // namespace
