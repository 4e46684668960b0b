// RUN: spdc-opt %s --pass-pipeline='builtin.module(func.func(spd-test-symbolic-shapes))' -o /dev/null 2>&1 | FileCheck %s

// Shape arithmetic as exporters leave it in dynamic models: Shape / Gather / Concat into a
// Reshape target, the -1 inferred by dividing the element count; Range over a symbolic limit;
// broadcasting two inputs' symbols makes them one (and records the equality).

// CHECK: remark: symbols: s0 = x.0, s1 = x.1, s2 = mask.0, s3 = mask.1; equalities: s0 == s2, s1 == s3
// CHECK: remark: dims [s0, s1, 1]
// CHECK-NEXT: spd.unsqueeze
// CHECK: remark: dims [s0, s1, 64]
// CHECK-NEXT: spd.add
// CHECK: remark: dims [2] elements [s0, s1]
// CHECK-NEXT: spd.shape
// CHECK: remark: dims [4] elements [s0, s1, -1, 16]
// CHECK-NEXT: spd.concat
// CHECK: remark: dims [s0, s1, 4, 16]
// CHECK-NEXT: spd.reshape
// CHECK: remark: dims [s0, 4, s1, 16]
// CHECK-NEXT: spd.transpose
// CHECK: remark: dims [s0*s1, 64]
// CHECK-NEXT: spd.flatten
// CHECK: remark: dims [1] elements [s1]
// CHECK-NEXT: spd.gather
// CHECK: remark: dims [] elements [s1]
// CHECK-NEXT: spd.squeeze
// CHECK: remark: dims [s1]
// CHECK-NEXT: spd.range
// CHECK: remark: dims [s0, 4, 16, s1]
// CHECK-NEXT: spd.transpose
// CHECK: remark: dims [s0, 4, s1, s1]
// CHECK-NEXT: spd.matmul
// CHECK: remark: dims [s0, s1, 1]
// CHECK-NEXT: spd.reduce_sum
// CHECK-NOT: unknown
func.func @main(%x: tensor<?x?x64xf32> {onnx.name = "x"}, %mask: tensor<?x?xf32> {onnx.name = "mask"}) -> (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) {
  %m = spd.unsqueeze %mask {axes = array<i64: 2>} : tensor<?x?xf32> -> tensor<?x?x1xf32>
  %y = spd.add %x, %m : tensor<?x?x64xf32>, tensor<?x?x1xf32> -> tensor<?x?x64xf32>
  %s = spd.shape %y {start = 0 : i64, end = 2 : i64} : tensor<?x?x64xf32> -> tensor<2xi64>
  %tail = spd.constant dense<[-1, 16]> : tensor<2xi64>
  %t = spd.concat %s, %tail {axis = 0 : i64} : (tensor<2xi64>, tensor<2xi64>) -> tensor<4xi64>
  %r = spd.reshape %y, %t : tensor<?x?x64xf32>, tensor<4xi64> -> tensor<?x?x?x16xf32>
  %p = spd.transpose %r {perm = array<i64: 0, 2, 1, 3>} : tensor<?x?x?x16xf32> -> tensor<?x?x?x16xf32>
  %f = spd.flatten %y {axis = 2 : i64} : tensor<?x?x64xf32> -> tensor<?x64xf32>
  %one = spd.constant dense<1> : tensor<1xi64>
  %zero = spd.constant dense<0> : tensor<i64>
  %step = spd.constant dense<1> : tensor<i64>
  %len = spd.gather %s, %one {axis = 0 : i64} : tensor<2xi64>, tensor<1xi64> -> tensor<1xi64>
  %lenr = spd.squeeze %len {axes = array<i64: 0>} : tensor<1xi64> -> tensor<i64>
  %pos = spd.range %zero, %lenr, %step : tensor<i64> -> tensor<?xi64>
  %kt = spd.transpose %p {perm = array<i64: 0, 1, 3, 2>} : tensor<?x?x?x16xf32> -> tensor<?x?x16x?xf32>
  %scores = spd.matmul %p, %kt : tensor<?x?x?x16xf32>, tensor<?x?x16x?xf32> -> tensor<?x?x?x?xf32>
  %sum = spd.reduce_sum %y {axes = array<i64: 2>} : tensor<?x?x64xf32> -> tensor<?x?x1xf32>
  return %scores, %scores : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
}
