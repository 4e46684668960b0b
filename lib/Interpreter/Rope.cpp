//===- Rope.cpp - rotary position embedding interpreter kernel ------------===//
//
// spd.rope: out = x * cos + rotate(x) * sin on the first rotary_dim elements of the last
// dimension, the rest copied. Computed in double whatever the storage types and rounded once
// on store, as the other reference kernels do. The tables broadcast row by row: a row is
// rotary_dim contiguous elements, and only the leading dimensions broadcast.
//
//===----------------------------------------------------------------------===//

#include "KernelUtils.h"
#include "Kernels.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include <vector>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace spdc {
namespace {

/// A cos or sin table as doubles in its own (unbroadcast) shape, after checking that it
/// broadcasts to `rowShape` x [rotaryDim].
Expected<std::vector<double>> loadTable(Operation *op, const Tensor &table,
                                        ArrayRef<int64_t> rowShape, int64_t rotaryDim,
                                        StringRef what) {
  bool ok = table.rank() >= 1 && table.rank() <= static_cast<int64_t>(rowShape.size()) + 1 &&
            table.dim(table.rank() - 1) == rotaryDim;
  for (int64_t i = 1; ok && i < table.rank(); ++i) {
    int64_t d = table.dim(table.rank() - 1 - i);
    int64_t target = rowShape[rowShape.size() - i];
    ok = d == target || d == 1;
  }
  if (!ok) {
    std::string dims;
    for (int64_t d : rowShape)
      dims += std::to_string(d) + "x";
    return opError(op, what + " " + table.typeString() + " does not broadcast to [" + dims +
                           std::to_string(rotaryDim) + "] (the input's rotated part)");
  }
  return convertAll<double, kFloats>(op, table);
}

Error ropeKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto rope = cast<spd::RopeOp>(op);
  const Tensor &in = operands[0];
  if (in.rank() < 1)
    return opError(op, "input must have rank 1 or more");
  int64_t headDim = in.dim(in.rank() - 1);
  int64_t rot = rope.getRotaryDim();
  bool interleaved = rope.getInterleaved();
  if (rot <= 0 || rot % 2 != 0 || rot > headDim)
    return opError(op, "rotary_dim " + llvm::Twine(rot) +
                           " must be even, positive and at most the last dimension " +
                           llvm::Twine(headDim));
  Expected<DType> outType = resultDType(op);
  if (!outType)
    return outType.takeError();
  if (*outType != in.dtype())
    return opError(op, "result element type " + dtypeName(*outType) + " differs from the input's " +
                           dtypeName(in.dtype()));

  // Rows are the input's leading dimensions; the tables broadcast over them.
  ArrayRef<int64_t> rowShape = in.shape().drop_back();
  Expected<std::vector<double>> cosv = loadTable(op, operands[1], rowShape, rot, "cos");
  if (!cosv)
    return cosv.takeError();
  Expected<std::vector<double>> sinv = loadTable(op, operands[2], rowShape, rot, "sin");
  if (!sinv)
    return sinv.takeError();
  ArrayRef<int64_t> cosRows = operands[1].shape().drop_back();
  ArrayRef<int64_t> sinRows = operands[2].shape().drop_back();

  return dispatch<kFloats>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> out = allocateResult(op, in.dtype(), in.shape());
    if (!out)
      return out.takeError();
    const T *x = in.data<T>();
    T *y = out->mutableData<T>();
    int64_t half = rot / 2;
    // Each plan element is one row; offsets count rows of each table.
    BroadcastPlan<2> plan = planBroadcast<2>(rowShape, {cosRows, sinRows});
    forEachRun(
        plan, [&](int64_t o, std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> stride) {
          for (int64_t k = 0; k < n; ++k) {
            const T *xr = x + (o + k) * headDim;
            T *yr = y + (o + k) * headDim;
            const double *c = cosv->data() + (off[0] + k * stride[0]) * rot;
            const double *s = sinv->data() + (off[1] + k * stride[1]) * rot;
            for (int64_t i = 0; i < rot; ++i) {
              double rotated;
              if (interleaved)
                rotated = i % 2 == 0 ? -static_cast<double>(load(xr[i + 1]))
                                     : static_cast<double>(load(xr[i - 1]));
              else
                rotated = i < half ? -static_cast<double>(load(xr[i + half]))
                                   : static_cast<double>(load(xr[i - half]));
              yr[i] = castValue<T>(static_cast<double>(load(xr[i])) * c[i] + rotated * s[i]);
            }
            for (int64_t i = rot; i < headDim; ++i)
              yr[i] = xr[i];
          }
        });
    results.push_back(std::move(*out));
    return Error::success();
  });
}

} // namespace

void registerRopeKernels(KernelTable &table) { table.add<spd::RopeOp>(ropeKernel); }

} // namespace spdc
