// RUN: spdc-opt %s | spdc-opt | FileCheck %s
// Every op's assembly format round-trips.

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<2x?xf32>, %b: tensor<3xf32>, %c: tensor<2x3xi1>) -> tensor<2x3xf32> {
  // CHECK: spd.add %{{.*}}, %{{.*}} : tensor<2x?xf32>, tensor<3xf32> -> tensor<2x3xf32>
  %0 = spd.add %a, %b : tensor<2x?xf32>, tensor<3xf32> -> tensor<2x3xf32>
  // CHECK: spd.gelu %{{.*}} {approximate = "tanh"} : tensor<2x3xf32>
  %1 = spd.gelu %0 {approximate = "tanh"} : tensor<2x3xf32>
  // CHECK: spd.less %{{.*}}, %{{.*}} : tensor<2x3xf32>, tensor<3xf32> -> tensor<2x3xi1>
  %2 = spd.less %1, %b : tensor<2x3xf32>, tensor<3xf32> -> tensor<2x3xi1>
  // CHECK: spd.where
  %3 = spd.where %2, %1, %0 : tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  // CHECK: spd.cast %{{.*}} : tensor<2x3xf32> -> tensor<2x3xbf16>
  %4 = spd.cast %3 : tensor<2x3xf32> -> tensor<2x3xbf16>
  %s = spd.constant dense<0.0> : tensor<f32>
  // CHECK: spd.clip %{{.*}} min(%{{.*}} : tensor<f32>) : tensor<2x3xf32> -> tensor<2x3xf32>
  %5 = spd.clip %3 min(%s : tensor<f32>) : tensor<2x3xf32> -> tensor<2x3xf32>
  // CHECK: spd.is_nan %{{.*}} : tensor<2x3xf32> -> tensor<2x3xi1>
  %6 = spd.is_nan %5 : tensor<2x3xf32> -> tensor<2x3xi1>
  return %5 : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @shapes
func.func @shapes(%x: tensor<?x16x128xf32>, %ids: tensor<?x16xi64>, %w: tensor<512x128xf32>) -> tensor<?x16x4x32xf32> {
  // CHECK: spd.gather %{{.*}}, %{{.*}} {axis = 0 : i64} : tensor<512x128xf32>, tensor<?x16xi64> -> tensor<?x16x128xf32>
  %e = spd.gather %w, %ids {axis = 0 : i64} : tensor<512x128xf32>, tensor<?x16xi64> -> tensor<?x16x128xf32>
  // CHECK: spd.shape %{{.*}} {end = 1 : i64, start = 0 : i64} : tensor<?x16x128xf32> -> tensor<1xi64>
  %s = spd.shape %x {start = 0 : i64, end = 1 : i64} : tensor<?x16x128xf32> -> tensor<1xi64>
  %tail = spd.constant dense<[16, 4, 32]> : tensor<3xi64>
  // CHECK: spd.concat {{.*}} {axis = 0 : i64} : (tensor<1xi64>, tensor<3xi64>) -> tensor<4xi64>
  %shape = spd.concat %s, %tail {axis = 0 : i64} : (tensor<1xi64>, tensor<3xi64>) -> tensor<4xi64>
  // CHECK: spd.reshape
  %r = spd.reshape %e, %shape : tensor<?x16x128xf32>, tensor<4xi64> -> tensor<?x16x4x32xf32>
  // CHECK: spd.transpose %{{.*}} {perm = array<i64: 0, 2, 1, 3>}
  %t = spd.transpose %r {perm = array<i64: 0, 2, 1, 3>} : tensor<?x16x4x32xf32> -> tensor<?x4x16x32xf32>
  // CHECK: spd.reduce_mean %{{.*}} {axes = array<i64: 3>} : tensor<?x4x16x32xf32> -> tensor<?x4x16x1xf32>
  %m = spd.reduce_mean %t {axes = array<i64: 3>, keepdims = true} : tensor<?x4x16x32xf32> -> tensor<?x4x16x1xf32>
  // CHECK: spd.softmax %{{.*}} {axis = 3 : i64} : tensor<?x4x16x32xf32>
  %sm = spd.softmax %t {axis = 3 : i64} : tensor<?x4x16x32xf32>
  // CHECK: spd.split %{{.*}} {axis = 3 : i64, sizes = array<i64: 16, 16>} : tensor<?x4x16x32xf32> -> tensor<?x4x16x16xf32>, tensor<?x4x16x16xf32>
  %p:2 = spd.split %sm {axis = 3 : i64, sizes = array<i64: 16, 16>} : tensor<?x4x16x32xf32> -> tensor<?x4x16x16xf32>, tensor<?x4x16x16xf32>
  return %r : tensor<?x16x4x32xf32>
}

// CHECK-LABEL: func.func @contractions
func.func @contractions(%a: tensor<2x16x128xf32>, %b: tensor<128x512xf32>, %g: tensor<128xf32>) -> tensor<2x16x512xf32> {
  // CHECK: spd.matmul %{{.*}}, %{{.*}} : tensor<2x16x128xf32>, tensor<128x512xf32> -> tensor<2x16x512xf32>
  %0 = spd.matmul %a, %b : tensor<2x16x128xf32>, tensor<128x512xf32> -> tensor<2x16x512xf32>
  // CHECK: spd.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {axis = 2 : i64, epsilon = 9.99999974E-6 : f32}
  %1 = spd.layer_norm %a, %g, %g {axis = 2 : i64, epsilon = 1.0e-5 : f32} : (tensor<2x16x128xf32>, tensor<128xf32>, tensor<128xf32>) -> tensor<2x16x128xf32>
  // CHECK: spd.einsum
  %2 = spd.einsum %a, %b {equation = "bik,kj->bij"} : (tensor<2x16x128xf32>, tensor<128x512xf32>) -> tensor<2x16x512xf32>
  return %0 : tensor<2x16x512xf32>
}
