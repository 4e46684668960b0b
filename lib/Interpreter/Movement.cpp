//===- Movement.cpp - data movement and shape kernels ---------------------===//
//
// Most kernels here move elements without looking at them, so they work on bytes with the
// element size and handle every dtype (f16, bf16 and i1 included) with one code path. Shapes
// come from the operands at run time; index operands are checked, never trusted.
//
//===----------------------------------------------------------------------===//

#include "KernelUtils.h"
#include "Kernels.h"
#include "ShapeUtils.h"

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Interpreter/Interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace mlir;
using namespace spdc;
using llvm::ArrayRef;
using llvm::Error;
using llvm::SmallVector;

namespace {

Error setResult(std::vector<Tensor> &results, Tensor t) {
  results.push_back(std::move(t));
  return Error::success();
}

/// Copies `n` elements of `es` bytes, read `stride` elements apart, to contiguous `dst`.
template <size_t ES> void copyRunFixed(char *dst, const char *src, int64_t n, int64_t stride) {
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + i * ES, src + i * stride * static_cast<int64_t>(ES), ES);
}

void copyRun(char *dst, const char *src, int64_t n, int64_t stride, size_t es) {
  if (stride == 1) {
    std::memcpy(dst, src, n * es);
    return;
  }
  switch (es) {
  case 1:
    return copyRunFixed<1>(dst, src, n, stride);
  case 2:
    return copyRunFixed<2>(dst, src, n, stride);
  case 4:
    return copyRunFixed<4>(dst, src, n, stride);
  case 8:
    return copyRunFixed<8>(dst, src, n, stride);
  default:
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(dst + i * es, src + i * stride * static_cast<int64_t>(es), es);
  }
}

/// Writes the view of `src` with `shape` and element `strides` (any sign, 0 to broadcast)
/// contiguously to `dst`.
void stridedCopy(const char *src, char *dst, ArrayRef<int64_t> shape, ArrayRef<int64_t> strides,
                 size_t es) {
  if (llvm::is_contained(shape, 0))
    return;
  if (shape.empty()) {
    std::memcpy(dst, src, es);
    return;
  }
  int64_t outer = static_cast<int64_t>(shape.size()) - 1;
  int64_t inner = shape.back(), innerStride = strides.back();
  int64_t rows = product(shape.drop_back());
  SmallVector<int64_t, 6> idx(outer, 0);
  int64_t off = 0;
  for (int64_t r = 0; r < rows; ++r) {
    copyRun(dst, src + off * static_cast<int64_t>(es), inner, innerStride, es);
    dst += inner * es;
    for (int64_t d = outer - 1; d >= 0; --d) {
      off += strides[d];
      if (++idx[d] < shape[d])
        break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/// A tensor of `dtype` and `shape` holding a copy of `src`'s bytes (same element count).
llvm::Expected<Tensor> copyWithShape(Operation *op, const Tensor &src, ArrayRef<int64_t> shape) {
  auto out = allocateResult(op, src.dtype(), shape);
  if (!out)
    return out.takeError();
  if (src.byteSize())
    std::memcpy(out->mutableRaw(), src.raw(), src.byteSize());
  return out;
}

/// Allocation of a shape read from the model: negative or overflowing sizes become errors.
llvm::Expected<Tensor> allocateChecked(Operation *op, DType dtype, ArrayRef<int64_t> shape) {
  std::optional<int64_t> count = checkedProduct(shape);
  if (!count || static_cast<uint64_t>(*count) > kMaxTensorBytes / dtypeSize(dtype))
    return opError(op, "invalid or too large result shape " + shapeString(shape));
  return allocateResult(op, dtype, shape);
}

/// `axis` (may be negative, counting from `rank`) as a dimension index, or an error.
llvm::Expected<int64_t> normalizeAxis(Operation *op, int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    return opError(op, "axis " + Twine(axis) + " is out of range for rank " + Twine(rank));
  return a;
}

/// Index `i` into a dimension of size `dim`, negative counting from the end, or -1.
int64_t normalizeIndex(int64_t i, int64_t dim) {
  if (i < 0)
    i += dim;
  return (i < 0 || i >= dim) ? -1 : i;
}

Error indexError(Operation *op, int64_t index, int64_t dim) {
  return opError(op, "index " + Twine(index) + " is out of range for a dimension of size " +
                         Twine(dim));
}

//===----------------------------------------------------------------------===//
// Constants and ranges
//===----------------------------------------------------------------------===//

Error constantOfShapeKernel(Operation *op, ArrayRef<Tensor> operands,
                            std::vector<Tensor> &results) {
  SmallVector<int64_t> shape = readInts(operands[0]);
  auto value = tensorFromAttr(cast<spd::ConstantOfShapeOp>(op).getValue());
  if (!value)
    return value.takeError();
  if (value->numElements() != 1)
    return opError(op, "value must hold one element, got " + value->typeString());
  auto out = allocateChecked(op, value->dtype(), shape);
  if (!out)
    return out.takeError();
  size_t es = dtypeSize(value->dtype());
  char *dst = static_cast<char *>(out->mutableRaw());
  for (int64_t i = 0, n = out->numElements(); i < n; ++i)
    std::memcpy(dst + i * es, value->raw(), es);
  return setResult(results, std::move(*out));
}

Error rangeKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &start = operands[0], &limit = operands[1], &delta = operands[2];
  for (const Tensor &t : operands.take_front(3)) {
    if (t.numElements() != 1)
      return opError(op, "start, limit and delta must be scalars, got " + t.typeString());
    if (t.dtype() != start.dtype())
      return opError(op, "start, limit and delta must have one element type");
  }
  return dispatch<kNumeric>(op, start.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    using C = ComputeT<T>;
    C s = load(start.data<T>()[0]), l = load(limit.data<T>()[0]), d = load(delta.data<T>()[0]);
    int64_t count = 0;
    if constexpr (std::is_floating_point_v<C>) {
      double c = std::ceil((double(l) - double(s)) / double(d));
      if (d == 0 || std::isnan(c) || c >= 0x1p62)
        return opError(op, "range of " + std::to_string(double(s)) + " to " +
                               std::to_string(double(l)) + " by " + std::to_string(double(d)) +
                               " has no finite size");
      count = c > 0 ? static_cast<int64_t>(c) : 0;
    } else {
      if (d == 0)
        return opError(op, "range delta is zero");
      __int128 diff = static_cast<__int128>(l) - static_cast<__int128>(s), step = d, n = 0;
      if (diff > 0 && step > 0)
        n = (diff + step - 1) / step;
      else if (diff < 0 && step < 0)
        n = (diff + step + 1) / step;
      if (n > std::numeric_limits<int64_t>::max())
        return opError(op, "range has too many elements");
      count = static_cast<int64_t>(n);
    }
    auto out = allocateChecked(op, start.dtype(), {count});
    if (!out)
      return out.takeError();
    T *dst = out->template mutableData<T>();
    for (int64_t i = 0; i < count; ++i) {
      // ONNX: output[i] = start + i * delta, not a running sum.
      if constexpr (std::is_floating_point_v<C>)
        dst[i] = store<T>(double(s) + double(i) * double(d));
      else
        dst[i] = static_cast<T>(static_cast<__int128>(s) + static_cast<__int128>(i) * d);
    }
    return setResult(results, std::move(*out));
  });
}

//===----------------------------------------------------------------------===//
// Gathers and scatters
//===----------------------------------------------------------------------===//

Error gatherKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &data = operands[0], &indices = operands[1];
  auto axis = normalizeAxis(op, cast<spd::GatherOp>(op).getAxis(), data.rank());
  if (!axis)
    return axis.takeError();
  int64_t dim = data.dim(*axis);
  SmallVector<int64_t> idx = readInts(indices);
  for (int64_t &i : idx) {
    int64_t n = normalizeIndex(i, dim);
    if (n < 0)
      return indexError(op, i, dim);
    i = n;
  }
  SmallVector<int64_t, 6> shape(data.shape().take_front(*axis));
  llvm::append_range(shape, indices.shape());
  llvm::append_range(shape, data.shape().drop_front(*axis + 1));
  auto out = allocateResult(op, data.dtype(), shape);
  if (!out)
    return out.takeError();
  int64_t outer = product(data.shape().take_front(*axis));
  size_t chunk = product(data.shape().drop_front(*axis + 1)) * dtypeSize(data.dtype());
  const char *src = static_cast<const char *>(data.raw());
  char *dst = static_cast<char *>(out->mutableRaw());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i : idx) {
      std::memcpy(dst, src + (o * dim + i) * chunk, chunk);
      dst += chunk;
    }
  return setResult(results, std::move(*out));
}

Error gatherElementsKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &data = operands[0], &indices = operands[1];
  int64_t rank = data.rank();
  auto axis = normalizeAxis(op, cast<spd::GatherElementsOp>(op).getAxis(), rank);
  if (!axis)
    return axis.takeError();
  if (indices.rank() != rank)
    return opError(op, "indices " + indices.typeString() + " must have the rank of data " +
                           data.typeString());
  for (int64_t d = 0; d < rank; ++d)
    if (d != *axis && indices.dim(d) > data.dim(d))
      return opError(op, "indices " + indices.typeString() + " exceed data " + data.typeString() +
                             " in dimension " + Twine(d));
  SmallVector<int64_t> idx = readInts(indices);
  auto out = allocateResult(op, data.dtype(), indices.shape());
  if (!out)
    return out.takeError();
  SmallVector<int64_t, 6> strides = rowMajorStrides(data.shape());
  size_t es = dtypeSize(data.dtype());
  const char *src = static_cast<const char *>(data.raw());
  char *dst = static_cast<char *>(out->mutableRaw());
  SmallVector<int64_t, 6> pos(rank, 0);
  int64_t dim = data.dim(*axis);
  for (size_t flat = 0; flat < idx.size(); ++flat) {
    int64_t i = normalizeIndex(idx[flat], dim);
    if (i < 0)
      return indexError(op, idx[flat], dim);
    int64_t off = 0;
    for (int64_t d = 0; d < rank; ++d)
      off += (d == *axis ? i : pos[d]) * strides[d];
    std::memcpy(dst + flat * es, src + off * es, es);
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++pos[d] < indices.dim(d))
        break;
      pos[d] = 0;
    }
  }
  return setResult(results, std::move(*out));
}

/// Element offsets, within one batch of `data`, of the slices addressed by `tuples` (each
/// `depth` long) over dimensions [first, first + depth) of `data`.
llvm::Expected<SmallVector<int64_t>> tupleOffsets(Operation *op, const Tensor &data,
                                                  ArrayRef<int64_t> tuples, int64_t first,
                                                  int64_t depth) {
  SmallVector<int64_t, 6> strides = rowMajorStrides(data.shape().drop_front(first));
  SmallVector<int64_t> offsets;
  int64_t count = depth ? static_cast<int64_t>(tuples.size()) / depth : 0;
  offsets.reserve(count);
  for (int64_t t = 0; t < count; ++t) {
    int64_t off = 0;
    for (int64_t k = 0; k < depth; ++k) {
      int64_t dim = data.dim(first + k);
      int64_t i = normalizeIndex(tuples[t * depth + k], dim);
      if (i < 0)
        return indexError(op, tuples[t * depth + k], dim);
      off += i * strides[k];
    }
    offsets.push_back(off);
  }
  return offsets;
}

Error gatherNDKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &data = operands[0], &indices = operands[1];
  int64_t b = cast<spd::GatherNDOp>(op).getBatchDims();
  int64_t r = data.rank(), q = indices.rank();
  if (q < 1 || b < 0 || b >= std::min(q, r))
    return opError(op, "batch_dims " + Twine(b) + " is invalid for data " + data.typeString() +
                           " and indices " + indices.typeString());
  int64_t depth = indices.dim(q - 1);
  if (depth < 1 || depth > r - b)
    return opError(op, "index tuples of length " + Twine(depth) + " do not fit data " +
                           data.typeString() + " with batch_dims " + Twine(b));
  if (indices.shape().take_front(b) != data.shape().take_front(b))
    return opError(op, "batch dimensions of indices " + indices.typeString() + " and data " +
                           data.typeString() + " differ");
  SmallVector<int64_t, 6> shape(indices.shape().drop_back());
  llvm::append_range(shape, data.shape().drop_front(b + depth));
  auto out = allocateResult(op, data.dtype(), shape);
  if (!out)
    return out.takeError();
  SmallVector<int64_t> tuples = readInts(indices);
  int64_t batches = product(data.shape().take_front(b));
  int64_t batchElems = product(data.shape().drop_front(b));
  int64_t perBatch = product(indices.shape().slice(b, q - 1 - b)) * depth;
  size_t es = dtypeSize(data.dtype());
  size_t chunk = product(data.shape().drop_front(b + depth)) * es;
  const char *src = static_cast<const char *>(data.raw());
  char *dst = static_cast<char *>(out->mutableRaw());
  for (int64_t bi = 0; bi < batches; ++bi) {
    auto offsets =
        tupleOffsets(op, data, ArrayRef<int64_t>(tuples).slice(bi * perBatch, perBatch), b, depth);
    if (!offsets)
      return offsets.takeError();
    for (int64_t off : *offsets) {
      std::memcpy(dst, src + (bi * batchElems + off) * es, chunk);
      dst += chunk;
    }
  }
  return setResult(results, std::move(*out));
}

Error scatterNDKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &data = operands[0], &indices = operands[1], &updates = operands[2];
  StringRef reduction = cast<spd::ScatterNDOp>(op).getReduction();
  int64_t r = data.rank(), q = indices.rank();
  if (q < 1)
    return opError(op, "indices must have rank 1 or more");
  int64_t depth = indices.dim(q - 1);
  if (depth > r)
    return opError(op,
                   "index tuples of length " + Twine(depth) + " exceed data " + data.typeString());
  SmallVector<int64_t, 6> expected(indices.shape().drop_back());
  llvm::append_range(expected, data.shape().drop_front(depth));
  if (updates.shape() != ArrayRef<int64_t>(expected) || updates.dtype() != data.dtype())
    return opError(op, "updates " + updates.typeString() + " must be " + dtypeName(data.dtype()) +
                           shapeString(expected));
  SmallVector<int64_t> tuples = readInts(indices);
  int64_t count = product(indices.shape().drop_back());
  SmallVector<int64_t> offsets;
  if (depth == 0) {
    offsets.assign(count, 0);
  } else {
    auto o = tupleOffsets(op, data, tuples, 0, depth);
    if (!o)
      return o.takeError();
    offsets = std::move(*o);
  }
  auto out = copyWithShape(op, data, data.shape());
  if (!out)
    return out.takeError();
  int64_t slice = product(data.shape().drop_front(depth));
  size_t es = dtypeSize(data.dtype());
  if (reduction == "none") {
    char *dst = static_cast<char *>(out->mutableRaw());
    const char *src = static_cast<const char *>(updates.raw());
    for (int64_t t = 0; t < count; ++t)
      std::memcpy(dst + offsets[t] * es, src + t * slice * es, slice * es);
    return setResult(results, std::move(*out));
  }
  enum class Reduce { Add, Mul, Max, Min } kind;
  if (reduction == "add")
    kind = Reduce::Add;
  else if (reduction == "mul")
    kind = Reduce::Mul;
  else if (reduction == "max")
    kind = Reduce::Max;
  else if (reduction == "min")
    kind = Reduce::Min;
  else
    return opError(op, "unknown reduction \"" + reduction + "\"");
  if (Error e = dispatch<kAllTypes>(op, data.dtype(), [&](auto tag) -> Error {
        using T = decltype(tag);
        using C = ComputeT<T>;
        T *dst = out->template mutableData<T>();
        const T *src = updates.data<T>();
        for (int64_t t = 0; t < count; ++t)
          for (int64_t e = 0; e < slice; ++e) {
            T &x = dst[offsets[t] + e];
            C a = load(x), u = load(src[t * slice + e]);
            C v = kind == Reduce::Add   ? static_cast<C>(a + u)
                  : kind == Reduce::Mul ? static_cast<C>(a * u)
                  : kind == Reduce::Max ? std::max(a, u)
                                        : std::min(a, u);
            x = store<T>(v);
          }
        return Error::success();
      }))
    return e;
  return setResult(results, std::move(*out));
}

//===----------------------------------------------------------------------===//
// Concat, split, slice
//===----------------------------------------------------------------------===//

Error concatKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  if (operands.empty())
    return opError(op, "needs at least one input");
  const Tensor &first = operands[0];
  auto axis = normalizeAxis(op, cast<spd::ConcatOp>(op).getAxis(), first.rank());
  if (!axis)
    return axis.takeError();
  SmallVector<int64_t, 6> shape(first.shape());
  shape[*axis] = 0;
  for (const Tensor &t : operands) {
    bool ok = t.rank() == first.rank() && t.dtype() == first.dtype();
    for (int64_t d = 0; ok && d < t.rank(); ++d)
      ok = d == *axis || t.dim(d) == first.dim(d);
    if (!ok)
      return opError(op, "input " + t.typeString() + " does not concatenate with " +
                             first.typeString() + " along axis " + Twine(*axis));
    shape[*axis] += t.dim(*axis);
  }
  auto out = allocateResult(op, first.dtype(), shape);
  if (!out)
    return out.takeError();
  int64_t outer = product(first.shape().take_front(*axis));
  size_t innerBytes = product(first.shape().drop_front(*axis + 1)) * dtypeSize(first.dtype());
  char *dst = static_cast<char *>(out->mutableRaw());
  for (int64_t o = 0; o < outer; ++o)
    for (const Tensor &t : operands) {
      size_t chunk = t.dim(*axis) * innerBytes;
      std::memcpy(dst, static_cast<const char *>(t.raw()) + o * chunk, chunk);
      dst += chunk;
    }
  return setResult(results, std::move(*out));
}

Error splitKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto split = cast<spd::SplitOp>(op);
  const Tensor &in = operands[0];
  auto axis = normalizeAxis(op, split.getAxis(), in.rank());
  if (!axis)
    return axis.takeError();
  ArrayRef<int64_t> sizes = split.getSizes();
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0)
      return opError(op, "split sizes must be non-negative");
    total += s;
  }
  if (total != in.dim(*axis))
    return opError(op, "split sizes add up to " + Twine(total) + ", input " + in.typeString() +
                           " has " + Twine(in.dim(*axis)) + " along axis " + Twine(*axis));
  int64_t outer = product(in.shape().take_front(*axis));
  size_t innerBytes = product(in.shape().drop_front(*axis + 1)) * dtypeSize(in.dtype());
  const char *src = static_cast<const char *>(in.raw());
  std::vector<Tensor> parts;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    SmallVector<int64_t, 6> shape(in.shape());
    shape[*axis] = s;
    auto part = allocateResult(op, in.dtype(), shape);
    if (!part)
      return part.takeError();
    char *dst = static_cast<char *>(part->mutableRaw());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + o * s * innerBytes, src + (o * in.dim(*axis) + offset) * innerBytes,
                  s * innerBytes);
    offset += s;
    parts.push_back(std::move(*part));
  }
  results = std::move(parts);
  return Error::success();
}

Error sliceKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  SmallVector<int64_t> starts = readInts(operands[1]), ends = readInts(operands[2]),
                       axes = readInts(operands[3]), steps = readInts(operands[4]);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return opError(op, "starts, ends, axes and steps must have the same length");
  int64_t rank = in.rank();
  SmallVector<int64_t, 6> begin(rank, 0), step(rank, 1), count(in.shape());
  SmallVector<bool, 6> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    auto axis = normalizeAxis(op, axes[i], rank);
    if (!axis)
      return axis.takeError();
    if (seen[*axis])
      return opError(op, "axis " + Twine(*axis) + " is sliced twice");
    seen[*axis] = true;
    int64_t st = steps[i], dim = in.dim(*axis);
    if (st == 0)
      return opError(op, "slice step is zero");
    // ONNX: negative values count from the end, then clamp; a negative step clamps the start
    // to [0, dim-1] and the end to [-1, dim-1].
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t n;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      n = e > s ? (e - s - 1) / st + 1 : 0;
    } else {
      s = std::min<int64_t>(std::max<int64_t>(s, 0), dim - 1);
      e = std::min<int64_t>(std::max<int64_t>(e, -1), dim - 1);
      uint64_t magnitude = 0 - static_cast<uint64_t>(st);
      n = s > e ? static_cast<int64_t>(static_cast<uint64_t>(s - e - 1) / magnitude) + 1 : 0;
    }
    begin[*axis] = n > 0 ? s : 0;
    // A step larger than the dimension reaches one element; keep the stride product small.
    step[*axis] = n > 1 ? st : 1;
    count[*axis] = n;
  }
  auto out = allocateResult(op, in.dtype(), count);
  if (!out)
    return out.takeError();
  SmallVector<int64_t, 6> inStrides = rowMajorStrides(in.shape()), strides(rank);
  int64_t base = 0;
  for (int64_t d = 0; d < rank; ++d) {
    strides[d] = inStrides[d] * step[d];
    base += begin[d] * inStrides[d];
  }
  if (out->numElements()) {
    size_t es = dtypeSize(in.dtype());
    stridedCopy(static_cast<const char *>(in.raw()) + base * static_cast<int64_t>(es),
                static_cast<char *>(out->mutableRaw()), count, strides, es);
  }
  return setResult(results, std::move(*out));
}

//===----------------------------------------------------------------------===//
// Reshapes and permutations
//===----------------------------------------------------------------------===//

Error reshapeKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  bool allowZero = cast<spd::ReshapeOp>(op).getAllowzero();
  SmallVector<int64_t> shape = readInts(operands[1]);
  int64_t inferred = -1;
  bool hasZero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t &d = shape[i];
    if (d == 0 && !allowZero) {
      if (static_cast<int64_t>(i) >= in.rank())
        return opError(op,
                       "shape entry " + Twine(i) + " is 0 (copy) beyond input " + in.typeString());
      d = in.dim(i);
    } else if (d == -1) {
      if (inferred >= 0)
        return opError(op, "shape " + shapeString(shape) + " has more than one -1");
      inferred = i;
    } else if (d < 0) {
      return opError(op, "shape " + shapeString(shape) + " has a negative size");
    }
    hasZero |= d == 0;
  }
  if (allowZero && hasZero && inferred >= 0)
    return opError(op, "shape with allowzero has both 0 and -1");
  int64_t numel = in.numElements();
  SmallVector<int64_t, 6> known;
  for (size_t i = 0; i < shape.size(); ++i)
    if (static_cast<int64_t>(i) != inferred)
      known.push_back(shape[i]);
  std::optional<int64_t> knownCount = checkedProduct(known);
  if (inferred >= 0) {
    if (!knownCount || *knownCount == 0 || numel % *knownCount != 0)
      return opError(op, "cannot infer the -1 of shape " + shapeString(shape) + " for input " +
                             in.typeString());
    shape[inferred] = numel / *knownCount;
  } else if (!knownCount || *knownCount != numel) {
    return opError(op, "shape " + shapeString(shape) + " does not have the " + Twine(numel) +
                           " elements of input " + in.typeString());
  }
  auto out = copyWithShape(op, in, shape);
  if (!out)
    return out.takeError();
  return setResult(results, std::move(*out));
}

Error transposeKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  ArrayRef<int64_t> perm = cast<spd::TransposeOp>(op).getPerm();
  int64_t rank = in.rank();
  SmallVector<bool, 6> seen(rank, false);
  bool ok = static_cast<int64_t>(perm.size()) == rank;
  for (int64_t p : perm) {
    ok = ok && p >= 0 && p < rank && !seen[p];
    if (ok)
      seen[p] = true;
  }
  if (!ok)
    return opError(op, "perm is not a permutation for input " + in.typeString());
  SmallVector<int64_t, 6> inStrides = rowMajorStrides(in.shape()), shape, strides;
  for (int64_t p : perm) {
    shape.push_back(in.dim(p));
    strides.push_back(inStrides[p]);
  }
  auto out = allocateResult(op, in.dtype(), shape);
  if (!out)
    return out.takeError();
  stridedCopy(static_cast<const char *>(in.raw()), static_cast<char *>(out->mutableRaw()), shape,
              strides, dtypeSize(in.dtype()));
  return setResult(results, std::move(*out));
}

Error unsqueezeKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  ArrayRef<int64_t> axes = cast<spd::UnsqueezeOp>(op).getAxes();
  int64_t rank = in.rank() + static_cast<int64_t>(axes.size());
  SmallVector<bool, 6> inserted(rank, false);
  for (int64_t a : axes) {
    auto axis = normalizeAxis(op, a, rank);
    if (!axis)
      return axis.takeError();
    if (inserted[*axis])
      return opError(op, "axis " + Twine(*axis) + " appears twice");
    inserted[*axis] = true;
  }
  SmallVector<int64_t, 6> shape;
  for (int64_t i = 0, j = 0; i < rank; ++i)
    shape.push_back(inserted[i] ? 1 : in.dim(j++));
  auto out = copyWithShape(op, in, shape);
  if (!out)
    return out.takeError();
  return setResult(results, std::move(*out));
}

Error squeezeKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  ArrayRef<int64_t> axes = cast<spd::SqueezeOp>(op).getAxes();
  // The importer resolves ONNX's "no axes" form to an explicit list (the result is ranked), so
  // empty axes squeeze nothing, as the verifier has it.
  SmallVector<bool, 6> removed(in.rank(), false);
  for (int64_t a : axes) {
    auto axis = normalizeAxis(op, a, in.rank());
    if (!axis)
      return axis.takeError();
    if (in.dim(*axis) != 1)
      return opError(op,
                     "squeezed dimension " + Twine(*axis) + " of " + in.typeString() + " is not 1");
    removed[*axis] = true;
  }
  SmallVector<int64_t, 6> shape;
  for (int64_t d = 0; d < in.rank(); ++d)
    if (!removed[d])
      shape.push_back(in.dim(d));
  auto out = copyWithShape(op, in, shape);
  if (!out)
    return out.takeError();
  return setResult(results, std::move(*out));
}

Error flattenKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  int64_t axis = cast<spd::FlattenOp>(op).getAxis();
  if (axis < 0)
    axis += in.rank();
  if (axis < 0 || axis > in.rank())
    return opError(op, "axis " + Twine(axis) + " is out of range for " + in.typeString());
  int64_t shape[2] = {product(in.shape().take_front(axis)), product(in.shape().drop_front(axis))};
  auto out = copyWithShape(op, in, shape);
  if (!out)
    return out.takeError();
  return setResult(results, std::move(*out));
}

Error expandKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  SmallVector<int64_t> target = readInts(operands[1]);
  if (llvm::any_of(target, [](int64_t d) { return d < 0; }))
    return opError(op, "shape " + shapeString(target) + " has a negative size");
  auto shape = broadcastShapes(op, {in.shape(), target});
  if (!shape)
    return shape.takeError();
  auto out = allocateChecked(op, in.dtype(), *shape);
  if (!out)
    return out.takeError();
  stridedCopy(static_cast<const char *>(in.raw()), static_cast<char *>(out->mutableRaw()), *shape,
              broadcastStrides(in.shape(), *shape), dtypeSize(in.dtype()));
  return setResult(results, std::move(*out));
}

Error tileKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  SmallVector<int64_t> repeats = readInts(operands[1]);
  int64_t rank = in.rank();
  if (static_cast<int64_t>(repeats.size()) != rank)
    return opError(op, "repeats has " + Twine(repeats.size()) + " entries for input " +
                           in.typeString());
  SmallVector<int64_t, 6> shape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t n;
    if (repeats[d] < 0 || llvm::MulOverflow(in.dim(d), repeats[d], n))
      return opError(op, "invalid repeat " + Twine(repeats[d]));
    shape.push_back(n);
  }
  auto out = allocateChecked(op, in.dtype(), shape);
  if (!out)
    return out.takeError();
  size_t es = dtypeSize(in.dtype());
  const char *src = static_cast<const char *>(in.raw());
  char *dst = static_cast<char *>(out->mutableRaw());
  if (out->numElements() == 0)
    return setResult(results, std::move(*out));
  if (rank == 0) {
    std::memcpy(dst, src, es);
    return setResult(results, std::move(*out));
  }
  // Each output row is the matching input row (indices modulo the input's dims) repeated.
  SmallVector<int64_t, 6> inStrides = rowMajorStrides(in.shape());
  size_t rowBytes = in.dim(rank - 1) * es;
  int64_t rows = product(ArrayRef<int64_t>(shape).drop_back());
  SmallVector<int64_t, 6> idx(rank - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off = 0;
    for (int64_t d = 0; d < rank - 1; ++d)
      off += (idx[d] % in.dim(d)) * inStrides[d];
    for (int64_t k = 0; k < repeats[rank - 1]; ++k) {
      std::memcpy(dst, src + off * es, rowBytes);
      dst += rowBytes;
    }
    for (int64_t d = rank - 2; d >= 0; --d) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
  return setResult(results, std::move(*out));
}

//===----------------------------------------------------------------------===//
// Pad
//===----------------------------------------------------------------------===//

int64_t floorMod(int64_t a, int64_t m) {
  int64_t r = a % m;
  return r < 0 ? r + m : r;
}

Error padKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0], &value = operands[2];
  StringRef mode = cast<spd::PadOp>(op).getMode();
  SmallVector<int64_t> pads = readInts(operands[1]);
  int64_t rank = in.rank();
  if (static_cast<int64_t>(pads.size()) != 2 * rank)
    return opError(op, "pads has " + Twine(pads.size()) + " entries for input " + in.typeString());
  if (value.numElements() != 1 || value.dtype() != in.dtype())
    return opError(op, "value " + value.typeString() +
                           " must be one element of the input's "
                           "type " +
                           dtypeName(in.dtype()));
  enum class Mode { Constant, Reflect, Edge, Wrap } kind;
  if (mode == "constant")
    kind = Mode::Constant;
  else if (mode == "reflect")
    kind = Mode::Reflect;
  else if (mode == "edge")
    kind = Mode::Edge;
  else if (mode == "wrap")
    kind = Mode::Wrap;
  else
    return opError(op, "unknown mode \"" + mode + "\"");
  // Negative pads crop first; the other modes then pad the cropped tensor. Per dimension, the
  // input index of each output index, or -1 for the constant.
  SmallVector<int64_t, 6> shape;
  std::vector<std::vector<int64_t>> maps(rank);
  for (int64_t d = 0; d < rank; ++d) {
    int64_t before = pads[d], after = pads[d + rank], dim = in.dim(d);
    int64_t cropBefore = std::max<int64_t>(0, -before), cropAfter = std::max<int64_t>(0, -after);
    int64_t padBefore = std::max<int64_t>(0, before), padAfter = std::max<int64_t>(0, after);
    int64_t kept = dim - cropBefore - cropAfter, size;
    if (before == std::numeric_limits<int64_t>::min() ||
        after == std::numeric_limits<int64_t>::min() || kept < 0 ||
        llvm::AddOverflow(kept, padBefore, size) || llvm::AddOverflow(size, padAfter, size) ||
        static_cast<uint64_t>(size) > kMaxTensorBytes)
      return opError(op, "pads " + Twine(before) + ", " + Twine(after) +
                             " are invalid for dimension " + Twine(d) + " of " + in.typeString());
    if (kind != Mode::Constant && kept == 0 && size > 0)
      return opError(op, "cannot pad an empty dimension in " + mode + " mode");
    shape.push_back(size);
    std::vector<int64_t> &map = maps[d];
    map.resize(size);
    for (int64_t i = 0; i < size; ++i) {
      int64_t j = i - padBefore;
      if (j < 0 || j >= kept) {
        switch (kind) {
        case Mode::Constant:
          map[i] = -1;
          continue;
        case Mode::Edge:
          j = std::clamp<int64_t>(j, 0, kept - 1);
          break;
        case Mode::Reflect:
          if (kept == 1) {
            j = 0;
          } else {
            j = floorMod(j, 2 * (kept - 1));
            if (j >= kept)
              j = 2 * (kept - 1) - j;
          }
          break;
        case Mode::Wrap:
          j = floorMod(j, kept);
          break;
        }
      }
      map[i] = cropBefore + j;
    }
  }
  auto out = allocateChecked(op, in.dtype(), shape);
  if (!out)
    return out.takeError();
  size_t es = dtypeSize(in.dtype());
  const char *src = static_cast<const char *>(in.raw());
  const char *fill = static_cast<const char *>(value.raw());
  char *dst = static_cast<char *>(out->mutableRaw());
  if (out->numElements() == 0)
    return setResult(results, std::move(*out));
  if (rank == 0) {
    std::memcpy(dst, src, es);
    return setResult(results, std::move(*out));
  }
  SmallVector<int64_t, 6> inStrides = rowMajorStrides(in.shape());
  int64_t rows = product(ArrayRef<int64_t>(shape).drop_back());
  int64_t cols = shape.back();
  const std::vector<int64_t> &lastMap = maps.back();
  SmallVector<int64_t, 6> idx(rank - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off = 0;
    bool constantRow = false;
    for (int64_t d = 0; d < rank - 1; ++d) {
      int64_t m = maps[d][idx[d]];
      constantRow |= m < 0;
      off += m * inStrides[d];
    }
    for (int64_t c = 0; c < cols; ++c) {
      int64_t m = constantRow ? -1 : lastMap[c];
      std::memcpy(dst + c * es, m < 0 ? fill : src + (off + m) * es, es);
    }
    dst += cols * es;
    for (int64_t d = rank - 2; d >= 0; --d) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
  return setResult(results, std::move(*out));
}

//===----------------------------------------------------------------------===//
// Shape queries
//===----------------------------------------------------------------------===//

Error shapeKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto shapeOp = cast<spd::ShapeOp>(op);
  const Tensor &in = operands[0];
  int64_t rank = in.rank();
  auto clampDim = [rank](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  int64_t start = clampDim(shapeOp.getStart()), end = clampDim(shapeOp.getEnd());
  int64_t count = std::max<int64_t>(0, end - start);
  auto out = allocateResult(op, DType::I64, {count});
  if (!out)
    return out.takeError();
  std::copy_n(in.shape().begin() + start, count, out->mutableData<int64_t>());
  return setResult(results, std::move(*out));
}

Error sizeKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto out = allocateResult(op, DType::I64, {});
  if (!out)
    return out.takeError();
  out->mutableData<int64_t>()[0] = operands[0].numElements();
  return setResult(results, std::move(*out));
}

//===----------------------------------------------------------------------===//
// top_k and trilu
//===----------------------------------------------------------------------===//

Error topKKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto topK = cast<spd::TopKOp>(op);
  const Tensor &in = operands[0], &kTensor = operands[1];
  auto axis = normalizeAxis(op, topK.getAxis(), in.rank());
  if (!axis)
    return axis.takeError();
  if (kTensor.numElements() != 1)
    return opError(op, "k must hold one element, got " + kTensor.typeString());
  int64_t k = kTensor.getInt(0), dim = in.dim(*axis);
  if (k < 0 || k > dim)
    return opError(op, "k = " + Twine(k) + " is out of range for axis " + Twine(*axis) + " of " +
                           in.typeString());
  SmallVector<int64_t, 6> shape(in.shape());
  shape[*axis] = k;
  auto values = allocateResult(op, in.dtype(), shape);
  if (!values)
    return values.takeError();
  auto indices = allocateResult(op, DType::I64, shape);
  if (!indices)
    return indices.takeError();
  bool largest = topK.getLargest();
  int64_t outer = product(in.shape().take_front(*axis));
  int64_t inner = product(in.shape().drop_front(*axis + 1));
  if (Error e = dispatch<kAllTypes>(op, in.dtype(), [&](auto tag) -> Error {
        using S = decltype(tag);
        using C = ComputeT<S>;
        struct Item {
          C v;
          int64_t i;
        };
        // Strict weak order: the wanted end first, NaN counted as the largest value, and ties
        // broken by the lower index.
        auto before = [largest](const Item &x, const Item &y) {
          if (x.v != y.v) {
            if constexpr (std::is_floating_point_v<C>) {
              bool xn = std::isnan(x.v), yn = std::isnan(y.v);
              if (xn || yn)
                return xn == yn ? x.i < y.i : (largest ? xn : yn);
            }
            return largest ? x.v > y.v : x.v < y.v;
          }
          return x.i < y.i;
        };
        const S *src = in.data<S>();
        S *valDst = values->template mutableData<S>();
        int64_t *idxDst = indices->template mutableData<int64_t>();
        std::vector<Item> items(dim);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t n = 0; n < inner; ++n) {
            const S *line = src + o * dim * inner + n;
            for (int64_t i = 0; i < dim; ++i)
              items[i] = {load(line[i * inner]), i};
            std::partial_sort(items.begin(), items.begin() + k, items.end(), before);
            for (int64_t i = 0; i < k; ++i) {
              int64_t at = (o * k + i) * inner + n;
              valDst[at] = line[items[i].i * inner];
              idxDst[at] = items[i].i;
            }
          }
        return Error::success();
      }))
    return e;
  results.push_back(std::move(*values));
  results.push_back(std::move(*indices));
  return Error::success();
}

Error triluKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto trilu = cast<spd::TriluOp>(op);
  const Tensor &in = operands[0];
  if (in.rank() < 2)
    return opError(op, "input " + in.typeString() + " must have rank 2 or more");
  auto out = copyWithShape(op, in, in.shape());
  if (!out)
    return out.takeError();
  int64_t k = trilu.getK();
  bool upper = trilu.getUpper();
  int64_t rows = in.dim(in.rank() - 2), cols = in.dim(in.rank() - 1);
  int64_t batches = product(in.shape().drop_back(2));
  size_t es = dtypeSize(in.dtype());
  char *dst = static_cast<char *>(out->mutableRaw());
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        bool keep = upper ? j - i >= k : j - i <= k;
        if (!keep)
          std::memset(dst + ((b * rows + i) * cols + j) * es, 0, es);
      }
  return setResult(results, std::move(*out));
}

} // namespace

void spdc::registerMovementKernels(KernelTable &table) {
  table.add<spd::ConstantOfShapeOp>(constantOfShapeKernel);
  table.add<spd::RangeOp>(rangeKernel);
  table.add<spd::GatherOp>(gatherKernel);
  table.add<spd::GatherElementsOp>(gatherElementsKernel);
  table.add<spd::GatherNDOp>(gatherNDKernel);
  table.add<spd::ScatterNDOp>(scatterNDKernel);
  table.add<spd::ConcatOp>(concatKernel);
  table.add<spd::SplitOp>(splitKernel);
  table.add<spd::SliceOp>(sliceKernel);
  table.add<spd::ReshapeOp>(reshapeKernel);
  table.add<spd::TransposeOp>(transposeKernel);
  table.add<spd::UnsqueezeOp>(unsqueezeKernel);
  table.add<spd::SqueezeOp>(squeezeKernel);
  table.add<spd::FlattenOp>(flattenKernel);
  table.add<spd::ExpandOp>(expandKernel);
  table.add<spd::TileOp>(tileKernel);
  table.add<spd::PadOp>(padKernel);
  table.add<spd::ShapeOp>(shapeKernel);
  table.add<spd::SizeOp>(sizeKernel);
  table.add<spd::TopKOp>(topKKernel);
  table.add<spd::TriluOp>(triluKernel);
}
