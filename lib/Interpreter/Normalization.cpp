//===- Normalization.cpp - softmax and norm interpreter kernels -----------===//
//
// softmax, log_softmax, layer_norm and rms_norm. All compute in double whatever the storage type
// and round once on store: the reference must be at least as accurate as anything checked against
// it. Softmax subtracts the row maximum first, so exp never overflows.
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

/// Softmax (or log-softmax) along `axis`. Rows along the axis are strided by `inner`, so each
/// pass walks the [n, inner] slab row by row, keeping the per-column state in arrays.
template <typename OpT, bool Log>
Error softmaxKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  int64_t axis = cast<OpT>(op).getAxis();
  if (Error e = checkAxis(op, axis, in.rank()))
    return e;
  AxisSplit s = splitAtAxis(in.shape(), axis);
  return dispatch<kFloats>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> out = allocateResult(op, in.dtype(), in.shape());
    if (!out)
      return out.takeError();
    const T *x = in.data<T>();
    T *y = out->mutableData<T>();
    std::vector<double> maxv(s.inner), sum(s.inner), shifted(s.n * s.inner);
    for (int64_t o = 0; o < s.outer; ++o) {
      const T *slab = x + o * s.n * s.inner;
      T *outSlab = y + o * s.n * s.inner;
      std::fill(maxv.begin(), maxv.end(), -std::numeric_limits<double>::infinity());
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t j = 0; j < s.n; ++j)
        for (int64_t k = 0; k < s.inner; ++k) {
          double v = static_cast<double>(load(slab[j * s.inner + k]));
          if (v > maxv[k] || std::isnan(v))
            maxv[k] = std::isnan(maxv[k]) ? maxv[k] : v;
        }
      // Softmax keeps exp(x - max), log-softmax keeps x - max.
      for (int64_t j = 0; j < s.n; ++j)
        for (int64_t k = 0; k < s.inner; ++k) {
          int64_t i = j * s.inner + k;
          double d = static_cast<double>(load(slab[i])) - maxv[k];
          double e = std::exp(d);
          shifted[i] = Log ? d : e;
          sum[k] += e;
        }
      if constexpr (Log) {
        for (int64_t k = 0; k < s.inner; ++k)
          sum[k] = std::log(sum[k]);
        for (int64_t j = 0; j < s.n; ++j)
          for (int64_t k = 0; k < s.inner; ++k) {
            int64_t i = j * s.inner + k;
            outSlab[i] = castValue<T>(shifted[i] - sum[k]);
          }
      } else {
        for (int64_t k = 0; k < s.inner; ++k)
          sum[k] = 1.0 / sum[k];
        for (int64_t j = 0; j < s.n; ++j)
          for (int64_t k = 0; k < s.inner; ++k) {
            int64_t i = j * s.inner + k;
            outSlab[i] = castValue<T>(shifted[i] * sum[k]);
          }
      }
    }
    results.push_back(std::move(*out));
    return Error::success();
  });
}

/// `param` broadcast to `normShape` (the normalized trailing dimensions), as doubles.
Expected<std::vector<double>> expandParam(Operation *op, const Tensor &param,
                                          ArrayRef<int64_t> normShape, StringRef what) {
  bool ok = param.rank() <= static_cast<int64_t>(normShape.size());
  for (int64_t i = 0; ok && i < param.rank(); ++i) {
    int64_t d = param.dim(param.rank() - 1 - i);
    int64_t target = normShape[normShape.size() - 1 - i];
    ok = d == target || d == 1;
  }
  if (!ok) {
    std::string dims;
    for (auto [i, d] : llvm::enumerate(normShape))
      dims += (i ? "x" : "") + std::to_string(d);
    return opError(op, what + " " + param.typeString() +
                           " does not broadcast to the normalized dimensions [" + dims + "]");
  }
  int64_t total = 1;
  for (int64_t d : normShape)
    total *= d;
  std::vector<double> values(total);
  Error e = dispatch<kNumeric>(op, param.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    const T *p = param.data<T>();
    BroadcastPlan<1> plan = planBroadcast<1>(normShape, {param.shape()});
    forEachRun(
        plan, [&](int64_t o, std::array<int64_t, 1> off, int64_t n, std::array<int64_t, 1> stride) {
          for (int64_t i = 0; i < n; ++i)
            values[o + i] = static_cast<double>(load(p[off[0] + i * stride[0]]));
        });
    return Error::success();
  });
  if (e)
    return std::move(e);
  return values;
}

Error layerNormKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto norm = cast<spd::LayerNormOp>(op);
  const Tensor &in = operands[0];
  int64_t axis = norm.getAxis();
  double epsilon = norm.getEpsilon().convertToFloat();
  if (Error e = checkAxis(op, axis, in.rank()))
    return e;
  ArrayRef<int64_t> normShape = in.shape().drop_front(axis);
  Expected<std::vector<double>> scale = expandParam(op, operands[1], normShape, "scale");
  if (!scale)
    return scale.takeError();
  std::vector<double> bias;
  if (operands.size() > 2) {
    Expected<std::vector<double>> b = expandParam(op, operands[2], normShape, "bias");
    if (!b)
      return b.takeError();
    bias = std::move(*b);
  }
  int64_t rows = 1, n = 1;
  for (int64_t i = 0; i < in.rank(); ++i)
    (i < axis ? rows : n) *= in.dim(i);

  Expected<DType> outDType = resultDType(op);
  if (!outDType)
    return outDType.takeError();
  return dispatch<kFloats>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    return dispatch<kFloats>(op, *outDType, [&](auto outTag) -> Error {
      using U = decltype(outTag);
      Expected<Tensor> out = allocateResult(op, *outDType, in.shape());
      if (!out)
        return out.takeError();
      if (n == 0) {
        results.push_back(std::move(*out));
        return Error::success();
      }
      const T *x = in.data<T>();
      U *y = out->mutableData<U>();
      std::vector<double> centered(n);
      for (int64_t r = 0; r < rows; ++r) {
        const T *row = x + r * n;
        U *outRow = y + r * n;
        double mean = 0.0;
        for (int64_t j = 0; j < n; ++j)
          mean += static_cast<double>(load(row[j]));
        mean /= static_cast<double>(n);
        // Two-pass (biased) variance: no cancellation for rows with a large mean.
        double var = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          double d = static_cast<double>(load(row[j])) - mean;
          centered[j] = d;
          var += d * d;
        }
        var /= static_cast<double>(n);
        double invStd = 1.0 / std::sqrt(var + epsilon);
        if (bias.empty()) {
          for (int64_t j = 0; j < n; ++j)
            outRow[j] = castValue<U>(centered[j] * invStd * (*scale)[j]);
        } else {
          for (int64_t j = 0; j < n; ++j)
            outRow[j] = castValue<U>(centered[j] * invStd * (*scale)[j] + bias[j]);
        }
      }
      results.push_back(std::move(*out));
      return Error::success();
    });
  });
}

/// x / sqrt(mean(x^2) + epsilon) * scale over the trailing dimensions from `axis`, in double,
/// rounded once to the result type (which may differ from the input's: recognition folds the
/// casts around a half-precision model's norm into the op).
Error rmsNormKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto norm = cast<spd::RmsNormOp>(op);
  const Tensor &in = operands[0];
  int64_t axis = norm.getAxis();
  double epsilon = norm.getEpsilon().convertToFloat();
  if (Error e = checkAxis(op, axis, in.rank()))
    return e;
  ArrayRef<int64_t> normShape = in.shape().drop_front(axis);
  std::vector<double> scale;
  if (operands.size() > 1) {
    Expected<std::vector<double>> s = expandParam(op, operands[1], normShape, "scale");
    if (!s)
      return s.takeError();
    scale = std::move(*s);
  }
  int64_t rows = 1, n = 1;
  for (int64_t i = 0; i < in.rank(); ++i)
    (i < axis ? rows : n) *= in.dim(i);
  Expected<DType> outDType = resultDType(op);
  if (!outDType)
    return outDType.takeError();

  return dispatch<kFloats>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    return dispatch<kFloats>(op, *outDType, [&](auto outTag) -> Error {
      using U = decltype(outTag);
      Expected<Tensor> out = allocateResult(op, *outDType, in.shape());
      if (!out)
        return out.takeError();
      const T *x = in.data<T>();
      U *y = out->mutableData<U>();
      for (int64_t r = 0; r < rows && n > 0; ++r) {
        const T *row = x + r * n;
        U *outRow = y + r * n;
        double sumSq = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          double v = static_cast<double>(load(row[j]));
          sumSq += v * v;
        }
        double invRms = 1.0 / std::sqrt(sumSq / static_cast<double>(n) + epsilon);
        for (int64_t j = 0; j < n; ++j) {
          double v = static_cast<double>(load(row[j])) * invRms;
          outRow[j] = castValue<U>(scale.empty() ? v : v * scale[j]);
        }
      }
      results.push_back(std::move(*out));
      return Error::success();
    });
  });
}

} // namespace

void registerNormalizationKernels(KernelTable &table) {
  table.add<spd::SoftmaxOp>(softmaxKernel<spd::SoftmaxOp, false>);
  table.add<spd::LogSoftmaxOp>(softmaxKernel<spd::LogSoftmaxOp, true>);
  table.add<spd::LayerNormOp>(layerNormKernel);
  table.add<spd::RmsNormOp>(rmsNormKernel);
}

} // namespace spdc
