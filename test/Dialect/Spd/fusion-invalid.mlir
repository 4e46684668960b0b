// RUN: spdc-opt %s -split-input-file -verify-diagnostics
// spd.fusion verifier errors.

func.func @fusion_block_arg_count(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{body has 1 arguments for 2 inputs}}
  %r = spd.fusion "elementwise"(%a, %b) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf32>):
    spd.yield %x : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @fusion_block_arg_type(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{body argument type 'tensor<4xf16>' differs from input type 'tensor<4xf32>'}}
  %r = spd.fusion "elementwise"(%a) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf16>):
    %c = spd.cast %x : tensor<4xf16> -> tensor<4xf32>
    spd.yield %c : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @fusion_yield_types(%a: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{yielded types differ from the result types}}
  %r = spd.fusion "elementwise"(%a) : (tensor<4xf32>) -> tensor<4xf16> {
  ^bb0(%x: tensor<4xf32>):
    spd.yield %x : tensor<4xf32>
  }
  return %r : tensor<4xf16>
}

// -----

func.func @fusion_reads_outside(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-note @+1 {{required by region isolation constraints}}
  %r = spd.fusion "elementwise"() : () -> tensor<4xf32> {
    // expected-error @+1 {{using value defined outside the region}}
    %e = spd.exp %a : tensor<4xf32>
    spd.yield %e : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}
