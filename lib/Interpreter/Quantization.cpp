//===- Quantization.cpp - quantize / dequantize kernels -------------------===//
//
// ONNX QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear. f32 and half inputs are
// computed in f32, as the ONNX reference does for f32 (so that x / scale rounds the same way
// before round-half-to-even); f64 and integer inputs in f64.
//
//===----------------------------------------------------------------------===//

#include "KernelUtils.h"
#include "Kernels.h"
#include "ShapeUtils.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

using namespace mlir;
using namespace spdc;
using llvm::ArrayRef;
using llvm::Error;
using llvm::SmallVector;

namespace {

/// How the elements of `x`, viewed as [outer, dim, inner] around the quantization axis, map
/// to the elements of scale and zero point.
struct QuantLayout {
  enum Kind { PerTensor, PerAxis, Blockwise } kind = PerTensor;
  int64_t outer = 1, dim = 1, inner = 1, blockSize = 1, blocks = 1;

  /// Calls `fn(flatIndexOfX, indexOfScale)` for every element of x.
  template <typename Fn> void forEach(Fn fn) const {
    int64_t flat = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t a = 0; a < dim; ++a) {
        int64_t rowBase = kind == PerTensor ? 0
                          : kind == PerAxis ? a
                                            : (o * blocks + a / blockSize) * inner;
        for (int64_t i = 0; i < inner; ++i, ++flat)
          fn(flat, kind == Blockwise ? rowBase + i : rowBase);
      }
  }
};

llvm::Expected<QuantLayout> quantLayout(Operation *op, const Tensor &x, const Tensor &scale,
                                        const Tensor &zeroPoint, int64_t axis, int64_t blockSize) {
  if (zeroPoint.shape() != scale.shape())
    return opError(op, "zero point " + zeroPoint.typeString() + " and scale " + scale.typeString() +
                           " must have one shape");
  QuantLayout layout;
  layout.inner = x.numElements();
  bool perTensor = blockSize == 0 && scale.numElements() == 1 && scale.rank() <= 1;
  if (perTensor)
    return layout;
  int64_t a = axis < 0 ? axis + x.rank() : axis;
  if (a < 0 || a >= x.rank())
    return opError(op, "axis " + Twine(axis) + " is out of range for input " + x.typeString());
  layout.outer = product(x.shape().take_front(a));
  layout.dim = x.dim(a);
  layout.inner = product(x.shape().drop_front(a + 1));
  if (blockSize < 0)
    return opError(op, "block_size must not be negative");
  if (blockSize == 0) {
    if (scale.rank() != 1 || scale.dim(0) != layout.dim)
      return opError(op, "per-axis scale " + scale.typeString() + " does not match axis " +
                             Twine(a) + " of input " + x.typeString());
    layout.kind = QuantLayout::PerAxis;
    layout.inner = product(x.shape().drop_front(a + 1));
    return layout;
  }
  layout.kind = QuantLayout::Blockwise;
  layout.blockSize = blockSize;
  layout.blocks = (layout.dim + blockSize - 1) / blockSize;
  bool ok = scale.rank() == x.rank();
  for (int64_t d = 0; ok && d < x.rank(); ++d)
    ok = scale.dim(d) == (d == a ? layout.blocks : x.dim(d));
  if (!ok)
    return opError(op, "blockwise scale " + scale.typeString() + " does not match input " +
                           x.typeString() + " with block_size " + Twine(blockSize) + " on axis " +
                           Twine(a));
  return layout;
}

/// The elements of `t` converted to `CT`.
template <typename CT> Error loadAs(Operation *op, const Tensor &t, std::vector<CT> &out) {
  out.resize(t.numElements());
  return dispatch<kNumeric>(op, t.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    const T *src = t.data<T>();
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<CT>(load(src[i]));
    return Error::success();
  });
}

/// Integer types quantize_linear produces (ONNX's 4-bit and float8 types are not DTypes).
constexpr unsigned kQuantizedTypes = kI8 | kU8 | kI16 | kU16 | kI32;

bool isIntegerDType(DType t) { return isSignedInt(t) || isUnsignedInt(t); }

/// `v` rounded half to even, plus `zeroPoint`, saturated to `S`. NaN becomes 0.
template <typename S, typename CT> S saturateRound(CT v, int64_t zeroPoint) {
  double q = static_cast<double>(std::nearbyint(v)) + static_cast<double>(zeroPoint);
  if (std::isnan(q))
    return 0;
  q = std::clamp(q, static_cast<double>(std::numeric_limits<S>::lowest()),
                 static_cast<double>(std::numeric_limits<S>::max()));
  return static_cast<S>(q);
}

template <typename CT>
Error quantize(Operation *op, const Tensor &x, const Tensor &scale, const Tensor &zeroPoint,
               const QuantLayout &layout, Tensor &out) {
  std::vector<CT> xs, scales;
  if (Error e = loadAs(op, x, xs))
    return e;
  if (Error e = loadAs(op, scale, scales))
    return e;
  SmallVector<int64_t> zps = readInts(zeroPoint);
  return dispatch<kQuantizedTypes>(op, out.dtype(), [&](auto tag) -> Error {
    using S = decltype(tag);
    S *dst = out.mutableData<S>();
    layout.forEach([&](int64_t flat, int64_t s) {
      dst[flat] = saturateRound<S>(static_cast<CT>(xs[flat] / scales[s]), zps[s]);
    });
    return Error::success();
  });
}

Error quantizeLinearKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto q = cast<spd::QuantizeLinearOp>(op);
  const Tensor &x = operands[0], &scale = operands[1], &zeroPoint = operands[2];
  if (!isFloat(scale.dtype()))
    return opError(op, "scale must be floating-point, got " + scale.typeString());
  if (!isFloat(x.dtype()) && !isIntegerDType(x.dtype()))
    return opError(op, "cannot quantize input " + x.typeString());
  auto outType = resultDType(op);
  if (!outType)
    return outType.takeError();
  if (zeroPoint.dtype() != *outType)
    return opError(op, "zero point " + zeroPoint.typeString() +
                           " must have the result's "
                           "element type " +
                           dtypeName(*outType));
  auto layout = quantLayout(op, x, scale, zeroPoint, q.getAxis(), q.getBlockSize());
  if (!layout)
    return layout.takeError();
  auto out = allocateResult(op, *outType, x.shape());
  if (!out)
    return out.takeError();
  bool wide = x.dtype() == DType::F64 || scale.dtype() == DType::F64 || !isFloat(x.dtype());
  Error err = wide ? quantize<double>(op, x, scale, zeroPoint, *layout, *out)
                   : quantize<float>(op, x, scale, zeroPoint, *layout, *out);
  if (err)
    return err;
  results.push_back(std::move(*out));
  return Error::success();
}

Error dequantizeLinearKernel(Operation *op, ArrayRef<Tensor> operands,
                             std::vector<Tensor> &results) {
  auto dq = cast<spd::DequantizeLinearOp>(op);
  const Tensor &x = operands[0], &scale = operands[1], &zeroPoint = operands[2];
  if (!isIntegerDType(x.dtype()))
    return opError(op, "cannot dequantize input " + x.typeString());
  if (zeroPoint.dtype() != x.dtype())
    return opError(op, "zero point " + zeroPoint.typeString() + " must have the input's type");
  if (!isFloat(scale.dtype()))
    return opError(op, "scale must be floating-point, got " + scale.typeString());
  auto outType = resultDType(op);
  if (!outType)
    return outType.takeError();
  auto layout = quantLayout(op, x, scale, zeroPoint, dq.getAxis(), dq.getBlockSize());
  if (!layout)
    return layout.takeError();
  auto out = allocateResult(op, *outType, x.shape());
  if (!out)
    return out.takeError();
  SmallVector<int64_t> xs = readInts(x), zps = readInts(zeroPoint);
  std::vector<double> scales;
  if (Error e = loadAs(op, scale, scales))
    return e;
  if (Error e = dispatch<kFloats>(op, *outType, [&](auto tag) -> Error {
        using T = decltype(tag);
        using C = ComputeT<T>;
        T *dst = out->template mutableData<T>();
        // (x - zero point) is exact in int64; the product is formed in the result's compute
        // type.
        layout->forEach([&](int64_t flat, int64_t s) {
          dst[flat] = store<T>(
              static_cast<C>(static_cast<C>(xs[flat] - zps[s]) * static_cast<C>(scales[s])));
        });
        return Error::success();
      }))
    return e;
  results.push_back(std::move(*out));
  return Error::success();
}

Error dynamicQuantizeLinearKernel(Operation *op, ArrayRef<Tensor> operands,
                                  std::vector<Tensor> &results) {
  const Tensor &x = operands[0];
  if (x.dtype() != DType::F32)
    return opError(op, "input must be f32, got " + x.typeString());
  const float *src = x.data<float>();
  int64_t n = x.numElements();
  // The quantized range always includes 0, so that 0 is exactly representable.
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, src[i]);
    hi = std::max(hi, src[i]);
  }
  constexpr float kQMax = 255;
  float scale = (hi - lo) / kQMax;
  uint8_t zeroPoint = 0;
  if (scale != 0)
    zeroPoint = saturateRound<uint8_t>(0 - lo / scale, 0);
  auto y = allocateResult(op, DType::U8, x.shape());
  if (!y)
    return y.takeError();
  auto scaleOut = allocateResult(op, DType::F32, {});
  if (!scaleOut)
    return scaleOut.takeError();
  auto zpOut = allocateResult(op, DType::U8, {});
  if (!zpOut)
    return zpOut.takeError();
  uint8_t *dst = y->mutableData<uint8_t>();
  // An all-zero input has scale 0: every element quantizes to the zero point 0.
  for (int64_t i = 0; i < n; ++i)
    dst[i] = scale == 0 ? 0 : saturateRound<uint8_t>(src[i] / scale, zeroPoint);
  scaleOut->mutableData<float>()[0] = scale;
  zpOut->mutableData<uint8_t>()[0] = zeroPoint;
  results.push_back(std::move(*y));
  results.push_back(std::move(*scaleOut));
  results.push_back(std::move(*zpOut));
  return Error::success();
}

} // namespace

void spdc::registerQuantizationKernels(KernelTable &table) {
  table.add<spd::QuantizeLinearOp>(quantizeLinearKernel);
  table.add<spd::DequantizeLinearOp>(dequantizeLinearKernel);
  table.add<spd::DynamicQuantizeLinearOp>(dynamicQuantizeLinearKernel);
}
