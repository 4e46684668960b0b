//===- InterpreterNormActivationTest.cpp - rms_norm, silu, swiglu ---------===//
//
// Checks the kernels of the composites that norm and activation recognition produce: against
// values worked out in double, against the primitive chains exporters write (run through the
// same interpreter), in f32 and f16, and with a result type other than the input's (the casts
// recognition folds into a norm).
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

class InterpreterNormActivationTest : public InterpreterTestBase {
protected:
  /// Runs the first function of `ir` and returns each result's values.
  std::vector<Values> runValues(llvm::StringRef ir, llvm::ArrayRef<Tensor> inputs) {
    std::vector<Values> out;
    for (const Tensor &t : run(ir, inputs))
      out.push_back(values(t));
    return out;
  }
};

double roundToHalf(double v) { return halfToFloat(floatToHalf(static_cast<float>(v))); }

/// Like expectNear, but the tolerance scales with the expected magnitude (above 1).
void expectRelNear(const Values &actual, const Values &expected, double tol) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], tol * std::max(1.0, std::fabs(expected[i]))) << "at " << i;
}

/// x / sqrt(mean(x^2) + eps) * scale over rows of `n`, in double.
Values rmsNorm(const Values &x, int64_t n, const Values &scale, double eps) {
  Values out(x.size());
  for (size_t r = 0; r < x.size() / n; ++r) {
    double sumSq = 0;
    for (int64_t j = 0; j < n; ++j)
      sumSq += x[r * n + j] * x[r * n + j];
    double inv = 1.0 / std::sqrt(sumSq / n + eps);
    for (int64_t j = 0; j < n; ++j)
      out[r * n + j] = x[r * n + j] * inv * (scale.empty() ? 1.0 : scale[j % scale.size()]);
  }
  return out;
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

TEST_F(InterpreterNormActivationTest, RmsNormByHand) {
  const char *ir = R"mlir(
func.func @f(%x: tensor<2x4xf32>, %s: tensor<4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %0 = spd.rms_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-05 : f32} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %1 = spd.rms_norm %x {axis = 1 : i64, epsilon = 0.0 : f32} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %2 = spd.rms_norm %x, %s {axis = 0 : i64, epsilon = 1.0e-05 : f32} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %0, %1, %2 : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}
)mlir";
  Values x = {1, 2, 3, 4, -10, 0, 10, 30};
  Values s = {1, 2, 0.5, -1};
  std::vector<Values> r =
      runValues(ir, {f32({2, 4}, {1, 2, 3, 4, -10, 0, 10, 30}), f32({4}, {1, 2, 0.5f, -1})});
  ASSERT_EQ(r.size(), 3u);
  expectRelNear(r[0], rmsNorm(x, 4, s, 1e-5), 1e-6);
  expectRelNear(r[1], rmsNorm(x, 4, {}, 0), 1e-6);
  // axis 0: all 8 elements are one group; the [4] scale broadcasts over [2x4].
  expectRelNear(r[2], rmsNorm(x, 8, s, 1e-5), 1e-6);
}

TEST_F(InterpreterNormActivationTest, RmsNormHalfRoundsOnce) {
  // f16 in and out (LLaMA's f32 round trip folded away), and f16 in with an f32 result.
  const char *ir = R"mlir(
func.func @f(%x: tensor<1x4xf16>, %s: tensor<4xf16>) -> (tensor<1x4xf16>, tensor<1x4xf32>) {
  %0 = spd.rms_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-06 : f32} : (tensor<1x4xf16>, tensor<4xf16>) -> tensor<1x4xf16>
  %1 = spd.rms_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-06 : f32} : (tensor<1x4xf16>, tensor<4xf16>) -> tensor<1x4xf32>
  return %0, %1 : tensor<1x4xf16>, tensor<1x4xf32>
}
)mlir";
  Values x = {1, 2, 3, 4}, s = {1, 0.5, 2, -1};
  std::vector<Values> r = runValues(ir, {f16({1, 4}, {1, 2, 3, 4}), f16({4}, {1, 0.5f, 2, -1})});
  ASSERT_EQ(r.size(), 2u);
  Values exact = rmsNorm(x, 4, s, 1e-6f);
  Values rounded;
  for (double v : exact)
    rounded.push_back(roundToHalf(v));
  EXPECT_EQ(r[0], rounded);
  expectRelNear(r[1], exact, 1e-6);
}

TEST_F(InterpreterNormActivationTest, RmsNormMatchesPrimitiveChain) {
  // The chain spd-recognize-norms replaces, run by the same interpreter.
  const char *ir = R"mlir(
func.func @f(%x: tensor<3x5x16xf32>, %w: tensor<16xf32>) -> (tensor<3x5x16xf32>, tensor<3x5x16xf32>) {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %0 = spd.pow %x, %two : tensor<3x5x16xf32>, tensor<f32> -> tensor<3x5x16xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 2>} : tensor<3x5x16xf32> -> tensor<3x5x1xf32>
  %2 = spd.add %1, %eps : tensor<3x5x1xf32>, tensor<f32> -> tensor<3x5x1xf32>
  %3 = spd.sqrt %2 : tensor<3x5x1xf32>
  %4 = spd.reciprocal %3 : tensor<3x5x1xf32>
  %5 = spd.mul %x, %4 : tensor<3x5x16xf32>, tensor<3x5x1xf32> -> tensor<3x5x16xf32>
  %6 = spd.mul %5, %w : tensor<3x5x16xf32>, tensor<16xf32> -> tensor<3x5x16xf32>
  %7 = spd.rms_norm %x, %w {axis = 2 : i64, epsilon = 1.0e-06 : f32} : (tensor<3x5x16xf32>, tensor<16xf32>) -> tensor<3x5x16xf32>
  return %6, %7 : tensor<3x5x16xf32>, tensor<3x5x16xf32>
}
)mlir";
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> x(3 * 5 * 16), w(16);
  for (float &v : x)
    v = dist(rng);
  for (float &v : w)
    v = dist(rng);
  std::vector<Values> r = runValues(ir, {f32({3, 5, 16}, x), f32({16}, w)});
  ASSERT_EQ(r.size(), 2u);
  expectRelNear(r[1], r[0], 1e-5);
}

TEST_F(InterpreterNormActivationTest, LayerNormHalfInFloatOut) {
  // Recognition folds a trailing cast into the norm: the result type is not the input's.
  const char *ir = R"mlir(
func.func @f(%x: tensor<1x4xf16>, %s: tensor<4xf32>) -> tensor<1x4xf32> {
  %0 = spd.layer_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-05 : f32} : (tensor<1x4xf16>, tensor<4xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}
)mlir";
  std::vector<Values> r = runValues(ir, {f16({1, 4}, {1, 2, 3, 4}), f32({4}, {1, 1, 1, 1})});
  ASSERT_EQ(r.size(), 1u);
  double sd = std::sqrt(1.25 + 1e-5);
  expectRelNear(r[0], {-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd}, 1e-6);
}

TEST_F(InterpreterNormActivationTest, SiluAndSwiGlu) {
  const char *ir = R"mlir(
func.func @f(%g: tensor<6xf32>, %u: tensor<6xf32>, %h: tensor<3xf16>, %hu: tensor<3xf16>) -> (tensor<6xf32>, tensor<6xf32>, tensor<3xf16>, tensor<3xf16>) {
  %0 = spd.silu %g : tensor<6xf32>
  %1 = spd.swiglu %g, %u : tensor<6xf32>
  %2 = spd.silu %h : tensor<3xf16>
  %3 = spd.swiglu %h, %hu : tensor<3xf16>
  return %0, %1, %2, %3 : tensor<6xf32>, tensor<6xf32>, tensor<3xf16>, tensor<3xf16>
}
)mlir";
  Values g = {0, 1, -1, 5, -100, 100}, u = {2, 3, -4, 0.5, 7, -1};
  std::vector<Values> r =
      runValues(ir, {f32({6}, {0, 1, -1, 5, -100, 100}), f32({6}, {2, 3, -4, 0.5f, 7, -1}),
               f16({3}, {0.5f, -2, 3}), f16({3}, {1, 2, -1})});
  ASSERT_EQ(r.size(), 4u);
  Values s, sg;
  for (size_t i = 0; i < g.size(); ++i) {
    s.push_back(silu(g[i]));
    sg.push_back(silu(g[i]) * u[i]);
  }
  // Large |x| stays finite: -100 gives a tiny negative, not NaN.
  expectRelNear(r[0], s, 1e-6);
  expectRelNear(r[1], sg, 1e-6);
  EXPECT_EQ(r[2], (Values{roundToHalf(silu(0.5)), roundToHalf(silu(-2)), roundToHalf(silu(3))}));
  EXPECT_EQ(r[3], (Values{roundToHalf(silu(0.5) * 1), roundToHalf(silu(-2) * 2),
                          roundToHalf(silu(3) * -1)}));
}

TEST_F(InterpreterNormActivationTest, SwiGluMatchesPrimitiveChain) {
  const char *ir = R"mlir(
func.func @f(%g: tensor<4x32xf32>, %u: tensor<4x32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %0 = spd.sigmoid %g : tensor<4x32xf32>
  %1 = spd.mul %g, %0 : tensor<4x32xf32>, tensor<4x32xf32> -> tensor<4x32xf32>
  %2 = spd.mul %1, %u : tensor<4x32xf32>, tensor<4x32xf32> -> tensor<4x32xf32>
  %3 = spd.swiglu %g, %u : tensor<4x32xf32>
  return %2, %3 : tensor<4x32xf32>, tensor<4x32xf32>
}
)mlir";
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  std::vector<float> g(128), u(128);
  for (float &v : g)
    v = dist(rng);
  for (float &v : u)
    v = dist(rng);
  std::vector<Values> r = runValues(ir, {f32({4, 32}, g), f32({4, 32}, u)});
  ASSERT_EQ(r.size(), 2u);
  expectRelNear(r[1], r[0], 1e-6);
}

} // namespace
