// RUN: spdc-opt %s -spd-recognize-rope -split-input-file -verify-diagnostics | FileCheck %s

// Llama (dynamo): q * cos + rotate_half(q) * sin, halves by Slice with INT64_MAX as the end.
// CHECK-LABEL: func.func @rotate_half_full
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x16x8xf32>, %[[COS:.*]]: tensor<1x1x16x8xf32>, %[[SIN:.*]]: tensor<1x1x16x8xf32>)
// CHECK: %[[R:.*]] = spd.rope %[[X]], %[[COS]], %[[SIN]] {rotary_dim = 8 : i64} : (tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>) -> tensor<2x4x16x8xf32>
// CHECK-NOT: spd.neg
// CHECK-NOT: spd.concat
// CHECK: return %[[R]]
func.func @rotate_half_full(%x: tensor<2x4x16x8xf32>, %cos: tensor<1x1x16x8xf32>, %sin: tensor<1x1x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %zero = spd.constant dense<0> : tensor<1xi64>
  %half = spd.constant dense<4> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %axis = spd.constant dense<3> : tensor<1xi64>
  %one = spd.constant dense<1> : tensor<1xi64>
  %xc = spd.mul %x, %cos : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  %x1 = spd.slice %x[%zero, %half, %axis, %one] : (tensor<2x4x16x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x4xf32>
  %x2 = spd.slice %x[%half, %max, %axis, %one] : (tensor<2x4x16x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x4xf32>
  %n = spd.neg %x2 : tensor<2x4x16x4xf32>
  %rot = spd.concat %n, %x1 {axis = 3 : i64} : (tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>) -> tensor<2x4x16x8xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  %out = spd.add %xc, %rs : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %out : tensor<2x4x16x8xf32>
}

// -----

// Swapped add order and mul operand order, negative slice indices on axis -1, tables of lower
// rank ([s, d]) and a dynamic batch.
// CHECK-LABEL: func.func @rotate_half_swapped
// CHECK-SAME: (%[[X:.*]]: tensor<?x2x16x8xf16>, %[[COS:.*]]: tensor<16x8xf16>, %[[SIN:.*]]: tensor<16x8xf16>)
// CHECK: spd.rope %[[X]], %[[COS]], %[[SIN]] {rotary_dim = 8 : i64}
// CHECK-NOT: spd.add
func.func @rotate_half_swapped(%x: tensor<?x2x16x8xf16>, %cos: tensor<16x8xf16>, %sin: tensor<16x8xf16>) -> tensor<?x2x16x8xf16> {
  %zero = spd.constant dense<0> : tensor<1xi64>
  %mhalf = spd.constant dense<-4> : tensor<1xi64>
  %end = spd.constant dense<8> : tensor<1xi64>
  %axis = spd.constant dense<-1> : tensor<1xi64>
  %one = spd.constant dense<1> : tensor<1xi64>
  %x1 = spd.slice %x[%zero, %mhalf, %axis, %one] : (tensor<?x2x16x8xf16>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x2x16x4xf16>
  %x2 = spd.slice %x[%mhalf, %end, %axis, %one] : (tensor<?x2x16x8xf16>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x2x16x4xf16>
  %n = spd.neg %x2 : tensor<?x2x16x4xf16>
  %rot = spd.concat %n, %x1 {axis = 3 : i64} : (tensor<?x2x16x4xf16>, tensor<?x2x16x4xf16>) -> tensor<?x2x16x8xf16>
  %rs = spd.mul %sin, %rot : tensor<16x8xf16>, tensor<?x2x16x8xf16> -> tensor<?x2x16x8xf16>
  %xc = spd.mul %cos, %x : tensor<16x8xf16>, tensor<?x2x16x8xf16> -> tensor<?x2x16x8xf16>
  %out = spd.add %rs, %xc : tensor<?x2x16x8xf16>, tensor<?x2x16x8xf16> -> tensor<?x2x16x8xf16>
  return %out : tensor<?x2x16x8xf16>
}

// -----

// torch.chunk(x, 2, -1) exports a Split; tables computed at run time from positions (dynamic
// sequence length) are used as they are.
// CHECK-LABEL: func.func @split_based
// CHECK: %[[COS:.*]] = spd.cos
// CHECK: %[[SIN:.*]] = spd.sin
// CHECK: spd.rope %arg0, %[[COS]], %[[SIN]] {rotary_dim = 16 : i64} : (tensor<1x4x?x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>) -> tensor<1x4x?x16xf32>
// CHECK-NOT: spd.split
func.func @split_based(%x: tensor<1x4x?x16xf32>, %freqs: tensor<1x1x?x16xf32>) -> tensor<1x4x?x16xf32> {
  %cos = spd.cos %freqs : tensor<1x1x?x16xf32>
  %sin = spd.sin %freqs : tensor<1x1x?x16xf32>
  %h:2 = spd.split %x {axis = 3 : i64, sizes = array<i64: 8, 8>} : tensor<1x4x?x16xf32> -> tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>
  %n = spd.neg %h#1 : tensor<1x4x?x8xf32>
  %rot = spd.concat %n, %h#0 {axis = 3 : i64} : (tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>) -> tensor<1x4x?x16xf32>
  %xc = spd.mul %x, %cos : tensor<1x4x?x16xf32>, tensor<1x1x?x16xf32> -> tensor<1x4x?x16xf32>
  %rs = spd.mul %rot, %sin : tensor<1x4x?x16xf32>, tensor<1x1x?x16xf32> -> tensor<1x4x?x16xf32>
  %out = spd.add %xc, %rs : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32> -> tensor<1x4x?x16xf32>
  return %out : tensor<1x4x?x16xf32>
}

// -----

// GPT-NeoX / Phi partial rotary: rope on x[..., :4], x[..., 4:] passed through, concatenated.
// CHECK-LABEL: func.func @partial_rotary
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x16x16xf32>, %[[COS:.*]]: tensor<1x1x16x4xf32>, %[[SIN:.*]]: tensor<1x1x16x4xf32>)
// CHECK: %[[R:.*]] = spd.rope %[[X]], %[[COS]], %[[SIN]] {rotary_dim = 4 : i64} : (tensor<2x4x16x16xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>) -> tensor<2x4x16x16xf32>
// CHECK-NOT: spd.concat
// CHECK: return %[[R]]
func.func @partial_rotary(%x: tensor<2x4x16x16xf32>, %cos: tensor<1x1x16x4xf32>, %sin: tensor<1x1x16x4xf32>) -> tensor<2x4x16x16xf32> {
  %c0 = spd.constant dense<0> : tensor<1xi64>
  %c2 = spd.constant dense<2> : tensor<1xi64>
  %c4 = spd.constant dense<4> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %axis = spd.constant dense<3> : tensor<1xi64>
  %one = spd.constant dense<1> : tensor<1xi64>
  %xr = spd.slice %x[%c0, %c4, %axis, %one] : (tensor<2x4x16x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x4xf32>
  %xp = spd.slice %x[%c4, %max, %axis, %one] : (tensor<2x4x16x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x12xf32>
  %xc = spd.mul %xr, %cos : tensor<2x4x16x4xf32>, tensor<1x1x16x4xf32> -> tensor<2x4x16x4xf32>
  %x1 = spd.slice %xr[%c0, %c2, %axis, %one] : (tensor<2x4x16x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x2xf32>
  %x2 = spd.slice %xr[%c2, %max, %axis, %one] : (tensor<2x4x16x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x2xf32>
  %n = spd.neg %x2 : tensor<2x4x16x2xf32>
  %rot = spd.concat %n, %x1 {axis = 3 : i64} : (tensor<2x4x16x2xf32>, tensor<2x4x16x2xf32>) -> tensor<2x4x16x4xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x4xf32>, tensor<1x1x16x4xf32> -> tensor<2x4x16x4xf32>
  %emb = spd.add %xc, %rs : tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32> -> tensor<2x4x16x4xf32>
  %out = spd.concat %emb, %xp {axis = 3 : i64} : (tensor<2x4x16x4xf32>, tensor<2x4x16x12xf32>) -> tensor<2x4x16x16xf32>
  return %out : tensor<2x4x16x16xf32>
}

// -----

// Partial rotary where q was first split three ways (GPT-NeoX's fused QKV): the rotated part and
// the rest are Slices of a Split result.
// CHECK-LABEL: func.func @partial_rotary_of_split
// CHECK: %[[P:.*]]:3 = spd.split
// CHECK: spd.rope %[[P]]#0, %arg1, %arg2 {rotary_dim = 4 : i64} : (tensor<2x4x16x16xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>) -> tensor<2x4x16x16xf32>
func.func @partial_rotary_of_split(%qkv: tensor<2x4x16x48xf32>, %cos: tensor<1x1x16x4xf32>, %sin: tensor<1x1x16x4xf32>) -> (tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32>) {
  %c0 = spd.constant dense<0> : tensor<1xi64>
  %c2 = spd.constant dense<2> : tensor<1xi64>
  %c4 = spd.constant dense<4> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %axis = spd.constant dense<3> : tensor<1xi64>
  %one = spd.constant dense<1> : tensor<1xi64>
  %p:3 = spd.split %qkv {axis = 3 : i64, sizes = array<i64: 16, 16, 16>} : tensor<2x4x16x48xf32> -> tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32>
  %xr = spd.slice %p#0[%c0, %c4, %axis, %one] : (tensor<2x4x16x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x4xf32>
  %xp = spd.slice %p#0[%c4, %max, %axis, %one] : (tensor<2x4x16x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x12xf32>
  %xc = spd.mul %xr, %cos : tensor<2x4x16x4xf32>, tensor<1x1x16x4xf32> -> tensor<2x4x16x4xf32>
  %h:2 = spd.split %xr {axis = 3 : i64, sizes = array<i64: 2, 2>} : tensor<2x4x16x4xf32> -> tensor<2x4x16x2xf32>, tensor<2x4x16x2xf32>
  %n = spd.neg %h#1 : tensor<2x4x16x2xf32>
  %rot = spd.concat %n, %h#0 {axis = 3 : i64} : (tensor<2x4x16x2xf32>, tensor<2x4x16x2xf32>) -> tensor<2x4x16x4xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x4xf32>, tensor<1x1x16x4xf32> -> tensor<2x4x16x4xf32>
  %emb = spd.add %rs, %xc : tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32> -> tensor<2x4x16x4xf32>
  %out = spd.concat %emb, %xp {axis = 3 : i64} : (tensor<2x4x16x4xf32>, tensor<2x4x16x12xf32>) -> tensor<2x4x16x16xf32>
  return %out, %p#1, %p#2 : tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32>, tensor<2x4x16x16xf32>
}

// -----

// GPT-J interleaved: stack(-x[..., 1::2], x[..., 0::2], -1).flatten(-2).
// CHECK-LABEL: func.func @interleaved
// CHECK: spd.rope %arg0, %arg1, %arg2 {interleaved = true, rotary_dim = 8 : i64}
// CHECK-NOT: spd.reshape
func.func @interleaved(%x: tensor<1x16x4x8xf32>, %cos: tensor<1x16x1x8xf32>, %sin: tensor<1x16x1x8xf32>) -> tensor<1x16x4x8xf32> {
  %c0 = spd.constant dense<0> : tensor<1xi64>
  %c1 = spd.constant dense<1> : tensor<1xi64>
  %c2 = spd.constant dense<2> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %axis = spd.constant dense<3> : tensor<1xi64>
  %shape = spd.constant dense<[1, 16, 4, 8]> : tensor<4xi64>
  %even = spd.slice %x[%c0, %max, %axis, %c2] : (tensor<1x16x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x16x4x4xf32>
  %odd = spd.slice %x[%c1, %max, %axis, %c2] : (tensor<1x16x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x16x4x4xf32>
  %n = spd.neg %odd : tensor<1x16x4x4xf32>
  %u1 = spd.unsqueeze %n {axes = array<i64: 4>} : tensor<1x16x4x4xf32> -> tensor<1x16x4x4x1xf32>
  %u2 = spd.unsqueeze %even {axes = array<i64: 4>} : tensor<1x16x4x4xf32> -> tensor<1x16x4x4x1xf32>
  %st = spd.concat %u1, %u2 {axis = 4 : i64} : (tensor<1x16x4x4x1xf32>, tensor<1x16x4x4x1xf32>) -> tensor<1x16x4x4x2xf32>
  %rot = spd.reshape %st, %shape : tensor<1x16x4x4x2xf32>, tensor<4xi64> -> tensor<1x16x4x8xf32>
  %xc = spd.mul %x, %cos : tensor<1x16x4x8xf32>, tensor<1x16x1x8xf32> -> tensor<1x16x4x8xf32>
  %rs = spd.mul %rot, %sin : tensor<1x16x4x8xf32>, tensor<1x16x1x8xf32> -> tensor<1x16x4x8xf32>
  %out = spd.add %xc, %rs : tensor<1x16x4x8xf32>, tensor<1x16x4x8xf32> -> tensor<1x16x4x8xf32>
  return %out : tensor<1x16x4x8xf32>
}

// -----

// The negation written as a multiplication by -1.
// CHECK-LABEL: func.func @neg_as_mul_by_minus_one
// CHECK: spd.rope %arg0, %arg1, %arg2 {rotary_dim = 8 : i64}
func.func @neg_as_mul_by_minus_one(%x: tensor<2x4x16x8xf32>, %cos: tensor<1x1x16x8xf32>, %sin: tensor<1x1x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %m1 = spd.constant dense<-1.0> : tensor<f32>
  %h:2 = spd.split %x {axis = 3 : i64, sizes = array<i64: 4, 4>} : tensor<2x4x16x8xf32> -> tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>
  %n = spd.mul %m1, %h#1 : tensor<f32>, tensor<2x4x16x4xf32> -> tensor<2x4x16x4xf32>
  %rot = spd.concat %n, %h#0 {axis = 3 : i64} : (tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>) -> tensor<2x4x16x8xf32>
  %xc = spd.mul %x, %cos : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  %out = spd.add %xc, %rs : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %out : tensor<2x4x16x8xf32>
}

// -----

// Interleaved with dynamic batch and sequence: the flattening reshape copies both (0 entries).
// CHECK-LABEL: func.func @interleaved_dynamic
// CHECK: spd.rope %arg0, %arg1, %arg2 {interleaved = true, rotary_dim = 8 : i64}
func.func @interleaved_dynamic(%x: tensor<?x?x4x8xf32>, %cos: tensor<?x?x1x8xf32>, %sin: tensor<?x?x1x8xf32>) -> tensor<?x?x4x8xf32> {
  %c0 = spd.constant dense<0> : tensor<1xi64>
  %c1 = spd.constant dense<1> : tensor<1xi64>
  %c2 = spd.constant dense<2> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %axis = spd.constant dense<3> : tensor<1xi64>
  %shape = spd.constant dense<[0, 0, 4, -1]> : tensor<4xi64>
  %even = spd.slice %x[%c0, %max, %axis, %c2] : (tensor<?x?x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?x4x4xf32>
  %odd = spd.slice %x[%c1, %max, %axis, %c2] : (tensor<?x?x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?x4x4xf32>
  %n = spd.neg %odd : tensor<?x?x4x4xf32>
  %u1 = spd.unsqueeze %n {axes = array<i64: 4>} : tensor<?x?x4x4xf32> -> tensor<?x?x4x4x1xf32>
  %u2 = spd.unsqueeze %even {axes = array<i64: 4>} : tensor<?x?x4x4xf32> -> tensor<?x?x4x4x1xf32>
  %st = spd.concat %u1, %u2 {axis = 4 : i64} : (tensor<?x?x4x4x1xf32>, tensor<?x?x4x4x1xf32>) -> tensor<?x?x4x4x2xf32>
  %rot = spd.reshape %st, %shape : tensor<?x?x4x4x2xf32>, tensor<4xi64> -> tensor<?x?x4x8xf32>
  %xc = spd.mul %x, %cos : tensor<?x?x4x8xf32>, tensor<?x?x1x8xf32> -> tensor<?x?x4x8xf32>
  %rs = spd.mul %rot, %sin : tensor<?x?x4x8xf32>, tensor<?x?x1x8xf32> -> tensor<?x?x4x8xf32>
  %out = spd.add %xc, %rs : tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32> -> tensor<?x?x4x8xf32>
  return %out : tensor<?x?x4x8xf32>
}

// -----

// GPT-J exported by TorchScript with dynamic batch and sequence: both flattening reshapes take
// their shape from Shape -> Slice -> Concat(.., -1), so the importer types their results
// [?, ?, 4, ?] and [1, ?, 1, ?]; the dimensions they copy are read from the shape operands.
// CHECK-LABEL: func.func @interleaved_shapes_from_shape_ops
// CHECK: %[[T:.*]] = spd.reshape %arg1
// CHECK: spd.rope %arg0, %[[T]], %[[T]] {interleaved = true, rotary_dim = 8 : i64} : (tensor<?x?x4x8xf32>, tensor<1x?x1x?xf32>, tensor<1x?x1x?xf32>) -> tensor<?x?x4x8xf32>
func.func @interleaved_shapes_from_shape_ops(%x: tensor<?x?x4x8xf32>, %pairs: tensor<1x?x1x4x2xf32>) -> tensor<?x?x4x8xf32> {
  %c0 = spd.constant dense<0> : tensor<1xi64>
  %c1 = spd.constant dense<1> : tensor<1xi64>
  %c2 = spd.constant dense<2> : tensor<1xi64>
  %c3 = spd.constant dense<3> : tensor<1xi64>
  %cm2 = spd.constant dense<-2> : tensor<1xi64>
  %cm1 = spd.constant dense<-1> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %ts = spd.shape %pairs {end = 5 : i64, start = 0 : i64} : tensor<1x?x1x4x2xf32> -> tensor<5xi64>
  %tl = spd.slice %ts[%c0, %c3, %c0, %c1] : (tensor<5xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3xi64>
  %tshape = spd.concat %tl, %cm1 {axis = 0 : i64} : (tensor<3xi64>, tensor<1xi64>) -> tensor<4xi64>
  %table = spd.reshape %pairs, %tshape : tensor<1x?x1x4x2xf32>, tensor<4xi64> -> tensor<1x?x1x?xf32>
  %even = spd.slice %x[%c0, %max, %c3, %c2] : (tensor<?x?x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?x4x4xf32>
  %odd = spd.slice %x[%c1, %max, %c3, %c2] : (tensor<?x?x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?x4x4xf32>
  %n = spd.neg %odd : tensor<?x?x4x4xf32>
  %u1 = spd.unsqueeze %n {axes = array<i64: 4>} : tensor<?x?x4x4xf32> -> tensor<?x?x4x4x1xf32>
  %u2 = spd.unsqueeze %even {axes = array<i64: 4>} : tensor<?x?x4x4xf32> -> tensor<?x?x4x4x1xf32>
  %st = spd.concat %u1, %u2 {axis = 4 : i64} : (tensor<?x?x4x4x1xf32>, tensor<?x?x4x4x1xf32>) -> tensor<?x?x4x4x2xf32>
  %ss = spd.shape %st {end = 5 : i64, start = 0 : i64} : tensor<?x?x4x4x2xf32> -> tensor<5xi64>
  %sl = spd.slice %ss[%c0, %cm2, %c0, %c1] : (tensor<5xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3xi64>
  %sshape = spd.concat %sl, %cm1 {axis = 0 : i64} : (tensor<3xi64>, tensor<1xi64>) -> tensor<4xi64>
  %rot = spd.reshape %st, %sshape : tensor<?x?x4x4x2xf32>, tensor<4xi64> -> tensor<?x?x4x?xf32>
  %xc = spd.mul %x, %table : tensor<?x?x4x8xf32>, tensor<1x?x1x?xf32> -> tensor<?x?x4x8xf32>
  %rs = spd.mul %rot, %table : tensor<?x?x4x?xf32>, tensor<1x?x1x?xf32> -> tensor<?x?x4x?xf32>
  %out = spd.add %xc, %rs : tensor<?x?x4x8xf32>, tensor<?x?x4x?xf32> -> tensor<?x?x4x8xf32>
  return %out : tensor<?x?x4x8xf32>
}

// -----

// Near miss: a reshape that may move elements between two dynamic dimensions (shape operand
// unknown) is not the flattening of the interleaved stack.
// CHECK-LABEL: func.func @interleaved_unknown_reshape
// CHECK-NOT: spd.rope
func.func @interleaved_unknown_reshape(%x: tensor<?x?x4x8xf32>, %cos: tensor<1x1x1x8xf32>, %sin: tensor<1x1x1x8xf32>, %shape: tensor<4xi64>) -> tensor<?x?x4x8xf32> {
  %c0 = spd.constant dense<0> : tensor<1xi64>
  %c1 = spd.constant dense<1> : tensor<1xi64>
  %c2 = spd.constant dense<2> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %axis = spd.constant dense<3> : tensor<1xi64>
  %even = spd.slice %x[%c0, %max, %axis, %c2] : (tensor<?x?x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?x4x4xf32>
  %odd = spd.slice %x[%c1, %max, %axis, %c2] : (tensor<?x?x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?x4x4xf32>
  %n = spd.neg %odd : tensor<?x?x4x4xf32>
  %u1 = spd.unsqueeze %n {axes = array<i64: 4>} : tensor<?x?x4x4xf32> -> tensor<?x?x4x4x1xf32>
  %u2 = spd.unsqueeze %even {axes = array<i64: 4>} : tensor<?x?x4x4xf32> -> tensor<?x?x4x4x1xf32>
  %st = spd.concat %u1, %u2 {axis = 4 : i64} : (tensor<?x?x4x4x1xf32>, tensor<?x?x4x4x1xf32>) -> tensor<?x?x4x4x2xf32>
  %rot = spd.reshape %st, %shape : tensor<?x?x4x4x2xf32>, tensor<4xi64> -> tensor<?x?x4x8xf32>
  %xc = spd.mul %x, %cos : tensor<?x?x4x8xf32>, tensor<1x1x1x8xf32> -> tensor<?x?x4x8xf32>
  %rs = spd.mul %rot, %sin : tensor<?x?x4x8xf32>, tensor<1x1x1x8xf32> -> tensor<?x?x4x8xf32>
  // expected-remark @+1 {{spd-recognize-rope: the reshape after the interleaved stack does not restore x's shape}}
  %out = spd.add %xc, %rs : tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32> -> tensor<?x?x4x8xf32>
  return %out : tensor<?x?x4x8xf32>
}

// -----

// Near miss: interleaved stack with the negation on the even elements.
// CHECK-LABEL: func.func @interleaved_wrong_sign
// CHECK-NOT: spd.rope
func.func @interleaved_wrong_sign(%x: tensor<1x16x4x8xf32>, %cos: tensor<1x16x1x8xf32>, %sin: tensor<1x16x1x8xf32>) -> tensor<1x16x4x8xf32> {
  %c0 = spd.constant dense<0> : tensor<1xi64>
  %c1 = spd.constant dense<1> : tensor<1xi64>
  %c2 = spd.constant dense<2> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %axis = spd.constant dense<3> : tensor<1xi64>
  %shape = spd.constant dense<[1, 16, 4, 8]> : tensor<4xi64>
  %even = spd.slice %x[%c0, %max, %axis, %c2] : (tensor<1x16x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x16x4x4xf32>
  %odd = spd.slice %x[%c1, %max, %axis, %c2] : (tensor<1x16x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x16x4x4xf32>
  %n = spd.neg %even : tensor<1x16x4x4xf32>
  %u1 = spd.unsqueeze %odd {axes = array<i64: 4>} : tensor<1x16x4x4xf32> -> tensor<1x16x4x4x1xf32>
  %u2 = spd.unsqueeze %n {axes = array<i64: 4>} : tensor<1x16x4x4xf32> -> tensor<1x16x4x4x1xf32>
  %st = spd.concat %u1, %u2 {axis = 4 : i64} : (tensor<1x16x4x4x1xf32>, tensor<1x16x4x4x1xf32>) -> tensor<1x16x4x4x2xf32>
  %rot = spd.reshape %st, %shape : tensor<1x16x4x4x2xf32>, tensor<4xi64> -> tensor<1x16x4x8xf32>
  %xc = spd.mul %x, %cos : tensor<1x16x4x8xf32>, tensor<1x16x1x8xf32> -> tensor<1x16x4x8xf32>
  %rs = spd.mul %rot, %sin : tensor<1x16x4x8xf32>, tensor<1x16x1x8xf32> -> tensor<1x16x4x8xf32>
  // expected-remark @+1 {{spd-recognize-rope: interleaved rotation stacks x[1:8:2] and -x[0:8:2], not -x[1::2] and x[0::2]}}
  %out = spd.add %xc, %rs : tensor<1x16x4x8xf32>, tensor<1x16x4x8xf32> -> tensor<1x16x4x8xf32>
  return %out : tensor<1x16x4x8xf32>
}

// -----

// Near miss: the slices split the last dimension at 3, not at the half.
// CHECK-LABEL: func.func @slice_not_at_half
// CHECK-NOT: spd.rope
func.func @slice_not_at_half(%x: tensor<2x4x16x8xf32>, %cos: tensor<1x1x16x8xf32>, %sin: tensor<1x1x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %zero = spd.constant dense<0> : tensor<1xi64>
  %cut = spd.constant dense<3> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %axis = spd.constant dense<3> : tensor<1xi64>
  %one = spd.constant dense<1> : tensor<1xi64>
  %xc = spd.mul %x, %cos : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  %x1 = spd.slice %x[%zero, %cut, %axis, %one] : (tensor<2x4x16x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x3xf32>
  %x2 = spd.slice %x[%cut, %max, %axis, %one] : (tensor<2x4x16x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x5xf32>
  %n = spd.neg %x2 : tensor<2x4x16x5xf32>
  %rot = spd.concat %n, %x1 {axis = 3 : i64} : (tensor<2x4x16x5xf32>, tensor<2x4x16x3xf32>) -> tensor<2x4x16x8xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  // expected-remark @+1 {{spd-recognize-rope: rotate_half concatenates x[3:8] and x[0:3], not the halves at 4 of the last dimension 8}}
  %out = spd.add %xc, %rs : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %out : tensor<2x4x16x8xf32>
}

// -----

// Near miss: the first half is negated and the halves are swapped back (-rotate_half).
// CHECK-LABEL: func.func @neg_on_wrong_half
// CHECK-NOT: spd.rope
func.func @neg_on_wrong_half(%x: tensor<2x4x16x8xf32>, %cos: tensor<1x1x16x8xf32>, %sin: tensor<1x1x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %h:2 = spd.split %x {axis = 3 : i64, sizes = array<i64: 4, 4>} : tensor<2x4x16x8xf32> -> tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>
  %n = spd.neg %h#0 : tensor<2x4x16x4xf32>
  %rot = spd.concat %h#1, %n {axis = 3 : i64} : (tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>) -> tensor<2x4x16x8xf32>
  %xc = spd.mul %x, %cos : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  // expected-remark @+1 {{spd-recognize-rope: neg on the wrong half: concat(x[4:8], -x[0:4]) is not rotate_half (concat(-x2, x1))}}
  %out = spd.add %xc, %rs : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %out : tensor<2x4x16x8xf32>
}

// -----

// Near miss: neg on the first half without swapping the halves.
// CHECK-LABEL: func.func @halves_not_swapped
// CHECK-NOT: spd.rope
func.func @halves_not_swapped(%x: tensor<2x4x16x8xf32>, %cos: tensor<1x1x16x8xf32>, %sin: tensor<1x1x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %h:2 = spd.split %x {axis = 3 : i64, sizes = array<i64: 4, 4>} : tensor<2x4x16x8xf32> -> tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>
  %n = spd.neg %h#0 : tensor<2x4x16x4xf32>
  %rot = spd.concat %n, %h#1 {axis = 3 : i64} : (tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>) -> tensor<2x4x16x8xf32>
  %xc = spd.mul %x, %cos : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  // expected-remark @+1 {{spd-recognize-rope: neg on the wrong half: concat(-x[0:4], x[4:8]) is not rotate_half (concat(-x2, x1))}}
  %out = spd.add %xc, %rs : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %out : tensor<2x4x16x8xf32>
}

// -----

// Near miss: the tables' last dimension (1, broadcast) is not the rotated dimension.
// CHECK-LABEL: func.func @table_last_dim_differs
// CHECK-NOT: spd.rope
func.func @table_last_dim_differs(%x: tensor<2x4x16x8xf32>, %cos: tensor<1x1x16x1xf32>, %sin: tensor<1x1x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %h:2 = spd.split %x {axis = 3 : i64, sizes = array<i64: 4, 4>} : tensor<2x4x16x8xf32> -> tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>
  %n = spd.neg %h#1 : tensor<2x4x16x4xf32>
  %rot = spd.concat %n, %h#0 {axis = 3 : i64} : (tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>) -> tensor<2x4x16x8xf32>
  %xc = spd.mul %x, %cos : tensor<2x4x16x8xf32>, tensor<1x1x16x1xf32> -> tensor<2x4x16x8xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  // expected-remark @+1 {{spd-recognize-rope: cos table's last dimension is 1, not the rotated dimension 8}}
  %out = spd.add %xc, %rs : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %out : tensor<2x4x16x8xf32>
}

// -----

// Near miss: cos multiplies another value than the one rotated.
// CHECK-LABEL: func.func @different_values
// CHECK-NOT: spd.rope
func.func @different_values(%x: tensor<2x4x16x8xf32>, %y: tensor<2x4x16x8xf32>, %cos: tensor<1x1x16x8xf32>, %sin: tensor<1x1x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %h:2 = spd.split %x {axis = 3 : i64, sizes = array<i64: 4, 4>} : tensor<2x4x16x8xf32> -> tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>
  %n = spd.neg %h#1 : tensor<2x4x16x4xf32>
  %rot = spd.concat %n, %h#0 {axis = 3 : i64} : (tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>) -> tensor<2x4x16x8xf32>
  %yc = spd.mul %y, %cos : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x8xf32>, tensor<1x1x16x8xf32> -> tensor<2x4x16x8xf32>
  // expected-remark @+1 {{spd-recognize-rope: the other product does not multiply the rotated value}}
  %out = spd.add %yc, %rs : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %out : tensor<2x4x16x8xf32>
}

// -----

// Near miss: partial rotary whose pass-through part starts past the rotated part.
// CHECK-LABEL: func.func @partial_gap
// CHECK: spd.rope %{{.*}} {rotary_dim = 4 : i64} : (tensor<2x4x16x4xf32>
// CHECK: spd.concat
func.func @partial_gap(%x: tensor<2x4x16x16xf32>, %cos: tensor<1x1x16x4xf32>, %sin: tensor<1x1x16x4xf32>) -> tensor<2x4x16x14xf32> {
  %c0 = spd.constant dense<0> : tensor<1xi64>
  %c4 = spd.constant dense<4> : tensor<1xi64>
  %c6 = spd.constant dense<6> : tensor<1xi64>
  %max = spd.constant dense<9223372036854775807> : tensor<1xi64>
  %axis = spd.constant dense<3> : tensor<1xi64>
  %one = spd.constant dense<1> : tensor<1xi64>
  %xr = spd.slice %x[%c0, %c4, %axis, %one] : (tensor<2x4x16x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x4xf32>
  %xp = spd.slice %x[%c6, %max, %axis, %one] : (tensor<2x4x16x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x16x10xf32>
  %h:2 = spd.split %xr {axis = 3 : i64, sizes = array<i64: 2, 2>} : tensor<2x4x16x4xf32> -> tensor<2x4x16x2xf32>, tensor<2x4x16x2xf32>
  %n = spd.neg %h#1 : tensor<2x4x16x2xf32>
  %rot = spd.concat %n, %h#0 {axis = 3 : i64} : (tensor<2x4x16x2xf32>, tensor<2x4x16x2xf32>) -> tensor<2x4x16x4xf32>
  %xc = spd.mul %xr, %cos : tensor<2x4x16x4xf32>, tensor<1x1x16x4xf32> -> tensor<2x4x16x4xf32>
  %rs = spd.mul %rot, %sin : tensor<2x4x16x4xf32>, tensor<1x1x16x4xf32> -> tensor<2x4x16x4xf32>
  %emb = spd.add %xc, %rs : tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32> -> tensor<2x4x16x4xf32>
  // expected-remark @+1 {{spd-recognize-rope: rotated part x[0:4] and pass-through part x[6:16] do not split the last dimension (16) at one point}}
  %out = spd.concat %emb, %xp {axis = 3 : i64} : (tensor<2x4x16x4xf32>, tensor<2x4x16x10xf32>) -> tensor<2x4x16x14xf32>
  return %out : tensor<2x4x16x14xf32>
}

// -----

// Not a rope at all: a sum of products without a rotation stays quiet.
// CHECK-LABEL: func.func @plain_sum_of_products
// CHECK-NOT: spd.rope
func.func @plain_sum_of_products(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %p = spd.mul %a, %b : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %q = spd.mul %b, %b : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %s = spd.add %p, %q : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}

// -----

// Near miss: the tables add a batch dimension x does not have.
// CHECK-LABEL: func.func @tables_enlarge_x
// CHECK-NOT: spd.rope
func.func @tables_enlarge_x(%x: tensor<4x16x8xf32>, %cos: tensor<2x1x16x8xf32>, %sin: tensor<2x1x16x8xf32>) -> tensor<2x4x16x8xf32> {
  %h:2 = spd.split %x {axis = 2 : i64, sizes = array<i64: 4, 4>} : tensor<4x16x8xf32> -> tensor<4x16x4xf32>, tensor<4x16x4xf32>
  %n = spd.neg %h#1 : tensor<4x16x4xf32>
  %rot = spd.concat %n, %h#0 {axis = 2 : i64} : (tensor<4x16x4xf32>, tensor<4x16x4xf32>) -> tensor<4x16x8xf32>
  %xc = spd.mul %x, %cos : tensor<4x16x8xf32>, tensor<2x1x16x8xf32> -> tensor<2x4x16x8xf32>
  %rs = spd.mul %rot, %sin : tensor<4x16x8xf32>, tensor<2x1x16x8xf32> -> tensor<2x4x16x8xf32>
  // expected-remark @+1 {{spd-recognize-rope: the products or the sum have another type than x (the tables broadcast x to a larger shape)}}
  %out = spd.add %xc, %rs : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32> -> tensor<2x4x16x8xf32>
  return %out : tensor<2x4x16x8xf32>
}

// -----

// Strided slices spelled with an end short of d select the same elements (x[0:7:2] = x[0::2]).
// CHECK-LABEL: func.func @interleaved_short_end
// CHECK: spd.rope %arg0, %arg1, %arg2 {interleaved = true, rotary_dim = 8 : i64}
func.func @interleaved_short_end(%x: tensor<2x8xf32>, %cos: tensor<2x8xf32>, %sin: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %c0 = spd.constant dense<0> : tensor<1xi64>
  %c1 = spd.constant dense<1> : tensor<1xi64>
  %c2 = spd.constant dense<2> : tensor<1xi64>
  %c7 = spd.constant dense<7> : tensor<1xi64>
  %c8 = spd.constant dense<8> : tensor<1xi64>
  %axis = spd.constant dense<1> : tensor<1xi64>
  %shape = spd.constant dense<[2, 8]> : tensor<2xi64>
  %even = spd.slice %x[%c0, %c7, %axis, %c2] : (tensor<2x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4xf32>
  %odd = spd.slice %x[%c1, %c8, %axis, %c2] : (tensor<2x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4xf32>
  %n = spd.neg %odd : tensor<2x4xf32>
  %u1 = spd.unsqueeze %n {axes = array<i64: 2>} : tensor<2x4xf32> -> tensor<2x4x1xf32>
  %u2 = spd.unsqueeze %even {axes = array<i64: 2>} : tensor<2x4xf32> -> tensor<2x4x1xf32>
  %st = spd.concat %u1, %u2 {axis = 2 : i64} : (tensor<2x4x1xf32>, tensor<2x4x1xf32>) -> tensor<2x4x2xf32>
  %rot = spd.reshape %st, %shape : tensor<2x4x2xf32>, tensor<2xi64> -> tensor<2x8xf32>
  %xc = spd.mul %x, %cos : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %rs = spd.mul %rot, %sin : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  %out = spd.add %xc, %rs : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %out : tensor<2x8xf32>
}
