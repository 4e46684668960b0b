//===- Reduction.cpp - reduction interpreter kernels ----------------------===//
//
// reduce_* over an axis list, arg_max / arg_min and cumsum, following the ONNX reference
// implementation (onnx/reference/ops/op_reduce_*.py):
//   - empty `axes` reduces nothing: the input is returned as is, except reduce_sum_square
//     which squares it (np.square(data));
//   - a reduction over zero elements gives the identity: 0 for sums and norms, 1 for prod,
//     -inf / +inf (lowest / highest integer) for max / min, NaN for mean, -inf for log_sum
//     and log_sum_exp;
//   - NaN propagates through max and min; arg_max / arg_min treat NaN as the extreme value.
// Floating inputs accumulate in double and round once; integers wrap modulo 2^64 and are
// truncated to the element type, as numpy's astype does.
//
//===----------------------------------------------------------------------===//

#include "KernelUtils.h"
#include "Kernels.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace spdc {
namespace {

/// The accumulator type for storage type T.
template <typename T>
using AccT = std::conditional_t<
    kIsFloatLike<T>, double,
    std::conditional_t<std::is_unsigned_v<T> && !std::is_same_v<T, bool>, uint64_t, int64_t>>;

template <typename A> A accAdd(A a, A b) {
  if constexpr (std::is_integral_v<A>)
    return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else
    return a + b;
}
template <typename A> A accMul(A a, A b) {
  if constexpr (std::is_integral_v<A>)
    return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else
    return a * b;
}

/// Walks an input of `shape` in memory order, reducing the dimensions flagged in `reduced`.
/// Calls `run(outOffset, inOffset, n, innerReduced)` for each innermost run of `n` contiguous
/// input elements: when `innerReduced` they all go to output element `outOffset`, otherwise
/// element j goes to `outOffset + j`.
template <typename Run>
void walkReduction(ArrayRef<int64_t> shape, ArrayRef<bool> reduced, Run &&run) {
  int64_t total = 1;
  for (int64_t d : shape)
    total *= d;
  if (total == 0)
    return;
  // Merge neighbouring dimensions with the same flag, innermost first; drop size-1 ones.
  llvm::SmallVector<int64_t, 6> dims, outStrides;
  llvm::SmallVector<bool, 6> flags;
  int64_t keptSize = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    if (shape[i] == 1)
      continue;
    if (!dims.empty() && flags.back() == reduced[i]) {
      dims.back() *= shape[i];
    } else {
      dims.push_back(shape[i]);
      flags.push_back(reduced[i]);
      outStrides.push_back(reduced[i] ? 0 : keptSize);
    }
    if (!reduced[i])
      keptSize *= shape[i];
  }
  if (dims.empty()) {
    run(0, 0, 1, true);
    return;
  }
  std::reverse(dims.begin(), dims.end());
  std::reverse(flags.begin(), flags.end());
  std::reverse(outStrides.begin(), outStrides.end());
  int64_t rank = static_cast<int64_t>(dims.size());
  int64_t inner = dims.back();
  bool innerReduced = flags.back();
  llvm::SmallVector<int64_t, 6> index(rank, 0);
  int64_t out = 0;
  for (int64_t in = 0; in < total; in += inner) {
    run(out, in, inner, innerReduced);
    for (int64_t d = rank - 2; d >= 0; --d) {
      if (++index[d] < dims[d]) {
        out += outStrides[d];
        break;
      }
      out -= outStrides[d] * (dims[d] - 1);
      index[d] = 0;
    }
  }
}

enum class ReduceKind { Sum, Mean, Max, Min, Prod, SumSquare, L1, L2, LogSum, LogSumExp };

/// Accumulates `x` into `acc` with `step(acc, load(x))`.
template <typename T, typename A, typename Step>
void accumulate(const T *x, ArrayRef<int64_t> shape, ArrayRef<bool> reduced, A *acc, Step step) {
  walkReduction(shape, reduced, [&](int64_t o, int64_t i, int64_t n, bool innerReduced) {
    const T *p = x + i;
    if (innerReduced) {
      A a = acc[o];
      for (int64_t j = 0; j < n; ++j)
        a = step(a, p[j]);
      acc[o] = a;
    } else {
      A *q = acc + o;
      for (int64_t j = 0; j < n; ++j)
        q[j] = step(q[j], p[j]);
    }
  });
}

template <ReduceKind K, typename T>
Error reduceTyped(const Tensor &in, ArrayRef<bool> reduced, int64_t count, Tensor &out) {
  using A = AccT<T>;
  int64_t outN = out.numElements();
  T *y = out.mutableData<T>();
  const T *x = in.data<T>();

  A init = A(0);
  if constexpr (K == ReduceKind::Prod)
    init = A(1);
  if constexpr (K == ReduceKind::Max || K == ReduceKind::LogSumExp) {
    if constexpr (kIsFloatLike<T>)
      init = -std::numeric_limits<double>::infinity();
    else
      init = static_cast<A>(std::numeric_limits<T>::lowest());
  }
  if constexpr (K == ReduceKind::Min) {
    if constexpr (kIsFloatLike<T>)
      init = std::numeric_limits<double>::infinity();
    else
      init = static_cast<A>(std::numeric_limits<T>::max());
  }
  std::vector<A> acc(outN, init);
  auto value = [](T v) { return static_cast<A>(load(v)); };

  if constexpr (K == ReduceKind::Sum || K == ReduceKind::Mean || K == ReduceKind::LogSum) {
    accumulate(x, in.shape(), reduced, acc.data(), [&](A a, T v) { return accAdd(a, value(v)); });
  } else if constexpr (K == ReduceKind::SumSquare || K == ReduceKind::L2) {
    accumulate(x, in.shape(), reduced, acc.data(), [&](A a, T v) {
      A b = value(v);
      return accAdd(a, accMul(b, b));
    });
  } else if constexpr (K == ReduceKind::L1) {
    accumulate(x, in.shape(), reduced, acc.data(), [&](A a, T v) {
      A b = value(v);
      if constexpr (std::is_floating_point_v<A>)
        b = std::fabs(b);
      else if constexpr (std::is_signed_v<A>)
        b = b < 0 ? static_cast<A>(0 - static_cast<uint64_t>(b)) : b; // INT64_MIN wraps
      return accAdd(a, b);
    });
  } else if constexpr (K == ReduceKind::Prod) {
    accumulate(x, in.shape(), reduced, acc.data(), [&](A a, T v) { return accMul(a, value(v)); });
  } else if constexpr (K == ReduceKind::Max) {
    accumulate(x, in.shape(), reduced, acc.data(), [&](A a, T v) {
      A b = value(v);
      return (b > a || isNaNValue(b)) ? b : a;
    });
  } else if constexpr (K == ReduceKind::Min) {
    accumulate(x, in.shape(), reduced, acc.data(), [&](A a, T v) {
      A b = value(v);
      return (b < a || isNaNValue(b)) ? b : a;
    });
  } else if constexpr (K == ReduceKind::LogSumExp) {
    // Shift by the largest finite value (as the ONNX reference does) so exp cannot overflow.
    accumulate(x, in.shape(), reduced, acc.data(), [&](A a, T v) {
      double b = static_cast<double>(load(v));
      return (std::isfinite(b) && b > static_cast<double>(a)) ? static_cast<A>(b) : a;
    });
    std::vector<double> shift(outN);
    for (int64_t i = 0; i < outN; ++i) {
      double m = static_cast<double>(acc[i]);
      shift[i] = (std::isfinite(m) && acc[i] != init) ? m : 0.0;
    }
    std::vector<double> sum(outN, 0.0);
    walkReduction(in.shape(), reduced, [&](int64_t o, int64_t i, int64_t n, bool innerRed) {
      for (int64_t j = 0; j < n; ++j) {
        int64_t oj = innerRed ? o : o + j;
        sum[oj] += std::exp(static_cast<double>(load(x[i + j])) - shift[oj]);
      }
    });
    for (int64_t i = 0; i < outN; ++i)
      y[i] = castValue<T>(shift[i] + std::log(sum[i]));
    return Error::success();
  }

  for (int64_t i = 0; i < outN; ++i) {
    A a = acc[i];
    if constexpr (K == ReduceKind::Mean) {
      if constexpr (std::is_integral_v<A>)
        y[i] = castValue<T>(count == 0 ? A(0) : static_cast<A>(a / static_cast<A>(count)));
      else
        y[i] = castValue<T>(a / static_cast<double>(count)); // 0 / 0 = NaN, as numpy
    } else if constexpr (K == ReduceKind::L2) {
      y[i] = castValue<T>(std::sqrt(static_cast<double>(a)));
    } else if constexpr (K == ReduceKind::LogSum) {
      y[i] = castValue<T>(std::log(static_cast<double>(a)));
    } else {
      y[i] = castValue<T>(a);
    }
  }
  return Error::success();
}

template <typename OpT, ReduceKind K>
Error reduceKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto reduce = cast<OpT>(op);
  const Tensor &in = operands[0];
  ArrayRef<int64_t> axes = reduce.getAxes();
  bool keepdims = reduce.getKeepdims();
  int64_t rank = in.rank();

  llvm::SmallVector<bool, 6> reduced(rank, false);
  for (int64_t axis : axes) {
    if (Error e = checkAxis(op, axis, rank))
      return e;
    if (reduced[axis])
      return opError(op, "axis " + llvm::Twine(axis) + " appears twice");
    reduced[axis] = true;
  }
  llvm::SmallVector<int64_t, 6> outShape;
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      outShape.push_back(in.dim(i));
    else {
      count *= in.dim(i);
      if (keepdims)
        outShape.push_back(1);
    }
  }

  constexpr unsigned mask =
      (K == ReduceKind::Max || K == ReduceKind::Min) ? unsigned(kAllTypes) : unsigned(kNumeric);
  return dispatch<mask>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> out = allocateResult(op, in.dtype(), outShape);
    if (!out)
      return out.takeError();
    if (axes.empty()) {
      // No axis: the ONNX reference returns the data, squared for reduce_sum_square only.
      const T *x = in.data<T>();
      T *y = out->mutableData<T>();
      for (int64_t i = 0, n = in.numElements(); i < n; ++i) {
        if constexpr (K == ReduceKind::SumSquare) {
          auto v = load(x[i]);
          if constexpr (kIsInteger<T>)
            y[i] = castValue<T>(accMul<uint64_t>(v, v));
          else
            y[i] = store<T>(v * v);
        } else {
          y[i] = x[i];
        }
      }
    } else if (Error e = reduceTyped<K, T>(in, reduced, count, *out)) {
      return e;
    }
    results.push_back(std::move(*out));
    return Error::success();
  });
}

//===----------------------------------------------------------------------===//
// arg_max / arg_min
//===----------------------------------------------------------------------===//

template <typename OpT, bool IsMax>
Error argReduceKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto argOp = cast<OpT>(op);
  const Tensor &in = operands[0];
  int64_t axis = argOp.getAxis();
  bool keepdims = argOp.getKeepdims();
  bool selectLast = argOp.getSelectLastIndex();
  if (Error e = checkAxis(op, axis, in.rank()))
    return e;
  AxisSplit s = splitAtAxis(in.shape(), axis);
  if (s.n == 0)
    return opError(op, "cannot take the index of an extreme over an empty axis (input " +
                           in.typeString() + ")");
  llvm::SmallVector<int64_t, 6> outShape;
  for (int64_t i = 0; i < in.rank(); ++i) {
    if (i != axis)
      outShape.push_back(in.dim(i));
    else if (keepdims)
      outShape.push_back(1);
  }
  Expected<Tensor> out = allocateResult(op, DType::I64, outShape);
  if (!out)
    return out.takeError();
  int64_t *y = out->mutableData<int64_t>();
  Error e = dispatch<kAllTypes>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    using C = ComputeT<T>;
    const T *x = in.data<T>();
    std::vector<C> best(s.inner);
    for (int64_t o = 0; o < s.outer; ++o) {
      const T *base = x + o * s.n * s.inner;
      int64_t *idx = y + o * s.inner;
      for (int64_t k = 0; k < s.inner; ++k) {
        best[k] = load(base[k]);
        idx[k] = 0;
      }
      for (int64_t j = 1; j < s.n; ++j) {
        const T *row = base + j * s.inner;
        for (int64_t k = 0; k < s.inner; ++k) {
          C v = load(row[k]);
          C b = best[k];
          bool take;
          // numpy's argmax / argmin stop at the first NaN; the ONNX reference finds the last
          // one for select_last_index by flipping the axis.
          if (isNaNValue(b))
            take = selectLast && isNaNValue(v);
          else if (isNaNValue(v))
            take = true;
          else if (IsMax)
            take = v > b || (selectLast && v == b);
          else
            take = v < b || (selectLast && v == b);
          if (take) {
            best[k] = v;
            idx[k] = j;
          }
        }
      }
    }
    return Error::success();
  });
  if (e)
    return e;
  results.push_back(std::move(*out));
  return Error::success();
}

//===----------------------------------------------------------------------===//
// cumsum
//===----------------------------------------------------------------------===//

Error cumSumKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto cumsum = cast<spd::CumSumOp>(op);
  const Tensor &in = operands[0];
  int64_t axis = cumsum.getAxis();
  bool exclusive = cumsum.getExclusive();
  bool reverse = cumsum.getReverse();
  if (Error e = checkAxis(op, axis, in.rank()))
    return e;
  AxisSplit s = splitAtAxis(in.shape(), axis);
  return dispatch<kNumeric>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    using A = AccT<T>;
    Expected<Tensor> out = allocateResult(op, in.dtype(), in.shape());
    if (!out)
      return out.takeError();
    const T *x = in.data<T>();
    T *y = out->mutableData<T>();
    std::vector<A> acc(s.inner);
    for (int64_t o = 0; o < s.outer; ++o) {
      std::fill(acc.begin(), acc.end(), A(0));
      for (int64_t step = 0; step < s.n; ++step) {
        int64_t j = reverse ? s.n - 1 - step : step;
        int64_t offset = (o * s.n + j) * s.inner;
        for (int64_t k = 0; k < s.inner; ++k) {
          A v = static_cast<A>(load(x[offset + k]));
          if (exclusive) {
            y[offset + k] = castValue<T>(acc[k]);
            acc[k] = accAdd(acc[k], v);
          } else {
            acc[k] = accAdd(acc[k], v);
            y[offset + k] = castValue<T>(acc[k]);
          }
        }
      }
    }
    results.push_back(std::move(*out));
    return Error::success();
  });
}

} // namespace

void registerReductionKernels(KernelTable &table) {
  table.add<spd::ReduceSumOp>(reduceKernel<spd::ReduceSumOp, ReduceKind::Sum>);
  table.add<spd::ReduceMeanOp>(reduceKernel<spd::ReduceMeanOp, ReduceKind::Mean>);
  table.add<spd::ReduceMaxOp>(reduceKernel<spd::ReduceMaxOp, ReduceKind::Max>);
  table.add<spd::ReduceMinOp>(reduceKernel<spd::ReduceMinOp, ReduceKind::Min>);
  table.add<spd::ReduceProdOp>(reduceKernel<spd::ReduceProdOp, ReduceKind::Prod>);
  table.add<spd::ReduceSumSquareOp>(reduceKernel<spd::ReduceSumSquareOp, ReduceKind::SumSquare>);
  table.add<spd::ReduceL1Op>(reduceKernel<spd::ReduceL1Op, ReduceKind::L1>);
  table.add<spd::ReduceL2Op>(reduceKernel<spd::ReduceL2Op, ReduceKind::L2>);
  table.add<spd::ReduceLogSumOp>(reduceKernel<spd::ReduceLogSumOp, ReduceKind::LogSum>);
  table.add<spd::ReduceLogSumExpOp>(reduceKernel<spd::ReduceLogSumExpOp, ReduceKind::LogSumExp>);
  table.add<spd::ArgMaxOp>(argReduceKernel<spd::ArgMaxOp, true>);
  table.add<spd::ArgMinOp>(argReduceKernel<spd::ArgMinOp, false>);
  table.add<spd::CumSumOp>(cumSumKernel);
}

} // namespace spdc
