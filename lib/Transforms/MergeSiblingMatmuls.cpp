//===- MergeSiblingMatmuls.cpp - one matmul for the projections of one input --===//
//
// Groups the spd.matmul ops whose lhs is one value and whose rhs is a 2-D constant of one
// element type and depth K (analysis first), then, per group of two or more, concatenates the
// weights along N into a new constant, multiplies once and splits the result along its last
// axis. Products read only by an add (bias or residual: a GEMM epilogue in code generation)
// are left alone, as are weights that are not plain dense data.
//
//===----------------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Transforms/Passes.h"
#include "spdc/Transforms/Utility.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/Debug.h"

#include <cstring>

#define DEBUG_TYPE "spd-merge-sibling-matmuls"

namespace spdc {
#define GEN_PASS_DEF_SPDMERGESIBLINGMATMULS
#include "spdc/Transforms/Passes.h.inc"
} // namespace spdc

using namespace mlir;
using namespace spdc;

namespace {

/// The row-major bytes of a constant's elements (splats expanded), or nothing.
std::optional<ArrayRef<char>> rawData(ElementsAttr attr, SmallVectorImpl<char> &storage) {
  unsigned bits = attr.getElementType().getIntOrFloatBitWidth();
  if (bits % 8 != 0)
    return std::nullopt;
  size_t bytes = bits / 8, n = attr.getNumElements();
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || blob->getData().size() != n * bytes)
      return std::nullopt;
    return blob->getData();
  }
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense)
    return std::nullopt;
  ArrayRef<char> raw = dense.getRawData();
  if (!dense.isSplat())
    return raw.size() == n * bytes ? std::optional<ArrayRef<char>>(raw) : std::nullopt;
  storage.clear();
  for (size_t i = 0; i < n; ++i)
    storage.append(raw.begin(), raw.begin() + bytes);
  return ArrayRef<char>(storage);
}

/// The constant [K, N] weight of a candidate matmul, or null.
spd::ConstantOp weightOf(spd::MatMulOp mm) {
  auto c = mm.getRhs().getDefiningOp<spd::ConstantOp>();
  auto type = c ? dyn_cast<RankedTensorType>(c.getType()) : RankedTensorType();
  auto lhs = cast<RankedTensorType>(mm.getLhs().getType());
  if (!type || type.getRank() != 2 || !type.hasStaticShape() || lhs.getRank() < 2 ||
      !isa<FloatType>(type.getElementType()) ||
      type.getElementType() != lhs.getElementType())
    return {};
  return c;
}

/// The add a product feeds when it is its only user (code generation folds it into the GEMM).
spd::AddOp epilogueAdd(spd::MatMulOp mm) {
  Value out = mm.getResult();
  return out.hasOneUse() ? dyn_cast<spd::AddOp>(*out.getUsers().begin()) : spd::AddOp();
}

/// The constant bias [N] of a product whose only user adds it, or null.
spd::ConstantOp biasOf(spd::MatMulOp mm) {
  spd::AddOp add = epilogueAdd(mm);
  if (!add)
    return {};
  Value other = add.getLhs() == mm.getResult() ? add.getRhs() : add.getLhs();
  auto c = other.getDefiningOp<spd::ConstantOp>();
  auto type = c ? dyn_cast<RankedTensorType>(c.getType()) : RankedTensorType();
  auto out = cast<RankedTensorType>(mm.getType());
  if (!type || type.getRank() != 1 || type.getElementType() != out.getElementType() ||
      type.getDimSize(0) != out.getShape().back() || add.getType() != out)
    return {};
  return c;
}

struct MergeSiblingMatmulsPass
    : spdc::impl::SpdMergeSiblingMatmulsBase<MergeSiblingMatmulsPass> {
  void runOnOperation() override {
    // Analysis: candidates grouped by (lhs, weight type's depth and element type), in order.
    llvm::MapVector<std::pair<Value, Type>, SmallVector<spd::MatMulOp>> groups;
    getOperation().walk([&](spd::MatMulOp mm) {
      spd::ConstantOp w = weightOf(mm);
      if (!w)
        return;
      auto type = cast<RankedTensorType>(w.getType());
      Type key = RankedTensorType::get({type.getDimSize(0)}, type.getElementType());
      groups[{mm.getLhs(), key}].push_back(mm);
    });
    for (auto &[key, all] : groups) {
      // Products with a bias merge with their biases (still one epilogue); plain ones together.
      SmallVector<spd::MatMulOp> plain, biased;
      for (spd::MatMulOp mm : all) {
        if (!epilogueAdd(mm))
          plain.push_back(mm);
        else if (biasOf(mm))
          biased.push_back(mm);
        else if (all.size() > 1)
          emitMissedRemark(mm, "spd-merge-sibling-matmuls",
                           "not merged with its siblings: its only user is a residual add (a "
                           "GEMM epilogue)");
      }
      for (auto [mms, withBias] : {std::pair(&plain, false), std::pair(&biased, true)}) {
        // One block, so that the first matmul of the group dominates every user of the others.
        if (mms->size() < 2 || llvm::any_of(*mms, [&](spd::MatMulOp m) {
              return m->getBlock() != mms->front()->getBlock();
            }))
          continue;
        merge(*mms, withBias);
      }
    }
  }

  /// Concatenates the constants' rows ([rows, n_i] each) side by side: [rows, sum n_i].
  static std::optional<SmallVector<char>> concatColumns(ArrayRef<spd::ConstantOp> constants,
                                                        int64_t rows, size_t bytes) {
    SmallVector<ArrayRef<char>> data;
    SmallVector<int64_t> widths;
    SmallVector<SmallVector<char>> storage(constants.size());
    for (auto [i, constant] : llvm::enumerate(constants)) {
      spd::ConstantOp c = constant;
      auto attr = cast<ElementsAttr>(c.getValue());
      std::optional<ArrayRef<char>> raw = rawData(attr, storage[i]);
      if (!raw)
        return std::nullopt;
      data.push_back(*raw);
      widths.push_back(attr.getNumElements() / rows);
    }
    SmallVector<char> merged;
    for (int64_t k = 0; k < rows; ++k)
      for (auto [raw, n] : llvm::zip(data, widths))
        merged.append(raw.begin() + k * n * bytes, raw.begin() + (k + 1) * n * bytes);
    return merged;
  }

  static spd::ConstantOp resource(OpBuilder &b, Location loc, RankedTensorType type,
                                  StringRef name, ArrayRef<char> data, size_t bytes) {
    auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(data, bytes);
    return spd::ConstantOp::create(b, loc, type,
                                   DenseResourceElementsAttr::get(type, name, std::move(blob)));
  }

  void merge(ArrayRef<spd::MatMulOp> mms, bool withBias) {
    spd::MatMulOp first = *llvm::min_element(
        mms, [](spd::MatMulOp a, spd::MatMulOp b) { return a->isBeforeInBlock(b); });
    auto wType = cast<RankedTensorType>(weightOf(first).getType());
    int64_t depth = wType.getDimSize(0);
    size_t bytes = wType.getElementTypeBitWidth() / 8;
    SmallVector<spd::ConstantOp> weights, biases;
    SmallVector<int64_t> sizes;
    int64_t total = 0;
    for (spd::MatMulOp mm : mms) {
      weights.push_back(weightOf(mm));
      if (withBias)
        biases.push_back(biasOf(mm));
      sizes.push_back(cast<RankedTensorType>(weights.back().getType()).getDimSize(1));
      total += sizes.back();
    }
    // Row k of the merged weight: row k of each weight in turn; the biases end to end.
    std::optional<SmallVector<char>> merged = concatColumns(weights, depth, bytes);
    std::optional<SmallVector<char>> bias =
        withBias ? concatColumns(biases, 1, bytes) : SmallVector<char>();
    if (!merged || !bias)
      return; // not plain data: nothing to merge

    SmallVector<Location> locs;
    for (spd::MatMulOp mm : mms)
      locs.push_back(mm.getLoc());
    OpBuilder b(first);
    Location loc = b.getFusedLoc(locs);
    auto weightType = RankedTensorType::get({depth, total}, wType.getElementType());
    auto weight = resource(b, loc, weightType, "merged_matmul_weight", *merged, bytes);
    auto outType = cast<RankedTensorType>(first.getType());
    SmallVector<int64_t> shape(outType.getShape());
    shape.back() = total;
    auto productType = RankedTensorType::get(shape, outType.getElementType());
    Value product = spd::MatMulOp::create(b, loc, productType, first.getLhs(), weight);
    if (withBias) {
      auto biasType = RankedTensorType::get({total}, wType.getElementType());
      auto b1 = resource(b, loc, biasType, "merged_matmul_bias", *bias, bytes);
      product = spd::AddOp::create(b, loc, productType, product, b1);
    }
    SmallVector<Type> parts;
    for (spd::MatMulOp mm : mms)
      parts.push_back(mm.getType());
    auto split = spd::SplitOp::create(b, loc, parts, product,
                                      b.getI64IntegerAttr(outType.getRank() - 1),
                                      b.getDenseI64ArrayAttr(sizes));
    LLVM_DEBUG(llvm::dbgs() << "merged " << mms.size() << " matmuls into N = " << total << "\n");
    for (auto [op, part] : llvm::zip(mms, split.getOutputs())) {
      spd::MatMulOp mm = op;
      SmallVector<Operation *> dead = {mm.getRhs().getDefiningOp()};
      if (withBias) {
        spd::AddOp add = epilogueAdd(mm);
        dead.push_back(biasOf(mm));
        add.getResult().replaceAllUsesWith(part);
        add.erase();
      } else {
        mm.getResult().replaceAllUsesWith(part);
      }
      mm.erase();
      for (Operation *c : dead)
        if (c->use_empty())
          c->erase();
    }
  }
};

} // namespace
