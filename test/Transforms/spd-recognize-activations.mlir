// RUN: spdc-opt %s -spd-recognize-activations -split-input-file -verify-diagnostics | FileCheck %s

// GELU, erf form as the TorchScript exporter writes BERT's: x / 1.41421, (x * (1 + erf)) * 0.5.
// CHECK-LABEL: func.func @gelu_erf_torchscript
// CHECK: %[[G:.*]] = spd.gelu %arg0 : tensor<2x8xf32>
// CHECK-NOT: spd.erf
// CHECK: return %[[G]]
func.func @gelu_erf_torchscript(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %sqrt2 = spd.constant dense<1.41421354> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %half = spd.constant dense<0.5> : tensor<f32>
  %0 = spd.div %x, %sqrt2 : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %1 = spd.erf %0 : tensor<2x8xf32>
  %2 = spd.add %1, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %3 = spd.mul %x, %2 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %4 = spd.mul %3, %half : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  return %4 : tensor<2x8xf32>
}

// -----

// GELU, erf form as the dynamo exporter writes it: x * ((1 + erf) * 0.5).
// CHECK-LABEL: func.func @gelu_erf_dynamo
// CHECK: %[[G:.*]] = spd.gelu %arg0 : tensor<2x8xf32>
// CHECK: return %[[G]]
func.func @gelu_erf_dynamo(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %sqrt2 = spd.constant dense<1.41421354> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %half = spd.constant dense<0.5> : tensor<f32>
  %0 = spd.div %x, %sqrt2 : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %1 = spd.erf %0 : tensor<2x8xf32>
  %2 = spd.add %1, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %3 = spd.mul %2, %half : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %4 = spd.mul %x, %3 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %4 : tensor<2x8xf32>
}

// -----

// GELU, erf form: 0.5 * x first, x * 0.70710 (5 digits), 1 + erf with the constant first.
// CHECK-LABEL: func.func @gelu_erf_half_x_first
// CHECK: %[[G:.*]] = spd.gelu %arg0 : tensor<2x8xf32>
// CHECK: return %[[G]]
func.func @gelu_erf_half_x_first(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %rsqrt2 = spd.constant dense<0.70710> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %half = spd.constant dense<0.5> : tensor<f32>
  %hx = spd.mul %half, %x : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %0 = spd.mul %rsqrt2, %x : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %1 = spd.erf %0 : tensor<2x8xf32>
  %2 = spd.add %one, %1 : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %3 = spd.mul %hx, %2 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %3 : tensor<2x8xf32>
}

// -----

// GELU, erf form divided by 2 at the end, in f16 (the constants as f16 holds them).
// CHECK-LABEL: func.func @gelu_erf_f16_div_two
// CHECK: %[[G:.*]] = spd.gelu %arg0 : tensor<2x8xf16>
// CHECK: return %[[G]]
func.func @gelu_erf_f16_div_two(%x: tensor<2x8xf16>) -> tensor<2x8xf16> {
  %rsqrt2 = spd.constant dense<0.7071> : tensor<f16>
  %one = spd.constant dense<1.0> : tensor<f16>
  %two = spd.constant dense<2.0> : tensor<f16>
  %0 = spd.mul %x, %rsqrt2 : tensor<2x8xf16>, tensor<f16> -> tensor<2x8xf16>
  %1 = spd.erf %0 : tensor<2x8xf16>
  %2 = spd.add %1, %one : tensor<2x8xf16>, tensor<f16> -> tensor<2x8xf16>
  %3 = spd.mul %2, %x : tensor<2x8xf16>, tensor<2x8xf16> -> tensor<2x8xf16>
  %4 = spd.div %3, %two : tensor<2x8xf16>, tensor<f16> -> tensor<2x8xf16>
  return %4 : tensor<2x8xf16>
}

// -----

// GELU, tanh form: GPT-2's NewGELU (0.5 * x first, pow(x, 3)).
// CHECK-LABEL: func.func @gelu_tanh_gpt2
// CHECK: %[[G:.*]] = spd.gelu %arg0 {approximate = "tanh"} : tensor<2x8xf32>
// CHECK-NOT: spd.tanh
// CHECK: return %[[G]]
func.func @gelu_tanh_gpt2(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %half = spd.constant dense<0.5> : tensor<f32>
  %three = spd.constant dense<3.0> : tensor<f32>
  %c = spd.constant dense<0.044715> : tensor<f32>
  %k = spd.constant dense<0.797884583> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %0 = spd.mul %x, %half : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %1 = spd.pow %x, %three : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %2 = spd.mul %1, %c : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %3 = spd.add %x, %2 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %4 = spd.mul %3, %k : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %5 = spd.tanh %4 : tensor<2x8xf32>
  %6 = spd.add %5, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %7 = spd.mul %0, %6 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %7 : tensor<2x8xf32>
}

// -----

// GELU, tanh form as gelu(approximate="tanh") exports (Gemma): x * ((1 + tanh) * 0.5).
// CHECK-LABEL: func.func @gelu_tanh_gemma
// CHECK: %[[G:.*]] = spd.gelu %arg0 {approximate = "tanh"} : tensor<2x8xf32>
// CHECK: return %[[G]]
func.func @gelu_tanh_gemma(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %half = spd.constant dense<0.5> : tensor<f32>
  %three = spd.constant dense<3.0> : tensor<f32>
  %c = spd.constant dense<0.044715> : tensor<f32>
  %k = spd.constant dense<0.797884583> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %1 = spd.pow %x, %three : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %2 = spd.mul %1, %c : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %3 = spd.add %x, %2 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %4 = spd.mul %3, %k : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %5 = spd.tanh %4 : tensor<2x8xf32>
  %6 = spd.add %5, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %7 = spd.mul %6, %half : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %8 = spd.mul %x, %7 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %8 : tensor<2x8xf32>
}

// -----

// GELU, tanh form with x * x * x and the scale distributed over the sum
// (0.7978845608 * x + 0.0356774 * x^3), as a constant folder leaves it.
// CHECK-LABEL: func.func @gelu_tanh_folded
// CHECK: %[[G:.*]] = spd.gelu %arg0 {approximate = "tanh"} : tensor<2x8xf32>
// CHECK: return %[[G]]
func.func @gelu_tanh_folded(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %half = spd.constant dense<0.5> : tensor<f32>
  %k = spd.constant dense<0.7978845608> : tensor<f32>
  %kc = spd.constant dense<0.0356774081> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %sq = spd.mul %x, %x : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %cube = spd.mul %sq, %x : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %0 = spd.mul %k, %x : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %1 = spd.mul %cube, %kc : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %2 = spd.add %0, %1 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %3 = spd.tanh %2 : tensor<2x8xf32>
  %4 = spd.add %3, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %5 = spd.mul %4, %x : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %6 = spd.mul %half, %5 : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %6 : tensor<2x8xf32>
}

// -----

// GELU, tanh form factored as x * (1 + 0.044715 * x * x), in f16.
// CHECK-LABEL: func.func @gelu_tanh_factored_f16
// CHECK: %[[G:.*]] = spd.gelu %arg0 {approximate = "tanh"} : tensor<2x8xf16>
// CHECK: return %[[G]]
func.func @gelu_tanh_factored_f16(%x: tensor<2x8xf16>) -> tensor<2x8xf16> {
  %half = spd.constant dense<0.5> : tensor<f16>
  %c = spd.constant dense<0.044715> : tensor<f16>
  %k = spd.constant dense<0.79788> : tensor<f16>
  %one = spd.constant dense<1.0> : tensor<f16>
  %sq = spd.mul %x, %x : tensor<2x8xf16>, tensor<2x8xf16> -> tensor<2x8xf16>
  %0 = spd.mul %c, %sq : tensor<f16>, tensor<2x8xf16> -> tensor<2x8xf16>
  %1 = spd.add %one, %0 : tensor<f16>, tensor<2x8xf16> -> tensor<2x8xf16>
  %2 = spd.mul %x, %1 : tensor<2x8xf16>, tensor<2x8xf16> -> tensor<2x8xf16>
  %3 = spd.mul %2, %k : tensor<2x8xf16>, tensor<f16> -> tensor<2x8xf16>
  %4 = spd.tanh %3 : tensor<2x8xf16>
  %5 = spd.add %4, %one : tensor<2x8xf16>, tensor<f16> -> tensor<2x8xf16>
  %6 = spd.mul %x, %half : tensor<2x8xf16>, tensor<f16> -> tensor<2x8xf16>
  %7 = spd.mul %6, %5 : tensor<2x8xf16>, tensor<2x8xf16> -> tensor<2x8xf16>
  return %7 : tensor<2x8xf16>
}

// -----

// Near miss: erf's argument is scaled by 0.8, not 1/sqrt(2).
// CHECK-LABEL: func.func @gelu_erf_wrong_constant
// CHECK-NOT: spd.gelu
// CHECK: spd.erf
func.func @gelu_erf_wrong_constant(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %c = spd.constant dense<0.8> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %half = spd.constant dense<0.5> : tensor<f32>
  %0 = spd.mul %x, %c : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  // expected-remark @below {{spd-recognize-activations: not GELU: the factor of x is 0.8, expected 0.707107}}
  %1 = spd.erf %0 : tensor<2x8xf32>
  %2 = spd.add %1, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %3 = spd.mul %x, %2 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %4 = spd.mul %3, %half : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  return %4 : tensor<2x8xf32>
}

// -----

// Near miss: 0.04 instead of 0.044715 in the tanh form.
// CHECK-LABEL: func.func @gelu_tanh_wrong_cubic
// CHECK-NOT: spd.gelu
func.func @gelu_tanh_wrong_cubic(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %half = spd.constant dense<0.5> : tensor<f32>
  %three = spd.constant dense<3.0> : tensor<f32>
  %c = spd.constant dense<0.04> : tensor<f32>
  %k = spd.constant dense<0.797884583> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %0 = spd.mul %x, %half : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %1 = spd.pow %x, %three : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %2 = spd.mul %1, %c : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %3 = spd.add %x, %2 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %4 = spd.mul %3, %k : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  // expected-remark @below {{spd-recognize-activations: not GELU: the coefficient of x^3 is 0.04, expected 0.044715}}
  %5 = spd.tanh %4 : tensor<2x8xf32>
  %6 = spd.add %5, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %7 = spd.mul %0, %6 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %7 : tensor<2x8xf32>
}

// -----

// Near miss: 1 + erf(x / sqrt2) multiplied by x but never halved.
// CHECK-LABEL: func.func @gelu_erf_missing_half
// CHECK-NOT: spd.gelu
func.func @gelu_erf_missing_half(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %sqrt2 = spd.constant dense<1.41421354> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %0 = spd.div %x, %sqrt2 : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  // expected-remark @below {{spd-recognize-activations: 1 + erf(...) is not multiplied by 0.5}}
  %1 = spd.erf %0 : tensor<2x8xf32>
  %2 = spd.add %1, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %3 = spd.mul %x, %2 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %3 : tensor<2x8xf32>
}

// -----

// A plain tanh activation is no near miss: no rewrite, no remark.
// CHECK-LABEL: func.func @plain_tanh
// CHECK: spd.tanh
func.func @plain_tanh(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = spd.tanh %x : tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// SiLU, both operand orders.
// CHECK-LABEL: func.func @silu
// CHECK: %[[A:.*]] = spd.silu %arg0 : tensor<2x8xf32>
// CHECK: %[[B:.*]] = spd.silu %arg1 : tensor<2x8xf32>
// CHECK: spd.add %[[A]], %[[B]]
func.func @silu(%x: tensor<2x8xf32>, %y: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = spd.sigmoid %x : tensor<2x8xf32>
  %1 = spd.mul %x, %0 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %2 = spd.sigmoid %y : tensor<2x8xf32>
  %3 = spd.mul %2, %y : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %4 = spd.add %1, %3 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %4 : tensor<2x8xf32>
}

// -----

// A sigmoid gate of another value (GLU) is not SiLU.
// CHECK-LABEL: func.func @sigmoid_gate_not_silu
// CHECK-NOT: spd.silu
// CHECK: spd.sigmoid
func.func @sigmoid_gate_not_silu(%x: tensor<2x8xf32>, %y: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = spd.sigmoid %x : tensor<2x8xf32>
  %1 = spd.mul %y, %0 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %1 : tensor<2x8xf32>
}

// -----

// The Llama MLP: silu(gate) * up -> swiglu, as the dynamo exporter writes it.
// CHECK-LABEL: func.func @swiglu_llama
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>, %[[WG:.*]]: tensor<4x8xf32>, %[[WU:.*]]: tensor<4x8xf32>)
// CHECK: %[[G:.*]] = spd.matmul %[[X]], %[[WG]]
// CHECK: %[[U:.*]] = spd.matmul %[[X]], %[[WU]]
// CHECK: %[[S:.*]] = spd.swiglu %[[G]], %[[U]] : tensor<2x8xf32>
// CHECK-NOT: spd.sigmoid
// CHECK: return %[[S]]
func.func @swiglu_llama(%x: tensor<2x4xf32>, %wg: tensor<4x8xf32>, %wu: tensor<4x8xf32>) -> tensor<2x8xf32> {
  %g = spd.matmul %x, %wg : tensor<2x4xf32>, tensor<4x8xf32> -> tensor<2x8xf32>
  %0 = spd.sigmoid %g : tensor<2x8xf32>
  %1 = spd.mul %g, %0 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %u = spd.matmul %x, %wu : tensor<2x4xf32>, tensor<4x8xf32> -> tensor<2x8xf32>
  %2 = spd.mul %1, %u : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %2 : tensor<2x8xf32>
}

// -----

// up * silu(gate), in f16 (computed in f16 as the fp16 export writes it).
// CHECK-LABEL: func.func @swiglu_up_first_f16
// CHECK: %[[S:.*]] = spd.swiglu %arg0, %arg1 : tensor<2x8xf16>
// CHECK: return %[[S]]
func.func @swiglu_up_first_f16(%g: tensor<2x8xf16>, %u: tensor<2x8xf16>) -> tensor<2x8xf16> {
  %0 = spd.sigmoid %g : tensor<2x8xf16>
  %1 = spd.mul %0, %g : tensor<2x8xf16>, tensor<2x8xf16> -> tensor<2x8xf16>
  %2 = spd.mul %u, %1 : tensor<2x8xf16>, tensor<2x8xf16> -> tensor<2x8xf16>
  return %2 : tensor<2x8xf16>
}

// -----

// An existing spd.silu times up.
// CHECK-LABEL: func.func @swiglu_from_silu
// CHECK: spd.swiglu %arg0, %arg1 : tensor<2x8xf32>
func.func @swiglu_from_silu(%g: tensor<2x8xf32>, %u: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = spd.silu %g : tensor<2x8xf32>
  %1 = spd.mul %u, %0 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %1 : tensor<2x8xf32>
}

// -----

// Near miss: silu(gate) multiplied by a broadcast value is a scaling, not SwiGLU.
// CHECK-LABEL: func.func @swiglu_broadcast_up
// CHECK-NOT: spd.swiglu
// CHECK: spd.silu
func.func @swiglu_broadcast_up(%g: tensor<2x8xf32>, %u: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-remark @below {{spd-recognize-activations: silu(gate) of type tensor<2x8xf32> is multiplied by tensor<8xf32>: swiglu needs gate and up of one type}}
  %0 = spd.silu %g : tensor<2x8xf32>
  %1 = spd.mul %0, %u : tensor<2x8xf32>, tensor<8xf32> -> tensor<2x8xf32>
  return %1 : tensor<2x8xf32>
}

// -----

// SiLU with the sigmoid written out: x / (1 + exp(-x)), and x * reciprocal(1 + exp(-x)).
// CHECK-LABEL: func.func @silu_exp_forms
// CHECK: %[[A:.*]] = spd.silu %arg0 : tensor<2x8xf32>
// CHECK: %[[B:.*]] = spd.silu %arg1 : tensor<2x8xf32>
// CHECK-NOT: spd.exp
// CHECK: spd.add %[[A]], %[[B]]
func.func @silu_exp_forms(%x: tensor<2x8xf32>, %y: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %one = spd.constant dense<1.0> : tensor<f32>
  %0 = spd.neg %x : tensor<2x8xf32>
  %1 = spd.exp %0 : tensor<2x8xf32>
  %2 = spd.add %1, %one : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %3 = spd.div %x, %2 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %4 = spd.neg %y : tensor<2x8xf32>
  %5 = spd.exp %4 : tensor<2x8xf32>
  %6 = spd.add %one, %5 : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %7 = spd.reciprocal %6 : tensor<2x8xf32>
  %8 = spd.mul %y, %7 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %9 = spd.add %3, %8 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %9 : tensor<2x8xf32>
}

// -----

// GELU, tanh form as HF's gelu_fast writes it: tanh(x * 0.7978845608 * (1 + 0.044715 * x * x)).
// CHECK-LABEL: func.func @gelu_tanh_fast
// CHECK: %[[G:.*]] = spd.gelu %arg0 {approximate = "tanh"} : tensor<2x8xf32>
// CHECK: return %[[G]]
func.func @gelu_tanh_fast(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %half = spd.constant dense<0.5> : tensor<f32>
  %k = spd.constant dense<0.7978845608> : tensor<f32>
  %c = spd.constant dense<0.044715> : tensor<f32>
  %one = spd.constant dense<1.0> : tensor<f32>
  %0 = spd.mul %x, %k : tensor<2x8xf32>, tensor<f32> -> tensor<2x8xf32>
  %1 = spd.mul %c, %x : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %2 = spd.mul %1, %x : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %3 = spd.add %one, %2 : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %4 = spd.mul %0, %3 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %5 = spd.tanh %4 : tensor<2x8xf32>
  %6 = spd.add %one, %5 : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %7 = spd.mul %half, %x : tensor<f32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %8 = spd.mul %7, %6 : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %8 : tensor<2x8xf32>
}
