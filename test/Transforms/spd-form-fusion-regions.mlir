// RUN: spdc-opt %s -spd-form-fusion-regions -split-input-file | FileCheck %s
// RUN: spdc-opt %s -spd-form-fusion-regions -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK

// An elementwise chain (add, mul by a splat, gelu, cast) becomes one region; the splat
// constant is cloned into it, the weight-like operand stays an operand.
// CHECK-LABEL: func.func @elementwise_chain
//  CHECK-SAME: (%[[A:.*]]: tensor<4x8xf32>, %[[B:.*]]: tensor<8xf32>)
//       CHECK:   %[[R:.*]] = spd.fusion "elementwise"(%[[A]], %[[B]]) : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf16> {
//  CHECK-NEXT:   ^bb0(%[[X:.*]]: tensor<4x8xf32>, %[[Y:.*]]: tensor<8xf32>):
//  CHECK-NEXT:     %[[S:.*]] = spd.add %[[X]], %[[Y]]
//  CHECK-NEXT:     %[[C:.*]] = spd.constant dense<5.000000e-01>
//  CHECK-NEXT:     %[[M:.*]] = spd.mul %[[S]], %[[C]]
//  CHECK-NEXT:     %[[G:.*]] = spd.gelu %[[M]]
//  CHECK-NEXT:     %[[H:.*]] = spd.cast %[[G]]
//  CHECK-NEXT:     spd.yield %[[H]] : tensor<4x8xf16>
//  CHECK-NEXT:   }
//  CHECK-NEXT:   return %[[R]]
func.func @elementwise_chain(%a: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf16> {
  %half = spd.constant dense<0.5> : tensor<f32>
  %0 = spd.add %a, %b : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  %1 = spd.mul %0, %half : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>
  %2 = spd.gelu %1 : tensor<4x8xf32>
  %3 = spd.cast %2 : tensor<4x8xf32> -> tensor<4x8xf16>
  return %3 : tensor<4x8xf16>
}

// -----

// The residual add before a norm joins the norm's region; the sum is also the next residual,
// so the region yields it next to the normalized value.
// CHECK-LABEL: func.func @norm_with_residual
//       CHECK:   %[[R:.*]]:2 = spd.fusion "reduction"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<8xf32>) -> (tensor<2x4x8xf32>, tensor<2x4x8xf32>) {
//       CHECK:     %[[S:.*]] = spd.add
//  CHECK-NEXT:     %[[N:.*]] = spd.rms_norm %[[S]]
//  CHECK-NEXT:     spd.yield %[[S]], %[[N]]
//       CHECK:   return %[[R]]#0, %[[R]]#1
func.func @norm_with_residual(%x: tensor<2x4x8xf32>, %r: tensor<2x4x8xf32>, %w: tensor<8xf32>)
    -> (tensor<2x4x8xf32>, tensor<2x4x8xf32>) {
  %0 = spd.add %x, %r : tensor<2x4x8xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
  %1 = spd.rms_norm %0, %w {axis = 2 : i64, epsilon = 1.0e-6 : f32}
      : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  return %0, %1 : tensor<2x4x8xf32>, tensor<2x4x8xf32>
}

// -----

// A decomposed norm: both reductions iterate the rows [2, 4], so the mean, the variance and
// the per-row scalars broadcast within the row all share one region.
// CHECK-LABEL: func.func @decomposed_layer_norm
//       CHECK:   spd.fusion "reduction"
//       CHECK:     spd.reduce_mean
//       CHECK:     spd.sub
//       CHECK:     spd.reduce_mean
//       CHECK:     spd.div
//       CHECK:     spd.yield
//   CHECK-NOT:   spd.fusion
func.func @decomposed_layer_norm(%x: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  %eps = spd.constant dense<1.0e-5> : tensor<f32>
  %0 = spd.reduce_mean %x {axes = array<i64: 2>} : tensor<2x4x8xf32> -> tensor<2x4x1xf32>
  %1 = spd.sub %x, %0 : tensor<2x4x8xf32>, tensor<2x4x1xf32> -> tensor<2x4x8xf32>
  %2 = spd.mul %1, %1 : tensor<2x4x8xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
  %3 = spd.reduce_mean %2 {axes = array<i64: 2>} : tensor<2x4x8xf32> -> tensor<2x4x1xf32>
  %4 = spd.add %3, %eps : tensor<2x4x1xf32>, tensor<f32> -> tensor<2x4x1xf32>
  %5 = spd.sqrt %4 : tensor<2x4x1xf32>
  %6 = spd.div %1, %5 : tensor<2x4x8xf32>, tensor<2x4x1xf32> -> tensor<2x4x8xf32>
  return %6 : tensor<2x4x8xf32>
}

// -----

// A matmul keeps its epilogue: bias add and GELU; the matmul is the region's first op and the
// weight (a resource) and the bias are operands.
// CHECK-LABEL: func.func @matmul_bias_gelu
//       CHECK:   %[[W:.*]] = spd.constant dense_resource<w>
//       CHECK:   %[[R:.*]] = spd.fusion "matmul_epilogue"(%{{.*}}, %[[W]], %{{.*}}) : (tensor<2x4x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<2x4x16xf32> {
//  CHECK-NEXT:   ^bb0
//  CHECK-NEXT:     spd.matmul
//  CHECK-NEXT:     spd.add
//  CHECK-NEXT:     spd.gelu
//  CHECK-NEXT:     spd.yield
//       CHECK:   return %[[R]]
func.func @matmul_bias_gelu(%x: tensor<2x4x8xf32>, %b: tensor<16xf32>) -> tensor<2x4x16xf32> {
  %w = spd.constant dense_resource<w> : tensor<8x16xf32>
  %0 = spd.matmul %x, %w : tensor<2x4x8xf32>, tensor<8x16xf32> -> tensor<2x4x16xf32>
  %1 = spd.add %0, %b : tensor<2x4x16xf32>, tensor<16xf32> -> tensor<2x4x16xf32>
  %2 = spd.gelu %1 : tensor<2x4x16xf32>
  return %2 : tensor<2x4x16xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x04000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE0000403F00000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE0000403F00000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE0000403F00000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE0000403F00000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE0000403F00000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE0000403F00000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE0000403F00000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE0000403F00000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE0000403F00000000000040BF0000003E000020BF0000803E000000BF0000C03E0000C0BE0000003F000080BE0000203F000000BE"
    }
  }
#-}

// -----

// A value used by two regions: an expensive one (the softmax) is computed once in its region
// and becomes that region's output, read by both matmuls (R8).
// CHECK-LABEL: func.func @expensive_value_used_by_two_regions
//       CHECK:   %[[SM:.*]] = spd.fusion "reduction"
//  CHECK-NEXT:   ^bb0
//  CHECK-NEXT:     spd.exp
//  CHECK-NEXT:     spd.softmax
//  CHECK-NEXT:     spd.yield
//       CHECK:   spd.fusion "matmul_epilogue"(%[[SM]]
//       CHECK:   spd.fusion "matmul_epilogue"(%[[SM]]
//   CHECK-NOT:   spd.softmax
func.func @expensive_value_used_by_two_regions(%s: tensor<4x4xf32>, %w: tensor<4x8xf32>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = spd.exp %s : tensor<4x4xf32>
  %1 = spd.softmax %0 {axis = 1 : i64} : tensor<4x4xf32>
  %2 = spd.matmul %1, %w : tensor<4x4xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %3 = spd.relu %2 : tensor<4x8xf32>
  %4 = spd.matmul %1, %w : tensor<4x4xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %5 = spd.tanh %4 : tensor<4x8xf32>
  return %3, %5 : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A cheap op (the mask's unsqueeze) used by two attention regions is cloned into both, which
// removes its kernel; the original is gone (R8).
// CHECK-LABEL: func.func @cheap_value_cloned_into_two_regions
//   CHECK-NOT:   spd.unsqueeze
//       CHECK:   spd.fusion "attention"
//  CHECK-NEXT:   ^bb0
//  CHECK-NEXT:     spd.unsqueeze
//  CHECK-NEXT:     spd.attention
//       CHECK:   spd.fusion "attention"
//  CHECK-NEXT:   ^bb0
//  CHECK-NEXT:     spd.unsqueeze
//  CHECK-NEXT:     spd.attention
//   CHECK-NOT:   spd.unsqueeze
func.func @cheap_value_cloned_into_two_regions(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>,
    %v: tensor<1x2x8x4xf32>, %mask: tensor<1x8x8xi1>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) {
  %m = spd.unsqueeze %mask {axes = array<i64: 1>} : tensor<1x8x8xi1> -> tensor<1x1x8x8xi1>
  %a = spd.attention %q, %k, %v mask(%m : tensor<1x1x8x8xi1>) {scale = 0.5 : f32}
      : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x8x4xf32>
  %b = spd.attention %a, %k, %v mask(%m : tensor<1x1x8x8xi1>) {scale = 0.5 : f32}
      : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x8x4xf32>
  return %a, %b : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>
}

// -----

// A value computed on [8] is not recomputed for each of the 4 rows of a [4, 8] region: the
// exp stays alone (R2), the add and the relu form the region.
// CHECK-LABEL: func.func @no_broadcast_recompute
//       CHECK:   %[[E:.*]] = spd.exp
//       CHECK:   spd.fusion "elementwise"(%{{.*}}, %[[E]])
//       CHECK:     spd.add
//       CHECK:     spd.relu
// REMARK: remark: spd-form-fusion-regions: cannot join the elementwise region of 'spd.add': would recompute a broadcast value
func.func @no_broadcast_recompute(%x: tensor<4x8xf32>, %v: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = spd.exp %v : tensor<8xf32>
  %1 = spd.add %x, %0 : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  %2 = spd.relu %1 : tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}

// -----

// Fusing the exp with the add would form a cycle through the column sum (a reduction over a
// non-trailing axis, which stays alone): nothing fuses.
// CHECK-LABEL: func.func @would_create_cycle
//   CHECK-NOT:   spd.fusion
// REMARK: remark: spd-form-fusion-regions: cannot join the elementwise region of 'spd.add': would create a cycle between regions
// REMARK: remark: spd-form-fusion-regions: reduces over non-trailing axes or over all axes; it stays alone
// REMARK: remark: spd-form-fusion-regions: cannot join the elementwise region of 'spd.exp': would create a cycle between regions
func.func @would_create_cycle(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = spd.exp %x : tensor<4x8xf32>
  %1 = spd.reduce_sum %0 {axes = array<i64: 0>} : tensor<4x8xf32> -> tensor<1x8xf32>
  %2 = spd.add %0, %1 : tensor<4x8xf32>, tensor<1x8xf32> -> tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}

// -----

// Nothing joins before a matmul, and a norm over other rows does not take an elementwise op
// of another shape: single ops stay unfused.
// CHECK-LABEL: func.func @must_not_fuse
//   CHECK-NOT:   spd.fusion
// REMARK: remark: spd-form-fusion-regions: cannot join the matmul_epilogue region of 'spd.matmul': a matmul is the first op of its region
func.func @must_not_fuse(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %0 = spd.tanh %x : tensor<4x8xf32>
  %1 = spd.matmul %0, %w : tensor<4x8xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// Attention keeps its prologue: rope on Q and K and the transposes feeding it, and the
// transpose back of its output, in one "attention" region.
// CHECK-LABEL: func.func @attention_prologue
//       CHECK:   %[[R:.*]] = spd.fusion "attention"
//       CHECK:     spd.transpose
//       CHECK:     spd.rope
//       CHECK:     spd.transpose
//       CHECK:     spd.rope
//       CHECK:     spd.transpose
//       CHECK:     spd.attention
//       CHECK:     spd.transpose
//       CHECK:     spd.yield
//  CHECK-NEXT:   }
//  CHECK-NEXT:   return %[[R]]
func.func @attention_prologue(%q: tensor<1x8x2x4xf32>, %k: tensor<1x8x2x4xf32>, %v: tensor<1x8x2x4xf32>,
                              %cos: tensor<1x1x8x4xf32>, %sin: tensor<1x1x8x4xf32>) -> tensor<1x8x2x4xf32> {
  %qt = spd.transpose %q {perm = array<i64: 0, 2, 1, 3>} : tensor<1x8x2x4xf32> -> tensor<1x2x8x4xf32>
  %qr = spd.rope %qt, %cos, %sin {rotary_dim = 4 : i64}
      : (tensor<1x2x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x8x4xf32>
  %kt = spd.transpose %k {perm = array<i64: 0, 2, 1, 3>} : tensor<1x8x2x4xf32> -> tensor<1x2x8x4xf32>
  %kr = spd.rope %kt, %cos, %sin {rotary_dim = 4 : i64}
      : (tensor<1x2x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x8x4xf32>
  %vt = spd.transpose %v {perm = array<i64: 0, 2, 1, 3>} : tensor<1x8x2x4xf32> -> tensor<1x2x8x4xf32>
  %a = spd.attention %qr, %kr, %vt {scale = 0.5 : f32, causal = true}
      : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x8x4xf32>
  %o = spd.transpose %a {perm = array<i64: 0, 2, 1, 3>} : tensor<1x2x8x4xf32> -> tensor<1x8x2x4xf32>
  return %o : tensor<1x8x2x4xf32>
}
