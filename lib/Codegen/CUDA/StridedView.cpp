//===- StridedView.cpp - values read in place from a buffer ---------------===//
//
// A value built from a buffer by reshapes, transposes, splits and slices is, element for
// element, that buffer at offset + sum(i_k * stride_k). Kernels that take strided operands
// (attention) read such values in place instead of having an elementwise kernel copy them
// into a contiguous buffer first: the head transposes of a fused QKV projection, for one.
//
//===----------------------------------------------------------------------===//

#include "CodegenImpl.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spdc;
using namespace spdc::codegen::detail;

static int64_t normalizedAxis(int64_t axis, size_t rank) {
  return axis < 0 ? axis + int64_t(rank) : axis;
}

Dims spdc::codegen::detail::contiguousStrides(ArrayRef<SymExpr> shape) {
  Dims strides(shape.size(), SymExpr::constant(1));
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/// The strides of `view` reshaped from `from` to `to`, when each group of dims whose sizes
/// multiply to the same number can be walked with one stride per dim: merged dims must be
/// nested in memory, split dims take multiples of the split dim's stride. Sizes must be
/// constants except for a dim that passes through unchanged.
static std::optional<Dims> reshapedStrides(ArrayRef<SymExpr> from, ArrayRef<SymExpr> strides,
                                           ArrayRef<SymExpr> to) {
  Dims out(to.size(), SymExpr::constant(0));
  size_t i = 0, j = 0;
  while (i < from.size() || j < to.size()) {
    // Size-1 dims read nothing; give them any stride.
    if (j < to.size() && to[j].getConstant() == 1) {
      out[j++] = SymExpr::constant(1);
      continue;
    }
    if (i < from.size() && from[i].getConstant() == 1) {
      ++i;
      continue;
    }
    if (i == from.size() || j == to.size())
      return std::nullopt;
    if (from[i] == to[j]) { // unchanged (possibly dynamic)
      out[j++] = strides[i++];
      continue;
    }
    // A group of constant dims on both sides with equal products.
    size_t i1 = i, j1 = j;
    int64_t pi = 1, pj = 1;
    auto take = [](ArrayRef<SymExpr> d, size_t &k, int64_t &p) {
      std::optional<int64_t> c = d[k].getConstant();
      if (!c)
        return false;
      p *= *c;
      ++k;
      return true;
    };
    if (!take(from, i1, pi) || !take(to, j1, pj))
      return std::nullopt;
    while (pi != pj) {
      if (pi < pj) {
        if (i1 == from.size() || !take(from, i1, pi))
          return std::nullopt;
      } else if (j1 == to.size() || !take(to, j1, pj)) {
        return std::nullopt;
      }
    }
    // The input group must be one run of memory: stride[k] = stride[k + 1] * size[k + 1].
    for (size_t k = i; k + 1 < i1; ++k)
      if (!(strides[k] == strides[k + 1] * from[k + 1]))
        return std::nullopt;
    // The output group walks it with the innermost input stride.
    SymExpr s = strides[i1 - 1];
    for (size_t k = j1; k-- > j;) {
      out[k] = s;
      s = s * to[k];
    }
    i = i1;
    j = j1;
  }
  return out;
}

std::optional<StridedView> Generator::stridedView(Value v) {
  v = resolve(v);
  Buf b = lookup(v);
  if (b.id >= 0)
    return StridedView{b, 0, contiguousStrides(dims(v))};
  Operation *def = v.getDefiningOp();
  if (!def || def->getNumOperands() == 0)
    return std::nullopt;
  Value input = def->getOperand(0);
  std::optional<StridedView> src;
  if (isa<spd::ReshapeOp, spd::FlattenOp, spd::SqueezeOp, spd::UnsqueezeOp, spd::TransposeOp,
          spd::SplitOp, spd::SliceOp>(def))
    src = stridedView(input);
  if (!src)
    return std::nullopt;
  Dims in = dims(input), out = dims(v);
  return llvm::TypeSwitch<Operation *, std::optional<StridedView>>(def)
      .Case<spd::ReshapeOp, spd::FlattenOp, spd::SqueezeOp, spd::UnsqueezeOp>(
          [&](Operation *) -> std::optional<StridedView> {
            std::optional<Dims> s = reshapedStrides(in, src->strides, out);
            if (!s)
              return std::nullopt;
            src->strides = *s;
            return src;
          })
      .Case([&](spd::TransposeOp t) -> std::optional<StridedView> {
        ArrayRef<int64_t> perm = t.getPerm();
        Dims s;
        for (int64_t p : perm)
          s.push_back(src->strides[p]);
        src->strides = s;
        return src;
      })
      .Case([&](spd::SplitOp o) -> std::optional<StridedView> {
        int64_t axis = normalizedAxis(o.getAxis(), in.size());
        int64_t offset = 0;
        for (unsigned i = 0; i < cast<OpResult>(v).getResultNumber(); ++i)
          offset += o.getSizes()[i];
        std::optional<int64_t> stride = src->strides[axis].getConstant();
        if (!stride)
          return std::nullopt;
        src->offset += offset * *stride;
        return src;
      })
      .Case([&](spd::SliceOp o) -> std::optional<StridedView> {
        FailureOr<SmallVector<int64_t>> starts = constantInts(o.getStarts());
        FailureOr<SmallVector<int64_t>> axes = constantInts(o.getAxes());
        FailureOr<SmallVector<int64_t>> steps = constantInts(o.getSteps());
        if (failed(starts) || failed(axes) || failed(steps))
          return std::nullopt;
        for (size_t i = 0; i < axes->size(); ++i) {
          int64_t a = normalizedAxis((*axes)[i], in.size());
          int64_t st = (*starts)[i], step = (*steps)[i];
          std::optional<int64_t> d = in[a].getConstant();
          std::optional<int64_t> stride = src->strides[a].getConstant();
          if (!d || !stride || step < 1)
            return std::nullopt;
          if (st < 0)
            st += *d;
          st = std::clamp<int64_t>(st, 0, *d);
          src->offset += st * *stride;
          src->strides[a] = SymExpr::constant(*stride * step);
        }
        return src;
      })
      .Default([](Operation *) { return std::nullopt; });
}
