// RUN: spdc-opt %s -split-input-file -verify-diagnostics
// Verifier errors: what each op's types imply.

func.func @add_not_broadcastable(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{operands don't have broadcast-compatible shapes}}
  %0 = spd.add %a, %b : tensor<2x3xf32>, tensor<4xf32> -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @add_mixed_types(%a: tensor<2xf32>, %b: tensor<2xf16>) -> tensor<2xf32> {
  // expected-error @+1 {{failed to verify that all of {lhs, rhs, output} have same element type}}
  %0 = spd.add %a, %b : tensor<2xf32>, tensor<2xf16> -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @transpose_not_a_permutation(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{axis 0 appears twice}}
  %0 = spd.transpose %a {perm = array<i64: 0, 0>} : tensor<2x3xf32> -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @transpose_wrong_result(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{result dimension 0 is 2, expected 3}}
  %0 = spd.transpose %a {perm = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @matmul_contraction_mismatch(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{contracted dimensions differ: 3 vs 4}}
  %0 = spd.matmul %a, %b : tensor<2x3xf32>, tensor<4x5xf32> -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @reduce_axis_out_of_range(%a: tensor<2x3xf32>) -> tensor<2x1xf32> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = spd.reduce_sum %a {axes = array<i64: 2>, keepdims = true} : tensor<2x3xf32> -> tensor<2x1xf32>
  return %0 : tensor<2x1xf32>
}

// -----

func.func @reduce_wrong_result(%a: tensor<2x3xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{result rank 1 does not match the expected rank 2}}
  %0 = spd.reduce_sum %a {axes = array<i64: 1>, keepdims = true} : tensor<2x3xf32> -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @gather_wrong_result(%w: tensor<512x128xf32>, %i: tensor<2x16xi64>) -> tensor<2x16x64xf32> {
  // expected-error @+1 {{result dimension 2 is 64, expected 128}}
  %0 = spd.gather %w, %i {axis = 0 : i64} : tensor<512x128xf32>, tensor<2x16xi64> -> tensor<2x16x64xf32>
  return %0 : tensor<2x16x64xf32>
}

// -----

func.func @concat_wrong_size(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{concatenated dimension is 7, result's is 8}}
  %0 = spd.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @split_sizes_do_not_add_up(%a: tensor<2x8xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{split sizes add up to 7, the axis has 8}}
  %0:2 = spd.split %a {axis = 1 : i64, sizes = array<i64: 4, 3>} : tensor<2x8xf32> -> tensor<2x4xf32>, tensor<2x3xf32>
  return %0#0 : tensor<2x4xf32>
}

// -----

func.func @reshape_changes_size(%a: tensor<2x8xf32>) -> tensor<4x5xf32> {
  %s = spd.constant dense<[4, 5]> : tensor<2xi64>
  // expected-error @+1 {{changes the number of elements from 16 to 20}}
  %0 = spd.reshape %a, %s : tensor<2x8xf32>, tensor<2xi64> -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

func.func @squeeze_non_unit(%a: tensor<2x8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{squeezed dimension 0 has size 2}}
  %0 = spd.squeeze %a {axes = array<i64: 0>} : tensor<2x8xf32> -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @gelu_bad_approximation(%a: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{approximate must be "none" or "tanh", got "fast"}}
  %0 = spd.gelu %a {approximate = "fast"} : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @softmax_axis(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{axis 5 is out of range for rank 2}}
  %0 = spd.softmax %a {axis = 5 : i64} : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @pad_mode(%a: tensor<2x3xf32>, %p: tensor<4xi64>, %v: tensor<f32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{unknown mode "mirror"}}
  %0 = spd.pad %a, %p, %v {mode = "mirror"} : (tensor<2x3xf32>, tensor<4xi64>, tensor<f32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @layer_norm_axis(%a: tensor<2x3xf32>, %g: tensor<3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = spd.layer_norm %a, %g {axis = 2 : i64, epsilon = 1.0e-5 : f32} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @attention_negative_softcap(%q: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{softcap must be zero (none) or a positive finite value, got -5}}
  %0 = spd.attention %q, %q, %q {scale = 1.0 : f32, softcap = -5.0 : f32} : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}
