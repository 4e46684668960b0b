//===- Reduction.cpp - ONNX reductions, arg-reductions, CumSum, TopK ------===//
//
// Reduce* resolve ONNX's axes conventions (attribute or input, empty meaning all axes or none)
// to the explicit sorted list the spd reduce ops take.
//
//===----------------------------------------------------------------------===//

#include "ConverterUtils.h"

using namespace mlir;
using namespace spdc;
using namespace spdc::onnx_import;
namespace spd = spdc::spd;

namespace {

/// Opset from which Reduce<Kind> takes `axes` as an input and has `noop_with_empty_axes`.
/// ReduceSum moved at 13, the others at 18.
template <typename OpT> constexpr int64_t axesInputOpset() {
  return std::is_same_v<OpT, spd::ReduceSumOp> ? 13 : 18;
}

/// Reductions that are the identity over no axes; the others still apply their elementwise
/// part (square, abs, log, ...) when `noop_with_empty_axes` leaves nothing to reduce.
template <typename OpT> constexpr bool isIdentityOverNoAxes() {
  return std::is_same_v<OpT, spd::ReduceSumOp> || std::is_same_v<OpT, spd::ReduceMeanOp> ||
         std::is_same_v<OpT, spd::ReduceMaxOp> || std::is_same_v<OpT, spd::ReduceMinOp> ||
         std::is_same_v<OpT, spd::ReduceProdOp> || std::is_same_v<OpT, spd::ReduceLogSumExpOp>;
}

template <typename OpT>
LogicalResult convertReduce(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  RankedTensorType type = tensorType(*data);
  int64_t rank = type.getRank();

  FailureOr<std::optional<SmallVector<int64_t>>> given = attrOrConstantInput(node, ctx, 1, "axes");
  if (failed(given))
    return failure();
  bool keepdims = ImportContext::attrInt(node, "keepdims", 1) != 0;
  // Before the attribute existed, empty axes always meant "all axes".
  bool noopWithEmptyAxes = ctx.opset() >= axesInputOpset<OpT>() &&
                           ImportContext::attrInt(node, "noop_with_empty_axes", 0) != 0;

  SmallVector<int64_t> axes;
  if (*given && !(*given)->empty()) {
    FailureOr<SmallVector<int64_t>> normalized = normalizeAxes(node, ctx, **given, rank);
    if (failed(normalized))
      return failure();
    axes = std::move(*normalized);
  } else if (noopWithEmptyAxes) {
    if constexpr (isIdentityOverNoAxes<OpT>()) {
      ctx.setOutput(node, 0, *data);
      return success();
    }
    // Reduce over nothing: the op still applies its elementwise part.
  } else {
    axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  }

  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < rank; ++i) {
    if (!llvm::is_contained(axes, i))
      shape.push_back(type.getDimSize(i));
    else if (keepdims)
      shape.push_back(1);
  }
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value result = ctx.create<OpT>(ctx.loc(node), resultType, *data, axes, keepdims);
  ctx.setOutput(node, 0, result);
  return success();
}

template <typename OpT>
LogicalResult convertArgReduce(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> data = requiredInput(node, ctx, 0, "data");
  if (failed(data))
    return failure();
  RankedTensorType type = tensorType(*data);
  int64_t rawAxis = ImportContext::attrInt(node, "axis", 0);
  FailureOr<int64_t> axis = normalizeAxis(rawAxis, type.getRank());
  if (failed(axis))
    return ctx.error(node,
                     "axis " + Twine(rawAxis) + " is out of range for input " + formatType(type));
  bool keepdims = ImportContext::attrInt(node, "keepdims", 1) != 0;
  bool selectLast = ImportContext::attrInt(node, "select_last_index", 0) != 0;

  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < type.getRank(); ++i) {
    if (i != *axis)
      shape.push_back(type.getDimSize(i));
    else if (keepdims)
      shape.push_back(1);
  }
  auto resultType = RankedTensorType::get(shape, ctx.builder().getI64Type());
  Value result = ctx.create<OpT>(ctx.loc(node), resultType, *data, *axis, keepdims, selectLast);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertCumSum(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = requiredInput(node, ctx, 0, "x");
  if (failed(x))
    return failure();
  FailureOr<Value> axisValue = requiredInput(node, ctx, 1, "axis");
  if (failed(axisValue))
    return failure();
  RankedTensorType type = tensorType(*x);
  std::optional<SmallVector<int64_t>> axisInts = ctx.constantInts(*axisValue);
  if (!axisInts)
    return ctx.error(node, "axis must be a constant known at import, but it is computed at "
                           "run time");
  if (axisInts->size() != 1)
    return ctx.error(node, "axis must hold one element, got " + formatInts(*axisInts));
  FailureOr<int64_t> axis = normalizeAxis(axisInts->front(), type.getRank());
  if (failed(axis))
    return ctx.error(node, "axis " + Twine(axisInts->front()) + " is out of range for input " +
                               formatType(type));
  bool exclusive = ImportContext::attrInt(node, "exclusive", 0) != 0;
  bool reverse = ImportContext::attrInt(node, "reverse", 0) != 0;
  Value result = ctx.create<spd::CumSumOp>(ctx.loc(node), type, *x, *axis, exclusive, reverse);
  ctx.setOutput(node, 0, result);
  return success();
}

LogicalResult convertTopK(const onnx::NodeProto &node, ImportContext &ctx) {
  FailureOr<Value> x = requiredInput(node, ctx, 0, "X");
  if (failed(x))
    return failure();
  RankedTensorType type = tensorType(*x);
  Location loc = ctx.loc(node);
  int64_t rawAxis = ImportContext::attrInt(node, "axis", -1);
  FailureOr<int64_t> axis = normalizeAxis(rawAxis, type.getRank());
  if (failed(axis))
    return ctx.error(node,
                     "axis " + Twine(rawAxis) + " is out of range for input " + formatType(type));
  int64_t dim = type.getDimSize(*axis);

  // k: attribute before opset 10, a 1-element input from 10 on.
  Value k = ctx.input(node, 1);
  int64_t kValue = kUnknown;
  if (k) {
    if (tensorType(k).hasStaticShape() && tensorType(k).getNumElements() != 1)
      return ctx.error(node, "K must hold one element, got " + formatType(k.getType()));
    if (std::optional<SmallVector<int64_t>> known = ctx.partialInts(k); known && known->size() == 1)
      kValue = known->front();
  } else if (ImportContext::attr(node, "k")) {
    kValue = ImportContext::attrInt(node, "k", 0);
    k = ctx.constI64(loc, {kValue});
  } else {
    return ctx.error(node, "missing K (input 1, or attribute 'k' before opset 10)");
  }
  if (isKnown(kValue) && (kValue < 0 || (isKnown(dim) && kValue > dim)))
    return ctx.error(node, "K = " + Twine(kValue) + " is out of range for axis " + Twine(*axis) +
                               " of size " + formatDim(dim));

  bool largest = ImportContext::attrInt(node, "largest", 1) != 0;
  bool sorted = ImportContext::attrInt(node, "sorted", 1) != 0;
  SmallVector<int64_t> shape(type.getShape());
  shape[*axis] = kValue;
  auto valuesType = RankedTensorType::get(shape, type.getElementType());
  auto indicesType = RankedTensorType::get(shape, ctx.builder().getI64Type());
  auto op = spd::TopKOp::create(ctx.builder(), loc, valuesType, indicesType, *x, k, *axis, largest,
                                sorted);
  SmallVector<Value> results = ctx.fold(op.getOperation());
  ctx.setOutput(node, 0, results[0]);
  ctx.setOutput(node, 1, results[1]);
  return success();
}

} // namespace

void spdc::onnx_import::registerReductionConverters(ConverterTable &table) {
  table.add("ReduceSum", convertReduce<spd::ReduceSumOp>);
  table.add("ReduceMean", convertReduce<spd::ReduceMeanOp>);
  table.add("ReduceMax", convertReduce<spd::ReduceMaxOp>);
  table.add("ReduceMin", convertReduce<spd::ReduceMinOp>);
  table.add("ReduceProd", convertReduce<spd::ReduceProdOp>);
  table.add("ReduceSumSquare", convertReduce<spd::ReduceSumSquareOp>);
  table.add("ReduceL1", convertReduce<spd::ReduceL1Op>);
  table.add("ReduceL2", convertReduce<spd::ReduceL2Op>);
  table.add("ReduceLogSum", convertReduce<spd::ReduceLogSumOp>);
  table.add("ReduceLogSumExp", convertReduce<spd::ReduceLogSumExpOp>);
  table.add("ArgMax", convertArgReduce<spd::ArgMaxOp>);
  table.add("ArgMin", convertArgReduce<spd::ArgMinOp>);
  table.add("CumSum", convertCumSum);
  table.add("TopK", convertTopK);
}
