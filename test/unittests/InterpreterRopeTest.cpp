//===- InterpreterRopeTest.cpp - spd.rope in the reference interpreter ----===//
//
// Checks spd.rope against values worked out by hand (rotate-half, interleaved, partial
// rotary, each storage type) and against the primitive chain exporters write (x * cos +
// concat(-x2, x1) * sin) on random data with broadcast tables, plus its run-time errors.
//
//===----------------------------------------------------------------------===//

#include "InterpreterTestSupport.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>
#include <random>

using namespace mlir;
using namespace spdc;
using namespace spdc::test;

namespace {

class InterpreterRopeTest : public InterpreterTestBase {
protected:
  /// Runs a function with one result and returns its values (empty on failure).
  Values run1(llvm::StringRef ir, llvm::ArrayRef<Tensor> inputs = {}) {
    auto results = tryRun(ir, inputs);
    if (!results) {
      ADD_FAILURE() << llvm::toString(results.takeError());
      return {};
    }
    if (results->size() != 1) {
      ADD_FAILURE() << "expected one result";
      return {};
    }
    return values((*results)[0]);
  }
};

// x = [[1, 2, 3, 4], [5, 6, 7, 8]] as rows of [1, 1, 2, 4]; cos and sin are [2, 4] tables
// (one row per position, broadcast over batch and heads). rotate_half(row) = [-x3, -x4, x1, x2].
//   row 0: cos 1, sin 1   -> [1 - 3, 2 - 4, 3 + 1, 4 + 2]           = [-2, -2, 4, 6]
//   row 1: cos 0.5, sin 2 -> [2.5 - 14, 3 - 16, 3.5 + 10, 4 + 12]   = [-11.5, -13, 13.5, 16]
constexpr const char *kRotateHalfIR = R"(
  func.func @f() -> tensor<1x1x2x4xT> {
    %x = spd.constant dense<[[[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]]]> : tensor<1x1x2x4xT>
    %c = spd.constant dense<[[1.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]]> : tensor<2x4xT>
    %s = spd.constant dense<[[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]]> : tensor<2x4xT>
    %r = spd.rope %x, %c, %s {rotary_dim = 4 : i64} : (tensor<1x1x2x4xT>, tensor<2x4xT>, tensor<2x4xT>) -> tensor<1x1x2x4xT>
    return %r : tensor<1x1x2x4xT>
  })";

TEST_F(InterpreterRopeTest, RotateHalfEachStorageType) {
  for (const char *type : {"f32", "f64", "f16", "bf16"}) {
    std::string ir = kRotateHalfIR;
    for (size_t pos; (pos = ir.find("xT>")) != std::string::npos;)
      ir.replace(pos, 3, std::string("x") + type + ">");
    EXPECT_EQ(run1(ir), (Values{-2, -2, 4, 6, -11.5, -13, 13.5, 16})) << type;
  }
}

// Interleaved: each pair (a, b) rotates to (-b, a). x = [1, 2, 3, 4], cos 1, sin 1:
// [1 - 2, 2 + 1, 3 - 4, 4 + 3].
TEST_F(InterpreterRopeTest, Interleaved) {
  Values v = run1(R"(
    func.func @f() -> tensor<1x4xf32> {
      %x = spd.constant dense<[[1.0, 2.0, 3.0, 4.0]]> : tensor<1x4xf32>
      %one = spd.constant dense<1.0> : tensor<4xf32>
      %r = spd.rope %x, %one, %one {rotary_dim = 4 : i64, interleaved = true} : (tensor<1x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4xf32>
      return %r : tensor<1x4xf32>
    })");
  EXPECT_EQ(v, (Values{-1, 3, -1, 7}));
}

// Partial rotary: the first 4 of 6 elements rotate, the last two pass through unchanged.
TEST_F(InterpreterRopeTest, PartialRotaryPassesTheRestThrough) {
  Values v = run1(R"(
    func.func @f() -> tensor<6xf16> {
      %x = spd.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf16>
      %one = spd.constant dense<1.0> : tensor<4xf16>
      %r = spd.rope %x, %one, %one {rotary_dim = 4 : i64} : (tensor<6xf16>, tensor<4xf16>, tensor<4xf16>) -> tensor<6xf16>
      return %r : tensor<6xf16>
    })");
  EXPECT_EQ(v, (Values{-2, -2, 4, 6, 5, 6}));
}

// f16 rounds once. Element 0 is x0 * c0 + (-x2) * s0 with x0 = c0 = 1 + 2^-10, x2 = 1,
// s0 = -2^-11: exactly 1 + 2^-9 + 2^-11 + 2^-20, which rounds to 1 + 3 * 2^-10. Rounding the
// product first (to 1 + 2^-9) would leave a tie that rounds to even, 1 + 2^-9.
TEST_F(InterpreterRopeTest, HalfRoundsOnce) {
  Values v = run1(R"(
    func.func @f() -> tensor<4xf16> {
      %x = spd.constant dense<[1.0009765625, 0.0, 1.0, 0.0]> : tensor<4xf16>
      %c = spd.constant dense<[1.0009765625, 0.0, 0.0, 0.0]> : tensor<4xf16>
      %s = spd.constant dense<[-4.8828125E-4, 0.0, 0.0, 0.0]> : tensor<4xf16>
      %r = spd.rope %x, %c, %s {rotary_dim = 4 : i64} : (tensor<4xf16>, tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
      return %r : tensor<4xf16>
    })");
  EXPECT_EQ(v, (Values{1.0029296875, 0, 0, 0}));
}

/// Random values in [-2, 2).
std::vector<float> randomValues(size_t n, std::mt19937 &rng) {
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

// The op against the chain it replaces, with tables broadcast differently (per batch and
// position for cos, per position for sin): the two must agree to f32 rounding.
TEST_F(InterpreterRopeTest, MatchesThePrimitiveChain) {
  std::mt19937 rng(7);
  Tensor x = f32({2, 3, 5, 8}, randomValues(2 * 3 * 5 * 8, rng));
  Tensor c = f32({2, 1, 5, 8}, randomValues(2 * 5 * 8, rng));
  Tensor s = f32({5, 8}, randomValues(5 * 8, rng));
  Values fused = run1(R"(
    func.func @f(%x: tensor<2x3x5x8xf32>, %c: tensor<2x1x5x8xf32>, %s: tensor<5x8xf32>) -> tensor<2x3x5x8xf32> {
      %r = spd.rope %x, %c, %s {rotary_dim = 8 : i64} : (tensor<2x3x5x8xf32>, tensor<2x1x5x8xf32>, tensor<5x8xf32>) -> tensor<2x3x5x8xf32>
      return %r : tensor<2x3x5x8xf32>
    })",
                      {x, c, s});
  Values chain = run1(R"(
    func.func @f(%x: tensor<2x3x5x8xf32>, %c: tensor<2x1x5x8xf32>, %s: tensor<5x8xf32>) -> tensor<2x3x5x8xf32> {
      %h:2 = spd.split %x {axis = 3 : i64, sizes = array<i64: 4, 4>} : tensor<2x3x5x8xf32> -> tensor<2x3x5x4xf32>, tensor<2x3x5x4xf32>
      %n = spd.neg %h#1 : tensor<2x3x5x4xf32>
      %rot = spd.concat %n, %h#0 {axis = 3 : i64} : (tensor<2x3x5x4xf32>, tensor<2x3x5x4xf32>) -> tensor<2x3x5x8xf32>
      %xc = spd.mul %x, %c : tensor<2x3x5x8xf32>, tensor<2x1x5x8xf32> -> tensor<2x3x5x8xf32>
      %rs = spd.mul %rot, %s : tensor<2x3x5x8xf32>, tensor<5x8xf32> -> tensor<2x3x5x8xf32>
      %out = spd.add %xc, %rs : tensor<2x3x5x8xf32>, tensor<2x3x5x8xf32> -> tensor<2x3x5x8xf32>
      return %out : tensor<2x3x5x8xf32>
    })",
                      {x, c, s});
  ASSERT_EQ(fused.size(), chain.size());
  ASSERT_EQ(fused.size(), size_t(2 * 3 * 5 * 8));
  for (size_t i = 0; i < fused.size(); ++i)
    EXPECT_NEAR(fused[i], chain[i], 4e-6 * (1 + std::fabs(chain[i]))) << "element " << i;
}

// Dynamic types let a bad shape reach the kernel: it reports the op, not garbage.
TEST_F(InterpreterRopeTest, TableThatDoesNotBroadcastIsAnError) {
  constexpr const char *ir = R"(
    func.func @f(%x: tensor<2x4xf32>, %c: tensor<?x?xf32>) -> tensor<2x4xf32> {
      %r = spd.rope %x, %c, %c {rotary_dim = 4 : i64} : (tensor<2x4xf32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<2x4xf32>
      return %r : tensor<2x4xf32>
    })";
  Tensor x = f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_NE(runError(ir, {x, f32({1, 2}, {1, 1})}).find("does not broadcast"), std::string::npos);
  EXPECT_NE(runError(ir, {x, f32({3, 4}, std::vector<float>(12, 1.0f))}).find("does not broadcast"),
            std::string::npos);
}

TEST_F(InterpreterRopeTest, RotaryDimBeyondTheLastDimensionIsAnError) {
  std::string e = runError(R"(
    func.func @f(%x: tensor<1x?xf32>, %c: tensor<4xf32>) -> tensor<1x?xf32> {
      %r = spd.rope %x, %c, %c {rotary_dim = 4 : i64} : (tensor<1x?xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x?xf32>
      return %r : tensor<1x?xf32>
    })",
                           {f32({1, 2}, {1, 2}), f32({4}, {1, 1, 1, 1})});
  EXPECT_NE(e.find("rotary_dim 4"), std::string::npos) << e;
}

} // namespace
