//===- Activation.cpp - silu and swiglu interpreter kernels ---------------===//
//
// The activations recognition produces. Both compute in double and round once on store, as
// the other reference kernels do. (spd.gelu lives with the unary math in Elementwise.cpp.)
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

/// x * sigmoid(x), with the sigmoid in the form that cannot overflow exp.
inline double siluValue(double x) {
  return x >= 0.0 ? x / (1.0 + std::exp(-x)) : x * std::exp(x) / (1.0 + std::exp(x));
}

Error siluKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &in = operands[0];
  return dispatch<kFloats>(op, in.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> out = allocateResult(op, in.dtype(), in.shape());
    if (!out)
      return out.takeError();
    const T *x = in.data<T>();
    T *y = out->mutableData<T>();
    for (int64_t i = 0, n = in.numElements(); i < n; ++i)
      y[i] = castValue<T>(siluValue(static_cast<double>(load(x[i]))));
    results.push_back(std::move(*out));
    return Error::success();
  });
}

Error swigluKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &gate = operands[0], &up = operands[1];
  if (gate.shape() != up.shape() || gate.dtype() != up.dtype())
    return opError(op, "gate " + gate.typeString() + " and up " + up.typeString() +
                           " must have one type");
  return dispatch<kFloats>(op, gate.dtype(), [&](auto tag) -> Error {
    using T = decltype(tag);
    Expected<Tensor> out = allocateResult(op, gate.dtype(), gate.shape());
    if (!out)
      return out.takeError();
    const T *g = gate.data<T>();
    const T *u = up.data<T>();
    T *y = out->mutableData<T>();
    for (int64_t i = 0, n = gate.numElements(); i < n; ++i)
      y[i] = castValue<T>(siluValue(static_cast<double>(load(g[i]))) *
                          static_cast<double>(load(u[i])));
    results.push_back(std::move(*out));
    return Error::success();
  });
}

} // namespace

void registerActivationKernels(KernelTable &table) {
  table.add<spd::SiluOp>(siluKernel);
  table.add<spd::SwiGluOp>(swigluKernel);
}

} // namespace spdc
