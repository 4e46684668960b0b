// RUN: spdc-opt %s | spdc-opt | FileCheck %s
// RUN: spdc-opt %s -mlir-print-op-generic | spdc-opt | FileCheck %s
// spd.fusion round-trips: operands bound to block arguments, results yielded.

// CHECK-LABEL: func.func @fusion_roundtrip
//  CHECK-SAME: (%[[A:.*]]: tensor<4x8xf32>, %[[B:.*]]: tensor<8xf32>)
//       CHECK:   %[[R:.*]]:2 = spd.fusion "elementwise"(%[[A]], %[[B]]) : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
//  CHECK-NEXT:   ^bb0(%[[X:.*]]: tensor<4x8xf32>, %[[Y:.*]]: tensor<8xf32>):
//  CHECK-NEXT:     %[[S:.*]] = spd.add %[[X]], %[[Y]]
//  CHECK-NEXT:     %[[E:.*]] = spd.exp %[[S]]
//  CHECK-NEXT:     spd.yield %[[S]], %[[E]] : tensor<4x8xf32>, tensor<4x8xf32>
//  CHECK-NEXT:   }
//  CHECK-NEXT:   return %[[R]]#1
func.func @fusion_roundtrip(%a: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %r:2 = spd.fusion "elementwise"(%a, %b) : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  ^bb0(%x: tensor<4x8xf32>, %y: tensor<8xf32>):
    %s = spd.add %x, %y : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
    %e = spd.exp %s : tensor<4x8xf32>
    spd.yield %s, %e : tensor<4x8xf32>, tensor<4x8xf32>
  }
  return %r#1 : tensor<4x8xf32>
}
