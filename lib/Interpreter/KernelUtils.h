//===- KernelUtils.h - helpers shared by the interpreter's kernels -*- C++ -*-===//
//
// Element storage types and their compute types, ONNX Cast conversions, one-switch dtype
// dispatch, numpy broadcasting plans and axis splitting. Kernels are loops over contiguous
// memory; everything here is resolved at compile time except one switch per op.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_LIB_INTERPRETER_KERNELUTILS_H
#define SPDC_LIB_INTERPRETER_KERNELUTILS_H

#include "Kernels.h"

#include "llvm/ADT/bit.h"

#include <array>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

namespace spdc {

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

/// 16-bit float storage; kernels compute on these in f32 and round once per op.
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

template <typename T>
constexpr bool kIsHalfLike = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
template <typename T> constexpr bool kIsFloatLike = kIsHalfLike<T> || std::is_floating_point_v<T>;
template <typename T> constexpr bool kIsInteger = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <typename C> inline bool isNaNValue(C x) {
  if constexpr (std::is_floating_point_v<C>)
    return std::isnan(x);
  else
    return false;
}

/// The type a kernel computes in for storage type T.
template <typename T> struct ComputeTypeOf { using type = T; };
template <> struct ComputeTypeOf<Half> { using type = float; };
template <> struct ComputeTypeOf<BFloat16> { using type = float; };
template <typename T> using ComputeT = typename ComputeTypeOf<T>::type;

template <typename T> inline ComputeT<T> load(T v) {
  if constexpr (std::is_same_v<T, Half>)
    return halfToFloat(v.bits);
  else if constexpr (std::is_same_v<T, BFloat16>)
    return bf16ToFloat(v.bits);
  else
    return v;
}

/// A double rounded to f32 with round-to-odd: rounding that f32 once more to f16 or bf16 then
/// gives the correctly rounded (nearest-even) result, avoiding double-rounding errors.
inline float roundToOddFloat(double d) {
  float f = static_cast<float>(d);
  if (std::isfinite(d) && static_cast<double>(f) != d) {
    uint32_t b = llvm::bit_cast<uint32_t>(f);
    if (std::fabs(static_cast<double>(f)) > std::fabs(d))
      --b; // rounded away from zero: step back toward zero
    f = llvm::bit_cast<float>(b | 1u);
  }
  return f;
}

/// Float to integer with ONNX Cast semantics: truncation toward zero. NaN gives 0 and values
/// outside int64 saturate (undefined in ONNX; defined here so that nothing is UB); within
/// int64 the value wraps to narrower types as numpy's astype does on x86.
template <typename To, typename F> inline To floatToInt(F x) {
  if (std::isnan(x))
    return 0;
  double t = std::trunc(static_cast<double>(x));
  if constexpr (std::is_same_v<To, uint64_t>) {
    if (t >= 0x1p64)
      return std::numeric_limits<uint64_t>::max();
    if (t >= 0x1p63)
      return static_cast<uint64_t>(t);
  }
  int64_t i;
  if (t >= 0x1p63)
    i = std::numeric_limits<int64_t>::max();
  else if (t < -0x1p63)
    i = std::numeric_limits<int64_t>::min();
  else
    i = static_cast<int64_t>(t);
  return static_cast<To>(i);
}

/// Element conversion with ONNX Cast semantics.
template <typename To, typename From> inline To castValue(From x) {
  if constexpr (std::is_same_v<To, From>) {
    return x;
  } else if constexpr (kIsHalfLike<From>) {
    return castValue<To>(load(x));
  } else if constexpr (std::is_same_v<To, bool>) {
    return x != From(0);
  } else if constexpr (std::is_same_v<From, bool>) {
    return castValue<To>(static_cast<int32_t>(x ? 1 : 0));
  } else if constexpr (kIsHalfLike<To>) {
    float f;
    if constexpr (std::is_same_v<From, float>)
      f = x;
    else
      f = roundToOddFloat(static_cast<double>(x));
    if constexpr (std::is_same_v<To, Half>)
      return Half{floatToHalf(f)};
    else
      return BFloat16{floatToBf16(f)};
  } else if constexpr (std::is_floating_point_v<To>) {
    return static_cast<To>(x);
  } else if constexpr (std::is_floating_point_v<From>) {
    return floatToInt<To>(x);
  } else {
    return static_cast<To>(x); // integer to integer wraps, as numpy does
  }
}

/// Compute value back to storage: exact for T's own compute type (rounds once for halves).
template <typename T, typename C> inline T store(C v) { return castValue<T>(v); }

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

enum DTypeMask : unsigned {
  kF32 = 1u << 0,
  kF64 = 1u << 1,
  kF16 = 1u << 2,
  kBF16 = 1u << 3,
  kI8 = 1u << 4,
  kI16 = 1u << 5,
  kI32 = 1u << 6,
  kI64 = 1u << 7,
  kU8 = 1u << 8,
  kU16 = 1u << 9,
  kU32 = 1u << 10,
  kU64 = 1u << 11,
  kBool = 1u << 12,
  kFloats = kF32 | kF64 | kF16 | kBF16,
  kSignedInts = kI8 | kI16 | kI32 | kI64,
  kUnsignedInts = kU8 | kU16 | kU32 | kU64,
  kInts = kSignedInts | kUnsignedInts,
  kSignedNumeric = kFloats | kSignedInts,
  kNumeric = kFloats | kInts,
  kAllTypes = kNumeric | kBool,
};

/// Calls `f(T{})` with T the storage type of `t`, if `t` is in `Mask`; types outside the mask
/// are not instantiated and give an error naming `op`.
template <unsigned Mask, typename F> llvm::Error dispatch(mlir::Operation *op, DType t, F &&f) {
  switch (t) {
  case DType::F32:
    if constexpr ((Mask & kF32) != 0)
      return f(float{});
    break;
  case DType::F64:
    if constexpr ((Mask & kF64) != 0)
      return f(double{});
    break;
  case DType::F16:
    if constexpr ((Mask & kF16) != 0)
      return f(Half{});
    break;
  case DType::BF16:
    if constexpr ((Mask & kBF16) != 0)
      return f(BFloat16{});
    break;
  case DType::I8:
    if constexpr ((Mask & kI8) != 0)
      return f(int8_t{});
    break;
  case DType::I16:
    if constexpr ((Mask & kI16) != 0)
      return f(int16_t{});
    break;
  case DType::I32:
    if constexpr ((Mask & kI32) != 0)
      return f(int32_t{});
    break;
  case DType::I64:
    if constexpr ((Mask & kI64) != 0)
      return f(int64_t{});
    break;
  case DType::U8:
    if constexpr ((Mask & kU8) != 0)
      return f(uint8_t{});
    break;
  case DType::U16:
    if constexpr ((Mask & kU16) != 0)
      return f(uint16_t{});
    break;
  case DType::U32:
    if constexpr ((Mask & kU32) != 0)
      return f(uint32_t{});
    break;
  case DType::U64:
    if constexpr ((Mask & kU64) != 0)
      return f(uint64_t{});
    break;
  case DType::Bool:
    if constexpr ((Mask & kBool) != 0)
      return f(bool{});
    break;
  }
  return opError(op, "element type " + dtypeName(t) + " is not supported");
}

/// Allocates a result, with the error naming `op`.
inline llvm::Expected<Tensor> allocateResult(mlir::Operation *op, DType dtype,
                                             llvm::ArrayRef<int64_t> shape) {
  llvm::Expected<Tensor> t = Tensor::allocate(dtype, shape);
  if (!t)
    return opError(op, llvm::toString(t.takeError()));
  return t;
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

/// The numpy broadcast of `shapes`, or an error naming `op` and the shapes.
llvm::Expected<llvm::SmallVector<int64_t, 6>>
broadcastShapes(mlir::Operation *op, llvm::ArrayRef<llvm::ArrayRef<int64_t>> shapes);

/// How N operands broadcast to an output: the output's dimensions with size-1 dimensions
/// dropped and neighbours that are contiguous in every operand merged, and each operand's
/// element stride per dimension (0 where it is broadcast).
template <size_t N> struct BroadcastPlan {
  llvm::SmallVector<int64_t, 6> dims;
  std::array<llvm::SmallVector<int64_t, 6>, N> strides;
  int64_t total = 0;
};

template <size_t N>
BroadcastPlan<N> planBroadcast(llvm::ArrayRef<int64_t> out,
                               std::array<llvm::ArrayRef<int64_t>, N> in) {
  BroadcastPlan<N> plan;
  int64_t rank = static_cast<int64_t>(out.size());
  plan.total = 1;
  for (int64_t d : out)
    plan.total *= d;
  // Per-operand strides over the output's dimensions.
  std::array<llvm::SmallVector<int64_t, 6>, N> full;
  for (size_t k = 0; k < N; ++k) {
    full[k].assign(rank, 0);
    int64_t offset = rank - static_cast<int64_t>(in[k].size());
    int64_t stride = 1;
    for (int64_t i = static_cast<int64_t>(in[k].size()) - 1; i >= 0; --i) {
      int64_t d = in[k][i];
      full[k][i + offset] = (d == 1 && out[i + offset] != 1) ? 0 : stride;
      stride *= d;
    }
  }
  // Merge from the innermost dimension outwards; built reversed, then flipped.
  llvm::SmallVector<int64_t, 6> dims;
  std::array<llvm::SmallVector<int64_t, 6>, N> strides;
  for (int64_t i = rank - 1; i >= 0; --i) {
    if (out[i] == 1)
      continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < N && merge; ++k)
      merge = full[k][i] == strides[k].back() * dims.back();
    if (merge) {
      dims.back() *= out[i];
      continue;
    }
    dims.push_back(out[i]);
    for (size_t k = 0; k < N; ++k)
      strides[k].push_back(full[k][i]);
  }
  if (dims.empty()) {
    dims.push_back(1);
    for (size_t k = 0; k < N; ++k)
      strides[k].push_back(0);
  }
  plan.dims.assign(dims.rbegin(), dims.rend());
  for (size_t k = 0; k < N; ++k)
    plan.strides[k].assign(strides[k].rbegin(), strides[k].rend());
  return plan;
}

/// Calls `body(outOffset, inOffsets, count, innerStrides)` for each run along the innermost
/// merged dimension, in row-major output order.
template <size_t N, typename Body> void forEachRun(const BroadcastPlan<N> &plan, Body &&body) {
  if (plan.total == 0)
    return;
  size_t rank = plan.dims.size();
  int64_t inner = plan.dims.back();
  std::array<int64_t, N> innerStrides;
  for (size_t k = 0; k < N; ++k)
    innerStrides[k] = plan.strides[k].back();
  llvm::SmallVector<int64_t, 6> index(rank, 0);
  std::array<int64_t, N> offsets{};
  for (int64_t out = 0; out < plan.total; out += inner) {
    body(out, offsets, inner, innerStrides);
    // Advance the odometer over the outer dimensions.
    for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
      if (++index[d] < plan.dims[d]) {
        for (size_t k = 0; k < N; ++k)
          offsets[k] += plan.strides[k][d];
        break;
      }
      for (size_t k = 0; k < N; ++k)
        offsets[k] -= plan.strides[k][d] * (plan.dims[d] - 1);
      index[d] = 0;
    }
  }
}

/// out[i] = f(a[i'], b[i'']) with numpy broadcasting of `a` and `b` to `outShape`.
template <typename Out, typename A, typename B, typename F>
void broadcastBinary(const A *a, llvm::ArrayRef<int64_t> aShape, const B *b,
                     llvm::ArrayRef<int64_t> bShape, Out *out, llvm::ArrayRef<int64_t> outShape,
                     F &&f) {
  if (aShape == bShape) {
    int64_t n = 1;
    for (int64_t d : outShape)
      n *= d;
    for (int64_t i = 0; i < n; ++i)
      out[i] = f(a[i], b[i]);
    return;
  }
  BroadcastPlan<2> plan = planBroadcast<2>(outShape, {aShape, bShape});
  forEachRun(plan, [&](int64_t o, std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> s) {
    const A *pa = a + off[0];
    const B *pb = b + off[1];
    Out *po = out + o;
    if (s[0] == 1 && s[1] == 1) {
      for (int64_t i = 0; i < n; ++i)
        po[i] = f(pa[i], pb[i]);
    } else if (s[0] == 1 && s[1] == 0) {
      B vb = *pb;
      for (int64_t i = 0; i < n; ++i)
        po[i] = f(pa[i], vb);
    } else if (s[0] == 0 && s[1] == 1) {
      A va = *pa;
      for (int64_t i = 0; i < n; ++i)
        po[i] = f(va, pb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        po[i] = f(pa[i * s[0]], pb[i * s[1]]);
    }
  });
}

/// A shape seen as [outer, n, inner] around `axis`.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
inline AxisSplit splitAtAxis(llvm::ArrayRef<int64_t> shape, int64_t axis) {
  AxisSplit s;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    if (i < axis)
      s.outer *= shape[i];
    else if (i == axis)
      s.n = shape[i];
    else
      s.inner *= shape[i];
  }
  return s;
}

/// Checks that `axis` is a dimension of `shape` (the verifier does so for static IR; kernels
/// check again since evaluateOp may be handed anything).
inline llvm::Error checkAxis(mlir::Operation *op, int64_t axis, int64_t rank) {
  if (axis < 0 || axis >= rank)
    return opError(op,
                   "axis " + llvm::Twine(axis) + " is out of range for rank " + llvm::Twine(rank));
  return llvm::Error::success();
}

/// The elements of `t` converted to V with Cast semantics; `t`'s type must be in `Mask`.
template <typename V, unsigned Mask = kNumeric>
llvm::Expected<std::vector<V>> convertAll(mlir::Operation *op, const Tensor &t) {
  std::vector<V> values(t.numElements());
  llvm::Error e = dispatch<Mask>(op, t.dtype(), [&](auto tag) -> llvm::Error {
    using T = decltype(tag);
    const T *x = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = castValue<V>(load(x[i]));
    return llvm::Error::success();
  });
  if (e)
    return std::move(e);
  return values;
}

} // namespace spdc

#endif // SPDC_LIB_INTERPRETER_KERNELUTILS_H
