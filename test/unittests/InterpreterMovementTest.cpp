//===- InterpreterMovementTest.cpp - contraction, movement, quantization --===//
//
// Runs small spd functions through the reference interpreter and checks every value against
// numbers worked out by hand (or by a naive loop, for the blocked matmul).
//
//===----------------------------------------------------------------------===//

#include "InterpreterTestSupport.h"

#include "gtest/gtest.h"

#include <cstring>
#include <random>

using namespace mlir;
using namespace spdc;
using namespace spdc::test;

namespace {

class InterpreterMovementTest : public InterpreterTestBase {};

//===----------------------------------------------------------------------===//
// matmul
//===----------------------------------------------------------------------===//

TEST_F(InterpreterMovementTest, MatMul2D) {
  auto r = run(R"(
    func.func @f() -> tensor<2x2xf32> {
      %a = spd.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
      %b = spd.constant dense<[[1.0, 0.5], [-1.0, 2.0], [0.0, 3.0]]> : tensor<3x2xf32>
      %c = spd.matmul %a, %b : tensor<2x3xf32>, tensor<3x2xf32> -> tensor<2x2xf32>
      return %c : tensor<2x2xf32>
    })");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(values(r[0]), (Values{-1, 13.5, -1, 30}));
}

TEST_F(InterpreterMovementTest, MatMulOneDimensionalOperands) {
  auto r = run(R"(
    func.func @f() -> (tensor<2xf32>, tensor<2xf32>, tensor<f32>) {
      %v = spd.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
      %m = spd.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
      %mt = spd.constant dense<[[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]> : tensor<2x3xf32>
      %vm = spd.matmul %v, %m : tensor<3xf32>, tensor<3x2xf32> -> tensor<2xf32>
      %mv = spd.matmul %mt, %v : tensor<2x3xf32>, tensor<3xf32> -> tensor<2xf32>
      %vv = spd.matmul %v, %v : tensor<3xf32>, tensor<3xf32> -> tensor<f32>
      return %vm, %mv, %vv : tensor<2xf32>, tensor<2xf32>, tensor<f32>
    })");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(values(r[0]), (Values{22, 28}));
  EXPECT_EQ(values(r[1]), (Values{22, 28}));
  EXPECT_EQ(shapeOf(r[2]), Shape{});
  EXPECT_EQ(values(r[2]), (Values{14}));
}

TEST_F(InterpreterMovementTest, MatMulBroadcastsBatchDimensions) {
  // [2,1,2,3] x [3,3,2]: the batch shapes [2,1] and [3] broadcast to [2,3].
  std::vector<float> a(12), b(18);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = static_cast<float>(i) - 5;
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<float>(i % 7) * 0.5f;
  auto r = run(R"(
    func.func @f(%a: tensor<2x1x2x3xf32>, %b: tensor<3x3x2xf32>) -> tensor<2x3x2x2xf32> {
      %c = spd.matmul %a, %b : tensor<2x1x2x3xf32>, tensor<3x3x2xf32> -> tensor<2x3x2x2xf32>
      return %c : tensor<2x3x2x2xf32>
    })",
               {f32({2, 1, 2, 3}, a), f32({3, 3, 2}, b)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(shapeOf(r[0]), (Shape{2, 3, 2, 2}));
  Values expected;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int m = 0; m < 2; ++m)
        for (int n = 0; n < 2; ++n) {
          double acc = 0;
          for (int k = 0; k < 3; ++k)
            acc += a[i * 6 + m * 3 + k] * b[j * 6 + k * 2 + n];
          expected.push_back(acc);
        }
  EXPECT_EQ(values(r[0]), expected);
}

TEST_F(InterpreterMovementTest, MatMulBlockedMatchesNaiveLoop) {
  // Sizes that are not multiples of the 4-row / 256-column blocks, with dynamic dimensions.
  const int64_t m = 33, k = 130, n = 517;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> dist(-8, 8);
  std::vector<float> a(m * k), b(k * n);
  for (float &x : a)
    x = dist(rng) * 0.25f;
  for (float &x : b)
    x = dist(rng) * 0.5f;
  auto r = run(R"(
    func.func @f(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
      %c = spd.matmul %a, %b : tensor<?x?xf32>, tensor<?x?xf32> -> tensor<?x?xf32>
      return %c : tensor<?x?xf32>
    })",
               {f32({m, k}, a), f32({k, n}, b)});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(shapeOf(r[0]), (Shape{m, n}));
  const float *c = r[0].data<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<double>(a[i * k + p]) * b[p * n + j];
      // Products of quarter and half integers: exact in f64, and the sums fit f32 exactly.
      ASSERT_EQ(c[i * n + j], static_cast<float>(acc)) << "at " << i << ", " << j;
    }
}

TEST_F(InterpreterMovementTest, MatMulIntegerAndHalf) {
  auto r = run(R"(
    func.func @f() -> (tensor<2x2xi32>, tensor<1x2xf16>) {
      %a = spd.constant dense<[[1, -2], [3, 4]]> : tensor<2x2xi32>
      %b = spd.constant dense<[[5, 6], [7, -8]]> : tensor<2x2xi32>
      %c = spd.matmul %a, %b : tensor<2x2xi32>, tensor<2x2xi32> -> tensor<2x2xi32>
      %x = spd.constant dense<[[0.5, 1.5]]> : tensor<1x2xf16>
      %y = spd.constant dense<[[2.0, 1.0], [4.0, -1.0]]> : tensor<2x2xf16>
      %z = spd.matmul %x, %y : tensor<1x2xf16>, tensor<2x2xf16> -> tensor<1x2xf16>
      return %c, %z : tensor<2x2xi32>, tensor<1x2xf16>
    })");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(values(r[0]), (Values{-9, 22, 43, -14}));
  EXPECT_EQ(values(r[1]), (Values{7, -1}));
}

TEST_F(InterpreterMovementTest, MatMulRejectsMismatchedContraction) {
  std::vector<float> a(6), b(8);
  std::string err =
      runError(R"(
    func.func @f(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
      %c = spd.matmul %a, %b : tensor<?x?xf32>, tensor<?x?xf32> -> tensor<?x?xf32>
      return %c : tensor<?x?xf32>
    })",
               {f32({2, 3}, a), f32({4, 2}, b)});
  EXPECT_NE(err.find("contracted dimensions differ"), std::string::npos) << err;
}

TEST_F(InterpreterMovementTest, MatMulIntegerZeroPoints) {
  // (a - [1, 2] per row) x (b - 3): a' = [[1, 2], [-1, 0]], b' = [[1, -3], [0, 2]].
  auto r = run(R"(
    func.func @f() -> tensor<2x2xi32> {
      %a = spd.constant dense<[[2, 3], [1, 2]]> : tensor<2x2xui8>
      %b = spd.constant dense<[[4, 0], [3, 5]]> : tensor<2x2xi8>
      %za = spd.constant dense<[1, 2]> : tensor<2xui8>
      %zb = spd.constant dense<3> : tensor<i8>
      %c = spd.matmul_integer %a, %b zero_points(%za : tensor<2xui8>)
           rhs_zero_point(%zb : tensor<i8>) : tensor<2x2xui8>, tensor<2x2xi8> -> tensor<2x2xi32>
      return %c : tensor<2x2xi32>
    })");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(values(r[0]), (Values{1, 1, -1, 3}));
}

//===----------------------------------------------------------------------===//
// einsum
//===----------------------------------------------------------------------===//

TEST_F(InterpreterMovementTest, Einsum) {
  auto r = run(R"(
    func.func @f() -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2xf32>, tensor<f32>,
                       tensor<1x3x2xf32>, tensor<f32>) {
      %a = spd.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
      %b = spd.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf32>
      %sq = spd.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
      %v = spd.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
      %t = spd.constant dense<[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]> : tensor<1x2x3xf32>
      %explicit = spd.einsum %a, %b {equation = "ij,jk->ik"}
          : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
      %implicit = spd.einsum %a, %b {equation = "ij, jk"}
          : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
      %diag = spd.einsum %sq {equation = "ii->i"} : (tensor<2x2xf32>) -> tensor<2xf32>
      %trace = spd.einsum %sq {equation = "ii"} : (tensor<2x2xf32>) -> tensor<f32>
      %swap = spd.einsum %t {equation = "...ij->...ji"} : (tensor<1x2x3xf32>) -> tensor<1x3x2xf32>
      %dot = spd.einsum %v, %v {equation = "i,i"} : (tensor<3xf32>, tensor<3xf32>) -> tensor<f32>
      return %explicit, %implicit, %diag, %trace, %swap, %dot
          : tensor<2x2xf32>, tensor<2x2xf32>, tensor<2xf32>, tensor<f32>, tensor<1x3x2xf32>,
            tensor<f32>
    })");
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(values(r[0]), (Values{4, 5, 10, 11}));
  EXPECT_EQ(values(r[1]), (Values{4, 5, 10, 11}));
  EXPECT_EQ(values(r[2]), (Values{1, 4}));
  EXPECT_EQ(values(r[3]), (Values{5}));
  EXPECT_EQ(values(r[4]), (Values{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(values(r[5]), (Values{14}));
}

TEST_F(InterpreterMovementTest, EinsumImplicitOutputIsAlphabetical) {
  // "ba" in implicit mode outputs "ab": a transpose.
  auto r = run(R"(
    func.func @f() -> (tensor<3x2xf32>, tensor<2x2x2xf32>) {
      %a = spd.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
      %x = spd.constant dense<[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]]]> : tensor<2x2x2xf32>
      %t = spd.einsum %a {equation = "ba"} : (tensor<2x3xf32>) -> tensor<3x2xf32>
      %bmm = spd.einsum %x, %x {equation = "bij,bjk->bik"}
          : (tensor<2x2x2xf32>, tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
      return %t, %bmm : tensor<3x2xf32>, tensor<2x2x2xf32>
    })");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(values(r[0]), (Values{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(values(r[1]), (Values{7, 10, 15, 22, 1, 0, 0, 1}));
}

TEST_F(InterpreterMovementTest, EinsumBatchDiagonalAndRowSum) {
  auto r = run(R"(
    func.func @f() -> (tensor<2x2xf32>, tensor<2xi32>) {
      %x = spd.constant dense<[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]> : tensor<2x2x2xf32>
      %d = spd.einsum %x {equation = "...ii ->...i"} : (tensor<2x2x2xf32>) -> tensor<2x2xf32>
      %m = spd.constant dense<[[1, 2, 3], [4, 5, 6]]> : tensor<2x3xi32>
      %s = spd.einsum %m {equation = "ij->i"} : (tensor<2x3xi32>) -> tensor<2xi32>
      return %d, %s : tensor<2x2xf32>, tensor<2xi32>
    })");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(values(r[0]), (Values{1, 4, 5, 8}));
  EXPECT_EQ(values(r[1]), (Values{6, 15}));
}

//===----------------------------------------------------------------------===//
// slice, reshape, gather
//===----------------------------------------------------------------------===//

TEST_F(InterpreterMovementTest, SliceNegativeSteps) {
  auto r = run(R"(
    func.func @f() -> (tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>, tensor<?xf32>) {
      %x = spd.constant dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]> : tensor<10xf32>
      %m = spd.constant dense<[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]> : tensor<2x3xf32>
      %s0 = spd.constant dense<-1> : tensor<1xi64>
      %e0 = spd.constant dense<-9223372036854775808> : tensor<1xi64>
      %a0 = spd.constant dense<0> : tensor<1xi64>
      %st0 = spd.constant dense<-3> : tensor<1xi64>
      %r0 = spd.slice %x[%s0, %e0, %a0, %st0]
          : (tensor<10xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?xf32>
      %s1 = spd.constant dense<20> : tensor<1xi64>
      %e1 = spd.constant dense<2> : tensor<1xi64>
      %st1 = spd.constant dense<-2> : tensor<1xi64>
      %r1 = spd.slice %x[%s1, %e1, %a0, %st1]
          : (tensor<10xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?xf32>
      %s2 = spd.constant dense<[-1, 0]> : tensor<2xi64>
      %e2 = spd.constant dense<[-2147483648, 2147483647]> : tensor<2xi32>
      %a2 = spd.constant dense<[1, 0]> : tensor<2xi64>
      %st2 = spd.constant dense<[-1, 1]> : tensor<2xi64>
      %r2 = spd.slice %m[%s2, %e2, %a2, %st2]
          : (tensor<2x3xf32>, tensor<2xi64>, tensor<2xi32>, tensor<2xi64>, tensor<2xi64>) -> tensor<?x?xf32>
      %s3 = spd.constant dense<3> : tensor<1xi64>
      %e3 = spd.constant dense<5> : tensor<1xi64>
      %st3 = spd.constant dense<-1> : tensor<1xi64>
      %r3 = spd.slice %x[%s3, %e3, %a0, %st3]
          : (tensor<10xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?xf32>
      return %r0, %r1, %r2, %r3 : tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>, tensor<?xf32>
    })");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(values(r[0]), (Values{9, 6, 3, 0}));
  // Start 20 clamps to 9 for a negative step.
  EXPECT_EQ(values(r[1]), (Values{9, 7, 5, 3}));
  EXPECT_EQ(shapeOf(r[2]), (Shape{2, 3}));
  EXPECT_EQ(values(r[2]), (Values{2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(shapeOf(r[3]), Shape{0});
}

TEST_F(InterpreterMovementTest, ReshapeZeroCopiesAndMinusOneInfers) {
  auto r = run(R"(
    func.func @f(%x: tensor<?x3x4xf32>) -> (tensor<?x?xf32>, tensor<?x?x?xf32>) {
      %s = spd.constant dense<[0, -1]> : tensor<2xi64>
      %a = spd.reshape %x, %s : tensor<?x3x4xf32>, tensor<2xi64> -> tensor<?x?xf32>
      %s2 = spd.constant dense<[-1, 0, 2]> : tensor<3xi64>
      %b = spd.reshape %x, %s2 : tensor<?x3x4xf32>, tensor<3xi64> -> tensor<?x?x?xf32>
      return %a, %b : tensor<?x?xf32>, tensor<?x?x?xf32>
    })",
               {f32({2, 3, 4}, std::vector<float>(24, 1.0f))});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(shapeOf(r[0]), (Shape{2, 12}));
  EXPECT_EQ(shapeOf(r[1]), (Shape{4, 3, 2}));
}

TEST_F(InterpreterMovementTest, ReshapeAllowZeroAndErrors) {
  auto r = run(R"(
    func.func @f(%x: tensor<0x3xf32>) -> tensor<3x0xf32> {
      %s = spd.constant dense<[3, 0]> : tensor<2xi64>
      %a = spd.reshape %x, %s {allowzero = true} : tensor<0x3xf32>, tensor<2xi64> -> tensor<3x0xf32>
      return %a : tensor<3x0xf32>
    })",
               {llvm::cantFail(Tensor::allocate(DType::F32, {0, 3}))});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(shapeOf(r[0]), (Shape{3, 0}));
  std::string err = runError(R"(
    func.func @f(%x: tensor<2x3xf32>) -> tensor<?x?xf32> {
      %s = spd.constant dense<[4, -1]> : tensor<2xi64>
      %a = spd.reshape %x, %s : tensor<2x3xf32>, tensor<2xi64> -> tensor<?x?xf32>
      return %a : tensor<?x?xf32>
    })",
                             {f32({2, 3}, std::vector<float>(6, 0.0f))});
  EXPECT_NE(err.find("cannot infer"), std::string::npos) << err;
}

TEST_F(InterpreterMovementTest, GatherNegativeIndices) {
  auto r = run(R"(
    func.func @f() -> (tensor<2x2xf32>, tensor<3x2x1xf32>) {
      %d = spd.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
      %i = spd.constant dense<[-1, 0]> : tensor<2xi64>
      %g0 = spd.gather %d, %i {axis = 0 : i64} : tensor<3x2xf32>, tensor<2xi64> -> tensor<2x2xf32>
      %j = spd.constant dense<[[1], [-2]]> : tensor<2x1xi32>
      %g1 = spd.gather %d, %j {axis = 1 : i64} : tensor<3x2xf32>, tensor<2x1xi32> -> tensor<3x2x1xf32>
      return %g0, %g1 : tensor<2x2xf32>, tensor<3x2x1xf32>
    })");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(values(r[0]), (Values{5, 6, 1, 2}));
  EXPECT_EQ(values(r[1]), (Values{2, 1, 4, 3, 6, 5}));
  std::string err = runError(R"(
    func.func @f() -> tensor<1x2xf32> {
      %d = spd.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
      %i = spd.constant dense<[-4]> : tensor<1xi64>
      %g = spd.gather %d, %i {axis = 0 : i64} : tensor<3x2xf32>, tensor<1xi64> -> tensor<1x2xf32>
      return %g : tensor<1x2xf32>
    })");
  EXPECT_NE(err.find("out of range"), std::string::npos) << err;
}

TEST_F(InterpreterMovementTest, GatherElementsAndGatherND) {
  auto r = run(R"(
    func.func @f() -> (tensor<2x2xf32>, tensor<2xf32>, tensor<2xf32>) {
      %d = spd.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
      %i = spd.constant dense<[[0, 0], [1, -2]]> : tensor<2x2xi64>
      %ge = spd.gather_elements %d, %i {axis = 1 : i64} : tensor<2x2xf32>, tensor<2x2xi64> -> tensor<2x2xf32>
      %t = spd.constant dense<[[0, 1], [1, 0]]> : tensor<2x2xi64>
      %nd = spd.gather_nd %d, %t : tensor<2x2xf32>, tensor<2x2xi64> -> tensor<2xf32>
      %b = spd.constant dense<[[1], [0]]> : tensor<2x1xi64>
      %bnd = spd.gather_nd %d, %b {batch_dims = 1 : i64} : tensor<2x2xf32>, tensor<2x1xi64> -> tensor<2xf32>
      return %ge, %nd, %bnd : tensor<2x2xf32>, tensor<2xf32>, tensor<2xf32>
    })");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(values(r[0]), (Values{1, 1, 4, 3}));
  EXPECT_EQ(values(r[1]), (Values{2, 3}));
  EXPECT_EQ(values(r[2]), (Values{2, 3}));
}

TEST_F(InterpreterMovementTest, ScatterNDReductions) {
  auto r = run(R"(
    func.func @f() -> (tensor<4xf32>, tensor<4xf32>) {
      %d = spd.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
      %i = spd.constant dense<[[3], [1], [3]]> : tensor<3x1xi64>
      %u = spd.constant dense<[10.0, 20.0, 30.0]> : tensor<3xf32>
      %i1 = spd.constant dense<[[3], [1]]> : tensor<2x1xi64>
      %u1 = spd.constant dense<[10.0, 20.0]> : tensor<2xf32>
      %s = spd.scatter_nd %d, %i1, %u1 : tensor<4xf32>, tensor<2x1xi64>, tensor<2xf32> -> tensor<4xf32>
      %a = spd.scatter_nd %d, %i, %u {reduction = "add"} : tensor<4xf32>, tensor<3x1xi64>, tensor<3xf32> -> tensor<4xf32>
      return %s, %a : tensor<4xf32>, tensor<4xf32>
    })");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(values(r[0]), (Values{1, 20, 3, 10}));
  EXPECT_EQ(values(r[1]), (Values{1, 22, 3, 44}));
}

//===----------------------------------------------------------------------===//
// pad, expand, tile, concat, split, transpose, trilu
//===----------------------------------------------------------------------===//

TEST_F(InterpreterMovementTest, PadModes) {
  auto r = run(R"(
    func.func @f() -> (tensor<7xf32>, tensor<7xf32>, tensor<7xf32>, tensor<7xf32>, tensor<5xf32>,
                       tensor<3x3xf32>) {
      %x = spd.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
      %p = spd.constant dense<[2, 1]> : tensor<2xi64>
      %v = spd.constant dense<-1.0> : tensor<f32>
      %c = spd.pad %x, %p, %v : (tensor<4xf32>, tensor<2xi64>, tensor<f32>) -> tensor<7xf32>
      %r = spd.pad %x, %p, %v {mode = "reflect"} : (tensor<4xf32>, tensor<2xi64>, tensor<f32>) -> tensor<7xf32>
      %e = spd.pad %x, %p, %v {mode = "edge"} : (tensor<4xf32>, tensor<2xi64>, tensor<f32>) -> tensor<7xf32>
      %w = spd.pad %x, %p, %v {mode = "wrap"} : (tensor<4xf32>, tensor<2xi64>, tensor<f32>) -> tensor<7xf32>
      %n = spd.constant dense<[-1, 2]> : tensor<2xi64>
      %crop = spd.pad %x, %n, %v : (tensor<4xf32>, tensor<2xi64>, tensor<f32>) -> tensor<5xf32>
      %m = spd.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
      %p2 = spd.constant dense<[1, 0, 0, 1]> : tensor<4xi64>
      %z = spd.constant dense<0.0> : tensor<f32>
      %c2 = spd.pad %m, %p2, %z : (tensor<2x2xf32>, tensor<4xi64>, tensor<f32>) -> tensor<3x3xf32>
      return %c, %r, %e, %w, %crop, %c2
          : tensor<7xf32>, tensor<7xf32>, tensor<7xf32>, tensor<7xf32>, tensor<5xf32>, tensor<3x3xf32>
    })");
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(values(r[0]), (Values{-1, -1, 1, 2, 3, 4, -1}));
  EXPECT_EQ(values(r[1]), (Values{3, 2, 1, 2, 3, 4, 3}));
  EXPECT_EQ(values(r[2]), (Values{1, 1, 1, 2, 3, 4, 4}));
  EXPECT_EQ(values(r[3]), (Values{3, 4, 1, 2, 3, 4, 1}));
  EXPECT_EQ(values(r[4]), (Values{2, 3, 4, -1, -1}));
  EXPECT_EQ(values(r[5]), (Values{0, 0, 0, 1, 2, 0, 3, 4, 0}));
}

TEST_F(InterpreterMovementTest, ExpandTileConcatSplit) {
  auto r = run(R"(
    func.func @f() -> (tensor<2x3xf32>, tensor<2x4xf32>, tensor<2x5xf32>, tensor<2x2xf32>,
                       tensor<2x1xf32>) {
      %c = spd.constant dense<[[1.0], [2.0]]> : tensor<2x1xf32>
      %s = spd.constant dense<[1, 3]> : tensor<2xi64>
      %e = spd.expand %c, %s : tensor<2x1xf32>, tensor<2xi64> -> tensor<2x3xf32>
      %row = spd.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
      %reps = spd.constant dense<[2, 2]> : tensor<2xi64>
      %t = spd.tile %row, %reps : tensor<1x2xf32>, tensor<2xi64> -> tensor<2x4xf32>
      %two = spd.constant dense<[[5.0, 6.0], [7.0, 8.0]]> : tensor<2x2xf32>
      %cat = spd.concat %c, %two, %two {axis = 1 : i64}
          : (tensor<2x1xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x5xf32>
      %m = spd.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
      %p0, %p1 = spd.split %m {axis = 1 : i64, sizes = array<i64: 2, 1>}
          : tensor<2x3xf32> -> tensor<2x2xf32>, tensor<2x1xf32>
      return %e, %t, %cat, %p0, %p1
          : tensor<2x3xf32>, tensor<2x4xf32>, tensor<2x5xf32>, tensor<2x2xf32>, tensor<2x1xf32>
    })");
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(values(r[0]), (Values{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(values(r[1]), (Values{1, 2, 1, 2, 1, 2, 1, 2}));
  EXPECT_EQ(values(r[2]), (Values{1, 5, 6, 5, 6, 2, 7, 8, 7, 8}));
  EXPECT_EQ(values(r[3]), (Values{1, 2, 4, 5}));
  EXPECT_EQ(values(r[4]), (Values{3, 6}));
}

TEST_F(InterpreterMovementTest, TransposeTriluShapeSizeRange) {
  auto r = run(R"(
    func.func @f(%x: tensor<?x3xf32>) -> (tensor<3x2xf32>, tensor<?x3xf32>, tensor<?x3xf32>,
                                          tensor<1xi64>, tensor<i64>, tensor<?xi32>, tensor<?xf32>) {
      %tr = spd.transpose %x {perm = array<i64: 1, 0>} : tensor<?x3xf32> -> tensor<3x2xf32>
      %up = spd.trilu %x {k = 1 : i64, upper = true} : tensor<?x3xf32>
      %lo = spd.trilu %x {k = 0 : i64, upper = false} : tensor<?x3xf32>
      %sh = spd.shape %x {start = 0 : i64, end = 1 : i64} : tensor<?x3xf32> -> tensor<1xi64>
      %sz = spd.size %x : tensor<?x3xf32> -> tensor<i64>
      %s = spd.constant dense<10> : tensor<i32>
      %l = spd.constant dense<1> : tensor<i32>
      %d = spd.constant dense<-3> : tensor<i32>
      %ri = spd.range %s, %l, %d : tensor<i32> -> tensor<?xi32>
      %fs = spd.constant dense<0.0> : tensor<f32>
      %fl = spd.constant dense<1.0> : tensor<f32>
      %fd = spd.constant dense<0.25> : tensor<f32>
      %rf = spd.range %fs, %fl, %fd : tensor<f32> -> tensor<?xf32>
      return %tr, %up, %lo, %sh, %sz, %ri, %rf : tensor<3x2xf32>, tensor<?x3xf32>, tensor<?x3xf32>,
          tensor<1xi64>, tensor<i64>, tensor<?xi32>, tensor<?xf32>
    })",
               {f32({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6})});
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(values(r[0]), (Values{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(values(r[1]), (Values{0, 2, 3, 0, 0, 6}));
  EXPECT_EQ(values(r[2]), (Values{1, 0, 0, 4, 5, 0}));
  EXPECT_EQ(values(r[3]), (Values{2}));
  EXPECT_EQ(values(r[4]), (Values{6}));
  EXPECT_EQ(values(r[5]), (Values{10, 7, 4}));
  EXPECT_EQ(values(r[6]), (Values{0, 0.25, 0.5, 0.75}));
}

//===----------------------------------------------------------------------===//
// top_k
//===----------------------------------------------------------------------===//

TEST_F(InterpreterMovementTest, TopK) {
  auto r = run(R"(
    func.func @f() -> (tensor<1x3xf32>, tensor<1x3xi64>, tensor<1x2xf32>, tensor<1x2xi64>,
                       tensor<1x2xi32>, tensor<1x2xi64>) {
      %x = spd.constant dense<[[3.0, 1.0, 3.0, 2.0, 5.0]]> : tensor<1x5xf32>
      %k3 = spd.constant dense<3> : tensor<1xi64>
      %v, %i = spd.top_k %x, %k3 {axis = 1 : i64}
          : tensor<1x5xf32>, tensor<1xi64> -> tensor<1x3xf32>, tensor<1x3xi64>
      %k2 = spd.constant dense<2> : tensor<1xi64>
      %sv, %si = spd.top_k %x, %k2 {axis = 1 : i64, largest = false}
          : tensor<1x5xf32>, tensor<1xi64> -> tensor<1x2xf32>, tensor<1x2xi64>
      %c = spd.constant dense<[[4, 9], [4, 1]]> : tensor<2x2xi32>
      %k1 = spd.constant dense<1> : tensor<1xi64>
      %cv, %ci = spd.top_k %c, %k1 {axis = 0 : i64}
          : tensor<2x2xi32>, tensor<1xi64> -> tensor<1x2xi32>, tensor<1x2xi64>
      return %v, %i, %sv, %si, %cv, %ci : tensor<1x3xf32>, tensor<1x3xi64>, tensor<1x2xf32>,
          tensor<1x2xi64>, tensor<1x2xi32>, tensor<1x2xi64>
    })");
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(values(r[0]), (Values{5, 3, 3}));
  EXPECT_EQ(values(r[1]), (Values{4, 0, 2})); // ties: lower index first
  EXPECT_EQ(values(r[2]), (Values{1, 2}));
  EXPECT_EQ(values(r[3]), (Values{1, 3}));
  EXPECT_EQ(values(r[4]), (Values{4, 9}));
  EXPECT_EQ(values(r[5]), (Values{0, 0}));
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

TEST_F(InterpreterMovementTest, QuantizeRoundsHalfToEvenAndSaturates) {
  auto r = run(R"(
    func.func @f() -> (tensor<8xi8>, tensor<4xui8>, tensor<2x2xi8>, tensor<1x4xi8>) {
      %x = spd.constant dense<[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 300.0, -300.0]> : tensor<8xf32>
      %s = spd.constant dense<1.0> : tensor<f32>
      %z = spd.constant dense<0> : tensor<i8>
      %q = spd.quantize_linear %x, %s, %z : (tensor<8xf32>, tensor<f32>, tensor<i8>) -> tensor<8xi8>
      %y = spd.constant dense<[-1.0, 0.0, 1.0, 100.0]> : tensor<4xf32>
      %s2 = spd.constant dense<0.5> : tensor<f32>
      %z2 = spd.constant dense<128> : tensor<ui8>
      %q2 = spd.quantize_linear %y, %s2, %z2 : (tensor<4xf32>, tensor<f32>, tensor<ui8>) -> tensor<4xui8>
      %m = spd.constant dense<[[1.0, 1.0], [3.0, 3.0]]> : tensor<2x2xf32>
      %sa = spd.constant dense<[1.0, 2.0]> : tensor<2xf32>
      %za = spd.constant dense<[0, 10]> : tensor<2xi8>
      %q3 = spd.quantize_linear %m, %sa, %za {axis = 1 : i64}
          : (tensor<2x2xf32>, tensor<2xf32>, tensor<2xi8>) -> tensor<2x2xi8>
      %b = spd.constant dense<[[2.0, 2.0, 2.0, 2.0]]> : tensor<1x4xf32>
      %sb = spd.constant dense<[[1.0, 4.0]]> : tensor<1x2xf32>
      %zb = spd.constant dense<[[0, 0]]> : tensor<1x2xi8>
      %q4 = spd.quantize_linear %b, %sb, %zb {axis = 1 : i64, block_size = 2 : i64}
          : (tensor<1x4xf32>, tensor<1x2xf32>, tensor<1x2xi8>) -> tensor<1x4xi8>
      return %q, %q2, %q3, %q4 : tensor<8xi8>, tensor<4xui8>, tensor<2x2xi8>, tensor<1x4xi8>
    })");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(values(r[0]), (Values{-2, -2, 0, 0, 2, 2, 127, -128}));
  EXPECT_EQ(values(r[1]), (Values{126, 128, 130, 255}));
  // Per axis 1: column scales [1, 2], zero points [0, 10]; 0.5 and 1.5 round to even.
  EXPECT_EQ(values(r[2]), (Values{1, 10, 3, 12}));
  // Blocks of 2 along axis 1: 2 / 1 and 2 / 4 = 0.5 -> 0.
  EXPECT_EQ(values(r[3]), (Values{2, 2, 0, 0}));
}

TEST_F(InterpreterMovementTest, DequantizeAndDynamicQuantize) {
  auto r = run(R"(
    func.func @f() -> (tensor<3xf32>, tensor<6xui8>, tensor<f32>, tensor<ui8>) {
      %q = spd.constant dense<[0, 3, 255]> : tensor<3xui8>
      %s = spd.constant dense<0.5> : tensor<f32>
      %z = spd.constant dense<1> : tensor<ui8>
      %d = spd.dequantize_linear %q, %s, %z : (tensor<3xui8>, tensor<f32>, tensor<ui8>) -> tensor<3xf32>
      %x = spd.constant dense<[0.0, 2.0, -3.0, -2.5, 1.34, 0.5]> : tensor<6xf32>
      %y, %ys, %yz = spd.dynamic_quantize_linear %x : tensor<6xf32> -> tensor<6xui8>, tensor<f32>, tensor<ui8>
      return %d, %y, %ys, %yz : tensor<3xf32>, tensor<6xui8>, tensor<f32>, tensor<ui8>
    })");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(values(r[0]), (Values{-0.5, 1, 127}));
  // The example of the ONNX DynamicQuantizeLinear specification.
  EXPECT_EQ(values(r[1]), (Values{153, 255, 0, 26, 221, 179}));
  EXPECT_FLOAT_EQ(static_cast<float>(values(r[2])[0]), 5.0f / 255.0f);
  EXPECT_EQ(values(r[3]), (Values{153}));
}

} // namespace
