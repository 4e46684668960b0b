//===- SpdDialect.td - the spd dialect ---------------------*- tablegen -*-===//
//
// The spd dialect: transformer graphs on builtin ranked tensors.
//
//===----------------------------------------------------------------------===//

#ifndef SPD_DIALECT
#define SPD_DIALECT

include "mlir/IR/OpBase.td"

def Spd_Dialect : Dialect {
  let name = "spd";
  let summary = "Tensor operations of transformer graphs, with ONNX semantics";
  let description = [{
    The spd dialect holds what spdc compiles: primitive tensor operations with the semantics of
    their ONNX counterparts (numpy broadcasting, negative axes resolved at import, integer and
    floating-point behaviour as ONNX defines it), and, as the pipeline goes on, composite
    operations (attention, norms, RoPE, SwiGLU), fusion regions, quantized types and collectives.

    Operands and results are builtin ranked tensors with static or dynamic dimensions. Batch and
    sequence dimensions stay dynamic (`?`) unless the user fixes them. Axis attributes are always
    normalized to non-negative values by the importer.
  }];
  let cppNamespace = "::spdc::spd";
  let hasConstantMaterializer = 1;
}

#endif // SPD_DIALECT
