// RUN: spdc-opt %s -spd-recognize-norms -split-input-file -verify-diagnostics | FileCheck %s

// LLaMA, dynamo exporter: pow, reciprocal(sqrt), x * r, then * weight.
// CHECK-LABEL: func.func @rms_llama_dynamo
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>, %[[W:.*]]: tensor<4xf32>)
// CHECK: %[[N:.*]] = spd.rms_norm %[[X]], %[[W]] {axis = 2 : i64, epsilon = 9.99999997E-7 : f32} : (tensor<2x3x4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
// CHECK-NOT: spd.reduce_mean
// CHECK: return %[[N]]
func.func @rms_llama_dynamo(%x: tensor<2x3x4xf32>, %w: tensor<4xf32>) -> tensor<2x3x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %0 = spd.pow %x, %two : tensor<2x3x4xf32>, tensor<f32> -> tensor<2x3x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 2>} : tensor<2x3x4xf32> -> tensor<2x3x1xf32>
  %2 = spd.add %1, %eps : tensor<2x3x1xf32>, tensor<f32> -> tensor<2x3x1xf32>
  %3 = spd.sqrt %2 : tensor<2x3x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x3x1xf32>
  %5 = spd.mul %x, %4 : tensor<2x3x4xf32>, tensor<2x3x1xf32> -> tensor<2x3x4xf32>
  %6 = spd.mul %5, %w : tensor<2x3x4xf32>, tensor<4xf32> -> tensor<2x3x4xf32>
  return %6 : tensor<2x3x4xf32>
}

// -----

// LLaMA, TorchScript exporter: div(1, sqrt), the weight first.
// CHECK-LABEL: func.func @rms_llama_torchscript
// CHECK: %[[N:.*]] = spd.rms_norm %arg0, %arg1 {axis = 2 : i64, epsilon = 9.99999974E-6 : f32}
// CHECK-NOT: spd.div
// CHECK: return %[[N]]
func.func @rms_llama_torchscript(%x: tensor<2x3x4xf32>, %w: tensor<4xf32>) -> tensor<2x3x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-5> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %0 = spd.pow %x, %two : tensor<2x3x4xf32>, tensor<f32> -> tensor<2x3x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 2>} : tensor<2x3x4xf32> -> tensor<2x3x1xf32>
  %2 = spd.add %eps, %1 : tensor<f32>, tensor<2x3x1xf32> -> tensor<2x3x1xf32>
  %3 = spd.sqrt %2 : tensor<2x3x1xf32>
  %4 = spd.div %one, %3 : tensor<f32>, tensor<2x3x1xf32> -> tensor<2x3x1xf32>
  %5 = spd.mul %4, %x : tensor<2x3x1xf32>, tensor<2x3x4xf32> -> tensor<2x3x4xf32>
  %6 = spd.mul %w, %5 : tensor<4xf32>, tensor<2x3x4xf32> -> tensor<2x3x4xf32>
  return %6 : tensor<2x3x4xf32>
}

// -----

// x * x for the square, div(x, sqrt(...)), no weight.
// CHECK-LABEL: func.func @rms_div_no_weight
// CHECK: %[[N:.*]] = spd.rms_norm %arg0 {axis = 1 : i64, epsilon = 9.99999974E-6 : f32} : (tensor<3x8xf32>) -> tensor<3x8xf32>
// CHECK: return %[[N]]
func.func @rms_div_no_weight(%x: tensor<3x8xf32>) -> tensor<3x8xf32> {
  %eps = spd.constant dense<1.0e-5> : tensor<f32>
  %0 = spd.mul %x, %x : tensor<3x8xf32>, tensor<3x8xf32> -> tensor<3x8xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %2 = spd.add %1, %eps : tensor<3x1xf32>, tensor<f32> -> tensor<3x1xf32>
  %3 = spd.sqrt %2 : tensor<3x1xf32>
  %4 = spd.div %x, %3 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  return %4 : tensor<3x8xf32>
}

// -----

// pow(var + eps, -0.5) as the inverse square root; a [1, 1, 4] weight is reshaped to [4].
// CHECK-LABEL: func.func @rms_pow_rsqrt_3d_weight
// CHECK: %[[W:.*]] = spd.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>
// CHECK: %[[N:.*]] = spd.rms_norm %arg0, %[[W]] {axis = 2 : i64
// CHECK: return %[[N]]
func.func @rms_pow_rsqrt_3d_weight(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %half = spd.constant dense<-0.5> : tensor<f32>
  %w = spd.constant dense<[[[1.0, 2.0, 3.0, 4.0]]]> : tensor<1x1x4xf32>
  %0 = spd.pow %x, %two : tensor<2x3x4xf32>, tensor<f32> -> tensor<2x3x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 2>} : tensor<2x3x4xf32> -> tensor<2x3x1xf32>
  %2 = spd.add %1, %eps : tensor<2x3x1xf32>, tensor<f32> -> tensor<2x3x1xf32>
  %3 = spd.pow %2, %half : tensor<2x3x1xf32>, tensor<f32> -> tensor<2x3x1xf32>
  %4 = spd.mul %x, %3 : tensor<2x3x4xf32>, tensor<2x3x1xf32> -> tensor<2x3x4xf32>
  %5 = spd.mul %4, %w : tensor<2x3x4xf32>, tensor<1x1x4xf32> -> tensor<2x3x4xf32>
  return %5 : tensor<2x3x4xf32>
}

// -----

// LLaMA in fp16: cast to f32, normalize, cast back, then * the f16 weight. The round trip is
// folded: the norm reads the f16 input and yields f16.
// CHECK-LABEL: func.func @rms_llama_fp16
// CHECK-NOT: spd.cast
// CHECK: %[[N:.*]] = spd.rms_norm %arg0, %arg1 {axis = 2 : i64, epsilon = 9.99999997E-7 : f32} : (tensor<2x3x4xf16>, tensor<4xf16>) -> tensor<2x3x4xf16>
// CHECK: return %[[N]]
func.func @rms_llama_fp16(%x: tensor<2x3x4xf16>, %w: tensor<4xf16>) -> tensor<2x3x4xf16> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %xf = spd.cast %x : tensor<2x3x4xf16> -> tensor<2x3x4xf32>
  %0 = spd.pow %xf, %two : tensor<2x3x4xf32>, tensor<f32> -> tensor<2x3x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 2>} : tensor<2x3x4xf32> -> tensor<2x3x1xf32>
  %2 = spd.add %1, %eps : tensor<2x3x1xf32>, tensor<f32> -> tensor<2x3x1xf32>
  %3 = spd.sqrt %2 : tensor<2x3x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x3x1xf32>
  %5 = spd.mul %xf, %4 : tensor<2x3x4xf32>, tensor<2x3x1xf32> -> tensor<2x3x4xf32>
  %6 = spd.cast %5 : tensor<2x3x4xf32> -> tensor<2x3x4xf16>
  %7 = spd.mul %w, %6 : tensor<4xf16>, tensor<2x3x4xf16> -> tensor<2x3x4xf16>
  return %7 : tensor<2x3x4xf16>
}

// -----

// bf16 input normalized in f32 whose result stays f32: the cast is kept as the input.
// CHECK-LABEL: func.func @rms_bf16_result_f32
// CHECK: %[[C:.*]] = spd.cast %arg0
// CHECK: %[[N:.*]] = spd.rms_norm %[[C]], %arg1 {{.*}} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// CHECK: return %[[N]]
func.func @rms_bf16_result_f32(%x: tensor<2x4xbf16>, %w: tensor<4xf32>) -> tensor<2x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %xf = spd.cast %x : tensor<2x4xbf16> -> tensor<2x4xf32>
  %0 = spd.pow %xf, %two : tensor<2x4xf32>, tensor<f32> -> tensor<2x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x1xf32>
  %2 = spd.add %1, %eps : tensor<2x1xf32>, tensor<f32> -> tensor<2x1xf32>
  %3 = spd.sqrt %2 : tensor<2x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x1xf32>
  %5 = spd.mul %xf, %4 : tensor<2x4xf32>, tensor<2x1xf32> -> tensor<2x4xf32>
  %6 = spd.mul %5, %w : tensor<2x4xf32>, tensor<4xf32> -> tensor<2x4xf32>
  return %6 : tensor<2x4xf32>
}

// -----

// Gemma: (1 + w) with a constant w is folded into a new constant scale.
// CHECK-LABEL: func.func @rms_gemma_one_plus_constant
// CHECK: %[[S:.*]] = spd.constant dense<[1.000000e+00, 1.500000e+00, 2.000000e+00, 0.000000e+00]> : tensor<4xf32>
// CHECK: %[[N:.*]] = spd.rms_norm %arg0, %[[S]]
// CHECK-NOT: spd.add
// CHECK: return %[[N]]
func.func @rms_gemma_one_plus_constant(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %w = spd.constant dense<[0.0, 0.5, 1.0, -1.0]> : tensor<4xf32>
  %0 = spd.pow %x, %two : tensor<2x3x4xf32>, tensor<f32> -> tensor<2x3x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 2>} : tensor<2x3x4xf32> -> tensor<2x3x1xf32>
  %2 = spd.add %1, %eps : tensor<2x3x1xf32>, tensor<f32> -> tensor<2x3x1xf32>
  %3 = spd.sqrt %2 : tensor<2x3x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x3x1xf32>
  %5 = spd.mul %x, %4 : tensor<2x3x4xf32>, tensor<2x3x1xf32> -> tensor<2x3x4xf32>
  %ow = spd.add %one, %w : tensor<f32>, tensor<4xf32> -> tensor<4xf32>
  %6 = spd.mul %5, %ow : tensor<2x3x4xf32>, tensor<4xf32> -> tensor<2x3x4xf32>
  return %6 : tensor<2x3x4xf32>
}

// -----

// Gemma with a computed w: (1 + w) stays as the scale operand.
// CHECK-LABEL: func.func @rms_gemma_one_plus_computed
// CHECK: %[[S:.*]] = spd.add %arg1, %{{.*}} : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
// CHECK: %[[N:.*]] = spd.rms_norm %arg0, %[[S]]
// CHECK: return %[[N]]
func.func @rms_gemma_one_plus_computed(%x: tensor<2x3x4xf32>, %w: tensor<4xf32>) -> tensor<2x3x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %0 = spd.pow %x, %two : tensor<2x3x4xf32>, tensor<f32> -> tensor<2x3x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 2>} : tensor<2x3x4xf32> -> tensor<2x3x1xf32>
  %2 = spd.add %1, %eps : tensor<2x3x1xf32>, tensor<f32> -> tensor<2x3x1xf32>
  %3 = spd.sqrt %2 : tensor<2x3x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x3x1xf32>
  %5 = spd.mul %x, %4 : tensor<2x3x4xf32>, tensor<2x3x1xf32> -> tensor<2x3x4xf32>
  %ow = spd.add %w, %one : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
  %6 = spd.mul %ow, %5 : tensor<4xf32>, tensor<2x3x4xf32> -> tensor<2x3x4xf32>
  return %6 : tensor<2x3x4xf32>
}

// -----

// Gemma in fp16: x.float(), normalize, * (1 + w.float()), cast back; the f16 constant w is
// folded into an f32 scale and the casts disappear.
// CHECK-LABEL: func.func @rms_gemma_fp16
// CHECK: %[[S:.*]] = spd.constant dense<[1.000000e+00, 1.500000e+00, 2.000000e+00, 3.000000e+00]> : tensor<4xf32>
// CHECK: %[[N:.*]] = spd.rms_norm %arg0, %[[S]] {{.*}} : (tensor<2x4xf16>, tensor<4xf32>) -> tensor<2x4xf16>
// CHECK: return %[[N]]
func.func @rms_gemma_fp16(%x: tensor<2x4xf16>) -> tensor<2x4xf16> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %w = spd.constant dense<[0.0, 0.5, 1.0, 2.0]> : tensor<4xf16>
  %xf = spd.cast %x : tensor<2x4xf16> -> tensor<2x4xf32>
  %0 = spd.pow %xf, %two : tensor<2x4xf32>, tensor<f32> -> tensor<2x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x1xf32>
  %2 = spd.add %1, %eps : tensor<2x1xf32>, tensor<f32> -> tensor<2x1xf32>
  %3 = spd.sqrt %2 : tensor<2x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x1xf32>
  %5 = spd.mul %xf, %4 : tensor<2x4xf32>, tensor<2x1xf32> -> tensor<2x4xf32>
  %wf = spd.cast %w : tensor<4xf16> -> tensor<4xf32>
  %ow = spd.add %wf, %one : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
  %6 = spd.mul %5, %ow : tensor<2x4xf32>, tensor<4xf32> -> tensor<2x4xf32>
  %7 = spd.cast %6 : tensor<2x4xf32> -> tensor<2x4xf16>
  return %7 : tensor<2x4xf16>
}

// -----

// Qwen3's per-head q_norm: the last axis of a [batch, seq, heads, head_dim] tensor.
// CHECK-LABEL: func.func @rms_qwen3_head_norm
// CHECK: spd.rms_norm %arg0, %arg1 {axis = 3 : i64
func.func @rms_qwen3_head_norm(%x: tensor<2x5x4x8xf32>, %w: tensor<8xf32>) -> tensor<2x5x4x8xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %0 = spd.pow %x, %two : tensor<2x5x4x8xf32>, tensor<f32> -> tensor<2x5x4x8xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 3>} : tensor<2x5x4x8xf32> -> tensor<2x5x4x1xf32>
  %2 = spd.add %1, %eps : tensor<2x5x4x1xf32>, tensor<f32> -> tensor<2x5x4x1xf32>
  %3 = spd.sqrt %2 : tensor<2x5x4x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x5x4x1xf32>
  %5 = spd.mul %x, %4 : tensor<2x5x4x8xf32>, tensor<2x5x4x1xf32> -> tensor<2x5x4x8xf32>
  %6 = spd.mul %5, %w : tensor<2x5x4x8xf32>, tensor<8xf32> -> tensor<2x5x4x8xf32>
  return %6 : tensor<2x5x4x8xf32>
}

// -----

// Dynamic batch and sequence: the normalized dimension alone must be known.
// CHECK-LABEL: func.func @rms_dynamic_batch
// CHECK: spd.rms_norm %arg0, %arg1 {axis = 2 : i64{{.*}} : (tensor<?x?x4xf32>, tensor<4xf32>) -> tensor<?x?x4xf32>
func.func @rms_dynamic_batch(%x: tensor<?x?x4xf32>, %w: tensor<4xf32>) -> tensor<?x?x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %0 = spd.pow %x, %two : tensor<?x?x4xf32>, tensor<f32> -> tensor<?x?x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 2>} : tensor<?x?x4xf32> -> tensor<?x?x1xf32>
  %2 = spd.add %1, %eps : tensor<?x?x1xf32>, tensor<f32> -> tensor<?x?x1xf32>
  %3 = spd.sqrt %2 : tensor<?x?x1xf32>
  %4 = spd.reciprocal %3 : tensor<?x?x1xf32>
  %5 = spd.mul %x, %4 : tensor<?x?x4xf32>, tensor<?x?x1xf32> -> tensor<?x?x4xf32>
  %6 = spd.mul %5, %w : tensor<?x?x4xf32>, tensor<4xf32> -> tensor<?x?x4xf32>
  return %6 : tensor<?x?x4xf32>
}

// -----

// Near miss: the mean is over a leading axis.
// CHECK-LABEL: func.func @rms_mean_wrong_axis
// CHECK-NOT: spd.rms_norm
// CHECK: spd.reduce_mean
func.func @rms_mean_wrong_axis(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %0 = spd.pow %x, %two : tensor<2x3x4xf32>, tensor<f32> -> tensor<2x3x4xf32>
  // expected-remark @below {{spd-recognize-norms: the mean is over axes [1], not the trailing dimensions of a rank-3 tensor}}
  %1 = spd.reduce_mean %0 {axes = array<i64: 1>} : tensor<2x3x4xf32> -> tensor<2x1x4xf32>
  %2 = spd.add %1, %eps : tensor<2x1x4xf32>, tensor<f32> -> tensor<2x1x4xf32>
  %3 = spd.sqrt %2 : tensor<2x1x4xf32>
  %4 = spd.reciprocal %3 : tensor<2x1x4xf32>
  %5 = spd.mul %x, %4 : tensor<2x3x4xf32>, tensor<2x1x4xf32> -> tensor<2x3x4xf32>
  return %5 : tensor<2x3x4xf32>
}

// -----

// Near miss: epsilon is an input, not a constant.
// CHECK-LABEL: func.func @rms_epsilon_not_constant
// CHECK-NOT: spd.rms_norm
// CHECK: spd.reduce_mean
func.func @rms_epsilon_not_constant(%x: tensor<2x4xf32>, %eps: tensor<f32>) -> tensor<2x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %0 = spd.pow %x, %two : tensor<2x4xf32>, tensor<f32> -> tensor<2x4xf32>
  // expected-remark @below {{spd-recognize-norms: epsilon is not a constant}}
  %1 = spd.reduce_mean %0 {axes = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x1xf32>
  %2 = spd.add %1, %eps : tensor<2x1xf32>, tensor<f32> -> tensor<2x1xf32>
  %3 = spd.sqrt %2 : tensor<2x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x1xf32>
  %5 = spd.mul %x, %4 : tensor<2x4xf32>, tensor<2x1xf32> -> tensor<2x4xf32>
  return %5 : tensor<2x4xf32>
}

// -----

// Near miss: epsilon of a larger shape broadcasts the whole product past x's shape.
// CHECK-LABEL: func.func @rms_broadcasts_x
// CHECK-NOT: spd.rms_norm
// CHECK: spd.reduce_mean
func.func @rms_broadcasts_x(%x: tensor<2x4xf32>) -> tensor<3x2x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<3x1x1xf32>
  %0 = spd.pow %x, %two : tensor<2x4xf32>, tensor<f32> -> tensor<2x4xf32>
  // expected-remark @below {{spd-recognize-norms: x * rsqrt(mean(x^2) + eps) broadcasts x to another shape}}
  %1 = spd.reduce_mean %0 {axes = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x1xf32>
  %2 = spd.add %1, %eps : tensor<2x1xf32>, tensor<3x1x1xf32> -> tensor<3x2x1xf32>
  %3 = spd.sqrt %2 : tensor<3x2x1xf32>
  %4 = spd.reciprocal %3 : tensor<3x2x1xf32>
  %5 = spd.mul %x, %4 : tensor<2x4xf32>, tensor<3x2x1xf32> -> tensor<3x2x4xf32>
  return %5 : tensor<3x2x4xf32>
}

// -----

// Near miss: a constant weight over the sequence, not the normalized dimension.
// CHECK-LABEL: func.func @rms_weight_does_not_broadcast
// CHECK-NOT: spd.rms_norm
// CHECK: spd.reduce_mean
func.func @rms_weight_does_not_broadcast(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %w = spd.constant dense<[[1.0], [2.0], [3.0]]> : tensor<3x1xf32>
  %0 = spd.pow %x, %two : tensor<2x3x4xf32>, tensor<f32> -> tensor<2x3x4xf32>
  // expected-remark @below {{spd-recognize-norms: the weight of type tensor<3x1xf32> does not broadcast to the normalized dimensions}}
  %1 = spd.reduce_mean %0 {axes = array<i64: 2>} : tensor<2x3x4xf32> -> tensor<2x3x1xf32>
  %2 = spd.add %1, %eps : tensor<2x3x1xf32>, tensor<f32> -> tensor<2x3x1xf32>
  %3 = spd.sqrt %2 : tensor<2x3x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x3x1xf32>
  %5 = spd.mul %x, %4 : tensor<2x3x4xf32>, tensor<2x3x1xf32> -> tensor<2x3x4xf32>
  %6 = spd.mul %5, %w : tensor<2x3x4xf32>, tensor<3x1xf32> -> tensor<2x3x4xf32>
  return %6 : tensor<2x3x4xf32>
}

// -----

// Not a norm at all (a mean of squares used elsewhere): no rewrite and no remark.
// CHECK-LABEL: func.func @mean_square_only
// CHECK: spd.reduce_mean
func.func @mean_square_only(%x: tensor<2x4xf32>) -> tensor<2x1xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %0 = spd.pow %x, %two : tensor<2x4xf32>, tensor<f32> -> tensor<2x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x1xf32>
  return %1 : tensor<2x1xf32>
}

// -----

// LayerNorm decomposed as torch.onnx writes it below opset 17: sub, pow, div by sqrt,
// * gamma + beta.
// CHECK-LABEL: func.func @layer_norm_pow_div
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>, %[[G:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<4xf32>)
// CHECK: %[[N:.*]] = spd.layer_norm %[[X]], %[[G]], %[[B]] {axis = 2 : i64, epsilon = 9.99999974E-6 : f32} : (tensor<2x3x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
// CHECK-NOT: spd.reduce_mean
// CHECK: return %[[N]]
func.func @layer_norm_pow_div(%x: tensor<2x3x4xf32>, %g: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<2x3x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-5> : tensor<f32>
  %0 = spd.reduce_mean %x {axes = array<i64: 2>} : tensor<2x3x4xf32> -> tensor<2x3x1xf32>
  %1 = spd.sub %x, %0 : tensor<2x3x4xf32>, tensor<2x3x1xf32> -> tensor<2x3x4xf32>
  %2 = spd.pow %1, %two : tensor<2x3x4xf32>, tensor<f32> -> tensor<2x3x4xf32>
  %3 = spd.reduce_mean %2 {axes = array<i64: 2>} : tensor<2x3x4xf32> -> tensor<2x3x1xf32>
  %4 = spd.add %3, %eps : tensor<2x3x1xf32>, tensor<f32> -> tensor<2x3x1xf32>
  %5 = spd.sqrt %4 : tensor<2x3x1xf32>
  %6 = spd.div %1, %5 : tensor<2x3x4xf32>, tensor<2x3x1xf32> -> tensor<2x3x4xf32>
  %7 = spd.mul %6, %g : tensor<2x3x4xf32>, tensor<4xf32> -> tensor<2x3x4xf32>
  %8 = spd.add %7, %b : tensor<2x3x4xf32>, tensor<4xf32> -> tensor<2x3x4xf32>
  return %8 : tensor<2x3x4xf32>
}

// -----

// LayerNorm with d * d, reciprocal(sqrt), the parameters first, and (x - mean) written twice
// (before CSE).
// CHECK-LABEL: func.func @layer_norm_mul_reciprocal
// CHECK: %[[N:.*]] = spd.layer_norm %arg0, %arg1, %arg2 {axis = 1 : i64
// CHECK: return %[[N]]
func.func @layer_norm_mul_reciprocal(%x: tensor<3x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<3x8xf32> {
  %eps = spd.constant dense<1.0e-12> : tensor<f32>
  %0 = spd.reduce_mean %x {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %1 = spd.sub %x, %0 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  %2 = spd.mul %1, %1 : tensor<3x8xf32>, tensor<3x8xf32> -> tensor<3x8xf32>
  %3 = spd.reduce_mean %2 {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %4 = spd.add %eps, %3 : tensor<f32>, tensor<3x1xf32> -> tensor<3x1xf32>
  %5 = spd.sqrt %4 : tensor<3x1xf32>
  %6 = spd.reciprocal %5 : tensor<3x1xf32>
  %d = spd.sub %x, %0 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  %7 = spd.mul %d, %6 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  %8 = spd.mul %g, %7 : tensor<8xf32>, tensor<3x8xf32> -> tensor<3x8xf32>
  %9 = spd.add %b, %8 : tensor<8xf32>, tensor<3x8xf32> -> tensor<3x8xf32>
  return %9 : tensor<3x8xf32>
}

// -----

// LayerNorm without affine parameters: a scale of ones is made.
// CHECK-LABEL: func.func @layer_norm_no_affine
// CHECK: %[[ONES:.*]] = spd.constant dense<1.000000e+00> : tensor<8xf32>
// CHECK: %[[N:.*]] = spd.layer_norm %arg0, %[[ONES]] {axis = 1 : i64
// CHECK: return %[[N]]
func.func @layer_norm_no_affine(%x: tensor<3x8xf32>) -> tensor<3x8xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-5> : tensor<f32>
  %0 = spd.reduce_mean %x {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %1 = spd.sub %x, %0 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  %2 = spd.pow %1, %two : tensor<3x8xf32>, tensor<f32> -> tensor<3x8xf32>
  %3 = spd.reduce_mean %2 {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %4 = spd.add %3, %eps : tensor<3x1xf32>, tensor<f32> -> tensor<3x1xf32>
  %5 = spd.sqrt %4 : tensor<3x1xf32>
  %6 = spd.div %1, %5 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  return %6 : tensor<3x8xf32>
}

// -----

// LayerNorm in fp16 computed in f32: the casts fold into the op.
// CHECK-LABEL: func.func @layer_norm_fp16
// CHECK: %[[N:.*]] = spd.layer_norm %arg0, %arg1, %arg2 {{.*}} : (tensor<3x8xf16>, tensor<8xf32>, tensor<8xf32>) -> tensor<3x8xf16>
// CHECK: return %[[N]]
func.func @layer_norm_fp16(%x: tensor<3x8xf16>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<3x8xf16> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-5> : tensor<f32>
  %xf = spd.cast %x : tensor<3x8xf16> -> tensor<3x8xf32>
  %0 = spd.reduce_mean %xf {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %1 = spd.sub %xf, %0 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  %2 = spd.pow %1, %two : tensor<3x8xf32>, tensor<f32> -> tensor<3x8xf32>
  %3 = spd.reduce_mean %2 {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %4 = spd.add %3, %eps : tensor<3x1xf32>, tensor<f32> -> tensor<3x1xf32>
  %5 = spd.sqrt %4 : tensor<3x1xf32>
  %6 = spd.div %1, %5 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  %7 = spd.mul %6, %g : tensor<3x8xf32>, tensor<8xf32> -> tensor<3x8xf32>
  %8 = spd.add %7, %b : tensor<3x8xf32>, tensor<8xf32> -> tensor<3x8xf32>
  %9 = spd.cast %8 : tensor<3x8xf32> -> tensor<3x8xf16>
  return %9 : tensor<3x8xf16>
}

// -----

// A residual add after the norm is not its bias.
// CHECK-LABEL: func.func @layer_norm_then_residual
// CHECK: %[[N:.*]] = spd.layer_norm %arg0, %arg1 {axis = 1 : i64
// CHECK: %[[R:.*]] = spd.add %[[N]], %arg0
// CHECK: return %[[R]]
func.func @layer_norm_then_residual(%x: tensor<3x8xf32>, %g: tensor<8xf32>) -> tensor<3x8xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-5> : tensor<f32>
  %0 = spd.reduce_mean %x {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %1 = spd.sub %x, %0 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  %2 = spd.pow %1, %two : tensor<3x8xf32>, tensor<f32> -> tensor<3x8xf32>
  %3 = spd.reduce_mean %2 {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %4 = spd.add %3, %eps : tensor<3x1xf32>, tensor<f32> -> tensor<3x1xf32>
  %5 = spd.sqrt %4 : tensor<3x1xf32>
  %6 = spd.div %1, %5 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  %7 = spd.mul %6, %g : tensor<3x8xf32>, tensor<8xf32> -> tensor<3x8xf32>
  %8 = spd.add %7, %x : tensor<3x8xf32>, tensor<3x8xf32> -> tensor<3x8xf32>
  return %8 : tensor<3x8xf32>
}

// -----

// Near miss: LayerNorm whose mean is over the batch axis.
// CHECK-LABEL: func.func @layer_norm_wrong_axis
// CHECK-NOT: spd.layer_norm
// CHECK-NOT: spd.rms_norm
func.func @layer_norm_wrong_axis(%x: tensor<3x8xf32>) -> tensor<3x8xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-5> : tensor<f32>
  // expected-remark @below {{spd-recognize-norms: the mean is over axes [0], not the trailing dimensions of a rank-2 tensor}}
  %0 = spd.reduce_mean %x {axes = array<i64: 0>} : tensor<3x8xf32> -> tensor<1x8xf32>
  %1 = spd.sub %x, %0 : tensor<3x8xf32>, tensor<1x8xf32> -> tensor<3x8xf32>
  %2 = spd.pow %1, %two : tensor<3x8xf32>, tensor<f32> -> tensor<3x8xf32>
  %3 = spd.reduce_mean %2 {axes = array<i64: 0>} : tensor<3x8xf32> -> tensor<1x8xf32>
  %4 = spd.add %3, %eps : tensor<1x8xf32>, tensor<f32> -> tensor<1x8xf32>
  %5 = spd.sqrt %4 : tensor<1x8xf32>
  %6 = spd.div %1, %5 : tensor<3x8xf32>, tensor<1x8xf32> -> tensor<3x8xf32>
  return %6 : tensor<3x8xf32>
}

// -----

// Near miss: the variance's epsilon is an input.
// CHECK-LABEL: func.func @layer_norm_epsilon_not_constant
// CHECK-NOT: spd.layer_norm
func.func @layer_norm_epsilon_not_constant(%x: tensor<3x8xf32>, %eps: tensor<f32>) -> tensor<3x8xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  // expected-remark @below {{spd-recognize-norms: epsilon is not a constant}}
  %0 = spd.reduce_mean %x {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %1 = spd.sub %x, %0 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  %2 = spd.pow %1, %two : tensor<3x8xf32>, tensor<f32> -> tensor<3x8xf32>
  %3 = spd.reduce_mean %2 {axes = array<i64: 1>} : tensor<3x8xf32> -> tensor<3x1xf32>
  %4 = spd.add %3, %eps : tensor<3x1xf32>, tensor<f32> -> tensor<3x1xf32>
  %5 = spd.sqrt %4 : tensor<3x1xf32>
  %6 = spd.div %1, %5 : tensor<3x8xf32>, tensor<3x1xf32> -> tensor<3x8xf32>
  return %6 : tensor<3x8xf32>
}

// -----

// Gemma with its weight as a resource (as the importer stores weights): the folded (1 + w)
// is a new resource blob, not an inline constant.
// CHECK-LABEL: func.func @rms_gemma_resource_weight
// CHECK: %[[S:.*]] = spd.constant dense_resource<w_plus_one> : tensor<4xf32>
// CHECK: %[[N:.*]] = spd.rms_norm %arg0, %[[S]]
// CHECK: return %[[N]]
// CHECK: w_plus_one: "0x040000000000803F0000C03F0000004000000000"
func.func @rms_gemma_resource_weight(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %two = spd.constant dense<2.0> : tensor<f32>
  %eps = spd.constant dense<1.0e-6> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %w = spd.constant dense_resource<w> : tensor<4xf32>
  %0 = spd.pow %x, %two : tensor<2x4xf32>, tensor<f32> -> tensor<2x4xf32>
  %1 = spd.reduce_mean %0 {axes = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x1xf32>
  %2 = spd.add %1, %eps : tensor<2x1xf32>, tensor<f32> -> tensor<2x1xf32>
  %3 = spd.sqrt %2 : tensor<2x1xf32>
  %4 = spd.reciprocal %3 : tensor<2x1xf32>
  %5 = spd.mul %x, %4 : tensor<2x4xf32>, tensor<2x1xf32> -> tensor<2x4xf32>
  %ow = spd.add %one, %w : tensor<f32>, tensor<4xf32> -> tensor<4xf32>
  %6 = spd.mul %5, %ow : tensor<2x4xf32>, tensor<4xf32> -> tensor<2x4xf32>
  return %6 : tensor<2x4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x04000000000000000000003F0000803F000080BF"
    }
  }
#-}
