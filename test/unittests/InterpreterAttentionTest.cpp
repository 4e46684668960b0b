//===- InterpreterAttentionTest.cpp - the spd.attention kernel ------------===//
//
// Checks spd.attention against a hand-worked case and against the decomposed graph it
// replaces (repeat_kv, transpose, matmul, scale, masks, softmax, matmul) run by the same
// interpreter: grouped heads, bottom-right causal alignment with fewer queries than keys,
// float and i1 masks, fully masked rows, half precision, and the kernel's errors.
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

class AttentionKernelTest : public InterpreterTestBase {
protected:
  Tensor run1(llvm::StringRef ir, llvm::ArrayRef<Tensor> inputs) {
    auto results = tryRun(ir, inputs);
    if (!results) {
      ADD_FAILURE() << llvm::toString(results.takeError());
      return Tensor();
    }
    EXPECT_EQ(results->size(), 1u);
    return results->empty() ? Tensor() : (*results)[0];
  }
};

std::vector<float> randomValues(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

TEST_F(AttentionKernelTest, HandWorkedCausal) {
  // Row 0 sees key 0 only; row 1 weighs keys 0 and 1 by softmax(0.5 * [1, 2]).
  Tensor out = run1(
      R"(
    func.func @f(%q: tensor<1x1x2x1xf32>, %k: tensor<1x1x2x1xf32>, %v: tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32> {
      %o = spd.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : tensor<1x1x2x1xf32>, tensor<1x1x2x1xf32>, tensor<1x1x2x2xf32> -> tensor<1x1x2x2xf32>
      return %o : tensor<1x1x2x2xf32>
    })",
      {f32({1, 1, 2, 1}, {3, 1}), f32({1, 1, 2, 1}, {1, 2}), f32({1, 1, 2, 2}, {10, 20, 30, 40})});
  double p0 = 1.0 / (1.0 + std::exp(0.5)), p1 = 1.0 - p0;
  std::vector<double> expected = {10, 20, 10 * p0 + 30 * p1, 20 * p0 + 40 * p1};
  std::vector<double> actual = values(out);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], 1e-5) << "element " << i;
}

// GQA (4 query heads over 2 key/value heads), 3 queries over 5 keys with the causal flag
// (bottom-right: query i sees keys j <= i + 2) and a float padding mask, against the graph
// exporters write for it.
TEST_F(AttentionKernelTest, MatchesDecomposedGraph) {
  std::vector<Tensor> inputs = {
      f32({2, 4, 3, 8}, randomValues(2 * 4 * 3 * 8, 1)),
      f32({2, 2, 5, 8}, randomValues(2 * 2 * 5 * 8, 2)),
      f32({2, 2, 5, 8}, randomValues(2 * 2 * 5 * 8, 3)),
      f32({2, 1, 1, 5}, {0, 0, 0, 0, 0, -INFINITY, 0, 0, -3.4e38f, 0}),
  };
  Tensor fused = run1(R"(
    func.func @f(%q: tensor<2x4x3x8xf32>, %k: tensor<2x2x5x8xf32>, %v: tensor<2x2x5x8xf32>, %m: tensor<2x1x1x5xf32>) -> tensor<2x4x3x8xf32> {
      %o = spd.attention %q, %k, %v mask(%m : tensor<2x1x1x5xf32>) {causal = true, scale = 0.353553385 : f32} : tensor<2x4x3x8xf32>, tensor<2x2x5x8xf32>, tensor<2x2x5x8xf32> -> tensor<2x4x3x8xf32>
      return %o : tensor<2x4x3x8xf32>
    })",
                      inputs);
  Tensor decomposed = run1(R"(
    func.func @f(%q: tensor<2x4x3x8xf32>, %k: tensor<2x2x5x8xf32>, %v: tensor<2x2x5x8xf32>, %m: tensor<2x1x1x5xf32>) -> tensor<2x4x3x8xf32> {
      %s5 = spd.constant dense<[2, 2, 2, 5, 8]> : tensor<5xi64>
      %s4 = spd.constant dense<[2, 4, 5, 8]> : tensor<4xi64>
      %scale = spd.constant dense<0.353553385> : tensor<f32>
      %causal = spd.constant dense<[[0.0, 0.0, 0.0, 0xFF800000, 0xFF800000], [0.0, 0.0, 0.0, 0.0, 0xFF800000], [0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<3x5xf32>
      %k1 = spd.unsqueeze %k {axes = array<i64: 2>} : tensor<2x2x5x8xf32> -> tensor<2x2x1x5x8xf32>
      %k2 = spd.expand %k1, %s5 : tensor<2x2x1x5x8xf32>, tensor<5xi64> -> tensor<2x2x2x5x8xf32>
      %kr = spd.reshape %k2, %s4 : tensor<2x2x2x5x8xf32>, tensor<4xi64> -> tensor<2x4x5x8xf32>
      %v1 = spd.unsqueeze %v {axes = array<i64: 2>} : tensor<2x2x5x8xf32> -> tensor<2x2x1x5x8xf32>
      %v2 = spd.expand %v1, %s5 : tensor<2x2x1x5x8xf32>, tensor<5xi64> -> tensor<2x2x2x5x8xf32>
      %vr = spd.reshape %v2, %s4 : tensor<2x2x2x5x8xf32>, tensor<4xi64> -> tensor<2x4x5x8xf32>
      %kt = spd.transpose %kr {perm = array<i64: 0, 1, 3, 2>} : tensor<2x4x5x8xf32> -> tensor<2x4x8x5xf32>
      %s = spd.matmul %q, %kt : tensor<2x4x3x8xf32>, tensor<2x4x8x5xf32> -> tensor<2x4x3x5xf32>
      %ss = spd.mul %s, %scale : tensor<2x4x3x5xf32>, tensor<f32> -> tensor<2x4x3x5xf32>
      %sc = spd.add %ss, %causal : tensor<2x4x3x5xf32>, tensor<3x5xf32> -> tensor<2x4x3x5xf32>
      %sm = spd.add %sc, %m : tensor<2x4x3x5xf32>, tensor<2x1x1x5xf32> -> tensor<2x4x3x5xf32>
      %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x4x3x5xf32>
      %o = spd.matmul %p, %vr : tensor<2x4x3x5xf32>, tensor<2x4x5x8xf32> -> tensor<2x4x3x8xf32>
      return %o : tensor<2x4x3x8xf32>
    })",
                           inputs);
  expectNear(fused, decomposed, 1e-5);
}

// An i1 mask keeps where true; a row that sees no key gives zeros (SDPA's NaN guard).
TEST_F(AttentionKernelTest, BoolMaskAndFullyMaskedRow) {
  Tensor out = run1(R"(
    func.func @f(%q: tensor<1x1x2x1xf32>, %k: tensor<1x1x2x1xf32>, %v: tensor<1x1x2x1xf32>, %m: tensor<1x1x2x2xi1>) -> tensor<1x1x2x1xf32> {
      %o = spd.attention %q, %k, %v mask(%m : tensor<1x1x2x2xi1>) {scale = 1.0 : f32} : tensor<1x1x2x1xf32>, tensor<1x1x2x1xf32>, tensor<1x1x2x1xf32> -> tensor<1x1x2x1xf32>
      return %o : tensor<1x1x2x1xf32>
    })",
                    {f32({1, 1, 2, 1}, {1, 1}), f32({1, 1, 2, 1}, {1, 2}),
                     f32({1, 1, 2, 1}, {5, 7}), boolean({1, 1, 2, 2}, {0, 1, 0, 0})});
  std::vector<double> actual = values(out);
  EXPECT_NEAR(actual[0], 7.0, 1e-6);
  EXPECT_EQ(actual[1], 0.0);
}

// Half precision computes in double and rounds once: the f32 result rounded to f16.
TEST_F(AttentionKernelTest, HalfPrecisionRoundsOnce) {
  std::vector<float> q = randomValues(16, 4), k = randomValues(16, 5), v = randomValues(16, 6);
  const char *ir = R"(
    func.func @f(%q: tensor<1x2x2x4xT>, %k: tensor<1x2x2x4xT>, %v: tensor<1x2x2x4xT>) -> tensor<1x2x2x4xT> {
      %o = spd.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : tensor<1x2x2x4xT>, tensor<1x2x2x4xT>, tensor<1x2x2x4xT> -> tensor<1x2x2x4xT>
      return %o : tensor<1x2x2x4xT>
    })";
  std::string half = ir, single = ir;
  for (std::string *s : {&half, &single})
    for (size_t pos; (pos = s->find("xT>")) != std::string::npos;)
      s->replace(pos, 3, s == &half ? "xf16>" : "xf32>");
  // The f32 run on the f16-rounded inputs is the exact reference up to f32 rounding.
  auto roundTrip = [](std::vector<float> x) {
    for (float &e : x)
      e = halfToFloat(floatToHalf(e));
    return x;
  };
  Tensor h = run1(half, {f16({1, 2, 2, 4}, q), f16({1, 2, 2, 4}, k), f16({1, 2, 2, 4}, v)});
  Tensor s = run1(single, {f32({1, 2, 2, 4}, roundTrip(q)), f32({1, 2, 2, 4}, roundTrip(k)),
                           f32({1, 2, 2, 4}, roundTrip(v))});
  std::vector<double> hv = values(h), sv = values(s);
  ASSERT_EQ(hv.size(), sv.size());
  for (size_t i = 0; i < hv.size(); ++i)
    EXPECT_EQ(hv[i], halfToFloat(floatToHalf(static_cast<float>(sv[i])))) << "element " << i;
}

TEST_F(AttentionKernelTest, Errors) {
  const char *badMask = R"(
    func.func @f(%q: tensor<1x2x2x4xf32>, %k: tensor<1x2x2x4xf32>, %v: tensor<1x2x2x4xf32>, %m: tensor<3x2xf32>) -> tensor<1x2x2x4xf32> {
      %o = spd.attention %q, %k, %v mask(%m : tensor<3x2xf32>) {scale = 1.0 : f32} : tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32> -> tensor<1x2x2x4xf32>
      return %o : tensor<1x2x2x4xf32>
    })";
  std::vector<float> x(16, 0.0f);
  std::string error = runError(badMask, {f32({1, 2, 2, 4}, x), f32({1, 2, 2, 4}, x),
                                         f32({1, 2, 2, 4}, x), f32({3, 2}, {0, 0, 0, 0, 0, 0})});
  EXPECT_NE(error.find("does not broadcast"), std::string::npos) << error;

  // Dynamic heads that turn out not to group: 3 query heads over 2 key/value heads.
  const char *badHeads = R"(
    func.func @f(%q: tensor<1x?x2x4xf32>, %k: tensor<1x?x2x4xf32>, %v: tensor<1x?x2x4xf32>) -> tensor<1x?x2x4xf32> {
      %o = spd.attention %q, %k, %v {scale = 1.0 : f32} : tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32> -> tensor<1x?x2x4xf32>
      return %o : tensor<1x?x2x4xf32>
    })";
  std::vector<float> q(24, 0.0f);
  error = runError(badHeads, {f32({1, 3, 2, 4}, q), f32({1, 2, 2, 4}, x), f32({1, 2, 2, 4}, x)});
  EXPECT_NE(error.find("multiple of key/value heads"), std::string::npos) << error;
}

} // namespace
