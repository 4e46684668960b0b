// RUN: spdc-opt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @reshape_of_reshape
// CHECK-SAME: (%[[X:.*]]: tensor<2x16x64xf32>)
// CHECK: %[[S:.*]] = spd.constant dense<[2, 16, 4, -1]>
// CHECK-NEXT: %[[R:.*]] = spd.reshape %[[X]], %[[S]] : tensor<2x16x64xf32>, tensor<4xi64> -> tensor<2x16x4x16xf32>
// CHECK-NEXT: return %[[R]]
func.func @reshape_of_reshape(%x: tensor<2x16x64xf32>) -> tensor<2x16x4x16xf32> {
  %s1 = spd.constant dense<[32, 64]> : tensor<2xi64>
  %s2 = spd.constant dense<[2, 16, 4, -1]> : tensor<4xi64>
  %a = spd.reshape %x, %s1 : tensor<2x16x64xf32>, tensor<2xi64> -> tensor<32x64xf32>
  %b = spd.reshape %a, %s2 : tensor<32x64xf32>, tensor<4xi64> -> tensor<2x16x4x16xf32>
  return %b : tensor<2x16x4x16xf32>
}

// -----

// The outer shape's 0 copies a dimension of the inner result: must not fold.
// CHECK-LABEL: func.func @reshape_of_reshape_copying_zero
// CHECK: spd.reshape
// CHECK: spd.reshape
func.func @reshape_of_reshape_copying_zero(%x: tensor<2x16x64xf32>) -> tensor<32x4x16xf32> {
  %s1 = spd.constant dense<[32, 64]> : tensor<2xi64>
  %s2 = spd.constant dense<[0, 4, 16]> : tensor<3xi64>
  %a = spd.reshape %x, %s1 : tensor<2x16x64xf32>, tensor<2xi64> -> tensor<32x64xf32>
  %b = spd.reshape %a, %s2 : tensor<32x64xf32>, tensor<3xi64> -> tensor<32x4x16xf32>
  return %b : tensor<32x4x16xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_same_static_type
// CHECK-NOT: spd.reshape
// CHECK: return %arg0
func.func @reshape_same_static_type(%x: tensor<2x16xf32>) -> tensor<2x16xf32> {
  %s = spd.constant dense<[2, -1]> : tensor<2xi64>
  %a = spd.reshape %x, %s : tensor<2x16xf32>, tensor<2xi64> -> tensor<2x16xf32>
  return %a : tensor<2x16xf32>
}

// -----

// A dynamic type may hide a real reshape (?x?: the split may move): kept.
// CHECK-LABEL: func.func @reshape_same_dynamic_type
// CHECK: spd.reshape
func.func @reshape_same_dynamic_type(%x: tensor<?x?xf32>, %s: tensor<2xi64>) -> tensor<?x?xf32> {
  %a = spd.reshape %x, %s : tensor<?x?xf32>, tensor<2xi64> -> tensor<?x?xf32>
  return %a : tensor<?x?xf32>
}

// -----

// CHECK-LABEL: func.func @expand_same_static_type
// CHECK-NOT: spd.expand
// CHECK: return %arg0
func.func @expand_same_static_type(%x: tensor<2x16xf32>) -> tensor<2x16xf32> {
  %s = spd.constant dense<[1, 16]> : tensor<2xi64>
  %a = spd.expand %x, %s : tensor<2x16xf32>, tensor<2xi64> -> tensor<2x16xf32>
  return %a : tensor<2x16xf32>
}

// -----

// CHECK-LABEL: func.func @expand_broadcasting
// CHECK: spd.expand
func.func @expand_broadcasting(%x: tensor<1x16xf32>) -> tensor<4x16xf32> {
  %s = spd.constant dense<[4, 16]> : tensor<2xi64>
  %a = spd.expand %x, %s : tensor<1x16xf32>, tensor<2xi64> -> tensor<4x16xf32>
  return %a : tensor<4x16xf32>
}

// -----

// CHECK-LABEL: func.func @transpose_identity
// CHECK-NOT: spd.transpose
// CHECK: return %arg0
func.func @transpose_identity(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %a = spd.transpose %x {perm = array<i64: 0, 1, 2>} : tensor<2x3x4xf32> -> tensor<2x3x4xf32>
  return %a : tensor<2x3x4xf32>
}

// -----

// Same type but not the identity (K^T of a square tile): kept.
// CHECK-LABEL: func.func @transpose_same_type_not_identity
// CHECK: spd.transpose %arg0 {perm = array<i64: 0, 2, 1>}
func.func @transpose_same_type_not_identity(%x: tensor<2x4x4xf32>) -> tensor<2x4x4xf32> {
  %a = spd.transpose %x {perm = array<i64: 0, 2, 1>} : tensor<2x4x4xf32> -> tensor<2x4x4xf32>
  return %a : tensor<2x4x4xf32>
}

// -----

// CHECK-LABEL: func.func @transpose_of_transpose
// CHECK: %[[T:.*]] = spd.transpose %arg0 {perm = array<i64: 0, 2, 3, 1>} : tensor<2x16x4x8xf32> -> tensor<2x4x8x16xf32>
// CHECK-NEXT: return %[[T]]
func.func @transpose_of_transpose(%x: tensor<2x16x4x8xf32>) -> tensor<2x4x8x16xf32> {
  %a = spd.transpose %x {perm = array<i64: 0, 2, 1, 3>} : tensor<2x16x4x8xf32> -> tensor<2x4x16x8xf32>
  %b = spd.transpose %a {perm = array<i64: 0, 1, 3, 2>} : tensor<2x4x16x8xf32> -> tensor<2x4x8x16xf32>
  return %b : tensor<2x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @transpose_inverse_pair
// CHECK-NOT: spd.transpose
// CHECK: return %arg0
func.func @transpose_inverse_pair(%x: tensor<2x16x4x8xf32>) -> tensor<2x16x4x8xf32> {
  %a = spd.transpose %x {perm = array<i64: 0, 2, 3, 1>} : tensor<2x16x4x8xf32> -> tensor<2x4x8x16xf32>
  %b = spd.transpose %a {perm = array<i64: 0, 3, 1, 2>} : tensor<2x4x8x16xf32> -> tensor<2x16x4x8xf32>
  return %b : tensor<2x16x4x8xf32>
}

// -----

// CHECK-LABEL: func.func @cast_round_trip_exact
// CHECK-NOT: spd.cast
// CHECK: return %arg0
func.func @cast_round_trip_exact(%x: tensor<4xf16>) -> tensor<4xf16> {
  %a = spd.cast %x : tensor<4xf16> -> tensor<4xf32>
  %b = spd.cast %a : tensor<4xf32> -> tensor<4xf16>
  return %b : tensor<4xf16>
}

// -----

// f16 -> f32 -> bf16 is one rounding either way: one cast.
// CHECK-LABEL: func.func @cast_widen_then_other
// CHECK: %[[C:.*]] = spd.cast %arg0 : tensor<4xf16> -> tensor<4xbf16>
// CHECK-NEXT: return %[[C]]
func.func @cast_widen_then_other(%x: tensor<4xf16>) -> tensor<4xbf16> {
  %a = spd.cast %x : tensor<4xf16> -> tensor<4xf32>
  %b = spd.cast %a : tensor<4xf32> -> tensor<4xbf16>
  return %b : tensor<4xbf16>
}

// -----

// f32 -> f16 -> f32 rounds: kept.
// CHECK-LABEL: func.func @cast_round_trip_lossy
// CHECK: spd.cast %arg0 : tensor<4xf32> -> tensor<4xf16>
// CHECK: spd.cast %{{.*}} : tensor<4xf16> -> tensor<4xf32>
func.func @cast_round_trip_lossy(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = spd.cast %x : tensor<4xf32> -> tensor<4xf16>
  %b = spd.cast %a : tensor<4xf16> -> tensor<4xf32>
  return %b : tensor<4xf32>
}

// -----

// f16 -> bf16 is not exact: kept.
// CHECK-LABEL: func.func @cast_f16_bf16_f16
// CHECK: spd.cast %arg0 : tensor<4xf16> -> tensor<4xbf16>
// CHECK: spd.cast %{{.*}} : tensor<4xbf16> -> tensor<4xf16>
func.func @cast_f16_bf16_f16(%x: tensor<4xf16>) -> tensor<4xf16> {
  %a = spd.cast %x : tensor<4xf16> -> tensor<4xbf16>
  %b = spd.cast %a : tensor<4xbf16> -> tensor<4xf16>
  return %b : tensor<4xf16>
}

// -----

// CHECK-LABEL: func.func @unsqueeze_squeeze
// CHECK-NOT: spd.unsqueeze
// CHECK-NOT: spd.squeeze
// CHECK: return %arg0
func.func @unsqueeze_squeeze(%x: tensor<2x16xf32>) -> tensor<2x16xf32> {
  %a = spd.unsqueeze %x {axes = array<i64: 0, 2>} : tensor<2x16xf32> -> tensor<1x2x1x16xf32>
  %b = spd.squeeze %a {axes = array<i64: 2, 0>} : tensor<1x2x1x16xf32> -> tensor<2x16xf32>
  return %b : tensor<2x16xf32>
}

// -----

// CHECK-LABEL: func.func @squeeze_unsqueeze
// CHECK-NOT: spd.squeeze
// CHECK: return %arg0
func.func @squeeze_unsqueeze(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> {
  %a = spd.squeeze %x {axes = array<i64: 1>} : tensor<2x1x16xf32> -> tensor<2x16xf32>
  %b = spd.unsqueeze %a {axes = array<i64: 1>} : tensor<2x16xf32> -> tensor<2x1x16xf32>
  return %b : tensor<2x1x16xf32>
}

// -----

// Different axes move the unit dimension: kept.
// CHECK-LABEL: func.func @unsqueeze_squeeze_other_axis
// CHECK: spd.unsqueeze
// CHECK: spd.squeeze
func.func @unsqueeze_squeeze_other_axis(%x: tensor<1x16xf32>) -> tensor<16x1xf32> {
  %a = spd.unsqueeze %x {axes = array<i64: 2>} : tensor<1x16xf32> -> tensor<1x16x1xf32>
  %b = spd.squeeze %a {axes = array<i64: 0>} : tensor<1x16x1xf32> -> tensor<16x1xf32>
  return %b : tensor<16x1xf32>
}

// -----

// CHECK-LABEL: func.func @mul_by_one
// CHECK-NOT: spd.mul
// CHECK: return %arg0, %arg0
func.func @mul_by_one(%x: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %one = spd.constant dense<1.0> : tensor<f32>
  %ones = spd.constant dense<1.0> : tensor<8xf32>
  %a = spd.mul %x, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %b = spd.mul %ones, %x : tensor<8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %a, %b : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// The splat broadcasts x to a larger shape: kept.
// CHECK-LABEL: func.func @mul_by_one_broadcasting
// CHECK: spd.mul
func.func @mul_by_one_broadcasting(%x: tensor<8xf32>) -> tensor<2x8xf32> {
  %ones = spd.constant dense<1.0> : tensor<2x8xf32>
  %a = spd.mul %x, %ones : tensor<8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %a : tensor<2x8xf32>
}

// -----

// CHECK-LABEL: func.func @mul_by_two
// CHECK: spd.mul
func.func @mul_by_two(%x: tensor<8xf32>) -> tensor<8xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %a = spd.mul %x, %two : tensor<8xf32>, tensor<f32> -> tensor<8xf32>
  return %a : tensor<8xf32>
}

// -----

// CHECK-LABEL: func.func @add_zero
// CHECK-NOT: spd.add
// CHECK-NOT: spd.sub
// CHECK-NOT: spd.div
// CHECK: return %arg0, %arg0, %arg1, %arg0
func.func @add_zero(%x: tensor<8xf32>, %i: tensor<8xi64>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xi64>, tensor<8xf32>) {
  %zero = spd.constant dense<0.0> : tensor<f32>
  %izero = spd.constant dense<0> : tensor<1xi64>
  %one = spd.constant dense<1.0> : tensor<1xf32>
  %a = spd.add %zero, %x : tensor<f32>, tensor<8xf32> -> tensor<8xf32>
  %b = spd.sub %x, %zero : tensor<8xf32>, tensor<f32> -> tensor<8xf32>
  %c = spd.add %i, %izero : tensor<8xi64>, tensor<1xi64> -> tensor<8xi64>
  %d = spd.div %x, %one : tensor<8xf32>, tensor<1xf32> -> tensor<8xf32>
  return %a, %b, %c, %d : tensor<8xf32>, tensor<8xf32>, tensor<8xi64>, tensor<8xf32>
}

// -----

// 0 - x and 1 / x are not x.
// CHECK-LABEL: func.func @sub_from_zero
// CHECK: spd.sub
// CHECK: spd.div
func.func @sub_from_zero(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %zero = spd.constant dense<0.0> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %a = spd.sub %zero, %x : tensor<f32>, tensor<8xf32> -> tensor<8xf32>
  %b = spd.div %one, %x : tensor<f32>, tensor<8xf32> -> tensor<8xf32>
  return %a, %b : tensor<8xf32>, tensor<8xf32>
}

// -----

// CHECK-LABEL: func.func @concat_single
// CHECK-NOT: spd.concat
// CHECK: return %arg0
func.func @concat_single(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %a = spd.concat %x {axis = 1 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %a : tensor<2x8xf32>
}

// -----

// The mul broadcasts the [1, 1, 16, 8] table by itself: the expand goes.
// CHECK-LABEL: func.func @expand_into_broadcast
// CHECK-NOT: spd.expand
// CHECK: spd.mul %arg0, %arg1 : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
func.func @expand_into_broadcast(%x: tensor<2x4x16x8xf32>, %c: tensor<1x1x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %s = spd.constant dense<[2, 4, 16, 8]> : tensor<4xi64>
  %e = spd.expand %c, %s : tensor<1x1x16x8xf32>, tensor<4xi64> -> tensor<2x4x16x8xf32>
  %m = spd.mul %x, %e : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %m : tensor<2x4x16x8xf32>
}

// -----

// Here the expand makes the result larger than the broadcast of the operands: kept.
// CHECK-LABEL: func.func @expand_that_enlarges
// CHECK: spd.expand
// CHECK: spd.add
func.func @expand_that_enlarges(%x: tensor<16x8xf32>, %c: tensor<1x8xf32>) -> tensor<2x16x8xf32> {
  %s = spd.constant dense<[2, 16, 8]> : tensor<3xi64>
  %e = spd.expand %c, %s : tensor<1x8xf32>, tensor<3xi64> -> tensor<2x16x8xf32>
  %a = spd.add %x, %e : tensor<16x8xf32>, tensor<2x16x8xf32> -> tensor<2x16x8xf32>
  return %a : tensor<2x16x8xf32>
}
