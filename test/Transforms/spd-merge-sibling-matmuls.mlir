// RUN: spdc-opt %s -spd-merge-sibling-matmuls -split-input-file -verify-diagnostics | FileCheck %s

// Q, K and V projections of one activation: one matmul by the weights side by side, then a
// split; row k of the merged weight is row k of each weight in turn (1 2 | 2 | 3 4, 3 4 | 5 | 6 7).
// CHECK-LABEL: func.func @qkv
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x2xf32>)
// CHECK: %[[W:.*]] = spd.constant dense_resource<merged_matmul_weight> : tensor<2x5xf32>
// CHECK-NEXT: %[[P:.*]] = spd.matmul %[[X]], %[[W]] : tensor<2x3x2xf32>, tensor<2x5xf32> -> tensor<2x3x5xf32>
// CHECK-NEXT: %[[S:.*]]:3 = spd.split %[[P]] {axis = 2 : i64, sizes = array<i64: 2, 1, 2>} : tensor<2x3x5xf32> -> tensor<2x3x2xf32>, tensor<2x3x1xf32>, tensor<2x3x2xf32>
// CHECK-NEXT: %[[A:.*]] = spd.mul %[[S]]#0, %[[S]]#2
// CHECK-NEXT: return %[[A]], %[[S]]#1
// CHECK: merged_matmul_weight: "0x040000000000803F0000004000000040000040400000804000004040000080400000A0400000C0400000E040"
func.func @qkv(%x: tensor<2x3x2xf32>) -> (tensor<2x3x2xf32>, tensor<2x3x1xf32>) {
  %wq = spd.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %wk = spd.constant dense<[[2.0], [5.0]]> : tensor<2x1xf32>
  %wv = spd.constant dense<[[3.0, 4.0], [6.0, 7.0]]> : tensor<2x2xf32>
  %q = spd.matmul %x, %wq : tensor<2x3x2xf32>, tensor<2x2xf32> -> tensor<2x3x2xf32>
  %k = spd.matmul %x, %wk : tensor<2x3x2xf32>, tensor<2x1xf32> -> tensor<2x3x1xf32>
  %v = spd.matmul %x, %wv : tensor<2x3x2xf32>, tensor<2x2xf32> -> tensor<2x3x2xf32>
  %s = spd.mul %q, %v : tensor<2x3x2xf32>, tensor<2x3x2xf32> -> tensor<2x3x2xf32>
  return %s, %k : tensor<2x3x2xf32>, tensor<2x3x1xf32>
}

// -----

// A product read only by a residual add keeps its GEMM epilogue; a non-constant weight and
// another input are not siblings: nothing merges.
// CHECK-LABEL: func.func @alone
// CHECK-COUNT-4: spd.matmul
// CHECK-NOT: spd.split
func.func @alone(%x: tensor<4x2xf32>, %y: tensor<4x2xf32>, %w: tensor<2x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>) {
  %w1 = spd.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %w2 = spd.constant dense<[[5.0, 6.0], [7.0, 8.0]]> : tensor<2x2xf32>
  // expected-remark @+1 {{spd-merge-sibling-matmuls: not merged with its siblings: its only user is a residual add (a GEMM epilogue)}}
  %a = spd.matmul %x, %w1 : tensor<4x2xf32>, tensor<2x2xf32> -> tensor<4x2xf32>
  %ab = spd.add %a, %y : tensor<4x2xf32>, tensor<4x2xf32> -> tensor<4x2xf32>
  %e = spd.matmul %x, %w2 : tensor<4x2xf32>, tensor<2x2xf32> -> tensor<4x2xf32>
  %c = spd.matmul %x, %w : tensor<4x2xf32>, tensor<2x2xf32> -> tensor<4x2xf32>
  %d = spd.matmul %y, %w1 : tensor<4x2xf32>, tensor<2x2xf32> -> tensor<4x2xf32>
  return %ab, %e, %c, %d : tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>
}

// -----

// Dynamic rows: the merged product and the parts keep them.
// CHECK-LABEL: func.func @dynamic
// CHECK: spd.matmul %{{.*}}, %{{.*}} : tensor<?x?x2xf32>, tensor<2x4xf32> -> tensor<?x?x4xf32>
// CHECK-NEXT: spd.split %{{.*}} {axis = 2 : i64, sizes = array<i64: 2, 2>} : tensor<?x?x4xf32> -> tensor<?x?x2xf32>, tensor<?x?x2xf32>
func.func @dynamic(%x: tensor<?x?x2xf32>) -> (tensor<?x?x2xf32>, tensor<?x?x2xf32>) {
  %wg = spd.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %wu = spd.constant dense<[[5.0, 6.0], [7.0, 8.0]]> : tensor<2x2xf32>
  %g = spd.matmul %x, %wg : tensor<?x?x2xf32>, tensor<2x2xf32> -> tensor<?x?x2xf32>
  %u = spd.matmul %x, %wu : tensor<?x?x2xf32>, tensor<2x2xf32> -> tensor<?x?x2xf32>
  return %g, %u : tensor<?x?x2xf32>, tensor<?x?x2xf32>
}

// -----

// BERT's Q, K and V with biases: one matmul, one add of the biases end to end (still the GEMM's
// bias epilogue), one split.
// CHECK-LABEL: func.func @biased
// CHECK: %[[W:.*]] = spd.constant dense_resource<merged_matmul_weight> : tensor<2x4xf32>
// CHECK-NEXT: %[[P:.*]] = spd.matmul %{{.*}}, %[[W]]
// CHECK-NEXT: %[[B:.*]] = spd.constant dense_resource<merged_matmul_bias> : tensor<4xf32>
// CHECK-NEXT: %[[A:.*]] = spd.add %[[P]], %[[B]] : tensor<3x4xf32>, tensor<4xf32> -> tensor<3x4xf32>
// CHECK-NEXT: spd.split %[[A]] {axis = 1 : i64, sizes = array<i64: 2, 2>}
// CHECK: merged_matmul_bias: "0x040000000000803F000000400000404000008040"
func.func @biased(%x: tensor<3x2xf32>) -> (tensor<3x2xf32>, tensor<3x2xf32>) {
  %wq = spd.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %wk = spd.constant dense<[[5.0, 6.0], [7.0, 8.0]]> : tensor<2x2xf32>
  %bq = spd.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %bk = spd.constant dense<[3.0, 4.0]> : tensor<2xf32>
  %q = spd.matmul %x, %wq : tensor<3x2xf32>, tensor<2x2xf32> -> tensor<3x2xf32>
  %qb = spd.add %q, %bq : tensor<3x2xf32>, tensor<2xf32> -> tensor<3x2xf32>
  %k = spd.matmul %x, %wk : tensor<3x2xf32>, tensor<2x2xf32> -> tensor<3x2xf32>
  %kb = spd.add %bk, %k : tensor<2xf32>, tensor<3x2xf32> -> tensor<3x2xf32>
  return %qb, %kb : tensor<3x2xf32>, tensor<3x2xf32>
}
