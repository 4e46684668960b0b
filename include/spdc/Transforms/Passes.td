//===- Passes.td - spdc graph transformations --------------*- tablegen -*-===//
//
// Recognition of composite operations (what exporters decompose into primitives) and kernel
// fusion. One pass per file in lib/Transforms; patterns in populate...Patterns functions so that
// other passes and tests can reuse them.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_TRANSFORMS_PASSES
#define SPDC_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def SpdRecognizeNorms : Pass<"spd-recognize-norms", "mlir::func::FuncOp"> {
  let summary = "Recognize RMSNorm and decomposed LayerNorm";
  let description = [{
    Rewrites `x * rsqrt(mean(x^2) + eps) * w` (with the casts to f32 and back that half-precision
    exports write, Pow or Mul for the square, Sqrt+Reciprocal, Div or Rsqrt forms, `(1 + w)`
    scales) into `spd.rms_norm`, and `(x - mean) / sqrt(var + eps) * g + b` into
    `spd.layer_norm`. Near misses (a mean over the wrong axis, a non-constant epsilon) are
    reported as remarks naming the op and the reason.
  }];
}

def SpdRecognizeActivations : Pass<"spd-recognize-activations", "mlir::func::FuncOp"> {
  let summary = "Recognize GELU (erf and tanh forms), SiLU and SwiGLU";
  let description = [{
    `0.5 x (1 + erf(x / sqrt 2))` and `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` in the
    orders and factorings exporters write become `spd.gelu`; `x * sigmoid(x)` becomes `spd.silu`;
    `silu(gate) * up` becomes `spd.swiglu`.
  }];
}

def SpdRecognizeRope : Pass<"spd-recognize-rope", "mlir::func::FuncOp"> {
  let summary = "Recognize rotary position embeddings";
  let description = [{
    `x * cos + rotate_half(x) * sin`, with rotate_half written as Slice/Neg/Concat (or Split),
    the interleaved (GPT-J) form, and partial rotary (the rotated part concatenated with the
    rest) become `spd.rope`.
  }];
}

def SpdFuseAttention : Pass<"spd-fuse-attention", "mlir::func::FuncOp"> {
  let summary = "Fuse decomposed attention into spd.attention";
  let description = [{
    MatMul(Q, K^T) -> scale (Div or Mul, on the scores or on Q and K) -> mask (added, or applied
    by Where; causal masks built from Trilu, sliced constant buffers or Range/Less chains, or
    folded into constants) -> Softmax over the last axis (with casts around it in half-precision
    graphs, and the IsNaN/Where guard of SDPA exports) -> MatMul(., V) becomes one
    `spd.attention`. Grouped key/value heads repeated through Unsqueeze/Expand/Reshape
    (repeat_kv) are read directly. Padding masks stay a mask operand; a mask that is a constant
    lower-triangular pattern becomes the causal flag. Near misses are reported as remarks.
  }];
}

def SpdMergeSiblingMatmuls : Pass<"spd-merge-sibling-matmuls", "mlir::func::FuncOp"> {
  let summary = "Merge matmuls of one input by constant weights into one matmul and a split";
  let description = [{
    A layer's Q, K and V projections (or an MLP's gate and up) multiply the same activation by
    different constant [K, N] weights. They become one matmul by the weights concatenated along
    N, then a `spd.split` of its result: one GEMM with a wider N keeps more of the GPU busy than
    several narrow ones, and the consumers read their part through the split in place. A product
    whose only user is an add stays alone (cuBLASLt's bias or residual epilogue takes the add).
  }];
}

def SpdFormFusionRegions : Pass<"spd-form-fusion-regions", "mlir::func::FuncOp"> {
  let summary = "Group ops into spd.fusion regions, one per future kernel";
  let description = [{
    Chains of elementwise and broadcast ops, a reduction (norm, softmax) with its elementwise
    producers and consumers, the epilogue of a matmul (bias, activation, residual add), and the
    prologue of an attention (RoPE on Q and K) each become one `spd.fusion`. The cost rules are
    written down in the pass; a region never recomputes an expensive op.
  }];
}

def SpdTestSymbolicShapes : Pass<"spd-test-symbolic-shapes", "mlir::func::FuncOp"> {
  let summary = "Print each value's dimensions as polynomials in the dynamic input dimensions";
  let description = [{
    A test pass for the SymbolicShapes analysis (include/spdc/Analysis/SymbolicShapes.h): every
    op with a dynamic result gets a remark with its dimensions (`[s0, s1, 64]`, or `unknown`),
    and small integer results their elements; the function gets one remark naming the symbols
    and the equalities that broadcasting implied.
  }];
}

#endif // SPDC_TRANSFORMS_PASSES
