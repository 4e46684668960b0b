//===- InterpreterTestSupport.h - shared harness of the interpreter tests -===//
//
// The fixture that parses a test function and runs it through the reference interpreter, and
// the helpers that build tensors from values, read them back, and compare with tolerance.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_UNITTESTS_INTERPRETERTESTSUPPORT_H
#define SPDC_UNITTESTS_INTERPRETERTESTSUPPORT_H

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Interpreter/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace spdc::test {

using Values = std::vector<double>;
using Shape = std::vector<int64_t>;

/// Parses test IR into a context with the spd and func dialects and runs its first function.
/// Every parsed module lives as long as the fixture, since results may view constant storage.
class InterpreterTestBase : public ::testing::Test {
protected:
  InterpreterTestBase() { ctx.loadDialect<spd::SpdDialect, mlir::func::FuncDialect>(); }

  /// Runs the first function of `ir`, or returns why it could not.
  llvm::Expected<std::vector<Tensor>> tryRun(llvm::StringRef ir,
                                             llvm::ArrayRef<Tensor> inputs = {}) {
    modules.push_back(mlir::parseSourceString<mlir::ModuleOp>(ir, &ctx));
    if (!modules.back())
      return llvm::createStringError("cannot parse the test IR");
    auto funcs = modules.back()->getOps<mlir::func::FuncOp>();
    if (funcs.empty())
      return llvm::createStringError("no function in the test IR");
    return runFunction(*funcs.begin(), inputs);
  }

  /// Runs the first function of `ir`; an error is a test failure (and no results).
  std::vector<Tensor> run(llvm::StringRef ir, llvm::ArrayRef<Tensor> inputs = {}) {
    auto results = tryRun(ir, inputs);
    if (!results) {
      ADD_FAILURE() << llvm::toString(results.takeError());
      return {};
    }
    return std::move(*results);
  }

  /// The message of the error `ir` must fail with.
  std::string runError(llvm::StringRef ir, llvm::ArrayRef<Tensor> inputs = {}) {
    auto results = tryRun(ir, inputs);
    if (results) {
      ADD_FAILURE() << "expected an error";
      return "";
    }
    return llvm::toString(results.takeError());
  }

  /// The module parsed last (null before any).
  mlir::ModuleOp lastModule() { return modules.empty() ? mlir::ModuleOp() : *modules.back(); }

  mlir::MLIRContext ctx;
  std::vector<mlir::OwningOpRef<mlir::ModuleOp>> modules;
};

template <typename T>
inline Tensor makeTensor(DType dtype, llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<T> values) {
  Tensor t = llvm::cantFail(Tensor::allocate(dtype, shape));
  EXPECT_EQ(t.byteSize(), values.size() * sizeof(T));
  std::memcpy(t.mutableRaw(), values.data(), t.byteSize());
  return t;
}
inline Tensor f32(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<float> v) {
  return makeTensor<float>(DType::F32, shape, v);
}
inline Tensor i32(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<int32_t> v) {
  return makeTensor<int32_t>(DType::I32, shape, v);
}
inline Tensor f16(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<float> v) {
  std::vector<uint16_t> bits;
  for (float x : v)
    bits.push_back(floatToHalf(x));
  return makeTensor<uint16_t>(DType::F16, shape, bits);
}
inline Tensor boolean(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<uint8_t> v) {
  return makeTensor<uint8_t>(DType::Bool, shape, v);
}

inline Values values(const Tensor &t) {
  Values v;
  for (int64_t i = 0; i < t.numElements(); ++i)
    v.push_back(t.getDouble(i));
  return v;
}
inline std::vector<int64_t> ints(const Tensor &t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.numElements(); ++i)
    v.push_back(t.getInt(i));
  return v;
}
inline Shape shapeOf(const Tensor &t) { return {t.shape().begin(), t.shape().end()}; }

/// Element-wise |actual - expected| <= tol; a NaN expects a NaN and an infinity itself.
inline void expectNear(const Values &actual, const Values &expected, double tol) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    if (std::isnan(expected[i]))
      EXPECT_TRUE(std::isnan(actual[i])) << "element " << i << " is " << actual[i];
    else if (std::isinf(expected[i]))
      EXPECT_EQ(actual[i], expected[i]) << "element " << i;
    else
      EXPECT_NEAR(actual[i], expected[i], tol) << "element " << i;
  }
}
/// The same shape, and values within `tol`.
inline void expectNear(const Tensor &actual, const Tensor &expected, double tol) {
  ASSERT_EQ(actual.shape(), expected.shape());
  expectNear(values(actual), values(expected), tol);
}

} // namespace spdc::test

#endif // SPDC_UNITTESTS_INTERPRETERTESTSUPPORT_H
