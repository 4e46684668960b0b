//===- ExprEmitter.cpp - spd values as C++ expressions at an index --------===//
//
// The core of elementwise code generation (CIRCT-style TypeSwitch visitor): `at(v, idx)`
// returns a C++ variable holding v at the multi-index idx (int64 expressions), emitting the
// statements that compute it into the kernel body. Buffers are loads; elementwise ops compute
// in f32 (f64 for double, the type itself for integers); data movement (transpose, reshape,
// expand, slice, concat, gather, pad, ...) remaps the index of its operand; reductions and
// cumulative ops loop. Results are memoized per (value, index) within a scope.
//
//===----------------------------------------------------------------------===//

#include "CodegenImpl.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <type_traits>

using namespace mlir;
using namespace spdc;
using namespace spdc::codegen;
using namespace spdc::codegen::detail;
using llvm::formatv;

namespace {

bool isOne(const SymExpr &e) { return e.getConstant() == 1; }

std::string join(ArrayRef<std::string> xs, StringRef sep = ",") {
  std::string s;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i)
      s += sep;
    s += xs[i];
  }
  return s;
}

/// The index of an operand of shape `in` broadcast to an `idx` of the result's rank.
SmallVector<std::string> broadcastIndex(ArrayRef<std::string> idx, ArrayRef<SymExpr> in,
                                        ArrayRef<SymExpr> out) {
  SmallVector<std::string> r;
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    r.push_back(isOne(in[i]) && !isOne(out[off + i]) ? std::string("0") : idx[off + i]);
  return r;
}

int64_t normAxis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

FailureOr<ElementType> elemOf(Value v) {
  return elementTypeOf(cast<RankedTensorType>(v.getType()).getElementType());
}

std::string lit(int64_t v) { return spdc::codegen::detail::indexLiteral(v); }

/// f-suffixed math for float compute, plain for double.
std::string fn(StringRef name, StringRef ctype) {
  return ctype == "float" ? (name + "f").str() : name.str();
}

} // namespace

FailureOr<std::string> ExprEmitter::at(Value v, ArrayRef<std::string> idx) {
  v = gen.resolve(v);
  auto shapeOf = [&](Value x) { return gen.dims(x); };
  std::string key = std::to_string(reinterpret_cast<uintptr_t>(v.getAsOpaquePointer())) + "@" +
                    join(idx);
  for (auto it = memo.rbegin(); it != memo.rend(); ++it)
    if (auto f = it->find(key); f != it->end())
      return f->second;

  FailureOr<ElementType> et = elemOf(v);
  if (failed(et)) {
    if (Operation *def = v.getDefiningOp())
      return def->emitError("spdc codegen: unsupported element type ") << v.getType();
    return failure();
  }
  std::string ctype = computeTypeName(*et);
  std::string result;
  if (auto o = overrides.find(v); o != overrides.end()) {
    FailureOr<std::string> r = o->second(idx);
    if (failed(r))
      return failure();
    result = *r;
  } else if (std::optional<std::string> s = gen.splatLiteral(v)) {
    result = *s;
  } else if (std::optional<std::string> e = knownElement(v, idx)) {
    result = *e;
  } else if (Buf b = gen.lookup(v); b.id >= 0 && kb.lanes) {
    std::optional<std::string> lane = kb.vectorLoad(b.id, idx, shapeOf(v));
    if (!lane) {
      std::string p = kb.param(b.id, false);
      lane = p + "[" + kb.ravel(idx, shapeOf(v)) + "]";
    }
    result = kb.fresh();
    kb.line(formatv("const {0} {1} = convert<{0}>({2});", ctype, result, *lane));
  } else if (b.id >= 0) {
    std::string p = kb.param(b.id, false);
    std::string lin = kb.ravel(idx, shapeOf(v));
    result = kb.fresh();
    kb.line(formatv("const {0} {1} = convert<{0}>({2}[{3}]);", ctype, result, p, lin));
  } else {
    Operation *def = v.getDefiningOp();
    if (!def)
      return failure();
    FailureOr<std::string> r = emitOp(def, v, idx);
    if (failed(r))
      return failure();
    result = *r;
  }
  memo.back()[key] = result;
  return result;
}

std::optional<std::string> ExprEmitter::knownElement(Value v, ArrayRef<std::string> idx) {
  // Shape arithmetic of a dynamic model (a reshape target, a range limit): its elements are
  // polynomials in the symbols, computed in place rather than through Shape/Gather/Concat.
  if (idx.size() > 1)
    return std::nullopt;
  std::optional<SmallVector<SymExpr>> e = gen.symbolicElements(v);
  if (!e)
    return std::nullopt;
  std::string r = kb.dim(e->back());
  for (size_t i = e->size() - 1; i-- > 0;)
    r = "(" + idx[0] + " == " + lit(i) + " ? " + kb.dim((*e)[i]) + " : " + r + ")";
  std::string name = kb.fresh();
  kb.line(formatv("const long long {0} = {1};", name, r));
  return name;
}

FailureOr<std::string> ExprEmitter::emitOp(Operation *op, Value v, ArrayRef<std::string> idx) {
  auto shapeOf = [&](Value x) { return gen.dims(x); };
  Dims outShape = shapeOf(v);
  FailureOr<ElementType> et = elemOf(v);
  if (failed(et))
    return op->emitError("spdc codegen: unsupported element type ") << v.getType();
  std::string ct = computeTypeName(*et);
  auto operandAt = [&](Value operand) -> FailureOr<std::string> {
    return at(operand, broadcastIndex(idx, shapeOf(operand), outShape));
  };
  auto define = [&](const std::string &expr) -> std::string {
    std::string name = kb.fresh();
    kb.line(formatv("const {0} {1} = {2};", ct, name, expr));
    return name;
  };
  auto unsupported = [&]() -> FailureOr<std::string> {
    return op->emitError("spdc codegen: no CUDA code generation for '")
           << op->getName() << "' yet";
  };
  auto unary = [&](Value in, auto &&f) -> FailureOr<std::string> {
    FailureOr<std::string> x = operandAt(in);
    if (failed(x))
      return failure();
    return define(f(*x));
  };
  auto binary = [&](Value l, Value r, auto &&f) -> FailureOr<std::string> {
    FailureOr<std::string> a = operandAt(l);
    if (failed(a))
      return failure();
    FailureOr<std::string> b = operandAt(r);
    if (failed(b))
      return failure();
    return define(f(*a, *b));
  };
  bool isFloat = ct == "float" || ct == "double";
  // Comparison operands compute in their own type.
  auto compare = [&](Operation *o, StringRef cmp) -> FailureOr<std::string> {
    FailureOr<std::string> a = operandAt(o->getOperand(0));
    if (failed(a))
      return failure();
    FailureOr<std::string> b = operandAt(o->getOperand(1));
    if (failed(b))
      return failure();
    return define(formatv("({0} {1} {2})", *a, cmp, *b).str());
  };
  // A view: reads its operand at the same linear index.
  auto view = [&](Value in) -> FailureOr<std::string> {
    if (std::optional<SmallVector<std::string>> inIdx = kb.laneView(idx, outShape, shapeOf(in)))
      return at(in, *inIdx);
    std::string lin = kb.ravel(idx, outShape);
    SmallVector<std::string> inIdx = kb.unravel(lin, shapeOf(in));
    return at(in, inIdx);
  };

  return llvm::TypeSwitch<Operation *, FailureOr<std::string>>(op)
      // Unary math.
      .Case([&](spd::NegOp o) { return unary(o.getInput(), [&](auto x) { return "(-" + x + ")"; }); })
      .Case([&](spd::AbsOp o) {
        return unary(o.getInput(), [&](auto x) { return "(" + x + " < 0 ? -" + x + " : " + x + ")"; });
      })
      .Case([&](spd::SqrtOp o) { return unary(o.getInput(), [&](auto x) { return fn("sqrt", ct) + "(" + x + ")"; }); })
      .Case([&](spd::ReciprocalOp o) { return unary(o.getInput(), [&](auto x) { return "((" + ct + ")(1) / " + x + ")"; }); })
      .Case([&](spd::ExpOp o) { return unary(o.getInput(), [&](auto x) { return fn("exp", ct) + "(" + x + ")"; }); })
      .Case([&](spd::LogOp o) { return unary(o.getInput(), [&](auto x) { return fn("log", ct) + "(" + x + ")"; }); })
      .Case([&](spd::ErfOp o) { return unary(o.getInput(), [&](auto x) { return fn("erf", ct) + "(" + x + ")"; }); })
      .Case([&](spd::TanhOp o) { return unary(o.getInput(), [&](auto x) { return fn("tanh", ct) + "(" + x + ")"; }); })
      .Case([&](spd::SinOp o) { return unary(o.getInput(), [&](auto x) { return fn("sin", ct) + "(" + x + ")"; }); })
      .Case([&](spd::CosOp o) { return unary(o.getInput(), [&](auto x) { return fn("cos", ct) + "(" + x + ")"; }); })
      .Case([&](spd::FloorOp o) { return unary(o.getInput(), [&](auto x) { return fn("floor", ct) + "(" + x + ")"; }); })
      .Case([&](spd::CeilOp o) { return unary(o.getInput(), [&](auto x) { return fn("ceil", ct) + "(" + x + ")"; }); })
      .Case([&](spd::RoundOp o) { return unary(o.getInput(), [&](auto x) { return fn("rint", ct) + "(" + x + ")"; }); })
      .Case([&](spd::SigmoidOp o) {
        return unary(o.getInput(), [&](auto x) { return "((" + ct + ")(1) / ((" + ct + ")(1) + " + fn("exp", ct) + "(-" + x + ")))"; });
      })
      .Case([&](spd::ReluOp o) {
        return unary(o.getInput(), [&](auto x) { return "(" + x + " > " + "(" + ct + ")(0) ? " + x + " : (" + x + " != " + x + " ? " + x + " : " + "(" + ct + ")(0)))"; });
      })
      .Case([&](spd::SignOp o) {
        return unary(o.getInput(), [&](auto x) {
          return "(" + x + " > " + "(" + ct + ")(0) ? " + "(" + ct + ")(1) : (" + x + " < " + "(" + ct + ")(0) ? " + "(" + ct + ")(-1) : " + x + "))";
        });
      })
      .Case([&](spd::SoftplusOp o) {
        return unary(o.getInput(), [&](auto x) { return fn("log", ct) + "(" + fn("exp", ct) + "(" + x + ") + " + "(" + ct + ")(1))"; });
      })
      .Case([&](spd::HardSwishOp o) {
        return unary(o.getInput(), [&](auto x) {
          return "(" + x + " * spdc_clamp01(" + x + " / " + "(" + ct + ")(6) + " + "(" + ct + ")(0.5)))";
        });
      })
      .Case([&](spd::NotOp o) { return unary(o.getInput(), [&](auto x) { return "(!" + x + ")"; }); })
      .Case([&](spd::LeakyReluOp o) {
        std::string a = formatv("({0})({1:e9})", ct, o.getAlpha().convertToFloat()).str();
        return unary(o.getInput(), [&](auto x) { return "(" + x + " < " + "(" + ct + ")(0) ? " + a + " * " + x + " : " + x + ")"; });
      })
      .Case([&](spd::EluOp o) {
        std::string a = formatv("({0})({1:e9})", ct, o.getAlpha().convertToFloat()).str();
        return unary(o.getInput(), [&](auto x) {
          return "(" + x + " < " + "(" + ct + ")(0) ? " + a + " * (" + fn("exp", ct) + "(" + x + ") - " + "(" + ct + ")(1)) : " + x + ")";
        });
      })
      .Case([&](spd::HardSigmoidOp o) {
        std::string a = formatv("({0})({1:e9})", ct, o.getAlpha().convertToFloat()).str();
        std::string b = formatv("({0})({1:e9})", ct, o.getBeta().convertToFloat()).str();
        return unary(o.getInput(), [&](auto x) { return "spdc_clamp01(" + a + " * " + x + " + " + b + ")"; });
      })
      .Case([&](spd::GeluOp o) {
        bool tanhApprox = o.getApproximate() == "tanh";
        return unary(o.getInput(), [&](auto x) {
          return "(" + ct + ")(spdc::kernels::" + (tanhApprox ? "geluTanh" : "geluErf") + "(float(" + x + ")))";
        });
      })
      .Case([&](spd::SiluOp o) {
        return unary(o.getInput(), [&](auto x) { return "(" + ct + ")(spdc::kernels::silu(float(" + x + ")))"; });
      })
      .Case([&](spd::SwiGluOp o) {
        return binary(o.getGate(), o.getUp(), [&](auto g, auto u) {
          return "(" + ct + ")(spdc::kernels::silu(float(" + g + ")) * float(" + u + "))";
        });
      })
      .Case([&](spd::IsNaNOp o) { return unary(o.getInput(), [&](auto x) { return "(" + x + " != " + x + ")"; }); })
      .Case([&](spd::IsInfOp o) {
        bool pos = o.getDetectPositive(), neg = o.getDetectNegative();
        return unary(o.getInput(), [&](auto x) {
          std::string s = "(false";
          if (pos)
            s += " || " + x + " == spdc_inf<" + computeTypeName(*elemOf(o.getInput())) + ">()";
          if (neg)
            s += " || " + x + " == -spdc_inf<" + computeTypeName(*elemOf(o.getInput())) + ">()";
          return s + ")";
        });
      })
      .Case([&](spd::CastOp o) -> FailureOr<std::string> {
        FailureOr<std::string> x = operandAt(o.getInput());
        if (failed(x))
          return failure();
        // Rounding to the narrow type happens here even though compute stays in f32.
        if (*et == ElementType::F16 || *et == ElementType::BF16)
          return define(formatv("convert<float>(convert<{0}>({1}))", cTypeName(*et), *x).str());
        // Float to integer truncates toward zero (ONNX Cast), as convert's static_cast does.
        return define(formatv("convert<{0}>({1})", ct, *x).str());
      })
      .Case([&](spd::ClipOp o) -> FailureOr<std::string> {
        FailureOr<std::string> x = operandAt(o.getInput());
        if (failed(x))
          return failure();
        std::string r = *x;
        if (Value mn = o.getMin()) {
          FailureOr<std::string> m = at(mn, {});
          if (failed(m))
            return failure();
          r = define(formatv("({0} < {1} ? {1} : {0})", r, *m).str());
        }
        if (Value mx = o.getMax()) {
          FailureOr<std::string> m = at(mx, {});
          if (failed(m))
            return failure();
          r = define(formatv("({0} > {1} ? {1} : {0})", r, *m).str());
        }
        return r;
      })
      // Binary.
      .Case([&](spd::AddOp o) { return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) { return "(" + a + " + " + b + ")"; }); })
      .Case([&](spd::SubOp o) { return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) { return "(" + a + " - " + b + ")"; }); })
      .Case([&](spd::MulOp o) { return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) { return "(" + a + " * " + b + ")"; }); })
      .Case([&](spd::DivOp o) {
        return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) {
          return isFloat ? "(" + a + " / " + b + ")" : "spdc_idiv(" + a + ", " + b + ")";
        });
      })
      .Case([&](spd::MaxOp o) { return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) { return "spdc_max(" + a + ", " + b + ")"; }); })
      .Case([&](spd::MinOp o) { return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) { return "spdc_min(" + a + ", " + b + ")"; }); })
      .Case([&](spd::AndOp o) { return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) { return "(" + a + " && " + b + ")"; }); })
      .Case([&](spd::OrOp o) { return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) { return "(" + a + " || " + b + ")"; }); })
      .Case([&](spd::XorOp o) { return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) { return "(" + a + " != " + b + ")"; }); })
      .Case([&](spd::ModOp o) {
        bool f = o.getFmod();
        return binary(o.getLhs(), o.getRhs(), [&](auto a, auto b) {
          return std::string(f ? "spdc_fmod(" : "spdc_floormod(") + a + ", " + b + ")";
        });
      })
      .Case([&](spd::PowOp o) -> FailureOr<std::string> {
        FailureOr<std::string> a = operandAt(o.getLhs());
        if (failed(a))
          return failure();
        FailureOr<std::string> b = operandAt(o.getRhs());
        if (failed(b))
          return failure();
        if (isFloat)
          return define(formatv("{0}({1}, ({2})({3}))", fn("pow", ct), *a, ct, *b).str());
        return define(formatv("spdc_ipow<{0}>({1}, (long long)({2}))", ct, *a, *b).str());
      })
      .Case([&](spd::EqualOp o) { return compare(o, "=="); })
      .Case([&](spd::LessOp o) { return compare(o, "<"); })
      .Case([&](spd::LessEqualOp o) { return compare(o, "<="); })
      .Case([&](spd::GreaterOp o) { return compare(o, ">"); })
      .Case([&](spd::GreaterEqualOp o) { return compare(o, ">="); })
      .Case([&](spd::WhereOp o) -> FailureOr<std::string> {
        FailureOr<std::string> c = operandAt(o.getCondition());
        if (failed(c))
          return failure();
        FailureOr<std::string> t = operandAt(o.getTrueValue());
        if (failed(t))
          return failure();
        FailureOr<std::string> f = operandAt(o.getFalseValue());
        if (failed(f))
          return failure();
        return define(formatv("({0} ? {1} : {2})", *c, *t, *f).str());
      })
      // Data movement.
      .Case([&](spd::ReshapeOp o) { return view(o.getInput()); })
      .Case([&](spd::FlattenOp o) { return view(o.getInput()); })
      .Case([&](spd::SqueezeOp o) { return view(o.getInput()); })
      .Case([&](spd::UnsqueezeOp o) { return view(o.getInput()); })
      .Case([&](spd::TransposeOp o) {
        ArrayRef<int64_t> perm = o.getPerm();
        SmallVector<std::string> in(perm.size());
        for (size_t i = 0; i < perm.size(); ++i)
          in[perm[i]] = idx[i];
        return at(o.getInput(), in);
      })
      .Case([&](spd::ExpandOp o) { return operandAt(o.getInput()); })
      .Case([&](spd::TileOp o) {
        Dims in = shapeOf(o.getInput());
        SmallVector<std::string> r;
        for (size_t i = 0; i < in.size(); ++i)
          r.push_back(in[i] == outShape[i] ? idx[i] : "(" + idx[i] + " % " + kb.dim(in[i]) + ")");
        return at(o.getInput(), r);
      })
      .Case([&](spd::SplitOp o) {
        int64_t axis = normAxis(o.getAxis(), outShape.size());
        int64_t offset = 0;
        for (unsigned i = 0; i < cast<OpResult>(v).getResultNumber(); ++i)
          offset += o.getSizes()[i];
        SmallVector<std::string> r(idx.begin(), idx.end());
        if (offset)
          r[axis] = "(" + idx[axis] + " + " + lit(offset) + ")";
        return at(o.getInput(), r);
      })
      .Case([&](spd::SliceOp o) -> FailureOr<std::string> {
        auto starts = gen.constantInts(o.getStarts());
        auto axes = gen.constantInts(o.getAxes());
        auto steps = gen.constantInts(o.getSteps());
        if (failed(starts) || failed(axes) || failed(steps))
          return o.emitError("spdc codegen: slice bounds must be constants");
        Dims in = shapeOf(o.getInput());
        SmallVector<std::string> r(idx.begin(), idx.end());
        for (size_t i = 0; i < axes->size(); ++i) {
          int64_t a = normAxis((*axes)[i], in.size());
          int64_t st = (*starts)[i], step = (*steps)[i];
          std::string start;
          if (std::optional<int64_t> d = in[a].getConstant()) {
            if (st < 0)
              st += *d;
            st = step > 0 ? std::clamp<int64_t>(st, 0, *d) : std::clamp<int64_t>(st, 0, *d - 1);
            start = lit(st);
          } else if (st >= 0 && step > 0) {
            // A start past a dynamic end leaves no elements to read.
            start = lit(st);
          } else {
            return o.emitError("spdc codegen: slice of a dynamic dimension with a negative start or "
                               "step is not supported; give static shapes with --input-shape");
          }
          r[a] = "(" + start + " + " + idx[a] + " * " + lit(step) + ")";
        }
        return at(o.getInput(), r);
      })
      .Case([&](spd::ConcatOp o) -> FailureOr<std::string> {
        int64_t axis = normAxis(o.getAxis(), outShape.size());
        std::string name = kb.fresh();
        kb.line(formatv("{0} {1};", ct, name));
        SymExpr offset = SymExpr::constant(0);
        auto inputs = o.getInputs();
        SmallVector<size_t> live;
        for (size_t i = 0; i < inputs.size(); ++i)
          if (shapeOf(inputs[i])[axis].getConstant() != 0)
            live.push_back(i);
        for (size_t n = 0; n < live.size(); ++n) {
          size_t i = live[n];
          SymExpr size = shapeOf(inputs[i])[axis];
          bool last = n + 1 == live.size();
          if (last && n > 0)
            kb.open("else");
          else if (last)
            kb.open("");
          else
            kb.open(formatv("{0}if ({1} < {2})", n ? "else " : "", idx[axis], kb.dim(offset + size)));
          SmallVector<std::string> r(idx.begin(), idx.end());
          r[axis] = "(" + idx[axis] + " - " + kb.dim(offset) + ")";
          pushScope();
          FailureOr<std::string> x = at(inputs[i], r);
          popScope();
          if (failed(x))
            return failure();
          kb.line(formatv("{0} = {1};", name, *x));
          kb.close();
          offset = offset + size;
        }
        return name;
      })
      .Case([&](spd::GatherOp o) -> FailureOr<std::string> {
        Dims data = shapeOf(o.getData());
        Dims ind = shapeOf(o.getIndices());
        int64_t axis = normAxis(o.getAxis(), data.size());
        SmallVector<std::string> ii(idx.begin() + axis, idx.begin() + axis + ind.size());
        FailureOr<std::string> j = at(o.getIndices(), ii);
        if (failed(j))
          return failure();
        std::string jj = kb.fresh("j");
        kb.line(formatv("const long long {0} = spdc_index((long long){1}, {2});", jj, *j, kb.dim(data[axis])));
        SmallVector<std::string> r(idx.begin(), idx.begin() + axis);
        r.push_back(jj);
        r.append(idx.begin() + axis + ind.size(), idx.end());
        return at(o.getData(), r);
      })
      .Case([&](spd::GatherElementsOp o) -> FailureOr<std::string> {
        Dims data = shapeOf(o.getData());
        int64_t axis = normAxis(o.getAxis(), data.size());
        FailureOr<std::string> j = at(o.getIndices(), idx);
        if (failed(j))
          return failure();
        std::string jj = kb.fresh("j");
        kb.line(formatv("const long long {0} = spdc_index((long long){1}, {2});", jj, *j, kb.dim(data[axis])));
        SmallVector<std::string> r(idx.begin(), idx.end());
        r[axis] = jj;
        return at(o.getData(), r);
      })
      .Case([&](spd::GatherNDOp o) -> FailureOr<std::string> {
        if (failed(gen.requireStatic(o, o->getOperands(), "gather_nd")))
          return failure();
        Dims data = shapeOf(o.getData());
        Dims ind = shapeOf(o.getIndices());
        int64_t b = o.getBatchDims(), q = *ind.back().getConstant(), ir = ind.size();
        SmallVector<std::string> r(idx.begin(), idx.begin() + b);
        for (int64_t t = 0; t < q; ++t) {
          SmallVector<std::string> ii(idx.begin(), idx.begin() + ir - 1);
          ii.push_back(lit(t));
          FailureOr<std::string> j = at(o.getIndices(), ii);
          if (failed(j))
            return failure();
          std::string jj = kb.fresh("j");
          kb.line(formatv("const long long {0} = spdc_index((long long){1}, {2});", jj, *j, kb.dim(data[b + t])));
          r.push_back(jj);
        }
        r.append(idx.begin() + ir - 1, idx.end());
        return at(o.getData(), r);
      })
      .Case([&](spd::PadOp o) -> FailureOr<std::string> {
        auto pads = gen.constantInts(o.getPads());
        if (failed(pads))
          return o.emitError("spdc codegen: pads must be constants");
        if (failed(gen.requireStatic(o, o->getOperands(), "pad")))
          return failure();
        SmallVector<int64_t> in;
        for (const SymExpr &d : shapeOf(o.getInput()))
          in.push_back(*d.getConstant());
        size_t rank = in.size();
        StringRef mode = o.getMode();
        SmallVector<std::string> r;
        std::string inside = "true";
        for (size_t i = 0; i < rank; ++i) {
          int64_t begin = (*pads)[i];
          std::string p = kb.fresh("p");
          kb.line(formatv("long long {0} = {1} - {2};", p, idx[i], lit(begin)));
          if (mode == "constant") {
            inside += " && " + p + " >= 0 && " + p + " < " + lit(in[i]);
          } else if (mode == "edge") {
            kb.line(formatv("{0} = {0} < 0 ? 0 : ({0} >= {1} ? {1} - 1 : {0});", p, lit(in[i])));
          } else if (mode == "wrap") {
            kb.line(formatv("{0} = (({0} % {1}) + {1}) % {1};", p, lit(in[i])));
          } else if (mode == "reflect") {
            if (in[i] > 1)
              kb.line(formatv("{{ const long long per = 2 * ({1} - 1); {0} = (({0} % per) + per) % per; "
                              "if ({0} >= {1}) {0} = per - {0}; }",
                              p, lit(in[i])));
            else
              kb.line(formatv("{0} = 0;", p));
          } else {
            return o.emitError("spdc codegen: pad mode '") << mode << "' is not supported";
          }
          r.push_back(p);
        }
        if (mode != "constant")
          return at(o.getInput(), r);
        FailureOr<std::string> fill = at(o.getValue(), {});
        if (failed(fill))
          return failure();
        std::string name = kb.fresh();
        kb.line(formatv("{0} {1} = {2};", ct, name, *fill));
        kb.open(formatv("if ({0})", inside));
        pushScope();
        FailureOr<std::string> x = at(o.getInput(), r);
        popScope();
        if (failed(x))
          return failure();
        kb.line(formatv("{0} = {1};", name, *x));
        kb.close();
        return name;
      })
      .Case([&](spd::RangeOp o) -> FailureOr<std::string> {
        FailureOr<std::string> s = at(o.getStart(), {});
        if (failed(s))
          return failure();
        FailureOr<std::string> d = at(o.getDelta(), {});
        if (failed(d))
          return failure();
        return define(formatv("({0} + ({1})({2}) * {3})", *s, ct, idx[0], *d).str());
      })
      .Case([&](spd::TriluOp o) -> FailureOr<std::string> {
        size_t r = outShape.size();
        FailureOr<std::string> x = at(o.getInput(), idx);
        if (failed(x))
          return failure();
        std::string cond = formatv("({0} - {1} {2} {3})", idx[r - 1], idx[r - 2],
                                   o.getUpper() ? ">=" : "<=", lit(o.getK()))
                               .str();
        return define(formatv("({0} ? {1} : ({2})0)", cond, *x, ct).str());
      })
      .Case([&](spd::ConstantOfShapeOp o) -> FailureOr<std::string> {
        auto t = cast<ElementsAttr>(o.getValue());
        Attribute first = *t.getValues<Attribute>().begin();
        if (auto f = dyn_cast<FloatAttr>(first))
          return define(formatv("({0})({1:e17})", ct, f.getValueAsDouble()).str());
        if (auto i = dyn_cast<IntegerAttr>(first))
          return define(formatv("({0})({1})", ct, lit(i.getValue().getSExtValue())).str());
        return unsupported();
      })
      .Case([&](spd::ShapeOp o) -> FailureOr<std::string> {
        Dims in = shapeOf(o.getInput());
        int64_t r = in.size();
        int64_t start = std::clamp<int64_t>(normAxis(o.getStart(), r), 0, r);
        std::string e = "0LL";
        for (int64_t i = r - 1; i >= start; --i)
          e = "(" + idx[0] + " == " + lit(i - start) + " ? " + kb.dim(in[i]) + " : " + e + ")";
        return define(e);
      })
      .Case([&](spd::SizeOp o) {
        return define(kb.dim(product(shapeOf(o.getInput()))));
      })
      // Quantization.
      .Case<spd::DequantizeLinearOp, spd::QuantizeLinearOp>(
          [&](auto o) -> FailureOr<std::string> {
            // The scale and zero point per tensor, per axis or per block along the axis.
            Dims sc = shapeOf(o.getScale());
            int64_t axis = normAxis(o.getAxis(), outShape.size());
            SmallVector<std::string> si;
            int64_t n = cast<RankedTensorType>(o.getScale().getType()).getNumElements();
            if (o.getBlockSize() > 0) {
              for (size_t i = 0; i < outShape.size(); ++i)
                si.push_back((int64_t)i == axis
                                 ? "(" + idx[i] + " / " + lit(o.getBlockSize()) + ")"
                                 : idx[i]);
            } else if (n == 1 && sc.size() <= 1) {
              si.assign(sc.size(), "0");
            } else {
              si.push_back(idx[axis]);
            }
            FailureOr<std::string> x = at(o.getInput(), idx);
            FailureOr<std::string> s =
                failed(x) ? FailureOr<std::string>(failure()) : at(o.getScale(), si);
            FailureOr<std::string> z =
                failed(s) ? FailureOr<std::string>(failure()) : at(o.getZeroPoint(), si);
            if (failed(z))
              return failure();
            if constexpr (std::is_same_v<decltype(o), spd::DequantizeLinearOp>)
              return define(
                  formatv("({0})((float({1}) - float({2})) * float({3}))", ct, *x, *z, *s).str());
            else
              return define(formatv("spdc_saturate<{0}>(rintf(float({1}) / float({2})) + float({3}))",
                                    ct, *x, *s, *z)
                                .str());
          })
      .Case([&](spd::RopeOp o) -> FailureOr<std::string> {
        int64_t rot = o.getRotaryDim();
        size_t r = outShape.size();
        std::string j = idx[r - 1];
        FailureOr<std::string> x = at(o.getInput(), idx);
        if (failed(x))
          return failure();
        std::string name = kb.fresh();
        kb.line(formatv("{0} {1} = {2};", ct, name, *x));
        // Rotating the whole head dimension needs no branch (and keeps the table reads
        // unconditional, so that vectorized kernels load them 16 bytes at a time).
        bool partial = outShape[r - 1].getConstant() != rot;
        if (partial)
          kb.open(formatv("if ({0} < {1})", j, lit(rot)));
        pushScope();
        SmallVector<std::string> pi(idx.begin(), idx.end());
        std::string sign = kb.fresh("s");
        if (o.getInterleaved()) {
          pi[r - 1] = "(" + j + " ^ 1LL)";
          kb.line(formatv("const float {0} = ({1} & 1LL) ? 1.0f : -1.0f;", sign, j));
        } else {
          int64_t half = rot / 2;
          pi[r - 1] = "(" + j + " < " + lit(half) + " ? " + j + " + " + lit(half) + " : " + j + " - " + lit(half) + ")";
          // A vectorized kernel's lanes never straddle the half: their partners are as
          // consecutive as they are, from a lane-aligned base.
          if (kb.lanes && j == "(c0 + k)" && half % kb.lanes == 0 && !partial) {
            std::string cp = kb.fresh("cp");
            kb.preload(formatv("const idx_t {0} = c0 < {1} ? c0 + {1} : c0 - {1};", cp, lit(half)).str());
            kb.outerNames.insert(cp);
            pi[r - 1] = "(" + cp + " + k)";
          }
          kb.line(formatv("const float {0} = {1} < {2} ? -1.0f : 1.0f;", sign, j, lit(half)));
        }
        FailureOr<std::string> partner = at(o.getInput(), pi);
        if (failed(partner))
          return failure();
        auto tableAt = [&](Value t) {
          Dims ts = shapeOf(t);
          SmallVector<std::string> ti;
          size_t off = r - ts.size();
          for (size_t i = 0; i < ts.size(); ++i)
            ti.push_back(i + 1 == ts.size() ? j : (isOne(ts[i]) && !isOne(outShape[off + i]) ? "0" : idx[off + i]));
          return at(t, ti);
        };
        FailureOr<std::string> c = tableAt(o.getCos());
        FailureOr<std::string> s = failed(c) ? FailureOr<std::string>(failure()) : tableAt(o.getSin());
        if (failed(s))
          return failure();
        kb.line(formatv("{0} = ({1})(float({2}) * float({3}) + {4} * float({5}) * float({6}));", name, ct,
                        *x, *c, sign, *partner, *s));
        popScope();
        if (partial)
          kb.close();
        return name;
      })
      // Reductions: one loop over the reduced elements per output element.
      .Case<spd::ReduceSumOp, spd::ReduceMeanOp, spd::ReduceMaxOp, spd::ReduceMinOp,
            spd::ReduceProdOp, spd::ReduceSumSquareOp, spd::ReduceL1Op, spd::ReduceL2Op,
            spd::ReduceLogSumOp, spd::ReduceLogSumExpOp>([&](Operation *o) -> FailureOr<std::string> {
        Value in = o->getOperand(0);
        Dims inShape = shapeOf(in);
        auto axesAttr = o->getAttrOfType<DenseI64ArrayAttr>("axes");
        bool keep = true;
        if (auto k = o->getAttrOfType<BoolAttr>("keepdims"))
          keep = k.getValue();
        SmallVector<bool> red(inShape.size(), false);
        for (int64_t a : axesAttr.asArrayRef())
          red[normAxis(a, inShape.size())] = true;
        Dims redDims;
        SymExpr count = SymExpr::constant(1);
        for (size_t i = 0; i < inShape.size(); ++i)
          if (red[i]) {
            redDims.push_back(inShape[i]);
            count = count * inShape[i];
          }
        std::string acc = isFloat ? ct : std::string("long long");
        StringRef name = o->getName().stripDialect();
        bool isMax = name == "reduce_max", isMin = name == "reduce_min";
        bool lse = name == "reduce_log_sum_exp";
        std::string r = kb.fresh("acc");
        std::string init = "(" + acc + ")0";
        if (name == "reduce_prod")
          init = "(" + acc + ")1";
        if (isMax)
          init = "spdc_lowest<" + acc + ">()";
        if (isMin)
          init = "spdc_highest<" + acc + ">()";
        auto loop = [&](auto &&body) -> LogicalResult {
          std::string q = kb.fresh("q");
          kb.open(formatv("for (long long {0} = 0; {0} < {1}; ++{0})", q, kb.dim(count)));
          SmallVector<std::string> qi = kb.unravel(q, redDims);
          SmallVector<std::string> ii;
          size_t oi = 0, ri = 0;
          for (size_t i = 0; i < inShape.size(); ++i) {
            if (red[i]) {
              ii.push_back(qi[ri++]);
              if (keep)
                ++oi;
            } else {
              ii.push_back(idx[oi++]);
            }
          }
          pushScope();
          FailureOr<std::string> x = at(in, ii);
          if (failed(x)) {
            popScope();
            return failure();
          }
          body(*x);
          popScope();
          kb.close();
          return success();
        };
        std::string mx;
        if (lse) {
          mx = kb.fresh("mx");
          kb.line(formatv("{0} {1} = spdc_lowest<{0}>();", acc, mx));
          if (failed(loop([&](const std::string &x) { kb.line(formatv("{0} = spdc_max({0}, ({1}){2});", mx, acc, x)); })))
            return failure();
          kb.line(formatv("if ({0} == -spdc_inf<{1}>()) {0} = 0;", mx, acc));
        }
        kb.line(formatv("{0} {1} = {2};", acc, r, init));
        if (failed(loop([&](const std::string &x0) {
              std::string x = "((" + acc + ")" + x0 + ")";
              if (name == "reduce_sum" || name == "reduce_mean" || name == "reduce_log_sum")
                kb.line(formatv("{0} += {1};", r, x));
              else if (isMax)
                kb.line(formatv("{0} = spdc_max({0}, {1});", r, x));
              else if (isMin)
                kb.line(formatv("{0} = spdc_min({0}, {1});", r, x));
              else if (name == "reduce_prod")
                kb.line(formatv("{0} *= {1};", r, x));
              else if (name == "reduce_sum_square" || name == "reduce_l2")
                kb.line(formatv("{0} += {1} * {1};", r, x));
              else if (name == "reduce_l1")
                kb.line(formatv("{0} += ({1} < 0 ? -{1} : {1});", r, x));
              else if (lse)
                kb.line(formatv("{0} += exp({1} - {2});", r, x, mx));
            })))
          return failure();
        std::string fin = r;
        if (name == "reduce_mean")
          fin = "(" + r + " / (" + acc + ")" + kb.dim(count) + ")";
        else if (name == "reduce_l2")
          fin = "sqrt(" + r + ")";
        else if (name == "reduce_log_sum")
          fin = "log(" + r + ")";
        else if (lse)
          fin = "(log(" + r + ") + " + mx + ")";
        return define("(" + ct + ")(" + fin + ")");
      })
      .Case<spd::ArgMaxOp, spd::ArgMinOp>([&](Operation *o) -> FailureOr<std::string> {
        Value in = o->getOperand(0);
        Dims inShape = shapeOf(in);
        int64_t axis = normAxis(o->getAttrOfType<IntegerAttr>("axis").getInt(), inShape.size());
        bool keep = o->getAttrOfType<BoolAttr>("keepdims").getValue();
        bool last = o->getAttrOfType<BoolAttr>("select_last_index").getValue();
        bool isMax = isa<spd::ArgMaxOp>(o);
        std::string ict = computeTypeName(*elemOf(in));
        std::string best = kb.fresh("best"), bi = kb.fresh("bi"), q = kb.fresh("q");
        kb.line(formatv("{0} {1} = 0; long long {2} = -1;", ict, best, bi));
        kb.open(formatv("for (long long {0} = 0; {0} < {1}; ++{0})", q, kb.dim(inShape[axis])));
        SmallVector<std::string> ii;
        size_t oi = 0;
        for (size_t i = 0; i < inShape.size(); ++i) {
          if ((int64_t)i == axis) {
            ii.push_back(q);
            if (keep)
              ++oi;
          } else {
            ii.push_back(idx[oi++]);
          }
        }
        pushScope();
        FailureOr<std::string> x = at(in, ii);
        popScope();
        if (failed(x))
          return failure();
        std::string better = formatv("{0} {1} {2}", *x, isMax ? (last ? ">=" : ">") : (last ? "<=" : "<"), best);
        kb.line(formatv("if ({0} < 0 || ({1} != {1} && !({2} != {2})) || (!({2} != {2}) && {3})) {{ {2} = {1}; {0} = {4}; }",
                        bi, *x, best, better, q));
        kb.close();
        return define(bi);
      })
      .Case([&](spd::CumSumOp o) -> FailureOr<std::string> {
        int64_t axis = normAxis(o.getAxis(), outShape.size());
        std::string r = kb.fresh("acc"), q = kb.fresh("q");
        std::string acc = isFloat ? ct : std::string("long long");
        kb.line(formatv("{0} {1} = 0;", acc, r));
        std::string lo, hi;
        if (!o.getReverse()) {
          lo = "0";
          hi = o.getExclusive() ? idx[axis] : "(" + idx[axis] + " + 1)";
        } else {
          lo = o.getExclusive() ? "(" + idx[axis] + " + 1)" : idx[axis];
          hi = kb.dim(outShape[axis]);
        }
        kb.open(formatv("for (long long {0} = {1}; {0} < {2}; ++{0})", q, lo, hi));
        SmallVector<std::string> ii(idx.begin(), idx.end());
        ii[axis] = q;
        pushScope();
        FailureOr<std::string> x = at(o.getInput(), ii);
        popScope();
        if (failed(x))
          return failure();
        kb.line(formatv("{0} += {1};", r, *x));
        kb.close();
        return define("(" + ct + ")" + r);
      })
      // Contractions without a GEMM (integer matmuls, odd broadcasts): a loop over k.
      .Case<spd::MatMulOp, spd::MatMulIntegerOp>([&](Operation *o) -> FailureOr<std::string> {
        Value l = o->getOperand(0), rr = o->getOperand(1);
        Dims ls = shapeOf(l), rs = shapeOf(rr);
        size_t orank = outShape.size();
        // Batch index of each operand, broadcast from the result's.
        SmallVector<std::string> li, ri;
        bool l1 = ls.size() == 1, r1 = rs.size() == 1;
        size_t ob = orank - (l1 ? 0 : 1) - (r1 ? 0 : 1); // result batch rank
        auto batchIdx = [&](ArrayRef<SymExpr> s, size_t keepTrailing) {
          SmallVector<std::string> b;
          size_t nb = s.size() - keepTrailing;
          for (size_t i = 0; i < nb; ++i) {
            size_t oi = ob - nb + i;
            b.push_back(isOne(s[i]) && !isOne(outShape[oi]) ? "0" : idx[oi]);
          }
          return b;
        };
        std::string q = kb.fresh("k");
        if (!l1) {
          li = batchIdx(ls, 2);
          li.push_back(idx[ob]);
        }
        li.push_back(q);
        if (!r1)
          ri = batchIdx(rs, 2);
        ri.push_back(q);
        if (!r1)
          ri.push_back(idx[orank - 1]);
        SymExpr kdim = ls.back();
        std::string acc = isFloat ? ct : std::string("long long");
        std::string r = kb.fresh("acc");
        kb.line(formatv("{0} {1} = 0;", acc, r));
        kb.open(formatv("for (long long {0} = 0; {0} < {1}; ++{0})", q, kb.dim(kdim)));
        pushScope();
        FailureOr<std::string> a = at(l, li);
        FailureOr<std::string> b = failed(a) ? FailureOr<std::string>(failure()) : at(rr, ri);
        if (failed(b)) {
          popScope();
          return failure();
        }
        std::string av = *a, bv = *b;
        if (auto mi = dyn_cast<spd::MatMulIntegerOp>(o)) {
          auto zp = [&](Value z, ArrayRef<std::string> full, int64_t dimIdx) -> FailureOr<std::string> {
            Dims zs = shapeOf(z);
            int64_t n = cast<RankedTensorType>(z.getType()).getNumElements();
            if (n == 1)
              return at(z, SmallVector<std::string>(zs.size(), "0"));
            return at(z, {full[dimIdx]});
          };
          if (Value z = mi.getLhsZeroPoint()) {
            FailureOr<std::string> zv = zp(z, li, li.size() - 2);
            if (failed(zv))
              return failure();
            av = "(" + av + " - " + *zv + ")";
          }
          if (Value z = mi.getRhsZeroPoint()) {
            FailureOr<std::string> zv = zp(z, ri, ri.size() - 1);
            if (failed(zv))
              return failure();
            bv = "(" + bv + " - " + *zv + ")";
          }
          kb.line(formatv("{0} += (long long){1} * (long long){2};", r, av, bv));
        } else {
          kb.line(formatv("{0} += ({1}){2} * ({1}){3};", r, acc, av, bv));
        }
        popScope();
        kb.close();
        return define("(" + ct + ")" + r);
      })
      .Case([&](spd::EinsumOp o) -> FailureOr<std::string> {
        if (failed(gen.requireStatic(o, o->getOperands(), "einsum")))
          return failure();
        auto shapeOf = [&](Value x) { return cast<RankedTensorType>(x.getType()).getShape(); };
        // Labels: letters 0..51, the dims under "..." 52 + i counted from the widest's left.
        std::string eq;
        for (char c : o.getEquation())
          if (c != ' ')
            eq.push_back(c);
        StringRef eqRef(eq);
        auto [lhs, rhs] = eqRef.split("->");
        bool explicitOut = eqRef.contains("->");
        SmallVector<StringRef> terms;
        lhs.split(terms, ',');
        auto inputs = o.getInputs();
        if (terms.size() != inputs.size())
          return o.emitError("spdc codegen: malformed einsum equation");
        auto label = [](char c) { return c >= 'a' && c <= 'z' ? c - 'a' : (c >= 'A' && c <= 'Z' ? 26 + c - 'A' : -1); };
        int64_t ellRank = 0;
        for (auto [t, in] : llvm::zip(terms, inputs)) {
          int64_t letters = 0;
          for (char c : t)
            letters += label(c) >= 0;
          if (t.contains("..."))
            ellRank = std::max<int64_t>(ellRank, shapeOf(in).size() - letters);
        }
        auto labelsOf = [&](StringRef t, int64_t rank) {
          SmallVector<int> ls;
          int64_t letters = 0;
          for (char c : t)
            letters += label(c) >= 0;
          for (size_t i = 0; i < t.size(); ++i) {
            if (t[i] == '.') {
              int64_t rest = rank - letters;
              for (int64_t e = 0; e < rest; ++e)
                ls.push_back(52 + (ellRank - rest) + e);
              i += 2;
            } else {
              ls.push_back(label(t[i]));
            }
          }
          return ls;
        };
        SmallVector<SmallVector<int>> inLabels;
        std::map<int, int64_t> sizes, counts;
        for (auto [t, in] : llvm::zip(terms, inputs)) {
          ArrayRef<int64_t> sh = shapeOf(in);
          inLabels.push_back(labelsOf(t, sh.size()));
          for (auto [l, d] : llvm::zip(inLabels.back(), sh)) {
            sizes[l] = std::max(sizes.count(l) ? sizes[l] : 1, d);
            ++counts[l];
          }
        }
        SmallVector<int> outLabels;
        if (explicitOut) {
          outLabels = labelsOf(rhs, cast<RankedTensorType>(v.getType()).getRank());
        } else {
          for (int64_t e = 0; e < ellRank; ++e)
            outLabels.push_back(52 + e);
          for (int i = 0; i < 52; ++i) {
            int l = (i + 26) % 52;
            if (counts.count(l) && counts[l] == 1)
              outLabels.push_back(l);
          }
        }
        std::map<int, std::string> labelIdx;
        for (auto [l, i] : llvm::zip(outLabels, idx))
          labelIdx[l] = i;
        SmallVector<int> summed;
        SmallVector<int64_t> sumDims;
        int64_t total = 1;
        for (auto &[l, d] : sizes)
          if (!labelIdx.count(l)) {
            summed.push_back(l);
            sumDims.push_back(d);
            total *= d;
          }
        std::string acc = isFloat ? ct : std::string("long long");
        std::string r = kb.fresh("acc"), q = kb.fresh("q");
        kb.line(formatv("{0} {1} = 0;", acc, r));
        kb.open(formatv("for (long long {0} = 0; {0} < {1}; ++{0})", q, lit(total)));
        SmallVector<std::string> qi = kb.unravel(q, sumDims);
        for (auto [l, i] : llvm::zip(summed, qi))
          labelIdx[l] = i;
        pushScope();
        std::string prod = "(" + acc + ")1";
        for (auto [ls, in] : llvm::zip(inLabels, inputs)) {
          ArrayRef<int64_t> sh = shapeOf(in);
          SmallVector<std::string> ii;
          for (auto [l, d] : llvm::zip(ls, sh))
            ii.push_back(d == 1 && sizes[l] != 1 ? std::string("0") : labelIdx[l]);
          FailureOr<std::string> x = at(in, ii);
          if (failed(x))
            return failure();
          prod += " * (" + acc + ")" + *x;
        }
        kb.line(formatv("{0} += {1};", r, prod));
        popScope();
        kb.close();
        return define("(" + ct + ")" + r);
      })
      .Case([&](spd::DynamicQuantizeLinearOp o) -> FailureOr<std::string> {
        // Whole-tensor range, recomputed per element: meant for small tensors.
        Value in = o.getInput();
        Dims inShape = shapeOf(in);
        SymExpr n = product(inShape);
        std::string lo = kb.fresh("lo"), hi = kb.fresh("hi"), q = kb.fresh("q");
        kb.line(formatv("float {0} = 0.0f, {1} = 0.0f;", lo, hi));
        kb.open(formatv("for (long long {0} = 0; {0} < {1}; ++{0})", q, kb.dim(n)));
        SmallVector<std::string> qi = kb.unravel(q, inShape);
        pushScope();
        FailureOr<std::string> x = at(in, qi);
        popScope();
        if (failed(x))
          return failure();
        kb.line(formatv("{0} = fminf({0}, {2}); {1} = fmaxf({1}, {2});", lo, hi, *x));
        kb.close();
        std::string scale = kb.fresh("scale"), zp = kb.fresh("zp");
        kb.line(formatv("const float {0} = ({1} - {2}) / 255.0f;", scale, hi, lo));
        kb.line(formatv("const float {0} = fminf(fmaxf(rintf(-{1} / {2}), 0.0f), 255.0f);", zp, lo, scale));
        unsigned which = cast<OpResult>(v).getResultNumber();
        if (which == 1)
          return define(scale);
        if (which == 2)
          return define("(unsigned char)" + zp);
        FailureOr<std::string> y = at(in, idx);
        if (failed(y))
          return failure();
        return define(formatv("(unsigned char)fminf(fmaxf(rintf({0} / {1}) + {2}, 0.0f), 255.0f)", *y, scale, zp).str());
      })
      .Case([&](spd::SoftmaxOp o) -> FailureOr<std::string> {
        return o.emitError("spdc codegen: softmax must be materialized before use");
      })
      .Default([&](Operation *) { return unsupported(); });
}
