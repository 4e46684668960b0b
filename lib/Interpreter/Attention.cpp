//===- Attention.cpp - scaled dot-product attention interpreter kernel ----===//
//
// spd.attention: softmax(scale * Q K^T + mask) V per batch and query head, with grouped K/V
// heads read in place (query head h reads key/value head h / (q_heads / kv_heads)), a
// bottom-right aligned causal flag and an optional mask broadcast to [b, hq, sq, skv] (i1
// keeps where true, a float mask is added). Rows that see no key give zeros. Everything is
// computed in double from operands converted once, and rounded once on store.
//
//===----------------------------------------------------------------------===//

#include "KernelUtils.h"
#include "Kernels.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include <cmath>
#include <limits>
#include <vector>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace spdc {
namespace {

/// The elements of a float tensor as doubles.
Expected<std::vector<double>> loadAsDouble(Operation *op, const Tensor &t) {
  std::vector<double> values(t.numElements());
  Error e = dispatch<kFloats>(op, t.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    const T *p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = static_cast<double>(load(p[i]));
    return Error::success();
  });
  if (e)
    return std::move(e);
  return values;
}

/// The mask as additive doubles in its own shape (i1: 0 where kept, -inf elsewhere), and its
/// strides over [b, hq, sq, skv] (0 where it broadcasts).
struct MaskPlan {
  std::vector<double> values;
  std::array<int64_t, 4> strides{};
};

Expected<MaskPlan> planMask(Operation *op, const Tensor &mask, ArrayRef<int64_t> target) {
  bool ok = mask.rank() <= 4;
  for (int64_t i = 0; ok && i < mask.rank(); ++i) {
    int64_t d = mask.dim(mask.rank() - 1 - i);
    ok = d == 1 || d == target[3 - i];
  }
  if (!ok)
    return opError(op, "mask " + mask.typeString() + " does not broadcast to [" +
                           llvm::Twine(target[0]) + "x" + llvm::Twine(target[1]) + "x" +
                           llvm::Twine(target[2]) + "x" + llvm::Twine(target[3]) + "]");
  MaskPlan plan;
  int64_t stride = 1;
  for (int64_t i = 0; i < mask.rank(); ++i) {
    int64_t d = mask.dim(mask.rank() - 1 - i);
    plan.strides[3 - i] = d == 1 ? 0 : stride;
    stride *= d;
  }
  if (mask.dtype() == DType::Bool) {
    const uint8_t *p = mask.data<uint8_t>();
    plan.values.resize(mask.numElements());
    for (size_t i = 0; i < plan.values.size(); ++i)
      plan.values[i] = p[i] ? 0.0 : -std::numeric_limits<double>::infinity();
    return plan;
  }
  if (!isFloat(mask.dtype()))
    return opError(op, "mask must be i1 or float, not " + mask.typeString());
  Expected<std::vector<double>> values = loadAsDouble(op, mask);
  if (!values)
    return values.takeError();
  plan.values = std::move(*values);
  return plan;
}

Error attentionKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto attention = cast<spd::AttentionOp>(op);
  const Tensor &q = operands[0], &k = operands[1], &v = operands[2];
  if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4)
    return opError(op, "query, key and value must be 4-D, got " + q.typeString() + ", " +
                           k.typeString() + ", " + v.typeString());
  int64_t batch = q.dim(0), hq = q.dim(1), sq = q.dim(2), d = q.dim(3);
  int64_t hkv = k.dim(1), skv = k.dim(2), dv = v.dim(3);
  if (k.dim(0) != batch || v.dim(0) != batch || k.dim(3) != d || v.dim(1) != hkv || v.dim(2) != skv)
    return opError(op, "query " + q.typeString() + ", key " + k.typeString() + " and value " +
                           v.typeString() + " do not agree");
  if (hkv == 0 ? hq != 0 : hq % hkv != 0)
    return opError(op, "query heads (" + llvm::Twine(hq) +
                           ") must be a multiple of key/value heads (" + llvm::Twine(hkv) + ")");
  if (k.dtype() != q.dtype() || v.dtype() != q.dtype())
    return opError(op, "query, key and value element types differ");
  Expected<DType> outType = resultDType(op);
  if (!outType)
    return outType.takeError();
  if (!isFloat(*outType))
    return opError(op, "result element type " + dtypeName(*outType) + " is not a float");

  MaskPlan mask;
  bool hasMask = operands.size() > 3;
  if (hasMask) {
    Expected<MaskPlan> plan = planMask(op, operands[3], {batch, hq, sq, skv});
    if (!plan)
      return plan.takeError();
    mask = std::move(*plan);
  }
  Expected<std::vector<double>> qv = loadAsDouble(op, q);
  if (!qv)
    return qv.takeError();
  Expected<std::vector<double>> kv = loadAsDouble(op, k);
  if (!kv)
    return kv.takeError();
  Expected<std::vector<double>> vv = loadAsDouble(op, v);
  if (!vv)
    return vv.takeError();

  double scale = attention.getScale().convertToDouble();
  double softcap = attention.getSoftcap().convertToDouble();
  bool causal = attention.getCausal();
  int64_t group = hkv == 0 ? 1 : hq / hkv;
  const double negInf = -std::numeric_limits<double>::infinity();

  std::vector<double> out(static_cast<size_t>(batch * hq * sq * dv));
  std::vector<double> scores(skv), acc(dv);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < hq; ++h) {
      int64_t kvHead = h / group;
      const double *kBase = kv->data() + (b * hkv + kvHead) * skv * d;
      const double *vBase = vv->data() + (b * hkv + kvHead) * skv * dv;
      for (int64_t i = 0; i < sq; ++i) {
        const double *qRow = qv->data() + ((b * hq + h) * sq + i) * d;
        // Keys past this bound are hidden by the causal flag (bottom-right aligned).
        int64_t visibleEnd = causal ? std::min(skv, std::max<int64_t>(0, i + skv - sq + 1)) : skv;
        int64_t maskRow = b * mask.strides[0] + h * mask.strides[1] + i * mask.strides[2];
        double maxScore = negInf;
        bool nan = false;
        for (int64_t j = 0; j < skv; ++j) {
          double s = negInf;
          if (j < visibleEnd) {
            const double *kRow = kBase + j * d;
            double dot = 0.0;
            for (int64_t c = 0; c < d; ++c)
              dot += qRow[c] * kRow[c];
            s = scale * dot;
            if (softcap > 0.0)
              s = softcap * std::tanh(s / softcap);
            if (hasMask)
              s += mask.values[maskRow + j * mask.strides[3]];
          }
          scores[j] = s;
          nan |= std::isnan(s);
          if (s > maxScore)
            maxScore = s;
        }
        double *outRow = out.data() + ((b * hq + h) * sq + i) * dv;
        if (nan) {
          std::fill(outRow, outRow + dv, std::numeric_limits<double>::quiet_NaN());
          continue;
        }
        // A row that sees no key (every score -inf) gives zeros.
        if (maxScore == negInf)
          continue;
        std::fill(acc.begin(), acc.end(), 0.0);
        double sum = 0.0;
        for (int64_t j = 0; j < skv; ++j) {
          if (scores[j] == negInf)
            continue;
          double p = std::exp(scores[j] - maxScore);
          sum += p;
          const double *vRow = vBase + j * dv;
          for (int64_t c = 0; c < dv; ++c)
            acc[c] += p * vRow[c];
        }
        double inv = 1.0 / sum;
        for (int64_t c = 0; c < dv; ++c)
          outRow[c] = acc[c] * inv;
      }
    }
  }

  return dispatch<kFloats>(op, *outType, [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> result = allocateResult(op, *outType, {batch, hq, sq, dv});
    if (!result)
      return result.takeError();
    T *y = result->mutableData<T>();
    for (size_t i = 0; i < out.size(); ++i)
      y[i] = castValue<T>(out[i]);
    results.push_back(std::move(*result));
    return Error::success();
  });
}

} // namespace

void registerAttentionKernels(KernelTable &table) { table.add<spd::AttentionOp>(attentionKernel); }

} // namespace spdc
