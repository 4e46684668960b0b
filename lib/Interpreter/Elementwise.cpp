//===- Elementwise.cpp - elementwise interpreter kernels ------------------===//
//
// Unary math, cast, clip, binary arithmetic and logic with numpy broadcasting, comparisons,
// pow and where, with ONNX semantics. Each op is a small functor over the compute type; one
// switch per op picks the storage type, the loops are plain and contiguous.
//
// Integer arithmetic wraps (computed in uint64 and truncated) so that overflow, which ONNX
// leaves to the platform, is never undefined behaviour here. Integer division or remainder
// by zero gives 0 (numpy's result, without the warning).
//
//===----------------------------------------------------------------------===//

#include "KernelUtils.h"
#include "Kernels.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include <cmath>
#include <vector>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace spdc {
namespace {

//===----------------------------------------------------------------------===//
// Integer helpers
//===----------------------------------------------------------------------===//

template <typename C> C wrapAdd(C a, C b) {
  return static_cast<C>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <typename C> C wrapSub(C a, C b) {
  return static_cast<C>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
template <typename C> C wrapMul(C a, C b) {
  return static_cast<C>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
template <typename C> C wrapNeg(C a) { return static_cast<C>(0 - static_cast<uint64_t>(a)); }

/// Clamps to [0, 1], letting NaN through (numpy's minimum/maximum propagate it).
template <typename C> C clampUnit(C t) { return t < C(0) ? C(0) : (t > C(1) ? C(1) : t); }

//===----------------------------------------------------------------------===//
// Unary
//===----------------------------------------------------------------------===//

/// y[i] = store(fn(load(x[i]))) over one input of a type in Mask; the result has its type.
template <unsigned Mask, typename Fn>
Error applyUnary(Operation *op, const Tensor &in, std::vector<Tensor> &results, Fn fn) {
  return dispatch<Mask>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> out = allocateResult(op, in.dtype(), in.shape());
    if (!out)
      return out.takeError();
    const T *x = in.data<T>();
    T *y = out->mutableData<T>();
    for (int64_t i = 0, n = in.numElements(); i < n; ++i)
      y[i] = store<T>(fn(load(x[i])));
    results.push_back(std::move(*out));
    return Error::success();
  });
}

template <unsigned Mask, typename Fn>
Error unaryKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  return applyUnary<Mask>(op, operands[0], results, Fn());
}

struct NegFn {
  template <typename C> C operator()(C x) const {
    if constexpr (kIsInteger<C>)
      return wrapNeg(x);
    else
      return -x;
  }
};
struct AbsFn {
  template <typename C> C operator()(C x) const {
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else if constexpr (kIsInteger<C>)
      return x < 0 ? wrapNeg(x) : x;
    else
      return std::fabs(x);
  }
};
struct ReluFn {
  template <typename C> C operator()(C x) const { return x < C(0) ? C(0) : x; }
};
struct SignFn {
  template <typename C> C operator()(C x) const {
    if (x > C(0))
      return C(1);
    if constexpr (!std::is_unsigned_v<C>)
      if (x < C(0))
        return C(-1);
    return x == C(0) ? C(0) : x; // NaN stays NaN
  }
};
struct NotFn {
  bool operator()(bool x) const { return !x; }
};

#define SPD_FLOAT_UNARY(NAME, EXPR)                                                                \
  struct NAME {                                                                                    \
    template <typename C> C operator()(C x) const { return EXPR; }                                 \
  };
SPD_FLOAT_UNARY(SqrtFn, std::sqrt(x))
SPD_FLOAT_UNARY(ReciprocalFn, C(1) / x)
SPD_FLOAT_UNARY(ExpFn, std::exp(x))
SPD_FLOAT_UNARY(LogFn, std::log(x))
SPD_FLOAT_UNARY(ErfFn, std::erf(x))
SPD_FLOAT_UNARY(TanhFn, std::tanh(x))
SPD_FLOAT_UNARY(SinFn, std::sin(x))
SPD_FLOAT_UNARY(CosFn, std::cos(x))
SPD_FLOAT_UNARY(FloorFn, std::floor(x))
SPD_FLOAT_UNARY(CeilFn, std::ceil(x))
// nearbyint rounds half to even in the default rounding mode, which nothing here changes.
SPD_FLOAT_UNARY(RoundFn, std::nearbyint(x))
// Both forms avoid exp overflow for large |x|.
SPD_FLOAT_UNARY(SigmoidFn,
                x >= C(0) ? C(1) / (C(1) + std::exp(-x)) : std::exp(x) / (C(1) + std::exp(x)))
SPD_FLOAT_UNARY(SoftplusFn, x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)))
// ONNX HardSwish: alpha = 1/6, beta = 1/2.
SPD_FLOAT_UNARY(HardSwishFn, x *clampUnit(C(1.0 / 6.0) * x + C(0.5)))
#undef SPD_FLOAT_UNARY

Error leakyReluKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  float alpha = cast<spd::LeakyReluOp>(op).getAlpha().convertToFloat();
  return applyUnary<kFloats>(op, operands[0], results, [alpha](auto x) {
    using C = decltype(x);
    return x < C(0) ? C(alpha) * x : x;
  });
}

Error eluKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  float alpha = cast<spd::EluOp>(op).getAlpha().convertToFloat();
  return applyUnary<kFloats>(op, operands[0], results, [alpha](auto x) {
    using C = decltype(x);
    return x < C(0) ? C(alpha) * (std::exp(x) - C(1)) : x;
  });
}

Error hardSigmoidKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto hs = cast<spd::HardSigmoidOp>(op);
  float alpha = hs.getAlpha().convertToFloat();
  float beta = hs.getBeta().convertToFloat();
  return applyUnary<kFloats>(op, operands[0], results, [alpha, beta](auto x) {
    using C = decltype(x);
    return clampUnit(C(alpha) * x + C(beta));
  });
}

Error geluKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  StringRef approximate = cast<spd::GeluOp>(op).getApproximate();
  if (approximate == "tanh")
    return applyUnary<kFloats>(op, operands[0], results, [](auto x) {
      using C = decltype(x);
      // sqrt(2 / pi)
      const C k = C(0.7978845608028654);
      return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
    });
  if (approximate != "none")
    return opError(op, "unknown approximate mode \"" + approximate + "\"");
  return applyUnary<kFloats>(op, operands[0], results, [](auto x) {
    using C = decltype(x);
    return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440)));
  });
}

/// A predicate over a float input: the result is i1 of the input's shape.
template <typename Fn>
Error applyPredicate(Operation *op, const Tensor &in, std::vector<Tensor> &results, Fn fn) {
  return dispatch<kFloats>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> out = allocateResult(op, DType::Bool, in.shape());
    if (!out)
      return out.takeError();
    const T *x = in.data<T>();
    bool *y = out->mutableData<bool>();
    for (int64_t i = 0, n = in.numElements(); i < n; ++i)
      y[i] = fn(load(x[i]));
    results.push_back(std::move(*out));
    return Error::success();
  });
}

Error isNaNKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  return applyPredicate(op, operands[0], results, [](auto x) { return std::isnan(x); });
}

Error isInfKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto isInf = cast<spd::IsInfOp>(op);
  bool positive = isInf.getDetectPositive();
  bool negative = isInf.getDetectNegative();
  return applyPredicate(op, operands[0], results, [positive, negative](auto x) {
    return std::isinf(x) && (x > 0 ? positive : negative);
  });
}

//===----------------------------------------------------------------------===//
// Cast and clip
//===----------------------------------------------------------------------===//

Error castKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  Expected<DType> to = resultDType(op);
  if (!to)
    return to.takeError();
  Expected<Tensor> out = allocateResult(op, *to, in.shape());
  if (!out)
    return out.takeError();
  int64_t n = in.numElements();
  Error e = dispatch<kAllTypes>(op, in.dtype(), [&](auto srcTag) -> Error {
    using S = decltype(srcTag);
    const S *x = in.data<S>();
    return dispatch<kAllTypes>(op, *to, [&](auto dstTag) -> Error {
      using D = decltype(dstTag);
      D *y = out->mutableData<D>();
      for (int64_t i = 0; i < n; ++i)
        y[i] = castValue<D>(x[i]);
      return Error::success();
    });
  });
  if (e)
    return e;
  results.push_back(std::move(*out));
  return Error::success();
}

Error clipKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto clip = cast<spd::ClipOp>(op);
  const Tensor &in = operands[0];
  const Tensor *bounds[2] = {nullptr, nullptr};
  for (unsigned k = 0; k < 2; ++k) {
    auto [start, length] = clip.getODSOperandIndexAndLength(1 + k);
    if (length == 0)
      continue;
    bounds[k] = &operands[start];
    if (bounds[k]->numElements() != 1 || bounds[k]->dtype() != in.dtype())
      return opError(op, "min and max must be one element of the input's type, got " +
                             bounds[k]->typeString());
  }
  return dispatch<kNumeric>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    using C = ComputeT<T>;
    Expected<Tensor> out = allocateResult(op, in.dtype(), in.shape());
    if (!out)
      return out.takeError();
    bool hasLo = bounds[0] != nullptr, hasHi = bounds[1] != nullptr;
    C lo = hasLo ? load(bounds[0]->data<T>()[0]) : C(0);
    C hi = hasHi ? load(bounds[1]->data<T>()[0]) : C(0);
    const T *x = in.data<T>();
    T *y = out->mutableData<T>();
    // numpy.clip: minimum(maximum(x, lo), hi); NaN inputs stay NaN, lo > hi gives hi.
    for (int64_t i = 0, n = in.numElements(); i < n; ++i) {
      C v = load(x[i]);
      if (hasLo && v < lo)
        v = lo;
      if (hasHi && v > hi)
        v = hi;
      y[i] = store<T>(v);
    }
    results.push_back(std::move(*out));
    return Error::success();
  });
}

//===----------------------------------------------------------------------===//
// Binary
//===----------------------------------------------------------------------===//

/// Broadcast binary op over two operands of one type in Mask. The result has the operands'
/// type, or i1 when BoolResult.
template <unsigned Mask, bool BoolResult, typename Fn>
Error applyBinary(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results, Fn fn) {
  const Tensor &a = operands[0], &b = operands[1];
  if (a.dtype() != b.dtype())
    return opError(op,
                   "operand element types differ: " + a.typeString() + " and " + b.typeString());
  Expected<llvm::SmallVector<int64_t, 6>> shape = broadcastShapes(op, {a.shape(), b.shape()});
  if (!shape)
    return shape.takeError();
  return dispatch<Mask>(op, a.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    using Out = std::conditional_t<BoolResult, bool, T>;
    Expected<Tensor> out = allocateResult(op, BoolResult ? DType::Bool : a.dtype(), *shape);
    if (!out)
      return out.takeError();
    broadcastBinary(a.data<T>(), a.shape(), b.data<T>(), b.shape(), out->mutableData<Out>(), *shape,
                    [&](T x, T y) { return store<Out>(fn(load(x), load(y))); });
    results.push_back(std::move(*out));
    return Error::success();
  });
}

template <unsigned Mask, bool BoolResult, typename Fn>
Error binaryKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  return applyBinary<Mask, BoolResult>(op, operands, results, Fn());
}

struct AddFn {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInteger<C>)
      return wrapAdd(a, b);
    else
      return a + b;
  }
};
struct SubFn {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInteger<C>)
      return wrapSub(a, b);
    else
      return a - b;
  }
};
struct MulFn {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInteger<C>)
      return wrapMul(a, b);
    else
      return a * b;
  }
};
struct DivFn {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInteger<C>) {
      if (b == 0)
        return 0;
      if constexpr (std::is_signed_v<C>)
        if (b == -1) // avoids INT_MIN / -1
          return wrapNeg(a);
      return static_cast<C>(a / b); // C++ truncates toward zero, as ONNX wants
    } else {
      return a / b;
    }
  }
};
struct MaxFn {
  template <typename C> C operator()(C a, C b) const {
    if (isNaNValue(a) || isNaNValue(b))
      return isNaNValue(a) ? a : b;
    return a < b ? b : a;
  }
};
struct MinFn {
  template <typename C> C operator()(C a, C b) const {
    if (isNaNValue(a) || isNaNValue(b))
      return isNaNValue(a) ? a : b;
    return b < a ? b : a;
  }
};
struct AndFn {
  bool operator()(bool a, bool b) const { return a && b; }
};
struct OrFn {
  bool operator()(bool a, bool b) const { return a || b; }
};
struct XorFn {
  bool operator()(bool a, bool b) const { return a != b; }
};

/// Remainder with the sign of the divisor (Python's %, numpy.mod).
struct FloorModFn {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInteger<C>) {
      if (b == 0)
        return 0;
      if constexpr (std::is_signed_v<C>) {
        if (b == -1)
          return 0;
        C r = static_cast<C>(a % b);
        if (r != 0 && ((r < 0) != (b < 0)))
          r = static_cast<C>(r + b);
        return r;
      } else {
        return static_cast<C>(a % b);
      }
    } else {
      C r = std::fmod(a, b);
      if (r != C(0) && ((r < C(0)) != (b < C(0))))
        r += b;
      return r;
    }
  }
};
/// Remainder with the sign of the dividend (C fmod).
struct TruncModFn {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInteger<C>) {
      if (b == 0)
        return 0;
      if constexpr (std::is_signed_v<C>)
        if (b == -1)
          return 0;
      return static_cast<C>(a % b);
    } else {
      return std::fmod(a, b);
    }
  }
};

Error modKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  if (cast<spd::ModOp>(op).getFmod())
    return applyBinary<kNumeric, false>(op, operands, results, TruncModFn());
  return applyBinary<kNumeric, false>(op, operands, results, FloorModFn());
}

#define SPD_COMPARE(NAME, EXPR)                                                                    \
  struct NAME {                                                                                    \
    template <typename C> bool operator()(C a, C b) const { return EXPR; }                         \
  };
SPD_COMPARE(EqualFn, a == b)
SPD_COMPARE(LessFn, a < b)
SPD_COMPARE(LessEqualFn, a <= b)
SPD_COMPARE(GreaterFn, a > b)
SPD_COMPARE(GreaterEqualFn, a >= b)
#undef SPD_COMPARE

//===----------------------------------------------------------------------===//
// Pow
//===----------------------------------------------------------------------===//


/// Exact integer power, wrapping like repeated multiplication. Negative exponents give the
/// integer part of the real result (numpy refuses them): 1 for base 1, +-1 for base -1, else 0.
int64_t intPow(int64_t base, int64_t exponent) {
  if (exponent < 0) {
    if (base == 1)
      return 1;
    if (base == -1)
      return (exponent & 1) ? -1 : 1;
    return 0;
  }
  uint64_t result = 1, b = static_cast<uint64_t>(base);
  uint64_t e = static_cast<uint64_t>(exponent);
  while (e) {
    if (e & 1)
      result *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<int64_t>(result);
}

Error powKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &base = operands[0], &exponent = operands[1];
  Expected<llvm::SmallVector<int64_t, 6>> shape =
      broadcastShapes(op, {base.shape(), exponent.shape()});
  if (!shape)
    return shape.takeError();
  return dispatch<kNumeric>(op, base.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> out = allocateResult(op, base.dtype(), *shape);
    if (!out)
      return out.takeError();
    T *y = out->mutableData<T>();
    if constexpr (kIsInteger<T>) {
      if (!isFloat(exponent.dtype())) {
        Expected<std::vector<int64_t>> e = convertAll<int64_t>(op, exponent);
        if (!e)
          return e.takeError();
        broadcastBinary(base.data<T>(), base.shape(), e->data(), exponent.shape(), y, *shape,
                        [](T b, int64_t x) { return static_cast<T>(intPow(b, x)); });
        results.push_back(std::move(*out));
        return Error::success();
      }
    }
    // Floating bases (and integer bases with a floating exponent, as numpy then casts back)
    // compute in double and round once.
    Expected<std::vector<double>> e = convertAll<double>(op, exponent);
    if (!e)
      return e.takeError();
    broadcastBinary(
        base.data<T>(), base.shape(), e->data(), exponent.shape(), y, *shape,
        [](T b, double x) { return castValue<T>(std::pow(static_cast<double>(load(b)), x)); });
    results.push_back(std::move(*out));
    return Error::success();
  });
}

//===----------------------------------------------------------------------===//
// Where
//===----------------------------------------------------------------------===//

Error whereKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &cond = operands[0], &a = operands[1], &b = operands[2];
  if (cond.dtype() != DType::Bool)
    return opError(op, "condition must be i1, got " + cond.typeString());
  if (a.dtype() != b.dtype())
    return opError(op, "value element types differ: " + a.typeString() + " and " + b.typeString());
  Expected<llvm::SmallVector<int64_t, 6>> shape =
      broadcastShapes(op, {cond.shape(), a.shape(), b.shape()});
  if (!shape)
    return shape.takeError();
  return dispatch<kAllTypes>(op, a.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> out = allocateResult(op, a.dtype(), *shape);
    if (!out)
      return out.takeError();
    const bool *c = cond.data<bool>();
    const T *x = a.data<T>();
    const T *z = b.data<T>();
    T *y = out->mutableData<T>();
    if (cond.shape() == a.shape() && a.shape() == b.shape()) {
      for (int64_t i = 0, n = out->numElements(); i < n; ++i)
        y[i] = c[i] ? x[i] : z[i];
    } else {
      BroadcastPlan<3> plan = planBroadcast<3>(*shape, {cond.shape(), a.shape(), b.shape()});
      forEachRun(plan,
                 [&](int64_t o, std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> s) {
                   for (int64_t i = 0; i < n; ++i)
                     y[o + i] = c[off[0] + i * s[0]] ? x[off[1] + i * s[1]] : z[off[2] + i * s[2]];
                 });
    }
    results.push_back(std::move(*out));
    return Error::success();
  });
}

} // namespace

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

Expected<llvm::SmallVector<int64_t, 6>> broadcastShapes(Operation *op,
                                                        ArrayRef<ArrayRef<int64_t>> shapes) {
  size_t rank = 0;
  for (ArrayRef<int64_t> s : shapes)
    rank = std::max(rank, s.size());
  llvm::SmallVector<int64_t, 6> out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    for (ArrayRef<int64_t> s : shapes) {
      if (i + s.size() < rank)
        continue;
      int64_t d = s[i + s.size() - rank];
      int64_t &o = out[i];
      if (d == o || d == 1)
        continue;
      if (o == 1) {
        o = d;
        continue;
      }
      std::string text;
      for (auto [k, sh] : llvm::enumerate(shapes)) {
        if (k)
          text += ", ";
        text += "[";
        for (auto [j, v] : llvm::enumerate(sh))
          text += (j ? "x" : "") + std::to_string(v);
        text += "]";
      }
      return opError(op, "operand shapes " + text + " do not broadcast");
    }
  }
  return out;
}

void registerElementwiseKernels(KernelTable &table) {
  table.add<spd::NegOp>(unaryKernel<kSignedNumeric, NegFn>);
  table.add<spd::AbsOp>(unaryKernel<kNumeric, AbsFn>);
  table.add<spd::SqrtOp>(unaryKernel<kFloats, SqrtFn>);
  table.add<spd::ReciprocalOp>(unaryKernel<kFloats, ReciprocalFn>);
  table.add<spd::ExpOp>(unaryKernel<kFloats, ExpFn>);
  table.add<spd::LogOp>(unaryKernel<kFloats, LogFn>);
  table.add<spd::ErfOp>(unaryKernel<kFloats, ErfFn>);
  table.add<spd::TanhOp>(unaryKernel<kFloats, TanhFn>);
  table.add<spd::SigmoidOp>(unaryKernel<kFloats, SigmoidFn>);
  table.add<spd::ReluOp>(unaryKernel<kNumeric, ReluFn>);
  table.add<spd::SinOp>(unaryKernel<kFloats, SinFn>);
  table.add<spd::CosOp>(unaryKernel<kFloats, CosFn>);
  table.add<spd::FloorOp>(unaryKernel<kFloats, FloorFn>);
  table.add<spd::CeilOp>(unaryKernel<kFloats, CeilFn>);
  table.add<spd::RoundOp>(unaryKernel<kFloats, RoundFn>);
  table.add<spd::SignOp>(unaryKernel<kNumeric, SignFn>);
  table.add<spd::SoftplusOp>(unaryKernel<kFloats, SoftplusFn>);
  table.add<spd::HardSwishOp>(unaryKernel<kFloats, HardSwishFn>);
  table.add<spd::NotOp>(unaryKernel<kBool, NotFn>);
  table.add<spd::LeakyReluOp>(leakyReluKernel);
  table.add<spd::EluOp>(eluKernel);
  table.add<spd::HardSigmoidOp>(hardSigmoidKernel);
  table.add<spd::GeluOp>(geluKernel);
  table.add<spd::IsNaNOp>(isNaNKernel);
  table.add<spd::IsInfOp>(isInfKernel);
  table.add<spd::CastOp>(castKernel);
  table.add<spd::ClipOp>(clipKernel);

  table.add<spd::AddOp>(binaryKernel<kNumeric, false, AddFn>);
  table.add<spd::SubOp>(binaryKernel<kNumeric, false, SubFn>);
  table.add<spd::MulOp>(binaryKernel<kNumeric, false, MulFn>);
  table.add<spd::DivOp>(binaryKernel<kNumeric, false, DivFn>);
  table.add<spd::MaxOp>(binaryKernel<kNumeric, false, MaxFn>);
  table.add<spd::MinOp>(binaryKernel<kNumeric, false, MinFn>);
  table.add<spd::AndOp>(binaryKernel<kBool, false, AndFn>);
  table.add<spd::OrOp>(binaryKernel<kBool, false, OrFn>);
  table.add<spd::XorOp>(binaryKernel<kBool, false, XorFn>);
  table.add<spd::ModOp>(modKernel);
  table.add<spd::PowOp>(powKernel);
  table.add<spd::EqualOp>(binaryKernel<kAllTypes, true, EqualFn>);
  table.add<spd::LessOp>(binaryKernel<kNumeric, true, LessFn>);
  table.add<spd::LessEqualOp>(binaryKernel<kNumeric, true, LessEqualFn>);
  table.add<spd::GreaterOp>(binaryKernel<kNumeric, true, GreaterFn>);
  table.add<spd::GreaterEqualOp>(binaryKernel<kNumeric, true, GreaterEqualFn>);
  table.add<spd::WhereOp>(whereKernel);
}

} // namespace spdc
