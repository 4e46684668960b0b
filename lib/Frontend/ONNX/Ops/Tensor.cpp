//===- Tensor.cpp - ONNX data-movement converters -------------------------===//
//
// Gather, Concat, Split, Slice, Transpose, Expand, Tile, Pad, Trilu, Reshape, (Un)Squeeze and
// Flatten. Result types are as static as the import-time knowledge allows: shape-valued inputs
// are read with `partialInts`, and partial knowledge is passed on through the ops that models
// use for shape arithmetic (Gather, Concat, Slice, Reshape, Unsqueeze, Squeeze).
//
//===----------------------------------------------------------------------===//

#include "ConverterUtils.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace spdc;
using namespace spdc::onnx_import;
namespace spd = spdc::spd;

namespace {

//===----------------------------------------------------------------------===//
// Gathers and scatters
//===----------------------------------------------------------------------===//

LogicalResult convertGather(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  FailureOr<Value> indices = requiredInput(node, ctx, 1, "indices");
  if (failed(indices) || failed(checkIndexTensor(node, ctx, *indices, "indices")))
    return failure();
  RankedTensorType dataType = tensorType(*data), indicesType = tensorType(*indices);
  int64_t rawAxis = ImportContext::attrInt(node, "axis", 0);
  FailureOr<int64_t> axis = normalizeAxis(rawAxis, dataType.getRank());
  if (failed(axis))
    return ctx.error(node, "axis " + Twine(rawAxis) + " is out of range for data " +
                               formatType(dataType));

  int64_t dim = dataType.getDimSize(*axis);
  std::optional<SmallVector<int64_t>> constIndices = ctx.constantInts(*indices);
  if (constIndices && isKnown(dim)) {
    for (int64_t i : *constIndices)
      if (i < -dim || i >= dim)
        return ctx.error(node, "index " + Twine(i) + " is out of range for axis " + Twine(*axis) +
                                   " of size " + Twine(dim));
  }

  SmallVector<int64_t> shape(dataType.getShape().take_front(*axis));
  llvm::append_range(shape, indicesType.getShape());
  llvm::append_range(shape, dataType.getShape().drop_front(*axis + 1));
  auto type = RankedTensorType::get(shape, dataType.getElementType());
  Value result = ctx.create<spd::GatherOp>(ctx.loc(node), type, *data, *indices, *axis);

  // Picking entries of a shape vector: `Gather(Shape(x), [i])`.
  if (dataType.getRank() == 1 && indicesType.getRank() <= 1 && constIndices) {
    if (std::optional<SmallVector<int64_t>> known = ctx.partialInts(*data)) {
      int64_t n = known->size();
      SmallVector<int64_t> picked;
      for (int64_t i : *constIndices) {
        int64_t j = i < 0 ? i + n : i;
        if (j < 0 || j >= n)
          return ctx.error(node, "index " + Twine(i) + " is out of range for a vector of " +
                                     Twine(n) + " elements");
        picked.push_back((*known)[j]);
      }
      recordPartialInts(ctx, result, picked);
    }
  }
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertGatherElements(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  FailureOr<Value> indices = requiredInput(node, ctx, 1, "indices");
  if (failed(indices) || failed(checkIndexTensor(node, ctx, *indices, "indices")))
    return failure();
  RankedTensorType dataType = tensorType(*data), indicesType = tensorType(*indices);
  if (dataType.getRank() != indicesType.getRank())
    return ctx.error(node, "indices " + formatType(indicesType) + " must have the rank of data " +
                               formatType(dataType));
  int64_t rawAxis = ImportContext::attrInt(node, "axis", 0);
  FailureOr<int64_t> axis = normalizeAxis(rawAxis, dataType.getRank());
  if (failed(axis))
    return ctx.error(node, "axis " + Twine(rawAxis) + " is out of range for data " +
                               formatType(dataType));
  auto type = RankedTensorType::get(indicesType.getShape(), dataType.getElementType());
  Value result = ctx.create<spd::GatherElementsOp>(ctx.loc(node), type, *data, *indices, *axis);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertGatherND(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  FailureOr<Value> indices = requiredInput(node, ctx, 1, "indices");
  if (failed(indices) || failed(checkIndexTensor(node, ctx, *indices, "indices")))
    return failure();
  RankedTensorType dataType = tensorType(*data), indicesType = tensorType(*indices);
  int64_t batchDims = ImportContext::attrInt(node, "batch_dims", 0);
  int64_t r = dataType.getRank(), q = indicesType.getRank();
  if (q < 1)
    return ctx.error(node, "indices must have rank 1 or more, got " + formatType(indicesType));
  if (batchDims < 0 || batchDims >= std::min(r, q))
    return ctx.error(node, "batch_dims " + Twine(batchDims) +
                               " must be below the ranks of "
                               "data " +
                               formatType(dataType) + " and indices " + formatType(indicesType));
  int64_t tuple = indicesType.getDimSize(q - 1);
  if (!isKnown(tuple))
    return ctx.error(node, "the last dimension of indices " + formatType(indicesType) +
                               " must be static: it decides the result rank");
  if (tuple < 1 || tuple > r - batchDims)
    return ctx.error(node, "index tuples of length " + Twine(tuple) + " do not fit data " +
                               formatType(dataType) + " with batch_dims " + Twine(batchDims));
  SmallVector<int64_t> shape(indicesType.getShape().drop_back());
  llvm::append_range(shape, dataType.getShape().drop_front(batchDims + tuple));
  auto type = RankedTensorType::get(shape, dataType.getElementType());
  Value result = ctx.create<spd::GatherNDOp>(ctx.loc(node), type, *data, *indices, batchDims);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertScatterND(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  FailureOr<Value> indices = requiredInput(node, ctx, 1, "indices");
  if (failed(indices) || failed(checkIndexTensor(node, ctx, *indices, "indices")))
    return failure();
  FailureOr<Value> updates = requiredInput(node, ctx, 2, "updates");
  if (failed(updates))
    return failure();
  std::string reduction = ImportContext::attrString(node, "reduction", "none");
  if (reduction != "none" && reduction != "add" && reduction != "mul" && reduction != "max" &&
      reduction != "min")
    return ctx.error(node, "unsupported reduction '" + reduction +
                               "' (expected none, add, mul, max or min)");
  if (tensorType(*updates).getElementType() != tensorType(*data).getElementType())
    return ctx.error(node, "updates " + formatType(updates->getType()) +
                               " must have the element type of data " +
                               formatType(data->getType()));
  Value result = ctx.create<spd::ScatterNDOp>(ctx.loc(node), data->getType(), *data, *indices,
                                              *updates, reduction);
  ctx.setOutput(node, 0, result);
  return success();
}

//===----------------------------------------------------------------------===//
// Concat and Split
//===----------------------------------------------------------------------===//

LogicalResult convertConcat(const onnx::NodeProto &node, ImportContext &ctx) {
  SmallVector<Value> inputs;
  for (int i = 0; i < node.input_size(); ++i)
    if (Value v = ctx.input(node, i))
      inputs.push_back(v);
  if (inputs.empty())
    return ctx.error(node, "needs at least one input");
  // Before opset 4 the axis defaults to 1; from then on it is required.
  if (!ImportContext::attr(node, "axis") && ctx.opset() >= 4)
    return ctx.error(node, "missing required attribute 'axis'");
  RankedTensorType first = tensorType(inputs.front());
  int64_t rank = first.getRank();
  int64_t rawAxis = ImportContext::attrInt(node, "axis", 1);
  FailureOr<int64_t> axis = normalizeAxis(rawAxis, rank);
  if (failed(axis))
    return ctx.error(node, "axis " + Twine(rawAxis) + " is out of range for rank " + Twine(rank));

  SmallVector<int64_t> shape(rank, kUnknown);
  shape[*axis] = 0;
  for (auto [i, v] : llvm::enumerate(inputs)) {
    RankedTensorType t = tensorType(v);
    if (t.getRank() != rank || t.getElementType() != first.getElementType())
      return ctx.error(node, "input " + Twine(i) + " " + formatType(t) +
                                 " does not match input 0 " + formatType(first) +
                                 " in rank or element type");
    for (int64_t d = 0; d < rank; ++d) {
      int64_t size = t.getDimSize(d);
      if (d == *axis) {
        shape[d] = (isKnown(shape[d]) && isKnown(size)) ? shape[d] + size : kUnknown;
        continue;
      }
      if (!isKnown(size))
        continue;
      if (isKnown(shape[d]) && shape[d] != size)
        return ctx.error(node, "input " + Twine(i) + " " + formatType(t) + " has size " +
                                   Twine(size) + " in dimension " + Twine(d) +
                                   ", an earlier input has " + Twine(shape[d]));
      shape[d] = size;
    }
  }
  auto type = RankedTensorType::get(shape, first.getElementType());
  Value result = ctx.create<spd::ConcatOp>(ctx.loc(node), type, inputs, *axis);

  // Building a shape vector from pieces: `Concat(Unsqueeze(d0), [12, 64])`.
  if (rank == 1) {
    SmallVector<int64_t> known;
    bool anything = false;
    for (Value v : inputs) {
      if (std::optional<SmallVector<int64_t>> part = ctx.partialInts(v)) {
        llvm::append_range(known, *part);
        anything = true;
      } else if (tensorType(v).hasStaticShape()) {
        known.append(tensorType(v).getDimSize(0), kUnknown);
      } else {
        anything = false;
        break;
      }
    }
    if (anything)
      recordPartialInts(ctx, result, known);
  }
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertSplit(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> input = requiredInput(node, ctx, 0, "input");
  if (failed(input))
    return failure();
  RankedTensorType type = tensorType(*input);
  int64_t rawAxis = ImportContext::attrInt(node, "axis", 0);
  FailureOr<int64_t> axis = normalizeAxis(rawAxis, type.getRank());
  if (failed(axis))
    return ctx.error(node,
                     "axis " + Twine(rawAxis) + " is out of range for input " + formatType(type));
  int64_t dim = type.getDimSize(*axis);
  int64_t numOutputs = node.output_size();

  FailureOr<std::optional<SmallVector<int64_t>>> given = attrOrConstantInput(node, ctx, 1, "split");
  if (failed(given))
    return failure();
  SmallVector<int64_t> sizes;
  if (*given && !(*given)->empty()) {
    sizes = **given;
    if (static_cast<int64_t>(sizes.size()) != numOutputs)
      return ctx.error(node, "split " + formatInts(sizes) + " has " + Twine(sizes.size()) +
                                 " entries for " + Twine(numOutputs) + " outputs");
    int64_t total = 0;
    for (int64_t s : sizes) {
      if (s < 0)
        return ctx.error(node, "split " + formatInts(sizes) + " has a negative size");
      total += s;
    }
    if (isKnown(dim) && total != dim)
      return ctx.error(node, "split " + formatInts(sizes) + " adds up to " + Twine(total) +
                                 ", but axis " + Twine(*axis) + " has size " + Twine(dim));
  } else {
    const onnx::AttributeProto *numAttr = ImportContext::attr(node, "num_outputs");
    int64_t parts = numAttr ? ImportContext::attrInt(node, "num_outputs", 0) : numOutputs;
    if (parts < 1 || parts != numOutputs)
      return ctx.error(node, "num_outputs " + Twine(parts) + " must be positive and equal the " +
                                 Twine(numOutputs) + " outputs of the node");
    if (!isKnown(dim))
      return ctx.error(node, "splitting the dynamic axis " + Twine(*axis) + " of " +
                                 formatType(type) + " needs explicit split sizes");
    int64_t chunk = (dim + parts - 1) / parts;
    if (dim % parts == 0) {
      sizes.assign(parts, dim / parts);
    } else if (numAttr && dim - chunk * (parts - 1) >= 0) {
      // Opset 18: when the axis does not divide evenly, the last chunk is smaller.
      sizes.assign(parts - 1, chunk);
      sizes.push_back(dim - chunk * (parts - 1));
    } else {
      return ctx.error(node, "axis " + Twine(*axis) + " of size " + Twine(dim) +
                                 " cannot be split into " + Twine(parts) + " parts");
    }
  }

  SmallVector<Type> types;
  for (int64_t s : sizes) {
    SmallVector<int64_t> shape(type.getShape());
    shape[*axis] = s;
    types.push_back(RankedTensorType::get(shape, type.getElementType()));
  }
  auto op = spd::SplitOp::create(ctx.builder(), ctx.loc(node), types, *input, *axis, sizes);
  SmallVector<Value> results = ctx.fold(op.getOperation());
  for (auto [i, r] : llvm::enumerate(results))
    if (ctx.hasOutput(node, i))
      ctx.setOutput(node, i, r);
  return success();
}

//===----------------------------------------------------------------------===//
// Slice
//===----------------------------------------------------------------------===//

/// ONNX Slice along one dimension of size `dim`: the first index taken and the count.
std::pair<int64_t, int64_t> sliceRange(int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (dim == 0)
    return {0, 0};
  if (start < 0)
    start += dim;
  if (end < 0)
    end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    return {start, end > start ? (end - start - 1) / step + 1 : 0};
  }
  start = std::clamp<int64_t>(start, 0, dim - 1);
  end = std::clamp<int64_t>(end, -1, dim - 1);
  // -INT64_MIN overflows; any magnitude above `dim` takes one element.
  int64_t magnitude = step == std::numeric_limits<int64_t>::min() ? dim : -step;
  return {start, start > end ? (start - end - 1) / magnitude + 1 : 0};
}

/// Starts, ends or steps as far as known. INT64_MIN, a common "to the front" end, is also
/// kUnknown; a constant holding it is read as INT64_MIN + 1, which slices the same.
FailureOr<SmallVector<int64_t>> sliceBounds(const onnx::NodeProto &node, ImportContext &ctx,
                                            Value v, StringRef what) {
  if (tensorType(v).getRank() == 1)
    if (std::optional<SmallVector<int64_t>> exact = ctx.constantInts(v)) {
      for (int64_t &x : *exact)
        x = std::max(x, std::numeric_limits<int64_t>::min() + 1);
      return *exact;
    }
  return knownVector(node, ctx, v, what);
}

LogicalResult convertSlice(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  RankedTensorType type = tensorType(*data);
  int64_t rank = type.getRank();
  Location loc = ctx.loc(node);

  Value starts, ends, axes, steps;
  if (ImportContext::attr(node, "starts")) {
    // Before opset 10: starts, ends and axes are attributes; steps are 1.
    std::optional<SmallVector<int64_t>> s = ImportContext::attrInts(node, "starts");
    std::optional<SmallVector<int64_t>> e = ImportContext::attrInts(node, "ends");
    if (!s || !e)
      return ctx.error(node, "needs both 'starts' and 'ends' attributes");
    starts = ctx.constI64(loc, *s);
    ends = ctx.constI64(loc, *e);
    if (std::optional<SmallVector<int64_t>> a = ImportContext::attrInts(node, "axes"))
      axes = ctx.constI64(loc, *a);
  } else {
    FailureOr<Value> s = requiredInput(node, ctx, 1, "starts");
    if (failed(s))
      return failure();
    FailureOr<Value> e = requiredInput(node, ctx, 2, "ends");
    if (failed(e))
      return failure();
    starts = *s;
    ends = *e;
    axes = ctx.input(node, 3);
    steps = ctx.input(node, 4);
  }
  for (auto [v, what] :
       {std::pair{starts, "starts"}, {ends, "ends"}, {axes, "axes"}, {steps, "steps"}})
    if (v && failed(checkIndexTensor(node, ctx, v, what)))
      return failure();

  FailureOr<SmallVector<int64_t>> startsK = sliceBounds(node, ctx, starts, "starts");
  if (failed(startsK))
    return failure();
  FailureOr<SmallVector<int64_t>> endsK = sliceBounds(node, ctx, ends, "ends");
  if (failed(endsK))
    return failure();
  int64_t n = startsK->size();
  if (static_cast<int64_t>(endsK->size()) != n)
    return ctx.error(node, "starts " + formatInts(*startsK) + " and ends " + formatInts(*endsK) +
                               " differ in length");

  // Absent axes are 0..n-1 and absent steps are 1, as constants so spd.slice sees all four.
  std::optional<SmallVector<int64_t>> axesK;
  if (axes)
    axesK = ctx.constantInts(axes);
  else
    axesK = llvm::to_vector(llvm::seq<int64_t>(0, n));
  SmallVector<int64_t> stepsK(n, 1);
  if (steps) {
    FailureOr<SmallVector<int64_t>> s = sliceBounds(node, ctx, steps, "steps");
    if (failed(s))
      return failure();
    stepsK = std::move(*s);
  }
  if (static_cast<int64_t>(stepsK.size()) != n)
    return ctx.error(node, "steps " + formatInts(stepsK) + " and starts " + formatInts(*startsK) +
                               " differ in length");
  if (llvm::is_contained(stepsK, 0))
    return ctx.error(node, "steps " + formatInts(stepsK) + " contain 0");

  SmallVector<int64_t> shape(type.getShape());
  if (axesK) {
    if (static_cast<int64_t>(axesK->size()) != n)
      return ctx.error(node, "axes " + formatInts(*axesK) + " and starts " + formatInts(*startsK) +
                                 " differ in length");
    FailureOr<SmallVector<int64_t>> normalized =
        normalizeAxes(node, ctx, *axesK, rank, /*sort=*/false);
    if (failed(normalized))
      return failure();
    if (!axes || *normalized != *axesK)
      axes = ctx.constI64(loc, *normalized);
    axesK = std::move(*normalized);
    for (int64_t i = 0; i < n; ++i) {
      int64_t a = (*axesK)[i], dim = shape[a];
      int64_t s = (*startsK)[i], e = (*endsK)[i], k = stepsK[i];
      shape[a] = (isKnown(dim) && isKnown(s) && isKnown(e) && isKnown(k))
                     ? sliceRange(dim, s, e, k).second
                     : kUnknown;
    }
  } else {
    // Axes computed at run time: any dimension may be sliced.
    shape.assign(rank, kUnknown);
  }
  if (!steps)
    steps = ctx.constI64(loc, stepsK);

  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value result = ctx.create<spd::SliceOp>(loc, resultType, *data, starts, ends, axes, steps);

  // Slicing a shape vector: `Slice(Shape(x), [0], [2])`.
  if (rank == 1 && n == 1 && axesK) {
    std::optional<SmallVector<int64_t>> known = ctx.partialInts(*data);
    int64_t s = (*startsK)[0], e = (*endsK)[0], k = stepsK[0];
    if (known && isKnown(s) && isKnown(e) && isKnown(k)) {
      auto [first, count] = sliceRange(known->size(), s, e, k);
      SmallVector<int64_t> picked;
      for (int64_t i = 0; i < count; ++i)
        picked.push_back((*known)[first + i * k]);
      recordPartialInts(ctx, result, picked);
    }
  }
  ctx.setOutput(node, 0, result);
  return success();
}

//===----------------------------------------------------------------------===//
// Transpose, Expand, Tile, Pad, Trilu
//===----------------------------------------------------------------------===//

LogicalResult convertTranspose(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  RankedTensorType type = tensorType(*data);
  int64_t rank = type.getRank();
  SmallVector<int64_t> perm;
  if (std::optional<SmallVector<int64_t>> given = ImportContext::attrInts(node, "perm")) {
    if (static_cast<int64_t>(given->size()) != rank)
      return ctx.error(node, "perm " + formatInts(*given) + " has " + Twine(given->size()) +
                                 " entries for input " + formatType(type));
    FailureOr<SmallVector<int64_t>> normalized =
        normalizeAxes(node, ctx, *given, rank, /*sort=*/false, "perm");
    if (failed(normalized))
      return failure();
    perm = std::move(*normalized);
  } else {
    perm = llvm::to_vector(llvm::reverse(llvm::seq<int64_t>(0, rank)));
  }
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(type.getDimSize(p));
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value result = ctx.create<spd::TransposeOp>(ctx.loc(node), resultType, *data, perm);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertExpand(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> input = requiredInput(node, ctx, 0, "input");
  if (failed(input))
    return failure();
  FailureOr<Value> shapeValue = requiredInput(node, ctx, 1, "shape");
  if (failed(shapeValue) || failed(checkIndexTensor(node, ctx, *shapeValue, "shape")))
    return failure();
  FailureOr<SmallVector<int64_t>> target = knownVector(node, ctx, *shapeValue, "shape");
  if (failed(target))
    return failure();
  for (int64_t d : *target)
    if (isKnown(d) && d < 0)
      return ctx.error(node, "shape " + formatInts(*target) + " has a negative entry");
  RankedTensorType type = tensorType(*input);
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(type.getShape(), *target);
  if (failed(shape))
    return ctx.error(node, "input " + formatType(type) + " cannot be broadcast to shape " +
                               formatInts(*target));
  auto resultType = RankedTensorType::get(*shape, type.getElementType());
  Value result = ctx.create<spd::ExpandOp>(ctx.loc(node), resultType, *input, *shapeValue);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertTile(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> input = requiredInput(node, ctx, 0, "input");
  if (failed(input))
    return failure();
  if (ctx.input(node, 2))
    return ctx.error(node, "Tile with (tiles, axis) inputs, from before opset 6, is not "
                           "supported");
  FailureOr<Value> repeats = requiredInput(node, ctx, 1, "repeats");
  if (failed(repeats) || failed(checkIndexTensor(node, ctx, *repeats, "repeats")))
    return failure();
  RankedTensorType type = tensorType(*input);
  FailureOr<SmallVector<int64_t>> known = knownVector(node, ctx, *repeats, "repeats");
  if (failed(known))
    return failure();
  if (static_cast<int64_t>(known->size()) != type.getRank())
    return ctx.error(node, "repeats " + formatInts(*known) +
                               " must have one entry per "
                               "dimension of input " +
                               formatType(type));
  SmallVector<int64_t> shape;
  for (auto [d, r] : llvm::zip(type.getShape(), *known)) {
    if (isKnown(r) && r < 0)
      return ctx.error(node, "repeats " + formatInts(*known) + " has a negative entry");
    shape.push_back(isKnown(d) && isKnown(r) ? d * r : (r == 0 ? 0 : kUnknown));
  }
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value result = ctx.create<spd::TileOp>(ctx.loc(node), resultType, *input, *repeats);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertPad(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  RankedTensorType type = tensorType(*data);
  int64_t rank = type.getRank();
  Type elementType = type.getElementType();
  Location loc = ctx.loc(node);

  std::string mode = ImportContext::attrString(node, "mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return ctx.error(node,
                     "unsupported mode '" + mode + "' (expected constant, reflect, edge or wrap)");

  Value pads, value;
  std::optional<SmallVector<int64_t>> padsK;
  if (!ctx.input(node, 1)) {
    // Before opset 11: pads (`paddings` in opset 1) and value are attributes.
    padsK = ImportContext::attrInts(node, "pads");
    if (!padsK)
      padsK = ImportContext::attrInts(node, "paddings");
    if (!padsK)
      return ctx.error(node, "missing pads (input 1, or attribute 'pads' before opset 11)");
    pads = ctx.constI64(loc, *padsK);
    value = ctx.constScalar(loc, elementType, ImportContext::attrFloat(node, "value", 0.0f));
  } else {
    pads = ctx.input(node, 1);
    if (failed(checkIndexTensor(node, ctx, pads, "pads")))
      return failure();
    value = ctx.input(node, 2);
    if (Value axes = ctx.input(node, 3)) {
      // Opset 18: pads cover only `axes`; spd.pad takes them for every dimension.
      std::optional<SmallVector<int64_t>> axesK = ctx.constantInts(axes);
      if (!axesK)
        return ctx.error(node, "axes must be a constant known at import");
      std::optional<SmallVector<int64_t>> partial = ctx.constantInts(pads);
      if (!partial)
        return ctx.error(node, "pads must be a constant known at import when axes are given");
      FailureOr<SmallVector<int64_t>> normalized =
          normalizeAxes(node, ctx, *axesK, rank, /*sort=*/false);
      if (failed(normalized))
        return failure();
      int64_t n = normalized->size();
      if (static_cast<int64_t>(partial->size()) != 2 * n)
        return ctx.error(node, "pads " + formatInts(*partial) + " must have " + Twine(2 * n) +
                                   " entries for axes " + formatInts(*axesK));
      SmallVector<int64_t> full(2 * rank, 0);
      for (auto [i, a] : llvm::enumerate(*normalized)) {
        full[a] = (*partial)[i];
        full[rank + a] = (*partial)[n + i];
      }
      pads = ctx.constI64(loc, full);
      padsK = std::move(full);
    } else {
      padsK = ctx.partialInts(pads);
    }
  }
  if (tensorType(pads).getRank() != 1)
    return ctx.error(node, "pads must be a 1-D tensor, got " + formatType(pads.getType()));
  int64_t padsLength = padsK ? static_cast<int64_t>(padsK->size()) : tensorType(pads).getDimSize(0);
  if (isKnown(padsLength) && padsLength != 2 * rank)
    return ctx.error(node, "pads has " + Twine(padsLength) + " entries, input " + formatType(type) +
                               " needs " + Twine(2 * rank));
  if (!value) {
    value = ctx.constScalar(loc, elementType, 0.0);
  } else {
    RankedTensorType valueType = tensorType(value);
    if (valueType.getElementType() != elementType ||
        (valueType.hasStaticShape() && valueType.getNumElements() != 1))
      return ctx.error(node, "constant_value " + formatType(valueType) +
                                 " must be one element of the input's type " +
                                 formatType(elementType));
  }

  SmallVector<int64_t> shape(type.getShape());
  for (int64_t i = 0; i < rank; ++i) {
    int64_t before = padsK ? (*padsK)[i] : kUnknown;
    int64_t after = padsK ? (*padsK)[rank + i] : kUnknown;
    if (!isKnown(shape[i]) || !isKnown(before) || !isKnown(after)) {
      shape[i] = kUnknown;
      continue;
    }
    shape[i] += before + after;
    if (shape[i] < 0)
      return ctx.error(node, "pads " + formatInts(*padsK) + " crop dimension " + Twine(i) +
                                 " of input " + formatType(type) + " below zero");
  }
  auto resultType = RankedTensorType::get(shape, elementType);
  Value result = ctx.create<spd::PadOp>(loc, resultType, *data, pads, value, mode);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertTrilu(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> input = requiredInput(node, ctx, 0, "input");
  if (failed(input))
    return failure();
  RankedTensorType type = tensorType(*input);
  if (type.getRank() < 2)
    return ctx.error(node, "input " + formatType(type) + " must have rank 2 or more");
  int64_t k = 0;
  if (Value kValue = ctx.input(node, 1)) {
    std::optional<SmallVector<int64_t>> known = ctx.constantInts(kValue);
    if (!known)
      return ctx.error(node, "k must be a constant known at import");
    if (known->size() != 1)
      return ctx.error(node, "k must hold one element, got " + formatInts(*known));
    k = known->front();
  }
  bool upper = ImportContext::attrInt(node, "upper", 1) != 0;
  Value result = ctx.create<spd::TriluOp>(ctx.loc(node), type, *input, k, upper);
  ctx.setOutput(node, 0, result);
  return success();
}

//===----------------------------------------------------------------------===//
// Reshape, Unsqueeze, Squeeze, Flatten
//===----------------------------------------------------------------------===//

LogicalResult convertReshape(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  RankedTensorType type = tensorType(*data);
  ArrayRef<int64_t> in = type.getShape();
  Location loc = ctx.loc(node);

  Value shapeValue = ctx.input(node, 1);
  if (!shapeValue) {
    // Before opset 5 the shape is an attribute.
    std::optional<SmallVector<int64_t>> attrShape = ImportContext::attrInts(node, "shape");
    if (!attrShape)
      return ctx.error(node, "missing shape (input 1, or attribute 'shape' before opset 5)");
    shapeValue = ctx.constI64(loc, *attrShape);
  }
  if (failed(checkIndexTensor(node, ctx, shapeValue, "shape")))
    return failure();
  FailureOr<SmallVector<int64_t>> target = knownVector(node, ctx, shapeValue, "shape");
  if (failed(target))
    return failure();
  bool allowZero = ImportContext::attrInt(node, "allowzero", 0) != 0;

  // Resolve 0 (copy) and -1 (infer). Input dims copied by 0 cancel against themselves, so a
  // -1 can still be inferred when only copied dims are dynamic: [?, 12, 64] → [0, -1].
  SmallVector<int64_t> shape;
  SmallVector<bool> cancelled(in.size(), false);
  int64_t inferAt = -1;
  for (auto [i, s] : llvm::enumerate(*target)) {
    if (!isKnown(s)) {
      shape.push_back(kUnknown);
    } else if (s == 0 && !allowZero) {
      if (static_cast<int64_t>(i) >= type.getRank())
        return ctx.error(node, "shape " + formatInts(*target) + " copies dimension " + Twine(i) +
                                   " with 0, but input " + formatType(type) + " has rank " +
                                   Twine(type.getRank()));
      shape.push_back(in[i]);
      cancelled[i] = true;
    } else if (s == -1) {
      if (inferAt >= 0)
        return ctx.error(node, "shape " + formatInts(*target) + " has more than one -1");
      inferAt = i;
      shape.push_back(kUnknown);
    } else if (s < 0) {
      return ctx.error(node, "shape " + formatInts(*target) + " has the invalid entry " + Twine(s));
    } else {
      shape.push_back(s);
    }
  }
  if (allowZero && inferAt >= 0 && llvm::is_contained(*target, 0))
    return ctx.error(node, "shape " + formatInts(*target) +
                               " has both 0 and -1, which allowzero forbids");

  // Elements not accounted for by cancelled dims, on each side.
  SmallVector<int64_t> restIn, restOut;
  for (auto [i, d] : llvm::enumerate(in))
    if (!cancelled[i])
      restIn.push_back(d);
  for (auto [i, d] : llvm::enumerate(shape))
    if (!(i < cancelled.size() && cancelled[i]))
      restOut.push_back(d);
  int64_t total = productOrUnknown(restIn);
  int64_t unknownCount = llvm::count(restOut, kUnknown);
  if (isKnown(total) && unknownCount == 1) {
    int64_t known = 1;
    for (int64_t d : restOut)
      if (isKnown(d))
        known *= d;
    if (known != 0) {
      if (total % known != 0)
        return ctx.error(node, "input " + formatType(type) + " cannot be reshaped to " +
                                   formatInts(*target) + ": its elements do not divide evenly");
      for (auto [i, d] : llvm::enumerate(shape))
        if (!isKnown(d) && !(i < cancelled.size() && cancelled[i])) {
          d = total / known;
          break;
        }
    }
  } else if (isKnown(total) && unknownCount == 0 && productOrUnknown(restOut) != total) {
    return ctx.error(node, "input " + formatType(type) + " cannot be reshaped to " +
                               formatInts(*target) + ": the number of elements differs");
  }

  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value result = ctx.create<spd::ReshapeOp>(loc, resultType, *data, shapeValue, allowZero);
  if (type.getRank() <= 1 && resultType.getRank() <= 1)
    if (std::optional<SmallVector<int64_t>> known = ctx.partialInts(*data))
      recordPartialInts(ctx, result, *known);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertUnsqueeze(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  RankedTensorType type = tensorType(*data);
  FailureOr<std::optional<SmallVector<int64_t>>> given = attrOrConstantInput(node, ctx, 1, "axes");
  if (failed(given))
    return failure();
  if (!*given)
    return ctx.error(node, "missing axes (input 1 from opset 13, attribute 'axes' before)");
  int64_t rank = type.getRank() + (*given)->size();
  FailureOr<SmallVector<int64_t>> axes = normalizeAxes(node, ctx, **given, rank);
  if (failed(axes))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t i = 0, j = 0; i < rank; ++i)
    shape.push_back(llvm::is_contained(*axes, i) ? 1 : type.getDimSize(j++));
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value result = ctx.create<spd::UnsqueezeOp>(ctx.loc(node), resultType, *data, *axes);
  if (type.getRank() == 0 && rank == 1)
    if (std::optional<SmallVector<int64_t>> known = ctx.partialInts(*data))
      recordPartialInts(ctx, result, *known);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertSqueeze(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  RankedTensorType type = tensorType(*data);
  FailureOr<std::optional<SmallVector<int64_t>>> given = attrOrConstantInput(node, ctx, 1, "axes");
  if (failed(given))
    return failure();
  SmallVector<int64_t> axes;
  if (*given && !(*given)->empty()) {
    FailureOr<SmallVector<int64_t>> normalized = normalizeAxes(node, ctx, **given, type.getRank());
    if (failed(normalized))
      return failure();
    axes = std::move(*normalized);
    for (int64_t a : axes)
      if (isKnown(type.getDimSize(a)) && type.getDimSize(a) != 1)
        return ctx.error(node, "cannot squeeze axis " + Twine(a) + " of input " + formatType(type) +
                                   ": its size is not 1");
  } else {
    // No axes: every dimension of size 1. Dynamic ones stay, since their size is unknown.
    for (int64_t i = 0; i < type.getRank(); ++i)
      if (type.getDimSize(i) == 1)
        axes.push_back(i);
  }
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!llvm::is_contained(axes, i))
      shape.push_back(type.getDimSize(i));
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value result = ctx.create<spd::SqueezeOp>(ctx.loc(node), resultType, *data, axes);
  if (type.getRank() == 1 && shape.empty())
    if (std::optional<SmallVector<int64_t>> known = ctx.partialInts(*data))
      recordPartialInts(ctx, result, *known);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertFlatten(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> input = requiredInput(node, ctx, 0, "input");
  if (failed(input))
    return failure();
  RankedTensorType type = tensorType(*input);
  int64_t rank = type.getRank();
  int64_t rawAxis = ImportContext::attrInt(node, "axis", 1);
  int64_t axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
  if (axis < 0 || axis > rank)
    return ctx.error(node, "axis " + Twine(rawAxis) + " is out of range [" + Twine(-rank) + ", " +
                               Twine(rank) + "] for input " + formatType(type));
  SmallVector<int64_t> shape = {productOrUnknown(type.getShape().take_front(axis)),
                                productOrUnknown(type.getShape().drop_front(axis))};
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value result = ctx.create<spd::FlattenOp>(ctx.loc(node), resultType, *input, axis);
  ctx.setOutput(node, 0, result);
  return success();
}

} // namespace

void spdc::onnx_import::registerTensorConverters(ConverterTable &table) {
  table.add("Gather", convertGather);
  table.add("GatherElements", convertGatherElements);
  table.add("GatherND", convertGatherND);
  table.add("ScatterND", convertScatterND);
  table.add("Concat", convertConcat);
  table.add("Split", convertSplit);
  table.add("Slice", convertSlice);
  table.add("Transpose", convertTranspose);
  table.add("Expand", convertExpand);
  table.add("Tile", convertTile);
  table.add("Pad", convertPad);
  table.add("Trilu", convertTrilu);
  table.add("Reshape", convertReshape);
  table.add("Unsqueeze", convertUnsqueeze);
  table.add("Squeeze", convertSqueeze);
  table.add("Flatten", convertFlatten);
}
