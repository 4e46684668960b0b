//===- Math.cpp - ONNX contraction converters -------------------------------===//
//
// MatMul (numpy semantics), Gemm (as transpose / matmul / scale / add), Einsum (result shape
// from the equation) and MatMulInteger.
//
//===----------------------------------------------------------------------===//

#include "../ImportContext.h"

#include "llvm/ADT/StringExtras.h"

#include <map>

using namespace mlir;
namespace spd = spdc::spd;

namespace spdc::onnx_import {
namespace {

std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

std::string dimString(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

/// The numpy.matmul result type of `a` x `b` with `elementType`.
FailureOr<RankedTensorType> matmulType(const onnx::NodeProto &node, ImportContext &ctx, Value a,
                                       Value b, Type elementType) {
  RankedTensorType ta = tensorType(a), tb = tensorType(b);
  if (ta.getRank() == 0 || tb.getRank() == 0)
    return ctx.error(node, "operands must have rank 1 or more, got " + typeString(ta) + " and " +
                               typeString(tb));
  SmallVector<int64_t> sa(ta.getShape()), sb(tb.getShape());
  if (sa.size() == 1)
    sa.insert(sa.begin(), 1);
  if (sb.size() == 1)
    sb.push_back(1);
  int64_t ka = sa.back(), kb = sb[sb.size() - 2];
  if (!ShapedType::isDynamic(ka) && !ShapedType::isDynamic(kb) && ka != kb)
    return ctx.error(node, "contracted dimensions differ: " + typeString(ta) + " x " +
                               typeString(tb));
  FailureOr<SmallVector<int64_t>> batch =
      broadcastShapes(ArrayRef<int64_t>(sa).drop_back(2), ArrayRef<int64_t>(sb).drop_back(2));
  if (failed(batch))
    return ctx.error(node, "batch dimensions do not broadcast: " + typeString(ta) + " x " +
                               typeString(tb));
  SmallVector<int64_t> shape = *batch;
  if (ta.getRank() != 1)
    shape.push_back(sa[sa.size() - 2]);
  if (tb.getRank() != 1)
    shape.push_back(sb.back());
  return RankedTensorType::get(shape, elementType);
}

FailureOr<std::pair<Value, Value>> twoInputs(const onnx::NodeProto &node, ImportContext &ctx) {
  Value a = ctx.input(node, 0), b = ctx.input(node, 1);
  if (!a || !b)
    return ctx.error(node, "needs two inputs");
  return std::make_pair(a, b);
}

LogicalResult convertMatMul(const onnx::NodeProto &node, ImportContext &ctx) {
  auto in = twoInputs(node, ctx);
  if (failed(in))
    return failure();
  auto [a, b] = *in;
  Type ea = tensorType(a).getElementType(), eb = tensorType(b).getElementType();
  if (ea != eb)
    return ctx.error(node, "operand element types differ: " + typeString(ea) + " vs " +
                               typeString(eb));
  FailureOr<RankedTensorType> type = matmulType(node, ctx, a, b, ea);
  if (failed(type))
    return failure();
  ctx.setOutput(node, 0, ctx.create<spd::MatMulOp>(ctx.loc(node), *type, a, b));
  return success();
}

LogicalResult convertMatMulInteger(const onnx::NodeProto &node, ImportContext &ctx) {
  auto in = twoInputs(node, ctx);
  if (failed(in))
    return failure();
  auto [a, b] = *in;
  for (Value v : {a, b}) {
    auto it = dyn_cast<IntegerType>(tensorType(v).getElementType());
    if (!it || it.getWidth() != 8)
      return ctx.error(node, "operands must be 8-bit integers, got " + typeString(v.getType()));
  }
  FailureOr<RankedTensorType> type =
      matmulType(node, ctx, a, b, ctx.builder().getIntegerType(32));
  if (failed(type))
    return failure();
  ctx.setOutput(node, 0,
                ctx.create<spd::MatMulIntegerOp>(ctx.loc(node), *type, a, b, ctx.input(node, 2),
                                                 ctx.input(node, 3)));
  return success();
}

Value transpose2D(ImportContext &ctx, Location loc, Value x) {
  RankedTensorType t = tensorType(x);
  auto type = RankedTensorType::get({t.getDimSize(1), t.getDimSize(0)}, t.getElementType());
  return ctx.create<spd::TransposeOp>(loc, type, x, ctx.builder().getDenseI64ArrayAttr({1, 0}));
}

LogicalResult convertGemm(const onnx::NodeProto &node, ImportContext &ctx) {
  auto in = twoInputs(node, ctx);
  if (failed(in))
    return failure();
  auto [a, b] = *in;
  Value c = ctx.input(node, 2);
  Location loc = ctx.loc(node);
  if (tensorType(a).getRank() != 2 || tensorType(b).getRank() != 2)
    return ctx.error(node, "A and B must be 2-D, got " + typeString(a.getType()) + " and " +
                               typeString(b.getType()));
  Type elementType = tensorType(a).getElementType();
  for (Value v : {b, c})
    if (v && tensorType(v).getElementType() != elementType)
      return ctx.error(node, "operand element types differ: " + typeString(a.getType()) +
                                 " vs " + typeString(v.getType()));
  if (ctx.attrInt(node, "transA", 0))
    a = transpose2D(ctx, loc, a);
  if (ctx.attrInt(node, "transB", 0))
    b = transpose2D(ctx, loc, b);
  FailureOr<RankedTensorType> type = matmulType(node, ctx, a, b, elementType);
  if (failed(type))
    return failure();
  Value y = ctx.create<spd::MatMulOp>(loc, *type, a, b);
  float alpha = ctx.attrFloat(node, "alpha", 1.0f), beta = ctx.attrFloat(node, "beta", 1.0f);
  if (alpha != 1.0f)
    y = ctx.create<spd::MulOp>(loc, y.getType(), y, ctx.constScalar(loc, elementType, alpha));
  if (c && beta != 0.0f) {
    if (beta != 1.0f)
      c = ctx.create<spd::MulOp>(loc, c.getType(), c, ctx.constScalar(loc, elementType, beta));
    FailureOr<SmallVector<int64_t>> shape =
        broadcastShapes(tensorType(y).getShape(), tensorType(c).getShape());
    if (failed(shape) || shape->size() != 2)
      return ctx.error(node, "C " + typeString(c.getType()) + " does not broadcast to " +
                                 typeString(y.getType()));
    y = ctx.create<spd::AddOp>(loc, RankedTensorType::get(*shape, elementType), y, c);
  }
  ctx.setOutput(node, 0, y);
  return success();
}

/// Size of an einsum label seen with sizes `a` and `b` (numpy lets size-1 labels broadcast).
FailureOr<int64_t> mergeLabelDim(int64_t a, int64_t b) {
  if (ShapedType::isDynamic(a))
    return b == 1 ? ShapedType::kDynamic : b;
  if (ShapedType::isDynamic(b))
    return a == 1 ? ShapedType::kDynamic : a;
  if (a == b || b == 1)
    return a;
  if (a == 1)
    return b;
  return failure();
}

LogicalResult convertEinsum(const onnx::NodeProto &node, ImportContext &ctx) {
  std::string equation = ctx.attrString(node, "equation", "");
  llvm::erase_if(equation, [](char c) { return llvm::isSpace(c); });
  if (equation.empty())
    return ctx.error(node, "missing attribute 'equation'");
  SmallVector<Value> inputs;
  for (int i = 0; i < node.input_size(); ++i) {
    Value v = ctx.input(node, i);
    if (!v)
      return ctx.error(node, "missing input " + llvm::Twine(i));
    inputs.push_back(v);
  }
  if (inputs.empty())
    return ctx.error(node, "needs at least one input");
  Type elementType = tensorType(inputs[0]).getElementType();
  for (Value v : inputs)
    if (tensorType(v).getElementType() != elementType)
      return ctx.error(node, "operand element types differ: " + typeString(inputs[0].getType()) +
                                 " vs " + typeString(v.getType()));

  auto [lhs, rhs] = llvm::StringRef(equation).split("->");
  bool explicitOutput = llvm::StringRef(equation).contains("->");
  SmallVector<llvm::StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != inputs.size())
    return ctx.error(node, "equation '" + equation + "' names " + llvm::Twine(terms.size()) +
                               " operands, the node has " + llvm::Twine(inputs.size()));
  std::map<char, int64_t> labelDims;
  std::map<char, int> labelCount;
  SmallVector<int64_t> ellipsis;
  bool anyEllipsis = false;
  for (auto [term, v] : llvm::zip(terms, inputs)) {
    ArrayRef<int64_t> shape = tensorType(v).getShape();
    size_t dots = term.find("...");
    bool hasEllipsis = dots != llvm::StringRef::npos;
    std::string letters = term.str();
    if (hasEllipsis)
      letters.erase(dots, 3);
    for (char c : letters)
      if (!llvm::isAlpha(c))
        return ctx.error(node, "invalid equation '" + equation + "'");
    int64_t ellipsisRank = static_cast<int64_t>(shape.size()) - letters.size();
    if (ellipsisRank < 0 || (!hasEllipsis && ellipsisRank != 0))
      return ctx.error(node, "term '" + term + "' does not match operand " +
                                 typeString(v.getType()));
    anyEllipsis |= hasEllipsis;
    size_t pos = 0;
    for (size_t i = 0; i < term.size();) {
      if (hasEllipsis && i == dots) {
        FailureOr<SmallVector<int64_t>> b =
            broadcastShapes(ellipsis, shape.slice(pos, ellipsisRank));
        if (failed(b))
          return ctx.error(node, "'...' dimensions do not broadcast");
        ellipsis = *b;
        pos += ellipsisRank;
        i += 3;
        continue;
      }
      char c = term[i++];
      int64_t d = shape[pos++];
      ++labelCount[c];
      auto [it, inserted] = labelDims.try_emplace(c, d);
      if (!inserted) {
        FailureOr<int64_t> merged = mergeLabelDim(it->second, d);
        if (failed(merged))
          return ctx.error(node, std::string("label '") + c + "' has sizes " +
                                     dimString(it->second) + " and " + dimString(d));
        it->second = *merged;
      }
    }
  }
  SmallVector<int64_t> shape;
  if (explicitOutput) {
    size_t dots = rhs.find("...");
    for (size_t i = 0; i < rhs.size();) {
      if (dots != llvm::StringRef::npos && i == dots) {
        llvm::append_range(shape, ellipsis);
        i += 3;
        continue;
      }
      char c = rhs[i++];
      auto it = labelDims.find(c);
      if (it == labelDims.end())
        return ctx.error(node, std::string("output label '") + c + "' appears in no input");
      shape.push_back(it->second);
    }
  } else {
    // numpy's implicit output: the broadcast dims, then labels seen once, alphabetically.
    if (anyEllipsis)
      llvm::append_range(shape, ellipsis);
    for (auto [c, n] : labelCount)
      if (n == 1)
        shape.push_back(labelDims[c]);
  }
  auto type = RankedTensorType::get(shape, elementType);
  ctx.setOutput(node, 0,
                ctx.create<spd::EinsumOp>(ctx.loc(node), type, inputs,
                                          ctx.builder().getStringAttr(equation)));
  return success();
}

} // namespace

void registerMathConverters(ConverterTable &table) {
  table.add("MatMul", convertMatMul);
  table.add("Gemm", convertGemm);
  table.add("Einsum", convertEinsum);
  table.add("MatMulInteger", convertMatMulInteger);
}

} // namespace spdc::onnx_import
