// RUN: spdc-opt %s -spd-fuse-attention -split-input-file -verify-diagnostics | FileCheck %s

// Eager attention: scores divided by sqrt(head_dim), K^T by a transpose of the last two dims.
// CHECK-LABEL: func @eager_div_scale
// CHECK-SAME: (%[[Q:.*]]: tensor<1x2x4x8xf32>, %[[K:.*]]: tensor<1x2x4x8xf32>, %[[V:.*]]: tensor<1x2x4x8xf32>)
// CHECK: %[[A:.*]] = spd.attention %[[Q]], %[[K]], %[[V]] {scale = 0.353553385 : f32} : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
// CHECK-NOT: spd.softmax
// CHECK: return %[[A]]
func.func @eager_div_scale(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %c = spd.constant dense<2.82842712> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %d = spd.div %s, %c : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  %p = spd.softmax %d {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// No scale op at all: the graph computes softmax(Q K^T), so the scale is 1.
// CHECK-LABEL: func @no_scale
// CHECK: spd.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.000000e+00 : f32}
func.func @no_scale(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %p = spd.softmax %s {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// The dynamo SDPA export: Q and K^T each multiplied by sqrt(scale), K^T written as
// reshape -> transpose [0, 2, 1] -> reshape, a float mask added, and the IsNaN/Where guard.
// CHECK-LABEL: func @sdpa_prescaled_guard
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x16xf32>, %[[K:.*]]: tensor<2x4x16x16xf32>, %[[V:.*]]: tensor<2x4x16x16xf32>, %[[M:.*]]: tensor<2x1x16x16xf32>)
// CHECK: %[[A:.*]] = spd.attention %[[Q]], %[[K]], %[[V]] mask(%[[M]] : tensor<2x1x16x16xf32>) {scale = 2.500000e-01 : f32}
// CHECK-NOT: spd.is_nan
// CHECK: return %[[A]]
func.func @sdpa_prescaled_guard(%q: tensor<2x4x16x16xf32>, %k: tensor<2x4x16x16xf32>, %v: tensor<2x4x16x16xf32>, %mask: tensor<2x1x16x16xf32>) -> tensor<2x4x16x16xf32> {
  %flat = spd.constant dense<[-1, 16, 16]> : tensor<3xi64>
  %back = spd.constant dense<[2, 4, 16, 16]> : tensor<4xi64>
  %half = spd.constant dense<5.000000e-01> : tensor<f32>
  %zero = spd.constant dense<0.000000e+00> : tensor<f32>
  %k3 = spd.reshape %k, %flat : tensor<2x4x16x16xf32>, tensor<3xi64> -> tensor<8x16x16xf32>
  %kt3 = spd.transpose %k3 {perm = array<i64: 0, 2, 1>} : tensor<8x16x16xf32> -> tensor<8x16x16xf32>
  %kt = spd.reshape %kt3, %back : tensor<8x16x16xf32>, tensor<4xi64> -> tensor<2x4x16x16xf32>
  %qs = spd.mul %q, %half : tensor<2x4x16x16xf32>, tensor<f32> -> tensor<2x4x16x16xf32>
  %kts = spd.mul %kt, %half : tensor<2x4x16x16xf32>, tensor<f32> -> tensor<2x4x16x16xf32>
  %s = spd.matmul %qs, %kts : tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %sm = spd.add %s, %mask : tensor<2x4x16x16xf32>, tensor<2x1x16x16xf32> -> tensor<2x4x16x16xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x4x16x16xf32>
  %nan = spd.is_nan %p : tensor<2x4x16x16xf32> -> tensor<2x4x16x16xi1>
  %g = spd.where %nan, %zero, %p : tensor<2x4x16x16xi1>, tensor<f32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %o = spd.matmul %g, %v : tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  return %o : tensor<2x4x16x16xf32>
}

// -----

// BERT's padding mask (1 - m) * finfo.min added after the scale; K^T straight from [b, s, h, d]
// keys by perm [0, 2, 3, 1], so a transpose to [b, h, s, d] is inserted.
// CHECK-LABEL: func @additive_padding_mask
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x8xf32>, %[[KS:.*]]: tensor<2x16x4x8xf32>, %[[V:.*]]: tensor<2x4x16x8xf32>, %[[AM:.*]]: tensor<2x1x1x16xf32>)
// CHECK: %[[SUB:.*]] = spd.sub
// CHECK: %[[MASK:.*]] = spd.mul %[[SUB]]
// CHECK: %[[K:.*]] = spd.transpose %[[KS]] {perm = array<i64: 0, 2, 1, 3>} : tensor<2x16x4x8xf32> -> tensor<2x4x16x8xf32>
// CHECK: spd.attention %[[Q]], %[[K]], %[[V]] mask(%[[MASK]] : tensor<2x1x1x16xf32>) {scale = 0.353553385 : f32}
func.func @additive_padding_mask(%q: tensor<2x4x16x8xf32>, %kbshd: tensor<2x16x4x8xf32>, %v: tensor<2x4x16x8xf32>, %am: tensor<2x1x1x16xf32>) -> tensor<2x4x16x8xf32> {
  %one = spd.constant dense<1.000000e+00> : tensor<f32>
  %min = spd.constant dense<-3.40282347E+38> : tensor<f32>
  %scale = spd.constant dense<0.353553385> : tensor<f32>
  %inv = spd.sub %one, %am : tensor<f32>, tensor<2x1x1x16xf32> -> tensor<2x1x1x16xf32>
  %mask = spd.mul %inv, %min : tensor<2x1x1x16xf32>, tensor<f32> -> tensor<2x1x1x16xf32>
  %kt = spd.transpose %kbshd {perm = array<i64: 0, 2, 3, 1>} : tensor<2x16x4x8xf32> -> tensor<2x4x8x16xf32>
  %s = spd.matmul %q, %kt : tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32> -> tensor<2x4x16x16xf32>
  %ss = spd.mul %s, %scale : tensor<2x4x16x16xf32>, tensor<f32> -> tensor<2x4x16x16xf32>
  %sm = spd.add %mask, %ss : tensor<2x1x1x16xf32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x4x16x16xf32>
  %o = spd.matmul %p, %v : tensor<2x4x16x16xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %o : tensor<2x4x16x8xf32>
}

// -----

// A mask added before the scale is scaled with the scores.
// CHECK-LABEL: func @mask_before_scale
// CHECK-SAME: %[[M:[^:]*]]: tensor<1x1x4x4xf32>
// CHECK: %[[F:.*]] = spd.constant dense<1.250000e-01> : tensor<f32>
// CHECK: %[[SM:.*]] = spd.mul %[[M]], %[[F]]
// CHECK: spd.attention {{.*}} mask(%[[SM]] : tensor<1x1x4x4xf32>) {scale = 1.250000e-01 : f32}
func.func @mask_before_scale(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %m: tensor<1x1x4x4xf32>) -> tensor<1x2x4x8xf32> {
  %c = spd.constant dense<8.0> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %a = spd.add %s, %m : tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32> -> tensor<1x2x4x4xf32>
  %d = spd.div %a, %c : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  %p = spd.softmax %d {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Boolean masks applied by where: keep where true (scores in the true branch), and the
// inverted form (fill in the true branch) through spd.not.
// CHECK-LABEL: func @where_bool_mask
// CHECK-SAME: %[[C:[^:]*]]: tensor<2x1x16x16xi1>
// CHECK: spd.attention {{.*}} mask(%[[C]] : tensor<2x1x16x16xi1>) {scale = 2.500000e-01 : f32}
func.func @where_bool_mask(%q: tensor<2x4x16x16xf32>, %k: tensor<2x4x16x16xf32>, %v: tensor<2x4x16x16xf32>, %cond: tensor<2x1x16x16xi1>) -> tensor<2x4x16x16xf32> {
  %ninf = spd.constant dense<0xFF800000> : tensor<f32>
  %scale = spd.constant dense<2.500000e-01> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %s = spd.matmul %q, %kt : tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %ss = spd.mul %s, %scale : tensor<2x4x16x16xf32>, tensor<f32> -> tensor<2x4x16x16xf32>
  %sm = spd.where %cond, %ss, %ninf : tensor<2x1x16x16xi1>, tensor<2x4x16x16xf32>, tensor<f32> -> tensor<2x4x16x16xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x4x16x16xf32>
  %o = spd.matmul %p, %v : tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  return %o : tensor<2x4x16x16xf32>
}

// CHECK-LABEL: func @where_bool_mask_inverted
// CHECK-SAME: %[[C:[^:]*]]: tensor<2x1x16x16xi1>
// CHECK: %[[N:.*]] = spd.not %[[C]] : tensor<2x1x16x16xi1>
// CHECK: spd.attention {{.*}} mask(%[[N]] : tensor<2x1x16x16xi1>)
func.func @where_bool_mask_inverted(%q: tensor<2x4x16x16xf32>, %k: tensor<2x4x16x16xf32>, %v: tensor<2x4x16x16xf32>, %masked: tensor<2x1x16x16xi1>) -> tensor<2x4x16x16xf32> {
  %ninf = spd.constant dense<0xFF800000> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %s = spd.matmul %q, %kt : tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %sm = spd.where %masked, %ninf, %s : tensor<2x1x16x16xi1>, tensor<f32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x4x16x16xf32>
  %o = spd.matmul %p, %v : tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  return %o : tensor<2x4x16x16xf32>
}

// A where that fills with a finite minimum stays exact as an additive mask.
// CHECK-LABEL: func @where_finite_fill
// CHECK-SAME: %[[C:[^:]*]]: tensor<1x1x4x4xi1>
// CHECK-DAG: %[[Z:.*]] = spd.constant dense<0.000000e+00> : tensor<f32>
// CHECK-DAG: %[[MIN:.*]] = spd.constant dense<-3.40282347E+38> : tensor<f32>
// CHECK: %[[M:.*]] = spd.where %[[C]], %[[Z]], %[[MIN]] : tensor<1x1x4x4xi1>, tensor<f32>, tensor<f32> -> tensor<1x1x4x4xf32>
// CHECK: spd.attention {{.*}} mask(%[[M]] : tensor<1x1x4x4xf32>)
func.func @where_finite_fill(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %cond: tensor<1x1x4x4xi1>) -> tensor<1x2x4x8xf32> {
  %min = spd.constant dense<-3.40282347E+38> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %sm = spd.where %cond, %s, %min : tensor<1x1x4x4xi1>, tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// A constant causal mask (finfo.min above the diagonal, broadcast over batch and heads)
// becomes the causal flag and disappears.
// CHECK-LABEL: func @constant_causal_mask
// CHECK-NOT: mask(
// CHECK: spd.attention %{{.*}}, %{{.*}}, %{{.*}} {causal = true, scale = 0.353553385 : f32}
func.func @constant_causal_mask(%q: tensor<2x2x4x8xf32>, %k: tensor<2x2x4x8xf32>, %v: tensor<2x2x4x8xf32>) -> tensor<2x2x4x8xf32> {
  %mask = spd.constant dense<[[[[0.0, -3.40282347E+38, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, 0.0, -3.40282347E+38], [0.0, 0.0, 0.0, 0.0]]]]> : tensor<1x1x4x4xf32>
  %scale = spd.constant dense<0.353553385> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<2x2x4x8xf32> -> tensor<2x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<2x2x4x8xf32>, tensor<2x2x8x4xf32> -> tensor<2x2x4x4xf32>
  %ss = spd.mul %s, %scale : tensor<2x2x4x4xf32>, tensor<f32> -> tensor<2x2x4x4xf32>
  %sm = spd.add %ss, %mask : tensor<2x2x4x4xf32>, tensor<1x1x4x4xf32> -> tensor<2x2x4x4xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<2x2x4x4xf32>, tensor<2x2x4x8xf32> -> tensor<2x2x4x8xf32>
  return %o : tensor<2x2x4x8xf32>
}

// A boolean lower-triangular constant applied by where is causal too; a constant that is not
// the causal pattern (here: upper triangular) stays a mask.
// CHECK-LABEL: func @constant_bool_masks
// CHECK: %[[U:.*]] = spd.constant dense<{{\[\[\[\[}}true, true, true], [false, true, true], [false, false, true]]]]> : tensor<1x1x3x3xi1>
// CHECK: spd.attention {{.*}} mask(%[[U]] : tensor<1x1x3x3xi1>) {causal = true, scale = 1.000000e+00 : f32}
func.func @constant_bool_masks(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>, %v: tensor<1x2x3x8xf32>) -> tensor<1x2x3x8xf32> {
  %tril = spd.constant dense<[[[[true, false, false], [true, true, false], [true, true, true]]]]> : tensor<1x1x3x3xi1>
  %triu = spd.constant dense<[[[[true, true, true], [false, true, true], [false, false, true]]]]> : tensor<1x1x3x3xi1>
  %ninf = spd.constant dense<0xFF800000> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x3x8xf32> -> tensor<1x2x8x3xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x3x8xf32>, tensor<1x2x8x3xf32> -> tensor<1x2x3x3xf32>
  %a = spd.where %tril, %s, %ninf : tensor<1x1x3x3xi1>, tensor<1x2x3x3xf32>, tensor<f32> -> tensor<1x2x3x3xf32>
  %b = spd.where %triu, %a, %ninf : tensor<1x1x3x3xi1>, tensor<1x2x3x3xf32>, tensor<f32> -> tensor<1x2x3x3xf32>
  %p = spd.softmax %b {axis = 3 : i64} : tensor<1x2x3x3xf32>
  %o = spd.matmul %p, %v : tensor<1x2x3x3xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return %o : tensor<1x2x3x8xf32>
}

// -----

// Grouped-query attention: K and V repeated by repeat_kv (unsqueeze -> expand -> reshape)
// are read un-repeated.
// CHECK-LABEL: func @gqa_repeat_kv
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x8xf32>, %[[K:.*]]: tensor<2x2x16x8xf32>, %[[V:.*]]: tensor<2x2x16x8xf32>)
// CHECK: spd.attention %[[Q]], %[[K]], %[[V]] {scale = 0.353553385 : f32} : tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32> -> tensor<2x4x16x8xf32>
// CHECK-NOT: spd.expand
func.func @gqa_repeat_kv(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %shape5 = spd.constant dense<[2, 2, 2, 16, 8]> : tensor<5xi64>
  %shape4 = spd.constant dense<[2, 4, 16, 8]> : tensor<4xi64>
  %scale = spd.constant dense<0.353553385> : tensor<f32>
  %k1 = spd.unsqueeze %k {axes = array<i64: 2>} : tensor<2x2x16x8xf32> -> tensor<2x2x1x16x8xf32>
  %k2 = spd.expand %k1, %shape5 : tensor<2x2x1x16x8xf32>, tensor<5xi64> -> tensor<2x2x2x16x8xf32>
  %kr = spd.reshape %k2, %shape4 : tensor<2x2x2x16x8xf32>, tensor<4xi64> -> tensor<2x4x16x8xf32>
  %v1 = spd.unsqueeze %v {axes = array<i64: 2>} : tensor<2x2x16x8xf32> -> tensor<2x2x1x16x8xf32>
  %v2 = spd.expand %v1, %shape5 : tensor<2x2x1x16x8xf32>, tensor<5xi64> -> tensor<2x2x2x16x8xf32>
  %vr = spd.reshape %v2, %shape4 : tensor<2x2x2x16x8xf32>, tensor<4xi64> -> tensor<2x4x16x8xf32>
  %kt = spd.transpose %kr {perm = array<i64: 0, 1, 3, 2>} : tensor<2x4x16x8xf32> -> tensor<2x4x8x16xf32>
  %s = spd.matmul %q, %kt : tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32> -> tensor<2x4x16x16xf32>
  %ss = spd.mul %s, %scale : tensor<2x4x16x16xf32>, tensor<f32> -> tensor<2x4x16x16xf32>
  %p = spd.softmax %ss {axis = 3 : i64} : tensor<2x4x16x16xf32>
  %o = spd.matmul %p, %vr : tensor<2x4x16x16xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %o : tensor<2x4x16x8xf32>
}

// The SDPA export of GQA flattens the expanded 5-D keys straight into the batched transpose.
// CHECK-LABEL: func @gqa_sdpa_flattened
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x8xf32>, %[[K:.*]]: tensor<2x2x16x8xf32>, %[[V:.*]]: tensor<2x2x16x8xf32>)
// CHECK: spd.attention %[[Q]], %[[K]], %[[V]] {scale = 0.12499{{[0-9]*}} : f32} : tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32> -> tensor<2x4x16x8xf32>
func.func @gqa_sdpa_flattened(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %shape5 = spd.constant dense<[2, 2, 2, 16, 8]> : tensor<5xi64>
  %shape4 = spd.constant dense<[2, 4, 16, 8]> : tensor<4xi64>
  %flat = spd.constant dense<[-1, 16, 8]> : tensor<3xi64>
  %back = spd.constant dense<[2, 4, 8, 16]> : tensor<4xi64>
  %c = spd.constant dense<0.353553385> : tensor<f32>
  %k1 = spd.unsqueeze %k {axes = array<i64: 2>} : tensor<2x2x16x8xf32> -> tensor<2x2x1x16x8xf32>
  %k2 = spd.expand %k1, %shape5 : tensor<2x2x1x16x8xf32>, tensor<5xi64> -> tensor<2x2x2x16x8xf32>
  %v1 = spd.unsqueeze %v {axes = array<i64: 2>} : tensor<2x2x16x8xf32> -> tensor<2x2x1x16x8xf32>
  %v2 = spd.expand %v1, %shape5 : tensor<2x2x1x16x8xf32>, tensor<5xi64> -> tensor<2x2x2x16x8xf32>
  %vr = spd.reshape %v2, %shape4 : tensor<2x2x2x16x8xf32>, tensor<4xi64> -> tensor<2x4x16x8xf32>
  %k3 = spd.reshape %k2, %flat : tensor<2x2x2x16x8xf32>, tensor<3xi64> -> tensor<8x16x8xf32>
  %kt3 = spd.transpose %k3 {perm = array<i64: 0, 2, 1>} : tensor<8x16x8xf32> -> tensor<8x8x16xf32>
  %kt = spd.reshape %kt3, %back : tensor<8x8x16xf32>, tensor<4xi64> -> tensor<2x4x8x16xf32>
  %qs = spd.mul %q, %c : tensor<2x4x16x8xf32>, tensor<f32> -> tensor<2x4x16x8xf32>
  %kts = spd.mul %kt, %c : tensor<2x4x8x16xf32>, tensor<f32> -> tensor<2x4x8x16xf32>
  %s = spd.matmul %qs, %kts : tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32> -> tensor<2x4x16x16xf32>
  %p = spd.softmax %s {axis = 3 : i64} : tensor<2x4x16x16xf32>
  %o = spd.matmul %p, %vr : tensor<2x4x16x16xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %o : tensor<2x4x16x8xf32>
}

// -----

// Half precision with the casts to f32 around the softmax.
// CHECK-LABEL: func @fp16_casts
// CHECK-SAME: (%[[Q:.*]]: tensor<1x2x4x8xf16>, %[[K:.*]]: tensor<1x2x4x8xf16>, %[[V:.*]]: tensor<1x2x4x8xf16>, %[[M:.*]]: tensor<1x1x4x4xf32>)
// CHECK: spd.attention %[[Q]], %[[K]], %[[V]] mask(%[[M]] : tensor<1x1x4x4xf32>) {scale = 0.353553385 : f32} : tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16> -> tensor<1x2x4x8xf16>
// CHECK-NOT: spd.cast
func.func @fp16_casts(%q: tensor<1x2x4x8xf16>, %k: tensor<1x2x4x8xf16>, %v: tensor<1x2x4x8xf16>, %m: tensor<1x1x4x4xf32>) -> tensor<1x2x4x8xf16> {
  %c = spd.constant dense<0.353553385> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf16> -> tensor<1x2x8x4xf16>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf16>, tensor<1x2x8x4xf16> -> tensor<1x2x4x4xf16>
  %s32 = spd.cast %s : tensor<1x2x4x4xf16> -> tensor<1x2x4x4xf32>
  %ss = spd.mul %s32, %c : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  %sm = spd.add %ss, %m : tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32> -> tensor<1x2x4x4xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %p16 = spd.cast %p : tensor<1x2x4x4xf32> -> tensor<1x2x4x4xf16>
  %o = spd.matmul %p16, %v : tensor<1x2x4x4xf16>, tensor<1x2x4x8xf16> -> tensor<1x2x4x8xf16>
  return %o : tensor<1x2x4x8xf16>
}

// -----

// Dynamic batch and sequence: still fused.
// CHECK-LABEL: func @dynamic_shapes
// CHECK: spd.attention {{.*}} mask(%{{.*}} : tensor<?x1x?x?xf32>) {scale = 2.500000e-01 : f32} : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32> -> tensor<?x4x?x16xf32>
func.func @dynamic_shapes(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>, %v: tensor<?x4x?x16xf32>, %m: tensor<?x1x?x?xf32>) -> tensor<?x4x?x16xf32> {
  %c = spd.constant dense<4.0> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<?x4x?x16xf32> -> tensor<?x4x16x?xf32>
  %s = spd.matmul %q, %kt : tensor<?x4x?x16xf32>, tensor<?x4x16x?xf32> -> tensor<?x4x?x?xf32>
  %ss = spd.div %s, %c : tensor<?x4x?x?xf32>, tensor<f32> -> tensor<?x4x?x?xf32>
  %sm = spd.add %ss, %m : tensor<?x4x?x?xf32>, tensor<?x1x?x?xf32> -> tensor<?x4x?x?xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<?x4x?x?xf32>
  %o = spd.matmul %p, %v : tensor<?x4x?x?xf32>, tensor<?x4x?x16xf32> -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// -----

// Near misses keep the IR and say why.

// CHECK-LABEL: func @softmax_not_last_axis
// CHECK: spd.softmax
// CHECK-NOT: spd.attention
func.func @softmax_not_last_axis(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: softmax is over axis 2, not the last axis of rank 4}}
  %p = spd.softmax %s {axis = 2 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// CHECK-LABEL: func @non_constant_scale
// CHECK-NOT: spd.attention
func.func @non_constant_scale(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %scale: tensor<f32>) -> tensor<1x2x4x8xf32> {
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %ss = spd.mul %s, %scale : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: the scores are scaled by a non-constant (spd.mul)}}
  %p = spd.softmax %ss {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// CHECK-LABEL: func @scores_not_from_matmul
// CHECK-NOT: spd.attention
func.func @scores_not_from_matmul(%x: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %e = spd.exp %x : tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: the scores come from spd.exp, not from a matmul through scales, masks and casts}}
  %p = spd.softmax %e {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// A mask that broadcasts the scores to more dimensions than [b, h, sq, skv].
// CHECK-LABEL: func @mask_unsupported_shape
// CHECK-NOT: spd.attention
func.func @mask_unsupported_shape(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %m: tensor<3x1x1x4x4xf32>, %v: tensor<3x1x2x4x8xf32>) -> tensor<3x1x2x4x8xf32> {
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %sm = spd.add %s, %m : tensor<1x2x4x4xf32>, tensor<3x1x1x4x4xf32> -> tensor<3x1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: the scores have rank 5, not [batch, heads, q_len, kv_len]}}
  %p = spd.softmax %sm {axis = 4 : i64} : tensor<3x1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<3x1x2x4x4xf32>, tensor<3x1x2x4x8xf32> -> tensor<3x1x2x4x8xf32>
  return %o : tensor<3x1x2x4x8xf32>
}

// -----

// CHECK-LABEL: func @mask_broadcasts_scores
// CHECK-NOT: spd.attention
func.func @mask_broadcasts_scores(%q: tensor<1x1x4x8xf32>, %k: tensor<1x1x4x8xf32>, %m: tensor<2x3x4x4xf32>, %v: tensor<2x3x4x8xf32>) -> tensor<2x3x4x8xf32> {
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x1x4x8xf32> -> tensor<1x1x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x1x4x8xf32>, tensor<1x1x8x4xf32> -> tensor<1x1x4x4xf32>
  %sm = spd.add %s, %m : tensor<1x1x4x4xf32>, tensor<2x3x4x4xf32> -> tensor<2x3x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: the mask [2, 3, 4, 4] broadcasts the scores to a larger shape}}
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x3x4x4xf32>
  %o = spd.matmul %p, %v : tensor<2x3x4x4xf32>, tensor<2x3x4x8xf32> -> tensor<2x3x4x8xf32>
  return %o : tensor<2x3x4x8xf32>
}

// -----

// V with one head broadcast by the matmul against K with two: the heads do not group.
// CHECK-LABEL: func @mismatched_heads
// CHECK-NOT: spd.attention
func.func @mismatched_heads(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: mismatched heads: query [1, 2, 4, 8], key [1, 2, 4, 8], value [1, 1, 4, 8]}}
  %p = spd.softmax %s {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x1x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// The probabilities are also returned (output_attentions): fusing would keep the softmax.
// CHECK-LABEL: func @probs_have_other_uses
// CHECK-NOT: spd.attention
func.func @probs_have_other_uses(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x4xf32>) {
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: the attention probabilities have other uses than the matmul with V}}
  %p = spd.softmax %s {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o, %p : tensor<1x2x4x8xf32>, tensor<1x2x4x4xf32>
}

// -----

// A where on the scores that fills with a small value is not a mask.
// CHECK-LABEL: func @where_small_fill
// CHECK-NOT: spd.attention
func.func @where_small_fill(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %cond: tensor<1x1x4x4xi1>) -> tensor<1x2x4x8xf32> {
  %fill = spd.constant dense<-1.0> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %sm = spd.where %cond, %s, %fill : tensor<1x1x4x4xi1>, tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: the where on the scores does not fill with -inf or a large negative constant}}
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// A softmax that does not feed a matmul (a classifier head) is not attention: no remark.
// CHECK-LABEL: func @plain_softmax
// CHECK: spd.softmax
func.func @plain_softmax(%x: tensor<2x10xf32>) -> tensor<2x10xf32> {
  %p = spd.softmax %x {axis = 1 : i64} : tensor<2x10xf32>
  return %p : tensor<2x10xf32>
}

// -----

// A padding mask subtracted from the scores ((1 - m) * 10000 in older BERT code).
// CHECK-LABEL: func @subtracted_mask
// CHECK-SAME: %[[M:[^:]*]]: tensor<2x1x1x16xf32>
// CHECK: %[[N:.*]] = spd.neg %[[M]] : tensor<2x1x1x16xf32>
// CHECK: spd.attention {{.*}} mask(%[[N]] : tensor<2x1x1x16xf32>) {scale = 2.500000e-01 : f32}
func.func @subtracted_mask(%q: tensor<2x4x16x16xf32>, %k: tensor<2x4x16x16xf32>, %v: tensor<2x4x16x16xf32>, %m: tensor<2x1x1x16xf32>) -> tensor<2x4x16x16xf32> {
  %scale = spd.constant dense<2.500000e-01> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %s = spd.matmul %q, %kt : tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  %ss = spd.mul %s, %scale : tensor<2x4x16x16xf32>, tensor<f32> -> tensor<2x4x16x16xf32>
  %sm = spd.sub %ss, %m : tensor<2x4x16x16xf32>, tensor<2x1x1x16xf32> -> tensor<2x4x16x16xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x4x16x16xf32>
  %o = spd.matmul %p, %v : tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>
  return %o : tensor<2x4x16x16xf32>
}

// -----

// torch's conversion of a boolean causal mask to an additive one, where(tril, 0, -inf),
// broadcast by an expand: still the causal flag.
// CHECK-LABEL: func @additive_where_causal
// CHECK-NOT: mask(
// CHECK: spd.attention %{{.*}}, %{{.*}}, %{{.*}} {causal = true, scale = 1.000000e+00 : f32}
func.func @additive_where_causal(%q: tensor<2x2x3x8xf32>, %k: tensor<2x2x3x8xf32>, %v: tensor<2x2x3x8xf32>) -> tensor<2x2x3x8xf32> {
  %tril = spd.constant dense<[[true, false, false], [true, true, false], [true, true, true]]> : tensor<3x3xi1>
  %zero = spd.constant dense<0.000000e+00> : tensor<f32>
  %ninf = spd.constant dense<0xFF800000> : tensor<f32>
  %shape = spd.constant dense<[2, 1, 3, 3]> : tensor<4xi64>
  %b = spd.expand %tril, %shape : tensor<3x3xi1>, tensor<4xi64> -> tensor<2x1x3x3xi1>
  %mask = spd.where %b, %zero, %ninf : tensor<2x1x3x3xi1>, tensor<f32>, tensor<f32> -> tensor<2x1x3x3xf32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<2x2x3x8xf32> -> tensor<2x2x8x3xf32>
  %s = spd.matmul %q, %kt : tensor<2x2x3x8xf32>, tensor<2x2x8x3xf32> -> tensor<2x2x3x3xf32>
  %sm = spd.add %s, %mask : tensor<2x2x3x3xf32>, tensor<2x1x3x3xf32> -> tensor<2x2x3x3xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x2x3x3xf32>
  %o = spd.matmul %p, %v : tensor<2x2x3x3xf32>, tensor<2x2x3x8xf32> -> tensor<2x2x3x8xf32>
  return %o : tensor<2x2x3x8xf32>
}

// A constant mask for one new query against a longer cache (bottom-right aligned) is causal
// only where it hides nothing: it is all zeros here, so it simply disappears.
// CHECK-LABEL: func @decode_step_mask
// CHECK-NOT: mask(
// CHECK: spd.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.000000e+00 : f32}
func.func @decode_step_mask(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x5x8xf32>, %v: tensor<1x2x5x8xf32>) -> tensor<1x2x1x8xf32> {
  %mask = spd.constant dense<0.0> : tensor<1x1x1x5xf32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x5x8xf32> -> tensor<1x2x8x5xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x1x8xf32>, tensor<1x2x8x5xf32> -> tensor<1x2x1x5xf32>
  %sm = spd.add %s, %mask : tensor<1x2x1x5xf32>, tensor<1x1x1x5xf32> -> tensor<1x2x1x5xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<1x2x1x5xf32>
  %o = spd.matmul %p, %v : tensor<1x2x1x5xf32>, tensor<1x2x5x8xf32> -> tensor<1x2x1x8xf32>
  return %o : tensor<1x2x1x8xf32>
}

// A top-left aligned causal mask for 2 queries over 3 keys is not the bottom-right causal
// flag: it stays a mask.
// CHECK-LABEL: func @top_left_causal_is_a_mask
// CHECK: %[[M:.*]] = spd.constant
// CHECK: spd.attention {{.*}} mask(%[[M]] : tensor<2x3xf32>) {scale = 1.000000e+00 : f32}
func.func @top_left_causal_is_a_mask(%q: tensor<1x2x2x8xf32>, %k: tensor<1x2x3x8xf32>, %v: tensor<1x2x3x8xf32>) -> tensor<1x2x2x8xf32> {
  %mask = spd.constant dense<[[0.0, 0xFF800000, 0xFF800000], [0.0, 0.0, 0xFF800000]]> : tensor<2x3xf32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x3x8xf32> -> tensor<1x2x8x3xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x2x8xf32>, tensor<1x2x8x3xf32> -> tensor<1x2x2x3xf32>
  %sm = spd.add %s, %mask : tensor<1x2x2x3xf32>, tensor<2x3xf32> -> tensor<1x2x2x3xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<1x2x2x3xf32>
  %o = spd.matmul %p, %v : tensor<1x2x2x3xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x2x8xf32>
  return %o : tensor<1x2x2x8xf32>
}

// -----

// Keys and values repeated in [b, s, h, d] layout before the head transposes: read
// un-repeated, the transposes rebuilt on the un-repeated tensors.
// CHECK-LABEL: func @gqa_bshd_layout
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x16x8xf32>, %[[K:.*]]: tensor<1x16x2x8xf32>, %[[V:.*]]: tensor<1x16x2x8xf32>)
// CHECK-DAG: %[[KT:.*]] = spd.transpose %[[K]] {perm = array<i64: 0, 2, 1, 3>} : tensor<1x16x2x8xf32> -> tensor<1x2x16x8xf32>
// CHECK-DAG: %[[VT:.*]] = spd.transpose %[[V]] {perm = array<i64: 0, 2, 1, 3>} : tensor<1x16x2x8xf32> -> tensor<1x2x16x8xf32>
// CHECK: spd.attention %[[Q]], %[[KT]], %[[VT]] {scale = 0.353553385 : f32} : tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x16x8xf32>
func.func @gqa_bshd_layout(%q: tensor<1x4x16x8xf32>, %k: tensor<1x16x2x8xf32>, %v: tensor<1x16x2x8xf32>) -> tensor<1x4x16x8xf32> {
  %shape5 = spd.constant dense<[1, 16, 2, 2, 8]> : tensor<5xi64>
  %shape4 = spd.constant dense<[1, 16, 4, 8]> : tensor<4xi64>
  %scale = spd.constant dense<0.353553385> : tensor<f32>
  %k1 = spd.unsqueeze %k {axes = array<i64: 3>} : tensor<1x16x2x8xf32> -> tensor<1x16x2x1x8xf32>
  %k2 = spd.expand %k1, %shape5 : tensor<1x16x2x1x8xf32>, tensor<5xi64> -> tensor<1x16x2x2x8xf32>
  %kr = spd.reshape %k2, %shape4 : tensor<1x16x2x2x8xf32>, tensor<4xi64> -> tensor<1x16x4x8xf32>
  %v1 = spd.unsqueeze %v {axes = array<i64: 3>} : tensor<1x16x2x8xf32> -> tensor<1x16x2x1x8xf32>
  %v2 = spd.expand %v1, %shape5 : tensor<1x16x2x1x8xf32>, tensor<5xi64> -> tensor<1x16x2x2x8xf32>
  %vr = spd.reshape %v2, %shape4 : tensor<1x16x2x2x8xf32>, tensor<4xi64> -> tensor<1x16x4x8xf32>
  %vt = spd.transpose %vr {perm = array<i64: 0, 2, 1, 3>} : tensor<1x16x4x8xf32> -> tensor<1x4x16x8xf32>
  %kt = spd.transpose %kr {perm = array<i64: 0, 2, 3, 1>} : tensor<1x16x4x8xf32> -> tensor<1x4x8x16xf32>
  %s = spd.matmul %q, %kt : tensor<1x4x16x8xf32>, tensor<1x4x8x16xf32> -> tensor<1x4x16x16xf32>
  %ss = spd.mul %s, %scale : tensor<1x4x16x16xf32>, tensor<f32> -> tensor<1x4x16x16xf32>
  %p = spd.softmax %ss {axis = 3 : i64} : tensor<1x4x16x16xf32>
  %o = spd.matmul %p, %vt : tensor<1x4x16x16xf32>, tensor<1x4x16x8xf32> -> tensor<1x4x16x8xf32>
  return %o : tensor<1x4x16x8xf32>
}

// -----

// BLOOM's batched 3-D form: Q and K flattened to [b * h, s, d], the scores scaled and given the
// ALiBi bias [b * h, 1, skv] in 3-D, then viewed as [b, h, sq, skv] for the mask and softmax.
// The bias becomes a float mask split back into [b, h].
// CHECK-LABEL: func @batched_3d_scores
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x8xf32>, %[[K:.*]]: tensor<2x4x16x8xf32>, %[[V:.*]]: tensor<2x4x16x8xf32>, %[[ALIBI:.*]]: tensor<8x1x16xf32>, %[[M:.*]]: tensor<2x1x16x16xf32>)
// CHECK: %[[SHAPE:.*]] = spd.constant dense<[2, 4, 1, 16]> : tensor<4xi64>
// CHECK: %[[BIAS:.*]] = spd.reshape %[[ALIBI]], %[[SHAPE]] : tensor<8x1x16xf32>, tensor<4xi64> -> tensor<2x4x1x16xf32>
// CHECK: %[[MASK:.*]] = spd.add %[[M]], %[[BIAS]] : tensor<2x1x16x16xf32>, tensor<2x4x1x16xf32> -> tensor<2x4x16x16xf32>
// CHECK: spd.attention %[[Q]], %[[K]], %[[V]] mask(%[[MASK]] : tensor<2x4x16x16xf32>) {scale = 0.353553385 : f32}
func.func @batched_3d_scores(%q: tensor<2x4x16x8xf32>, %k: tensor<2x4x16x8xf32>, %v: tensor<2x4x16x8xf32>, %alibi: tensor<8x1x16xf32>, %m: tensor<2x1x16x16xf32>) -> tensor<2x4x16x8xf32> {
  %flat = spd.constant dense<[8, 16, 8]> : tensor<3xi64>
  %s4 = spd.constant dense<[2, 4, 16, 16]> : tensor<4xi64>
  %scale = spd.constant dense<0.353553385> : tensor<f32>
  %q3 = spd.reshape %q, %flat : tensor<2x4x16x8xf32>, tensor<3xi64> -> tensor<8x16x8xf32>
  %k3 = spd.reshape %k, %flat : tensor<2x4x16x8xf32>, tensor<3xi64> -> tensor<8x16x8xf32>
  %kt3 = spd.transpose %k3 {perm = array<i64: 0, 2, 1>} : tensor<8x16x8xf32> -> tensor<8x8x16xf32>
  %s3 = spd.matmul %q3, %kt3 : tensor<8x16x8xf32>, tensor<8x8x16xf32> -> tensor<8x16x16xf32>
  %ss = spd.mul %s3, %scale : tensor<8x16x16xf32>, tensor<f32> -> tensor<8x16x16xf32>
  %sb = spd.add %ss, %alibi : tensor<8x16x16xf32>, tensor<8x1x16xf32> -> tensor<8x16x16xf32>
  %s = spd.reshape %sb, %s4 : tensor<8x16x16xf32>, tensor<4xi64> -> tensor<2x4x16x16xf32>
  %sm = spd.add %s, %m : tensor<2x4x16x16xf32>, tensor<2x1x16x16xf32> -> tensor<2x4x16x16xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<2x4x16x16xf32>
  %o = spd.matmul %p, %v : tensor<2x4x16x16xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %o : tensor<2x4x16x8xf32>
}

// Probabilities flattened for a batched 3-D matmul with V given as [b * h, s, d]: V is
// reshaped to 4-D and the 4-D result back to the 3-D shape its users expect.
// CHECK-LABEL: func @batched_3d_output
// CHECK-SAME: %[[V3:[^:]*]]: tensor<2x4x8xf32>
// CHECK-DAG: %[[OS:.*]] = spd.constant dense<[2, 4, 8]> : tensor<3xi64>
// CHECK-DAG: %[[VS:.*]] = spd.constant dense<[1, 2, 4, 8]> : tensor<4xi64>
// CHECK: %[[V:.*]] = spd.reshape %[[V3]], %[[VS]] : tensor<2x4x8xf32>, tensor<4xi64> -> tensor<1x2x4x8xf32>
// CHECK: %[[A:.*]] = spd.attention %{{.*}}, %{{.*}}, %[[V]] {causal = true, scale = 1.000000e+00 : f32} : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
// CHECK: %[[O:.*]] = spd.reshape %[[A]], %[[OS]] : tensor<1x2x4x8xf32>, tensor<3xi64> -> tensor<2x4x8xf32>
// CHECK: return %[[O]]
func.func @batched_3d_output(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v3: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  %flat = spd.constant dense<[2, 4, 4]> : tensor<3xi64>
  %tril = spd.constant dense<[[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]> : tensor<4x4xi1>
  %ninf = spd.constant dense<0xFF800000> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %sm = spd.where %tril, %s, %ninf : tensor<4x4xi1>, tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %p3 = spd.reshape %p, %flat : tensor<1x2x4x4xf32>, tensor<3xi64> -> tensor<2x4x4xf32>
  %o = spd.matmul %p3, %v3 : tensor<2x4x4xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
  return %o : tensor<2x4x8xf32>
}

// -----

// XGLM's eager form: batched 3-D matmuls, the scores viewed as [b, h, sq, skv] for the mask,
// clamped at the lowest f32 and merged back for a 3-D softmax. The clamp is dropped.
// CHECK-LABEL: func @batched_3d_softmax_clamped
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x8xf32>, %[[K:.*]]: tensor<2x4x16x8xf32>, %[[V:.*]]: tensor<2x4x16x8xf32>, %[[M:.*]]: tensor<2x1x16x16xf32>)
// CHECK-NOT: spd.max
// CHECK: %[[A:.*]] = spd.attention %[[Q]], %[[K]], %[[V]] mask(%[[M]] : tensor<2x1x16x16xf32>) {scale = 1.000000e+00 : f32} : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
// CHECK: %[[O:.*]] = spd.reshape %[[A]], %{{.*}} : tensor<2x4x16x8xf32>, tensor<3xi64> -> tensor<8x16x8xf32>
// CHECK: return %[[O]]
func.func @batched_3d_softmax_clamped(%q: tensor<2x4x16x8xf32>, %k: tensor<2x4x16x8xf32>, %v: tensor<2x4x16x8xf32>, %m: tensor<2x1x16x16xf32>) -> tensor<8x16x8xf32> {
  %flat = spd.constant dense<[8, 16, 8]> : tensor<3xi64>
  %flats = spd.constant dense<[8, 16, 16]> : tensor<3xi64>
  %s4 = spd.constant dense<[2, 4, 16, 16]> : tensor<4xi64>
  %lowest = spd.constant dense<-3.40282347E+38> : tensor<f32>
  %q3 = spd.reshape %q, %flat : tensor<2x4x16x8xf32>, tensor<3xi64> -> tensor<8x16x8xf32>
  %k3 = spd.reshape %k, %flat : tensor<2x4x16x8xf32>, tensor<3xi64> -> tensor<8x16x8xf32>
  %v3 = spd.reshape %v, %flat : tensor<2x4x16x8xf32>, tensor<3xi64> -> tensor<8x16x8xf32>
  %kt3 = spd.transpose %k3 {perm = array<i64: 0, 2, 1>} : tensor<8x16x8xf32> -> tensor<8x8x16xf32>
  %s3 = spd.matmul %q3, %kt3 : tensor<8x16x8xf32>, tensor<8x8x16xf32> -> tensor<8x16x16xf32>
  %s = spd.reshape %s3, %s4 : tensor<8x16x16xf32>, tensor<4xi64> -> tensor<2x4x16x16xf32>
  %sm = spd.add %s, %m : tensor<2x4x16x16xf32>, tensor<2x1x16x16xf32> -> tensor<2x4x16x16xf32>
  %sc = spd.max %sm, %lowest : tensor<2x4x16x16xf32>, tensor<f32> -> tensor<2x4x16x16xf32>
  %sf = spd.reshape %sc, %flats : tensor<2x4x16x16xf32>, tensor<3xi64> -> tensor<8x16x16xf32>
  %p = spd.softmax %sf {axis = 2 : i64} : tensor<8x16x16xf32>
  %o = spd.matmul %p, %v3 : tensor<8x16x16xf32>, tensor<8x16x8xf32> -> tensor<8x16x8xf32>
  return %o : tensor<8x16x8xf32>
}

// Batched 3-D throughout: [b, h] comes from the query's merge, the 3-D mask is split into it.
// CHECK-LABEL: func @batched_3d_throughout
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x8xf32>, %[[K3:.*]]: tensor<8x16x8xf32>, %[[V3:.*]]: tensor<8x16x8xf32>, %[[M3:.*]]: tensor<8x16x16xf32>)
// CHECK-DAG: %[[K:.*]] = spd.reshape %[[K3]], %{{.*}} -> tensor<2x4x16x8xf32>
// CHECK-DAG: %[[V:.*]] = spd.reshape %[[V3]], %{{.*}} -> tensor<2x4x16x8xf32>
// CHECK-DAG: %[[M:.*]] = spd.reshape %[[M3]], %{{.*}} -> tensor<2x4x16x16xf32>
// CHECK: spd.attention %[[Q]], %[[K]], %[[V]] mask(%[[M]] : tensor<2x4x16x16xf32>) {scale = 0.353553385 : f32}
func.func @batched_3d_throughout(%q: tensor<2x4x16x8xf32>, %k3: tensor<8x16x8xf32>, %v3: tensor<8x16x8xf32>, %m3: tensor<8x16x16xf32>) -> tensor<8x16x8xf32> {
  %flat = spd.constant dense<[8, 16, 8]> : tensor<3xi64>
  %scale = spd.constant dense<0.353553385> : tensor<f32>
  %q3 = spd.reshape %q, %flat : tensor<2x4x16x8xf32>, tensor<3xi64> -> tensor<8x16x8xf32>
  %kt3 = spd.transpose %k3 {perm = array<i64: 0, 2, 1>} : tensor<8x16x8xf32> -> tensor<8x8x16xf32>
  %s3 = spd.matmul %q3, %kt3 : tensor<8x16x8xf32>, tensor<8x8x16xf32> -> tensor<8x16x16xf32>
  %ss = spd.mul %s3, %scale : tensor<8x16x16xf32>, tensor<f32> -> tensor<8x16x16xf32>
  %sm = spd.add %ss, %m3 : tensor<8x16x16xf32>, tensor<8x16x16xf32> -> tensor<8x16x16xf32>
  %p = spd.softmax %sm {axis = 2 : i64} : tensor<8x16x16xf32>
  %o = spd.matmul %p, %v3 : tensor<8x16x16xf32>, tensor<8x16x8xf32> -> tensor<8x16x8xf32>
  return %o : tensor<8x16x8xf32>
}

// -----

// Batched 3-D scores with nothing that says how b * h splits: not fused.
// CHECK-LABEL: func @batched_3d_no_heads
// CHECK-NOT: spd.attention
func.func @batched_3d_no_heads(%q3: tensor<8x16x8xf32>, %kt3: tensor<8x8x16xf32>, %v3: tensor<8x16x8xf32>) -> tensor<8x16x8xf32> {
  %s3 = spd.matmul %q3, %kt3 : tensor<8x16x8xf32>, tensor<8x8x16xf32> -> tensor<8x16x16xf32>
  // expected-remark @+1 {{spd-fuse-attention: the scores are [batch * heads, q_len, kv_len] and the query is not a merge of [batch, heads, q_len, head_dim] that would split them}}
  %p = spd.softmax %s3 {axis = 2 : i64} : tensor<8x16x16xf32>
  %o = spd.matmul %p, %v3 : tensor<8x16x16xf32>, tensor<8x16x8xf32> -> tensor<8x16x8xf32>
  return %o : tensor<8x16x8xf32>
}

// -----

// A max with a bound that is not a large negative constant changes unmasked scores.
// CHECK-LABEL: func @scores_max_not_a_clamp
// CHECK-NOT: spd.attention
func.func @scores_max_not_a_clamp(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %zero = spd.constant dense<0.0> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %sc = spd.max %s, %zero : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: the scores pass through spd.max with something other than a large negative constant (a clamp of masked scores)}}
  %p = spd.softmax %sc {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Gemma 2's soft-capping: scaled scores divided by the cap, tanh, times the cap, then the mask.
// The cap becomes the op's softcap; the scale is what lies below the tanh.
// CHECK-LABEL: func @softcap
// CHECK-SAME: (%[[Q:.*]]: tensor<1x2x4x8xf32>, %[[K:.*]]: tensor<1x2x4x8xf32>, %[[V:.*]]: tensor<1x2x4x8xf32>, %[[M:.*]]: tensor<1x1x4x4xf32>)
// CHECK-NOT: spd.tanh
// CHECK: spd.attention %[[Q]], %[[K]], %[[V]] mask(%[[M]] : tensor<1x1x4x4xf32>) {scale = 2.500000e-01 : f32, softcap = 3.000000e+01 : f32}
func.func @softcap(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %m: tensor<1x1x4x4xf32>) -> tensor<1x2x4x8xf32> {
  %scale = spd.constant dense<2.500000e-01> : tensor<f32>
  %cap = spd.constant dense<3.000000e+01> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %ss = spd.mul %s, %scale : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  %sd = spd.div %ss, %cap : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  %st = spd.tanh %sd : tensor<1x2x4x4xf32>
  %sc = spd.mul %st, %cap : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  %sm = spd.add %sc, %m : tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32> -> tensor<1x2x4x4xf32>
  %p = spd.softmax %sm {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// A mask added inside the tanh is not soft-capping as the op defines it.
// CHECK-LABEL: func @softcap_mask_inside
// CHECK-NOT: spd.attention
func.func @softcap_mask_inside(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %m: tensor<1x1x4x4xf32>) -> tensor<1x2x4x8xf32> {
  %cap = spd.constant dense<3.000000e+01> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %sm = spd.add %s, %m : tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32> -> tensor<1x2x4x4xf32>
  %sd = spd.div %sm, %cap : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  %st = spd.tanh %sd : tensor<1x2x4x4xf32>
  %sc = spd.mul %st, %cap : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: the scores are masked or clamped inside the soft-capping tanh (found spd.add)}}
  %p = spd.softmax %sc {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// A tanh with no positive constant after it is not a cap.
// CHECK-LABEL: func @tanh_without_cap
// CHECK-NOT: spd.attention
func.func @tanh_without_cap(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %neg = spd.constant dense<-2.000000e+00> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<1x2x4x8xf32> -> tensor<1x2x8x4xf32>
  %s = spd.matmul %q, %kt : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x4x4xf32>
  %st = spd.tanh %s : tensor<1x2x4x4xf32>
  %sc = spd.mul %st, %neg : tensor<1x2x4x4xf32>, tensor<f32> -> tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: the scores come from spd.tanh without a positive constant cap after it}}
  %p = spd.softmax %sc {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Batched 3-D keys broadcast by the matmul over b * h: they do not split into [batch, heads].
// CHECK-LABEL: func @batched_3d_broadcast_key
// CHECK-NOT: spd.attention
func.func @batched_3d_broadcast_key(%q: tensor<1x2x4x8xf32>, %kt: tensor<1x8x4xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %flat = spd.constant dense<[2, 4, 8]> : tensor<3xi64>
  %s4 = spd.constant dense<[1, 2, 4, 4]> : tensor<4xi64>
  %q3 = spd.reshape %q, %flat : tensor<1x2x4x8xf32>, tensor<3xi64> -> tensor<2x4x8xf32>
  %s3 = spd.matmul %q3, %kt : tensor<2x4x8xf32>, tensor<1x8x4xf32> -> tensor<2x4x4xf32>
  %s = spd.reshape %s3, %s4 : tensor<2x4x4xf32>, tensor<4xi64> -> tensor<1x2x4x4xf32>
  // expected-remark @+1 {{spd-fuse-attention: a batched 3-D operand [1, 8, 4] does not split into [batch, heads] = [1, 2]}}
  %p = spd.softmax %s {axis = 3 : i64} : tensor<1x2x4x4xf32>
  %o = spd.matmul %p, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Heads unknown at compile time (TorchScript's view(b, s, -1, d) with dynamic shapes): fused,
// the kernel checks the grouping at run time.
// CHECK-LABEL: func @dynamic_heads
// CHECK: spd.attention {{.*}} : tensor<?x?x?x16xf32>, tensor<?x?x?x16xf32>, tensor<?x?x?x16xf32> -> tensor<?x?x?x16xf32>
func.func @dynamic_heads(%q: tensor<?x?x?x16xf32>, %k: tensor<?x?x?x16xf32>, %v: tensor<?x?x?x16xf32>) -> tensor<?x?x?x16xf32> {
  %c = spd.constant dense<2.500000e-01> : tensor<f32>
  %kt = spd.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<?x?x?x16xf32> -> tensor<?x?x16x?xf32>
  %s = spd.matmul %q, %kt : tensor<?x?x?x16xf32>, tensor<?x?x16x?xf32> -> tensor<?x?x?x?xf32>
  %ss = spd.mul %s, %c : tensor<?x?x?x?xf32>, tensor<f32> -> tensor<?x?x?x?xf32>
  %p = spd.softmax %ss {axis = 3 : i64} : tensor<?x?x?x?xf32>
  %o = spd.matmul %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x16xf32> -> tensor<?x?x?x16xf32>
  return %o : tensor<?x?x?x16xf32>
}
