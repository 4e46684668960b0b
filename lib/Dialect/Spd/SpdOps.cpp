//===- SpdOps.cpp - spd operation verifiers and folders -------------------===//
//
// Verifiers check what the types imply: ranks, axes in range, dimensions that must agree. A
// dynamic dimension (`?`) agrees with anything; the interpreter checks it again at run time.
//
//===----------------------------------------------------------------------===//

#include "spdc/Dialect/Spd/SpdOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"

#include <cmath>

using namespace mlir;
using namespace spdc::spd;

namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

bool dimsAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

LogicalResult verifyAxis(Operation *op, int64_t axis, int64_t rank, StringRef what = "axis") {
  if (axis < 0 || axis >= rank)
    return op->emitOpError() << what << " " << axis << " is out of range for rank " << rank;
  return success();
}

/// Checks that `axes` are in [0, rank), and unique.
LogicalResult verifyAxes(Operation *op, ArrayRef<int64_t> axes, int64_t rank) {
  llvm::SmallSet<int64_t, 8> seen;
  for (int64_t axis : axes) {
    if (failed(verifyAxis(op, axis, rank)))
      return failure();
    if (!seen.insert(axis).second)
      return op->emitOpError() << "axis " << axis << " appears twice";
  }
  return success();
}

LogicalResult verifyShapeAgrees(Operation *op, ArrayRef<int64_t> expected, RankedTensorType actual,
                                StringRef what = "result") {
  if (static_cast<int64_t>(expected.size()) != actual.getRank())
    return op->emitOpError() << what << " rank " << actual.getRank() << " does not match the "
                             << "expected rank " << expected.size();
  for (auto [i, e, a] : llvm::enumerate(expected, actual.getShape()))
    if (!dimsAgree(e, a))
      return op->emitOpError() << what << " dimension " << i << " is " << a << ", expected " << e;
  return success();
}

LogicalResult verifyIndexVector(Operation *op, Value v, StringRef what) {
  if (tensorType(v).getRank() != 1)
    return op->emitOpError() << what << " must be a 1-D tensor";
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

LogicalResult ConstantOfShapeOp::verify() {
  if (failed(verifyIndexVector(*this, getShape(), "shape")))
    return failure();
  if (getValue().getNumElements() != 1)
    return emitOpError("value must hold exactly one element");
  if (getValue().getElementType() != getType().getElementType())
    return emitOpError("value element type differs from the result's");
  int64_t rank = tensorType(getShape()).getDimSize(0);
  if (!ShapedType::isDynamic(rank) && rank != getType().getRank())
    return emitOpError("result rank ") << getType().getRank() << " differs from shape length "
                                       << rank;
  return success();
}

LogicalResult RangeOp::verify() {
  for (Value v : {getStart(), getLimit(), getDelta()})
    if (tensorType(v).getRank() != 0)
      return emitOpError("start, limit and delta must be scalars (0-D tensors)");
  if (getType().getRank() != 1)
    return emitOpError("result must be 1-D");
  if (getStart().getType().getElementType() != getType().getElementType())
    return emitOpError("result element type differs from the operands'");
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult GeluOp::verify() {
  if (getApproximate() != "none" && getApproximate() != "tanh")
    return emitOpError("approximate must be \"none\" or \"tanh\", got \"")
           << getApproximate() << "\"";
  return success();
}

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

LogicalResult ClipOp::verify() {
  for (Value bound : {getMin(), getMax()}) {
    if (!bound)
      continue;
    if (tensorType(bound).hasStaticShape() && tensorType(bound).getNumElements() != 1)
      return emitOpError("min and max must hold one element");
    if (tensorType(bound).getElementType() != getType().getElementType())
      return emitOpError("min and max must have the input's element type");
  }
  if (failed(verifyCompatibleShape(getInput().getType(), getType())))
    return emitOpError("result shape differs from the input's");
  return success();
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

LogicalResult MatMulOp::verify() {
  RankedTensorType lhs = tensorType(getLhs()), rhs = tensorType(getRhs());
  if (lhs.getRank() == 0 || rhs.getRank() == 0)
    return emitOpError("operands must have rank 1 or more");
  int64_t k1 = lhs.getDimSize(lhs.getRank() - 1);
  int64_t k2 = rhs.getRank() == 1 ? rhs.getDimSize(0) : rhs.getDimSize(rhs.getRank() - 2);
  if (!dimsAgree(k1, k2))
    return emitOpError("contracted dimensions differ: ") << k1 << " vs " << k2;
  if (lhs.getElementType() != rhs.getElementType())
    return emitOpError("operand element types differ");
  return success();
}

LogicalResult EinsumOp::verify() {
  StringRef eq = getEquation();
  StringRef lhs = eq.split("->").first;
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != getInputs().size())
    return emitOpError("equation names ") << terms.size() << " operands, op has "
                                          << getInputs().size();
  return success();
}

//===----------------------------------------------------------------------===//
// Normalizations, softmax and reductions
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxOp::verify() { return verifyAxis(*this, getAxis(), getType().getRank()); }
LogicalResult LogSoftmaxOp::verify() {
  return verifyAxis(*this, getAxis(), getType().getRank());
}

LogicalResult LayerNormOp::verify() {
  RankedTensorType input = tensorType(getInput());
  if (failed(verifyAxis(*this, getAxis(), input.getRank())))
    return failure();
  if (failed(verifyCompatibleShape(input, getType())))
    return emitOpError("result shape differs from the input's");
  int64_t normalized = input.getRank() - getAxis();
  for (Value param : {getScale(), getBias()})
    if (param && tensorType(param).getRank() > normalized)
      return emitOpError("scale and bias must not have more dimensions than the ")
             << normalized << " normalized ones";
  return success();
}

template <typename Op>
static LogicalResult verifyReduce(Op op) {
  RankedTensorType input = tensorType(op.getInput());
  if (failed(verifyAxes(op, op.getAxes(), input.getRank())))
    return failure();
  SmallVector<int64_t> expected;
  for (int64_t i = 0; i < input.getRank(); ++i) {
    if (!llvm::is_contained(op.getAxes(), i))
      expected.push_back(input.getDimSize(i));
    else if (op.getKeepdims())
      expected.push_back(1);
  }
  return verifyShapeAgrees(op, expected, op.getType());
}

#define SPD_REDUCE_VERIFIER(OP)                                                                \
  LogicalResult OP::verify() { return verifyReduce(*this); }
SPD_REDUCE_VERIFIER(ReduceSumOp)
SPD_REDUCE_VERIFIER(ReduceMeanOp)
SPD_REDUCE_VERIFIER(ReduceMaxOp)
SPD_REDUCE_VERIFIER(ReduceMinOp)
SPD_REDUCE_VERIFIER(ReduceProdOp)
SPD_REDUCE_VERIFIER(ReduceSumSquareOp)
SPD_REDUCE_VERIFIER(ReduceL1Op)
SPD_REDUCE_VERIFIER(ReduceL2Op)
SPD_REDUCE_VERIFIER(ReduceLogSumOp)
SPD_REDUCE_VERIFIER(ReduceLogSumExpOp)
#undef SPD_REDUCE_VERIFIER

template <typename Op>
static LogicalResult verifyArgReduce(Op op) {
  RankedTensorType input = tensorType(op.getInput());
  if (failed(verifyAxis(op, op.getAxis(), input.getRank())))
    return failure();
  SmallVector<int64_t> expected;
  for (int64_t i = 0; i < input.getRank(); ++i) {
    if (i != op.getAxis())
      expected.push_back(input.getDimSize(i));
    else if (op.getKeepdims())
      expected.push_back(1);
  }
  return verifyShapeAgrees(op, expected, op.getType());
}
LogicalResult ArgMaxOp::verify() { return verifyArgReduce(*this); }
LogicalResult ArgMinOp::verify() { return verifyArgReduce(*this); }

LogicalResult CumSumOp::verify() { return verifyAxis(*this, getAxis(), getType().getRank()); }

LogicalResult TopKOp::verify() {
  RankedTensorType input = tensorType(getInput());
  if (failed(verifyAxis(*this, getAxis(), input.getRank())))
    return failure();
  RankedTensorType k = tensorType(getK());
  if (k.hasStaticShape() && k.getNumElements() != 1)
    return emitOpError("k must hold one element");
  if (getValues().getType().getRank() != input.getRank() ||
      getIndices().getType().getRank() != input.getRank())
    return emitOpError("results must have the input's rank");
  return success();
}

LogicalResult TriluOp::verify() {
  if (getType().getRank() < 2)
    return emitOpError("input must have rank 2 or more");
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult GatherOp::verify() {
  RankedTensorType data = tensorType(getData()), indices = tensorType(getIndices());
  if (failed(verifyAxis(*this, getAxis(), data.getRank())))
    return failure();
  SmallVector<int64_t> expected(data.getShape().take_front(getAxis()));
  llvm::append_range(expected, indices.getShape());
  llvm::append_range(expected, data.getShape().drop_front(getAxis() + 1));
  return verifyShapeAgrees(*this, expected, getType());
}

LogicalResult GatherElementsOp::verify() {
  RankedTensorType data = tensorType(getData()), indices = tensorType(getIndices());
  if (failed(verifyAxis(*this, getAxis(), data.getRank())))
    return failure();
  if (indices.getRank() != data.getRank())
    return emitOpError("indices must have the data's rank");
  return verifyShapeAgrees(*this, indices.getShape(), getType());
}

LogicalResult ScatterNDOp::verify() {
  StringRef r = getReduction();
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
    return emitOpError("unknown reduction \"") << r << "\"";
  if (failed(verifyCompatibleShape(getData().getType(), getType())))
    return emitOpError("result shape differs from the data's");
  return success();
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  int64_t rank = getType().getRank();
  if (failed(verifyAxis(*this, getAxis(), rank)))
    return failure();
  int64_t total = 0;
  for (Value in : getInputs()) {
    RankedTensorType t = tensorType(in);
    if (t.getRank() != rank)
      return emitOpError("all inputs must have rank ") << rank;
    if (t.getElementType() != getType().getElementType())
      return emitOpError("all inputs must have the result's element type");
    for (int64_t d = 0; d < rank; ++d)
      if (d != getAxis() && !dimsAgree(t.getDimSize(d), getType().getDimSize(d)))
        return emitOpError("input dimension ") << d << " is " << t.getDimSize(d)
                                               << ", result's is " << getType().getDimSize(d);
    int64_t size = t.getDimSize(getAxis());
    total = (ShapedType::isDynamic(size) || ShapedType::isDynamic(total)) ? ShapedType::kDynamic
                                                                           : total + size;
  }
  if (!dimsAgree(total, getType().getDimSize(getAxis())))
    return emitOpError("concatenated dimension is ") << total << ", result's is "
                                                     << getType().getDimSize(getAxis());
  return success();
}

LogicalResult SplitOp::verify() {
  RankedTensorType input = tensorType(getInput());
  if (failed(verifyAxis(*this, getAxis(), input.getRank())))
    return failure();
  if (getSizes().size() != getOutputs().size())
    return emitOpError("has ") << getOutputs().size() << " results but " << getSizes().size()
                               << " sizes";
  int64_t total = 0;
  for (auto [size, out] : llvm::zip(getSizes(), getOutputs())) {
    if (size < 0)
      return emitOpError("split sizes must be non-negative");
    if (!dimsAgree(size, tensorType(out).getDimSize(getAxis())))
      return emitOpError("result size along the axis differs from its split size ") << size;
    total += size;
  }
  if (!dimsAgree(total, input.getDimSize(getAxis())))
    return emitOpError("split sizes add up to ") << total << ", the axis has "
                                                 << input.getDimSize(getAxis());
  return success();
}

LogicalResult SliceOp::verify() {
  for (Value v : {getStarts(), getEnds(), getAxes(), getSteps()})
    if (failed(verifyIndexVector(*this, v, "starts, ends, axes and steps")))
      return failure();
  if (getType().getRank() != tensorType(getInput()).getRank())
    return emitOpError("result must have the input's rank");
  return success();
}

LogicalResult ReshapeOp::verify() {
  if (failed(verifyIndexVector(*this, getShape(), "shape")))
    return failure();
  int64_t len = tensorType(getShape()).getDimSize(0);
  if (!ShapedType::isDynamic(len) && len != getType().getRank())
    return emitOpError("result rank ") << getType().getRank() << " differs from shape length "
                                       << len;
  RankedTensorType in = tensorType(getInput());
  if (in.hasStaticShape() && getType().hasStaticShape() &&
      in.getNumElements() != getType().getNumElements())
    return emitOpError("changes the number of elements from ")
           << in.getNumElements() << " to " << getType().getNumElements();
  return success();
}

LogicalResult TransposeOp::verify() {
  RankedTensorType in = tensorType(getInput());
  ArrayRef<int64_t> perm = getPerm();
  if (static_cast<int64_t>(perm.size()) != in.getRank())
    return emitOpError("perm has ") << perm.size() << " entries for rank " << in.getRank();
  if (failed(verifyAxes(*this, perm, in.getRank())))
    return failure();
  SmallVector<int64_t> expected;
  for (int64_t p : perm)
    expected.push_back(in.getDimSize(p));
  return verifyShapeAgrees(*this, expected, getType());
}

LogicalResult UnsqueezeOp::verify() {
  RankedTensorType in = tensorType(getInput());
  int64_t rank = in.getRank() + getAxes().size();
  if (failed(verifyAxes(*this, getAxes(), rank)))
    return failure();
  SmallVector<int64_t> expected;
  for (int64_t i = 0, j = 0; i < rank; ++i)
    expected.push_back(llvm::is_contained(getAxes(), i) ? 1 : in.getDimSize(j++));
  return verifyShapeAgrees(*this, expected, getType());
}

LogicalResult SqueezeOp::verify() {
  RankedTensorType in = tensorType(getInput());
  if (failed(verifyAxes(*this, getAxes(), in.getRank())))
    return failure();
  SmallVector<int64_t> expected;
  for (int64_t i = 0; i < in.getRank(); ++i) {
    if (!llvm::is_contained(getAxes(), i)) {
      expected.push_back(in.getDimSize(i));
      continue;
    }
    if (!dimsAgree(in.getDimSize(i), 1))
      return emitOpError("squeezed dimension ") << i << " has size " << in.getDimSize(i);
  }
  return verifyShapeAgrees(*this, expected, getType());
}

LogicalResult FlattenOp::verify() {
  RankedTensorType in = tensorType(getInput());
  auto axis = getAxis();
  if (axis < 0 || axis > in.getRank())
    return emitOpError("axis ") << axis << " is out of range for rank " << in.getRank();
  if (getType().getRank() != 2)
    return emitOpError("result must be 2-D");
  return success();
}

LogicalResult ExpandOp::verify() {
  if (failed(verifyIndexVector(*this, getShape(), "shape")))
    return failure();
  if (getType().getRank() < tensorType(getInput()).getRank())
    return emitOpError("result rank is below the input's");
  return success();
}

LogicalResult TileOp::verify() {
  if (failed(verifyIndexVector(*this, getRepeats(), "repeats")))
    return failure();
  if (getType().getRank() != tensorType(getInput()).getRank())
    return emitOpError("result must have the input's rank");
  return success();
}

LogicalResult PadOp::verify() {
  if (failed(verifyIndexVector(*this, getPads(), "pads")))
    return failure();
  StringRef mode = getMode();
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return emitOpError("unknown mode \"") << mode << "\"";
  if (getType().getRank() != tensorType(getInput()).getRank())
    return emitOpError("result must have the input's rank");
  RankedTensorType value = tensorType(getValue());
  if (value.hasStaticShape() && value.getNumElements() != 1)
    return emitOpError("value must hold one element");
  return success();
}

LogicalResult ShapeOp::verify() {
  int64_t rank = tensorType(getInput()).getRank();
  int64_t start = getStart(), end = getEnd();
  if (start < 0 || end > rank || start > end)
    return emitOpError("range [") << start << ", " << end << ") is invalid for rank " << rank;
  return verifyShapeAgrees(*this, {end - start}, getType());
}

OpFoldResult ShapeOp::fold(FoldAdaptor) {
  ArrayRef<int64_t> dims =
      tensorType(getInput()).getShape().slice(getStart(), getEnd() - getStart());
  if (ShapedType::isDynamicShape(dims) || !getType().hasStaticShape())
    return {};
  return DenseElementsAttr::get(getType(), dims);
}

OpFoldResult SizeOp::fold(FoldAdaptor) {
  RankedTensorType in = tensorType(getInput());
  if (!in.hasStaticShape())
    return {};
  return DenseElementsAttr::get(getType(), in.getNumElements());
}

//===----------------------------------------------------------------------===//
// Composite operations
//===----------------------------------------------------------------------===//

LogicalResult RmsNormOp::verify() {
  RankedTensorType input = tensorType(getInput());
  if (failed(verifyAxis(*this, getAxis(), input.getRank())))
    return failure();
  if (failed(verifyCompatibleShape(input, getType())))
    return emitOpError("result shape differs from the input's");
  if (getScale() && tensorType(getScale()).getRank() > input.getRank() - getAxis())
    return emitOpError("scale must not have more dimensions than the ")
           << input.getRank() - getAxis() << " normalized ones";
  return success();
}

LogicalResult RopeOp::verify() {
  RankedTensorType input = tensorType(getInput());
  if (input.getRank() < 1)
    return emitOpError("input must have rank 1 or more");
  if (failed(verifyCompatibleShape(input, getType())))
    return emitOpError("result shape differs from the input's");
  int64_t headDim = input.getDimSize(input.getRank() - 1);
  int64_t rot = getRotaryDim();
  if (rot <= 0 || rot % 2 != 0 || (!ShapedType::isDynamic(headDim) && rot > headDim))
    return emitOpError("rotary_dim ") << rot << " must be even, positive and at most the last "
                                      << "dimension " << headDim;
  for (Value table : {getCos(), getSin()}) {
    RankedTensorType t = tensorType(table);
    if (t.getRank() < 1 || !dimsAgree(t.getDimSize(t.getRank() - 1), rot))
      return emitOpError("cos and sin must have last dimension rotary_dim (") << rot << ")";
    if (t.getRank() > input.getRank())
      return emitOpError("cos and sin must not have more dimensions than the input");
  }
  return success();
}

LogicalResult AttentionOp::verify() {
  RankedTensorType q = tensorType(getQuery()), k = tensorType(getKey()),
                   v = tensorType(getValue());
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4 || getType().getRank() != 4)
    return emitOpError("query, key, value and result must be [batch, heads, seq, head_dim]");
  if (!dimsAgree(q.getDimSize(3), k.getDimSize(3)))
    return emitOpError("query and key head dims differ: ")
           << q.getDimSize(3) << " vs " << k.getDimSize(3);
  if (!dimsAgree(k.getDimSize(1), v.getDimSize(1)) || !dimsAgree(k.getDimSize(2), v.getDimSize(2)))
    return emitOpError("key and value must have the same heads and length");
  int64_t qh = q.getDimSize(1), kvh = k.getDimSize(1);
  if (!ShapedType::isDynamic(qh) && !ShapedType::isDynamic(kvh) && (kvh == 0 || qh % kvh != 0))
    return emitOpError("query heads (") << qh << ") must be a multiple of key/value heads ("
                                        << kvh << ")";
  SmallVector<int64_t> expected = {q.getDimSize(0), qh, q.getDimSize(2), v.getDimSize(3)};
  if (failed(verifyShapeAgrees(*this, expected, getType())))
    return failure();
  float softcap = getSoftcap().convertToFloat();
  if (!(softcap >= 0.0f) || !std::isfinite(softcap))
    return emitOpError("softcap must be zero (none) or a positive finite value, got ") << softcap;
  if (Value mask = getMask()) {
    RankedTensorType m = tensorType(mask);
    if (m.getRank() > 4)
      return emitOpError("mask must broadcast to [batch, heads, q_len, kv_len]");
    if (!m.getElementType().isInteger(1) && !isa<FloatType>(m.getElementType()))
      return emitOpError("mask must be i1 (keep where true) or float (added to the scores)");
  }
  return success();
}

LogicalResult FusionOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError("body has ") << body.getNumArguments() << " arguments for "
                                    << getInputs().size() << " inputs";
  for (auto [arg, in] : llvm::zip(body.getArguments(), getInputs()))
    if (arg.getType() != in.getType())
      return emitOpError("body argument type ") << arg.getType() << " differs from input type "
                                                << in.getType();
  auto yield = cast<YieldOp>(body.getTerminator());
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError("yielded types differ from the result types");
  return success();
}

#define GET_OP_CLASSES
#include "Spd/SpdOps.cpp.inc"
