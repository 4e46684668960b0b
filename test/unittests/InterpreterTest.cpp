//===- InterpreterTest.cpp - tensors, driver, elementwise, reductions, norms ===//
//
// Runs small spd functions through the reference interpreter and checks values against numbers
// worked out by hand (ONNX / numpy semantics), plus the half conversions and the driver's
// errors.
//
//===----------------------------------------------------------------------===//

#include "InterpreterTestSupport.h"

#include "llvm/ADT/bit.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace mlir;
using namespace spdc;
using namespace spdc::test;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

class InterpreterTest : public InterpreterTestBase {
protected:
  /// Runs a function with one result and returns it (an empty tensor on failure).
  Tensor run1(llvm::StringRef ir, llvm::ArrayRef<Tensor> inputs = {}) {
    std::vector<Tensor> results = run(ir, inputs);
    if (results.size() != 1) {
      ADD_FAILURE() << "expected one result, got " << results.size();
      return Tensor();
    }
    return results[0];
  }
};

//===----------------------------------------------------------------------===//
// Tensor and half conversions
//===----------------------------------------------------------------------===//

TEST(TensorTest, AllocateRefusesAbsurdShapes) {
  auto huge = Tensor::allocate(DType::F32, {1 << 20, 1 << 20, 1 << 20});
  ASSERT_FALSE(static_cast<bool>(huge));
  EXPECT_NE(llvm::toString(huge.takeError()).find("too large"), std::string::npos);
  auto overLimit = Tensor::allocate(DType::F64, {int64_t(kMaxTensorBytes / 8 + 1)});
  ASSERT_FALSE(static_cast<bool>(overLimit));
  llvm::consumeError(overLimit.takeError());
  auto negative = Tensor::allocate(DType::F32, {2, -1});
  ASSERT_FALSE(static_cast<bool>(negative));
  llvm::consumeError(negative.takeError());

  Tensor empty = llvm::cantFail(Tensor::allocate(DType::I64, {0, 3}));
  EXPECT_EQ(empty.numElements(), 0);
  EXPECT_TRUE(empty.valid());
  Tensor zeros = llvm::cantFail(Tensor::allocate(DType::I32, {2, 2}));
  EXPECT_EQ(ints(zeros), (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(zeros.typeString(), "i32[2x2]");
  EXPECT_EQ(llvm::cantFail(Tensor::allocate(DType::BF16, {})).typeString(), "bf16[]");
}

TEST(TensorTest, HalfConversions) {
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65519.0f), 0x7bff); // below the tie: rounds down
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00); // tie rounds to even = inf
  EXPECT_EQ(floatToHalf(1e10f), 0x7c00);
  EXPECT_EQ(floatToHalf(-INFINITY), 0xfc00);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(NAN))));
  // Ties to even: 1 + 2^-11 -> 1, 1 + 3 * 2^-11 -> 1 + 2^-9.
  EXPECT_EQ(floatToHalf(1.0f + 0x1p-11f), 0x3c00);
  EXPECT_EQ(floatToHalf(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(floatToHalf(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  // Subnormals: 2^-24 is the smallest; 2^-25 ties to 0; 3 * 2^-26 rounds up to 2^-24.
  EXPECT_EQ(floatToHalf(0x1p-24f), 0x0001);
  EXPECT_EQ(floatToHalf(0x1p-25f), 0x0000);
  EXPECT_EQ(floatToHalf(3 * 0x1p-26f), 0x0001);
  EXPECT_EQ(floatToHalf(0x1p-14f - 0x1p-25f), 0x0400); // rounds up into the normals
  EXPECT_EQ(halfToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(halfToFloat(0x03ff), 1023 * 0x1p-24f);
  EXPECT_EQ(halfToFloat(0x7c00), INFINITY);
  EXPECT_EQ(halfToFloat(0x3555), 0.333251953125f);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
      continue; // NaN
    ASSERT_EQ(floatToHalf(halfToFloat(h)), h) << "round trip of " << h;
  }

  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(floatToBf16(1.0f + 0x1p-8f), 0x3f80);     // tie to even
  EXPECT_EQ(floatToBf16(1.0f + 3 * 0x1p-8f), 0x3f82); // tie to even (up)
  EXPECT_EQ(floatToBf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  EXPECT_EQ(floatToBf16(INFINITY), 0x7f80);
  EXPECT_EQ(floatToBf16(3.4e38f), 0x7f80); // rounds past the largest bf16
  uint16_t nan = floatToBf16(NAN);
  EXPECT_TRUE(std::isnan(bf16ToFloat(nan)));
  EXPECT_EQ(bf16ToFloat(0xc040), -3.0f);
}

TEST(TensorTest, GetDoubleAndInt) {
  Tensor h = f16({2}, {1.5f, -0.25f});
  EXPECT_EQ(values(h), (std::vector<double>{1.5, -0.25}));
  Tensor u = makeTensor<uint64_t>(DType::U64, {1}, {~0ull});
  EXPECT_EQ(u.getDouble(0), 18446744073709551615.0);
  Tensor f = f32({3}, {-2.7f, 2.7f, NAN});
  EXPECT_EQ(ints(f), (std::vector<int64_t>{-2, 2, 0}));
}

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

constexpr const char *kAddDynamic = R"mlir(
func.func @f(%a: tensor<?x3xf32>, %b: tensor<3xf32>) -> tensor<?x3xf32> {
  %0 = spd.add %a, %b : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
)mlir";

TEST_F(InterpreterTest, WrongInputCount) {
  std::string e = runError(kAddDynamic, {f32({1, 3}, {1, 2, 3})});
  EXPECT_NE(e.find("@f: expects 2 inputs, got 1"), std::string::npos) << e;
}

TEST_F(InterpreterTest, StaticDimMismatch) {
  std::string e =
      runError(kAddDynamic, {f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), f32({3}, {1, 2, 3})});
  EXPECT_NE(e.find("input #0 is f32[2x4], dimension 1 must be 3 (f32[?x3])"), std::string::npos)
      << e;
}

TEST_F(InterpreterTest, DTypeAndRankMismatch) {
  std::string e = runError(kAddDynamic, {i32({1, 3}, {1, 2, 3}), f32({3}, {1, 2, 3})});
  EXPECT_NE(e.find("input #0 is i32[1x3], expected element type f32"), std::string::npos) << e;
  e = runError(kAddDynamic, {f32({3}, {1, 2, 3}), f32({3}, {1, 2, 3})});
  EXPECT_NE(e.find("expected rank 2"), std::string::npos) << e;
}

TEST_F(InterpreterTest, DynamicDimsTakeInputSizes) {
  Tensor r = run1(kAddDynamic, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3}, {10, 20, 30})});
  EXPECT_EQ(shapeOf(r), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values(r), (std::vector<double>{11, 22, 33, 14, 25, 36}));
}

TEST_F(InterpreterTest, RuntimeBroadcastErrorNamesTheNode) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32> {
  %0 = spd.mul %a, %b : tensor<?xf32>, tensor<?xf32> -> tensor<?xf32> loc("Mul_7")
  return %0 : tensor<?xf32>
}
)mlir";
  std::string e = runError(ir, {f32({3}, {1, 2, 3}), f32({2}, {1, 2})});
  EXPECT_NE(e.find("spd.mul (node \"Mul_7\"): operand shapes [3], [2] do not broadcast"),
            std::string::npos)
      << e;
}

TEST_F(InterpreterTest, ResultShapeCheckedAgainstStaticType) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<3xf32> {
  %0 = spd.add %a, %b : tensor<?xf32>, tensor<?xf32> -> tensor<3xf32> loc("Add_1")
  return %0 : tensor<3xf32>
}
)mlir";
  std::string e = runError(ir, {f32({4}, {1, 2, 3, 4}), f32({1}, {1})});
  EXPECT_NE(e.find("spd.add (node \"Add_1\"): result #0 is f32[4] but its type is f32[3]"),
            std::string::npos)
      << e;
}

TEST_F(InterpreterTest, BoolInputsMustBeZeroOrOne) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<2xi1>) -> tensor<2xi1> {
  %0 = spd.not %a : tensor<2xi1>
  return %0 : tensor<2xi1>
}
)mlir";
  EXPECT_EQ(ints(run1(ir, {boolean({2}, {1, 0})})), (std::vector<int64_t>{0, 1}));
  std::string e = runError(ir, {boolean({2}, {1, 2})});
  EXPECT_NE(e.find("element 1 holds the byte 2"), std::string::npos) << e;
}

TEST_F(InterpreterTest, EvaluateOpAndUnsupportedTypes) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<3xi32>) -> (tensor<3xf16>, tensor<3xi32>) {
  %0 = spd.cast %a : tensor<3xi32> -> tensor<3xf16>
  %1 = spd.sqrt %a : tensor<3xi32> loc("Sqrt_0")
  return %0, %1 : tensor<3xf16>, tensor<3xi32>
}
)mlir";
  std::string e = runError(ir, {i32({3}, {1, 4, 9})});
  EXPECT_NE(e.find("spd.sqrt (node \"Sqrt_0\"): element type i32 is not supported"),
            std::string::npos)
      << e;
  func::FuncOp fn = *lastModule().getOps<func::FuncOp>().begin();
  Operation *castOp = &fn.getBody().front().front();
  auto folded = evaluateOp(castOp, {i32({3}, {1, -2, 70000})});
  ASSERT_TRUE(static_cast<bool>(folded)) << llvm::toString(folded.takeError());
  ASSERT_EQ(folded->size(), 1u);
  EXPECT_EQ(values((*folded)[0]), (std::vector<double>{1, -2, kInf}));
}

TEST(InterpreterConstantTest, DenseSplatBoolAndResource) {
  const char *ir = R"mlir(
func.func @f() -> (tensor<3xf32>, tensor<2x2xi32>, tensor<10xi1>, tensor<2xf32>) {
  %0 = spd.constant dense<[1.0, 2.5, -3.0]> : tensor<3xf32>
  %1 = spd.constant dense<7> : tensor<2x2xi32>
  %2 = spd.constant dense<[true, false, true, true, false, false, false, true, true, false]> : tensor<10xi1>
  %3 = spd.constant dense_resource<w> : tensor<2xf32>
  return %0, %1, %2, %3 : tensor<3xf32>, tensor<2x2xi32>, tensor<10xi1>, tensor<2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000040"
    }
  }
#-}
)mlir";
  // A context of its own, destroyed before the results are read: returned constants must be
  // copied out of the attribute and resource storage.
  std::vector<Tensor> r;
  {
    MLIRContext ctx;
    ctx.loadDialect<spd::SpdDialect, func::FuncDialect>();
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, &ctx);
    ASSERT_TRUE(module);
    auto results = runFunction(*module->getOps<func::FuncOp>().begin(), {});
    ASSERT_TRUE(static_cast<bool>(results)) << llvm::toString(results.takeError());
    r = std::move(*results);
  }
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(values(r[0]), (std::vector<double>{1.0, 2.5, -3.0}));
  EXPECT_EQ(ints(r[1]), (std::vector<int64_t>{7, 7, 7, 7}));
  EXPECT_EQ(ints(r[2]), (std::vector<int64_t>{1, 0, 1, 1, 0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(values(r[3]), (std::vector<double>{1.0, 2.0}));
}

TEST_F(InterpreterTest, AttrRoundTrip) {
  Tensor b = boolean({3}, {1, 0, 1});
  auto attr = attrFromTensor(&ctx, b);
  Tensor back = llvm::cantFail(tensorFromAttr(attr));
  EXPECT_EQ(back.dtype(), DType::Bool);
  EXPECT_EQ(ints(back), (std::vector<int64_t>{1, 0, 1}));
  Tensor h = f16({2}, {0.5f, -8.0f});
  back = llvm::cantFail(tensorFromAttr(attrFromTensor(&ctx, h)));
  EXPECT_EQ(back.dtype(), DType::F16);
  EXPECT_EQ(values(back), (std::vector<double>{0.5, -8.0}));
  EXPECT_EQ(llvm::cantFail(dtypeFromType(typeFromDType(&ctx, DType::U16))), DType::U16);
  EXPECT_EQ(llvm::cantFail(dtypeFromType(typeFromDType(&ctx, DType::Bool))), DType::Bool);
  auto bad = dtypeFromType(Float8E4M3FNType::get(&ctx));
  ASSERT_FALSE(static_cast<bool>(bad));
  llvm::consumeError(bad.takeError());
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

TEST_F(InterpreterTest, BinaryBroadcasting) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<2x1x3xf32>, %b: tensor<4x1xf32>, %c: tensor<f32>) -> (tensor<2x4x3xf32>, tensor<2x1x3xf32>) {
  %0 = spd.sub %a, %b : tensor<2x1x3xf32>, tensor<4x1xf32> -> tensor<2x4x3xf32>
  %1 = spd.div %a, %c : tensor<2x1x3xf32>, tensor<f32> -> tensor<2x1x3xf32>
  return %0, %1 : tensor<2x4x3xf32>, tensor<2x1x3xf32>
}
)mlir";
  std::vector<Tensor> r =
      run(ir, {f32({2, 1, 3}, {1, 2, 3, 4, 5, 6}), f32({4, 1}, {0, 10, 20, 30}), f32({}, {2})});
  ASSERT_EQ(r.size(), 2u);
  std::vector<double> expected;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k)
        expected.push_back((i * 3 + k + 1) - 10.0 * j);
  EXPECT_EQ(values(r[0]), expected);
  EXPECT_EQ(values(r[1]), (std::vector<double>{0.5, 1, 1.5, 2, 2.5, 3}));
}

TEST_F(InterpreterTest, IntegerDivAndModSigns) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<6xi32>, %b: tensor<6xi32>) -> (tensor<6xi32>, tensor<6xi32>, tensor<6xi32>) {
  %0 = spd.div %a, %b : tensor<6xi32>, tensor<6xi32> -> tensor<6xi32>
  %1 = spd.mod %a, %b : tensor<6xi32>, tensor<6xi32> -> tensor<6xi32>
  %2 = spd.mod %a, %b {fmod = true} : tensor<6xi32>, tensor<6xi32> -> tensor<6xi32>
  return %0, %1, %2 : tensor<6xi32>, tensor<6xi32>, tensor<6xi32>
}
)mlir";
  std::vector<Tensor> r =
      run(ir, {i32({6}, {7, -7, 7, -7, 5, INT32_MIN}), i32({6}, {3, 3, -3, -3, 0, -1})});
  ASSERT_EQ(r.size(), 3u);
  // Division truncates; by zero gives 0; INT_MIN / -1 wraps instead of trapping.
  EXPECT_EQ(ints(r[0]), (std::vector<int64_t>{2, -2, -2, 2, 0, INT32_MIN}));
  // Python %: the sign of the divisor.
  EXPECT_EQ(ints(r[1]), (std::vector<int64_t>{1, 2, -2, -1, 0, 0}));
  // C fmod: the sign of the dividend.
  EXPECT_EQ(ints(r[2]), (std::vector<int64_t>{1, -1, 1, -1, 0, 0}));
}

TEST_F(InterpreterTest, FloatModAndIntegerWrap) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<3xf32>, %b: tensor<3xf32>, %c: tensor<2xi8>) -> (tensor<3xf32>, tensor<3xf32>, tensor<2xi8>) {
  %0 = spd.mod %a, %b {fmod = true} : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %1 = spd.mod %a, %b : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %2 = spd.add %c, %c : tensor<2xi8>, tensor<2xi8> -> tensor<2xi8>
  return %0, %1, %2 : tensor<3xf32>, tensor<3xf32>, tensor<2xi8>
}
)mlir";
  std::vector<Tensor> r = run(ir, {f32({3}, {-7.5f, 7.5f, 6.0f}), f32({3}, {2, -2, 3}),
                                   makeTensor<int8_t>(DType::I8, {2}, {100, -100})});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(values(r[0]), (std::vector<double>{-1.5, 1.5, 0}));
  EXPECT_EQ(values(r[1]), (std::vector<double>{0.5, -0.5, 0}));
  EXPECT_EQ(ints(r[2]), (std::vector<int64_t>{-56, 56}));
}

TEST_F(InterpreterTest, MaxMinPropagateNaNAndCompare) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<3xf32>, %b: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xi1>, tensor<3xi1>) {
  %0 = spd.max %a, %b : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %1 = spd.min %a, %b : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %2 = spd.less_equal %a, %b : tensor<3xf32>, tensor<3xf32> -> tensor<3xi1>
  %3 = spd.equal %a, %b : tensor<3xf32>, tensor<3xf32> -> tensor<3xi1>
  return %0, %1, %2, %3 : tensor<3xf32>, tensor<3xf32>, tensor<3xi1>, tensor<3xi1>
}
)mlir";
  std::vector<Tensor> r = run(ir, {f32({3}, {1, NAN, 2}), f32({3}, {NAN, 1, 2})});
  ASSERT_EQ(r.size(), 4u);
  expectNear(values(r[0]), {NAN, NAN, 2}, 0);
  expectNear(values(r[1]), {NAN, NAN, 2}, 0);
  EXPECT_EQ(ints(r[2]), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(ints(r[3]), (std::vector<int64_t>{0, 0, 1}));
}

TEST_F(InterpreterTest, CastEdgeCases) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<6xf32>, %b: tensor<2xi1>, %c: tensor<2xi32>, %d: tensor<3xf64>) -> (tensor<6xi32>, tensor<6xi1>, tensor<2xf32>, tensor<2xi8>, tensor<3xf16>, tensor<6xbf16>, tensor<6xf16>) {
  %0 = spd.cast %a : tensor<6xf32> -> tensor<6xi32>
  %1 = spd.cast %a : tensor<6xf32> -> tensor<6xi1>
  %2 = spd.cast %b : tensor<2xi1> -> tensor<2xf32>
  %3 = spd.cast %c : tensor<2xi32> -> tensor<2xi8>
  %4 = spd.cast %d : tensor<3xf64> -> tensor<3xf16>
  %5 = spd.cast %a : tensor<6xf32> -> tensor<6xbf16>
  %6 = spd.cast %5 : tensor<6xbf16> -> tensor<6xf16>
  return %0, %1, %2, %3, %4, %5, %6 : tensor<6xi32>, tensor<6xi1>, tensor<2xf32>, tensor<2xi8>, tensor<3xf16>, tensor<6xbf16>, tensor<6xf16>
}
)mlir";
  std::vector<Tensor> r =
      run(ir, {f32({6}, {-1.7f, 2.9f, NAN, 0.0f, -0.0f, 0.5f}), boolean({2}, {1, 0}),
               i32({2}, {300, -129}),
               makeTensor<double>(DType::F64, {3}, {1.0 + 0x1p-11 + 0x1p-40, 65520.0, -1e-9})});
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(ints(r[0]), (std::vector<int64_t>{-1, 2, 0, 0, 0, 0})); // truncation; NaN -> 0
  EXPECT_EQ(ints(r[1]), (std::vector<int64_t>{1, 1, 1, 0, 0, 1}));  // NaN != 0
  EXPECT_EQ(values(r[2]), (std::vector<double>{1, 0}));
  EXPECT_EQ(ints(r[3]), (std::vector<int64_t>{44, 127})); // wraps like numpy
  // f64 -> f16 rounds once: just above the tie goes up (rounding through f32 would tie down).
  EXPECT_EQ(r[4].data<uint16_t>()[0], 0x3c01);
  EXPECT_EQ(r[4].data<uint16_t>()[1], 0x7c00);
  EXPECT_EQ(r[4].data<uint16_t>()[2], 0x8000); // -1e-9 underflows to -0
  expectNear(values(r[5]), {-1.703125, 2.90625, NAN, 0, 0, 0.5}, 0);
  expectNear(values(r[6]), {-1.703125, 2.90625, NAN, 0, 0, 0.5}, 0);
}

TEST_F(InterpreterTest, HalfTypesComputeInF32AndRoundOnce) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<3xf16>, %b: tensor<3xf16>) -> (tensor<3xf16>, tensor<3xf16>) {
  %0 = spd.add %a, %b : tensor<3xf16>, tensor<3xf16> -> tensor<3xf16>
  %1 = spd.sqrt %a : tensor<3xf16>
  return %0, %1 : tensor<3xf16>, tensor<3xf16>
}
)mlir";
  std::vector<Tensor> r =
      run(ir, {f16({3}, {1.0f, 60000.0f, 2.0f}), f16({3}, {0x1p-11f, 10000.0f, 0x1p-10f})});
  ASSERT_EQ(r.size(), 2u);
  // 1 + 2^-11 and 2 + 2^-10 are ties, rounded to even; 70000 overflows to inf.
  EXPECT_EQ(values(r[0]), (std::vector<double>{1.0, kInf, 2.0}));
  EXPECT_EQ(r[1].data<uint16_t>()[2], floatToHalf(std::sqrt(2.0f)));
}

TEST_F(InterpreterTest, UnaryOps) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<5xf32>) -> (tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xi1>) {
  %0 = spd.round %a : tensor<5xf32>
  %1 = spd.sign %a : tensor<5xf32>
  %2 = spd.relu %a : tensor<5xf32>
  %3 = spd.leaky_relu %a {alpha = 0.5 : f32} : tensor<5xf32>
  %4 = spd.gelu %a : tensor<5xf32>
  %5 = spd.gelu %a {approximate = "tanh"} : tensor<5xf32>
  %6 = spd.softplus %a : tensor<5xf32>
  %7 = spd.is_inf %a {detect_negative = false} : tensor<5xf32> -> tensor<5xi1>
  return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xi1>
}
)mlir";
  std::vector<Tensor> r = run(ir, {f32({5}, {0.5f, 1.5f, 2.5f, -2.5f, 1000.0f})});
  ASSERT_EQ(r.size(), 8u);
  EXPECT_EQ(values(r[0]), (std::vector<double>{0, 2, 2, -2, 1000}));
  EXPECT_EQ(values(r[1]), (std::vector<double>{1, 1, 1, -1, 1}));
  EXPECT_EQ(values(r[2]), (std::vector<double>{0.5, 1.5, 2.5, 0, 1000}));
  EXPECT_EQ(values(r[3]), (std::vector<double>{0.5, 1.5, 2.5, -1.25, 1000}));
  auto gelu = [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); };
  expectNear(values(r[4]), {gelu(0.5), gelu(1.5), gelu(2.5), gelu(-2.5), 1000}, 1e-6);
  auto geluTanh = [](double x) {
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  };
  expectNear(values(r[5]), {geluTanh(0.5), geluTanh(1.5), geluTanh(2.5), geluTanh(-2.5), 1000},
             1e-6);
  // Softplus of a large input does not overflow.
  expectNear(values(r[6]),
             {std::log1p(std::exp(0.5)), std::log1p(std::exp(1.5)), std::log1p(std::exp(2.5)),
              std::log1p(std::exp(-2.5)), 1000},
             1e-5);
  EXPECT_EQ(ints(r[7]), (std::vector<int64_t>{0, 0, 0, 0, 0}));
}

TEST_F(InterpreterTest, ClipWhereAndPow) {
  const char *ir = R"mlir(
func.func @f(%x: tensor<4xf32>, %lo: tensor<f32>, %hi: tensor<f32>, %c: tensor<2x1xi1>, %b: tensor<4xi32>, %e: tensor<4xi64>, %fe: tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<2x4xf32>, tensor<4xi32>, tensor<4xf32>) {
  %0 = spd.clip %x min(%lo : tensor<f32>) max(%hi : tensor<f32>) : tensor<4xf32> -> tensor<4xf32>
  %1 = spd.clip %x max(%hi : tensor<f32>) : tensor<4xf32> -> tensor<4xf32>
  %2 = spd.where %c, %x, %lo : tensor<2x1xi1>, tensor<4xf32>, tensor<f32> -> tensor<2x4xf32>
  %3 = spd.pow %b, %e : tensor<4xi32>, tensor<4xi64> -> tensor<4xi32>
  %4 = spd.pow %x, %fe : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
  return %0, %1, %2, %3, %4 : tensor<4xf32>, tensor<4xf32>, tensor<2x4xf32>, tensor<4xi32>, tensor<4xf32>
}
)mlir";
  std::vector<Tensor> r = run(ir, {f32({4}, {-5, 0.5f, 5, NAN}), f32({}, {-1}), f32({}, {1}),
                                   boolean({2, 1}, {1, 0}), i32({4}, {3, -2, 2, 7}),
                                   makeTensor<int64_t>(DType::I64, {4}, {4, 3, -1, 0}), f32({}, {2})});
  ASSERT_EQ(r.size(), 5u);
  expectNear(values(r[0]), {-1, 0.5, 1, NAN}, 0);
  expectNear(values(r[1]), {-5, 0.5, 1, NAN}, 0);
  expectNear(values(r[2]), {-5, 0.5, 5, NAN, -1, -1, -1, -1}, 0);
  EXPECT_EQ(ints(r[3]), (std::vector<int64_t>{81, -8, 0, 1}));
  expectNear(values(r[4]), {25, 0.25, 25, NAN}, 0);
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

TEST_F(InterpreterTest, ReduceKeepdimsAndAxes) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<2x3x2xf32>) -> (tensor<2x1x2xf32>, tensor<3xf32>, tensor<1x1x1xf32>, tensor<2x2xf32>, tensor<2x3x2xf32>, tensor<2x3x2xf32>) {
  %0 = spd.reduce_sum %a {axes = array<i64: 1>} : tensor<2x3x2xf32> -> tensor<2x1x2xf32>
  %1 = spd.reduce_max %a {axes = array<i64: 0, 2>, keepdims = false} : tensor<2x3x2xf32> -> tensor<3xf32>
  %2 = spd.reduce_mean %a {axes = array<i64: 0, 1, 2>} : tensor<2x3x2xf32> -> tensor<1x1x1xf32>
  %3 = spd.reduce_l2 %a {axes = array<i64: 1>, keepdims = false} : tensor<2x3x2xf32> -> tensor<2x2xf32>
  %4 = spd.reduce_sum_square %a {axes = array<i64>} : tensor<2x3x2xf32> -> tensor<2x3x2xf32>
  %5 = spd.reduce_l1 %a {axes = array<i64>} : tensor<2x3x2xf32> -> tensor<2x3x2xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<2x1x2xf32>, tensor<3xf32>, tensor<1x1x1xf32>, tensor<2x2xf32>, tensor<2x3x2xf32>, tensor<2x3x2xf32>
}
)mlir";
  std::vector<float> in = {1, -2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -12};
  std::vector<Tensor> r = run(ir, {f32({2, 3, 2}, in)});
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(shapeOf(r[0]), (std::vector<int64_t>{2, 1, 2}));
  EXPECT_EQ(values(r[0]), (std::vector<double>{9, 8, 27, 6}));
  EXPECT_EQ(values(r[1]), (std::vector<double>{8, 10, 11}));
  expectNear(values(r[2]), {50.0 / 12}, 1e-6);
  expectNear(values(r[3]),
             {std::sqrt(1 + 9 + 25.0), std::sqrt(4 + 16 + 36.0), std::sqrt(49 + 81 + 121.0),
              std::sqrt(64 + 100 + 144.0)},
             1e-5);
  // Empty axes: the ONNX reference squares for sum_square and returns the data otherwise.
  std::vector<double> squares, data;
  for (float v : in) {
    squares.push_back(v * v);
    data.push_back(v);
  }
  EXPECT_EQ(values(r[4]), squares);
  EXPECT_EQ(values(r[5]), data);
}

TEST_F(InterpreterTest, ReduceEmptySetsAndIntegers) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<0x2xf32>, %b: tensor<2x3xi32>) -> (tensor<1x2xf32>, tensor<1x2xf32>, tensor<2xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<2x1xi32>, tensor<2x1xi32>) {
  %0 = spd.reduce_max %a {axes = array<i64: 0>} : tensor<0x2xf32> -> tensor<1x2xf32>
  %1 = spd.reduce_prod %a {axes = array<i64: 0>} : tensor<0x2xf32> -> tensor<1x2xf32>
  %2 = spd.reduce_log_sum_exp %a {axes = array<i64: 0>, keepdims = false} : tensor<0x2xf32> -> tensor<2xf32>
  %3 = spd.reduce_mean %a {axes = array<i64: 0>} : tensor<0x2xf32> -> tensor<1x2xf32>
  %4 = spd.reduce_sum %a {axes = array<i64: 0>} : tensor<0x2xf32> -> tensor<1x2xf32>
  %5 = spd.reduce_mean %b {axes = array<i64: 1>} : tensor<2x3xi32> -> tensor<2x1xi32>
  %6 = spd.reduce_min %b {axes = array<i64: 1>} : tensor<2x3xi32> -> tensor<2x1xi32>
  return %0, %1, %2, %3, %4, %5, %6 : tensor<1x2xf32>, tensor<1x2xf32>, tensor<2xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<2x1xi32>, tensor<2x1xi32>
}
)mlir";
  Tensor empty = llvm::cantFail(Tensor::allocate(DType::F32, {0, 2}));
  std::vector<Tensor> r = run(ir, {empty, i32({2, 3}, {1, 2, 4, -1, -2, -4})});
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(values(r[0]), (std::vector<double>{-kInf, -kInf}));
  EXPECT_EQ(values(r[1]), (std::vector<double>{1, 1}));
  EXPECT_EQ(values(r[2]), (std::vector<double>{-kInf, -kInf}));
  expectNear(values(r[3]), {NAN, NAN}, 0);
  EXPECT_EQ(values(r[4]), (std::vector<double>{0, 0}));
  EXPECT_EQ(ints(r[5]), (std::vector<int64_t>{2, -2})); // 7/3 and -7/3 truncate
  EXPECT_EQ(ints(r[6]), (std::vector<int64_t>{1, -4}));
}

TEST_F(InterpreterTest, LogSumExpIsStable) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<2x2xf32>) -> tensor<2xf32> {
  %0 = spd.reduce_log_sum_exp %a {axes = array<i64: 1>, keepdims = false} : tensor<2x2xf32> -> tensor<2xf32>
  return %0 : tensor<2xf32>
}
)mlir";
  Tensor r = run1(ir, {f32({2, 2}, {1000, 1000, -INFINITY, 0})});
  expectNear(values(r), {1000 + std::log(2.0), 0}, 1e-4);
}

TEST_F(InterpreterTest, ArgMaxArgMinAndCumSum) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<2x4xf32>, %c: tensor<4xi32>) -> (tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>, tensor<4xi32>, tensor<4xi32>) {
  %0 = spd.arg_max %a {axis = 1 : i64} : tensor<2x4xf32> -> tensor<2x1xi64>
  %1 = spd.arg_max %a {axis = 1 : i64, keepdims = false, select_last_index = true} : tensor<2x4xf32> -> tensor<2xi64>
  %2 = spd.arg_min %a {axis = 0 : i64, keepdims = false} : tensor<2x4xf32> -> tensor<4xi64>
  %3 = spd.cumsum %c {axis = 0 : i64} : tensor<4xi32>
  %4 = spd.cumsum %c {axis = 0 : i64, exclusive = true, reverse = true} : tensor<4xi32>
  return %0, %1, %2, %3, %4 : tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>, tensor<4xi32>, tensor<4xi32>
}
)mlir";
  std::vector<Tensor> r =
      run(ir, {f32({2, 4}, {3, 7, 1, 7, 2, NAN, 9, NAN}), i32({4}, {1, 2, 3, 4})});
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(ints(r[0]), (std::vector<int64_t>{1, 1})); // first max; NaN wins
  EXPECT_EQ(ints(r[1]), (std::vector<int64_t>{3, 3})); // last max; last NaN
  EXPECT_EQ(ints(r[2]), (std::vector<int64_t>{1, 1, 0, 1}));
  EXPECT_EQ(ints(r[3]), (std::vector<int64_t>{1, 3, 6, 10}));
  EXPECT_EQ(ints(r[4]), (std::vector<int64_t>{9, 7, 4, 0}));
}

//===----------------------------------------------------------------------===//
// Softmax and layer norm
//===----------------------------------------------------------------------===//

TEST_F(InterpreterTest, SoftmaxAndLogSoftmax) {
  const char *ir = R"mlir(
func.func @f(%a: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %0 = spd.softmax %a {axis = 1 : i64} : tensor<2x3xf32>
  %1 = spd.log_softmax %a {axis = 1 : i64} : tensor<2x3xf32>
  %2 = spd.softmax %a {axis = 0 : i64} : tensor<2x3xf32>
  return %0, %1, %2 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}
)mlir";
  std::vector<Tensor> r = run(ir, {f32({2, 3}, {1, 2, 3, 1000, 1001, 1002})});
  ASSERT_EQ(r.size(), 3u);
  double z = std::exp(-2.0) + std::exp(-1.0) + 1.0;
  std::vector<double> row = {std::exp(-2.0) / z, std::exp(-1.0) / z, 1.0 / z};
  // Shifting by the row maximum makes the 1000s as exact as the small row.
  expectNear(values(r[0]), {row[0], row[1], row[2], row[0], row[1], row[2]}, 1e-7);
  expectNear(values(r[1]),
             {-2 - std::log(z), -1 - std::log(z), -std::log(z), -2 - std::log(z), -1 - std::log(z),
              -std::log(z)},
             1e-6);
  // Along axis 0 every column is (1, 999 larger): ~(0, 1).
  expectNear(values(r[2]), {0, 0, 0, 1, 1, 1}, 1e-7);
}

TEST_F(InterpreterTest, LayerNorm) {
  const char *ir = R"mlir(
func.func @f(%x: tensor<2x4xf32>, %s: tensor<4xf32>, %b: tensor<1xf32>, %h: tensor<1x4xf16>, %hs: tensor<4xf16>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<1x4xf16>) {
  %0 = spd.layer_norm %x, %s, %b {axis = 1 : i64, epsilon = 1.0e-05 : f32} : (tensor<2x4xf32>, tensor<4xf32>, tensor<1xf32>) -> tensor<2x4xf32>
  %1 = spd.layer_norm %x, %s {axis = 0 : i64, epsilon = 0.0 : f32} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %2 = spd.layer_norm %h, %hs {axis = 1 : i64, epsilon = 1.0e-05 : f32} : (tensor<1x4xf16>, tensor<4xf16>) -> tensor<1x4xf16>
  return %0, %1, %2 : tensor<2x4xf32>, tensor<2x4xf32>, tensor<1x4xf16>
}
)mlir";
  std::vector<float> x = {1, 2, 3, 4, 10, 10, 10, 30};
  std::vector<float> s = {1, 2, 0.5f, -1};
  std::vector<Tensor> r = run(ir, {f32({2, 4}, x), f32({4}, s), f32({1}, {0.25f}),
                                   f16({1, 4}, {1, 2, 3, 4}), f16({4}, {1, 1, 1, 1})});
  ASSERT_EQ(r.size(), 3u);
  auto normalize = [](std::vector<double> v, double eps) {
    double mean = 0, var = 0;
    for (double e : v)
      mean += e;
    mean /= v.size();
    for (double e : v)
      var += (e - mean) * (e - mean);
    var /= v.size();
    for (double &e : v)
      e = (e - mean) / std::sqrt(var + eps);
    return v;
  };
  std::vector<double> row0 = normalize({1, 2, 3, 4}, 1e-5);
  std::vector<double> row1 = normalize({10, 10, 10, 30}, 1e-5);
  std::vector<double> expected;
  for (int j = 0; j < 4; ++j)
    expected.push_back(row0[j] * s[j] + 0.25);
  for (int j = 0; j < 4; ++j)
    expected.push_back(row1[j] * s[j] + 0.25);
  expectNear(values(r[0]), expected, 1e-5);
  // axis 0: one group of all 8 elements; scale [4] broadcasts over [2x4].
  std::vector<double> all = normalize({1, 2, 3, 4, 10, 10, 10, 30}, 0);
  for (int i = 0; i < 8; ++i)
    all[i] *= s[i % 4];
  expectNear(values(r[1]), all, 1e-5);
  std::vector<double> half;
  for (double v : normalize({1, 2, 3, 4}, 1e-5))
    half.push_back(halfToFloat(floatToHalf(static_cast<float>(v))));
  EXPECT_EQ(values(r[2]), half);
}

TEST_F(InterpreterTest, LayerNormRejectsBadScale) {
  const char *ir = R"mlir(
func.func @f(%x: tensor<2x4xf32>, %s: tensor<?xf32>) -> tensor<2x4xf32> {
  %0 = spd.layer_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-05 : f32} : (tensor<2x4xf32>, tensor<?xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
)mlir";
  std::string e = runError(ir, {f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), f32({3}, {1, 2, 3})});
  EXPECT_NE(e.find("scale f32[3] does not broadcast to the normalized dimensions [4]"),
            std::string::npos)
      << e;
}

} // namespace
