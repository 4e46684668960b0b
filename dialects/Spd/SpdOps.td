//===- SpdOps.td - spd dialect operations ------------------*- tablegen -*-===//
//
// Primitive operations with ONNX semantics. Composite operations (attention, norms, RoPE, ...),
// fusion regions and collectives are added beside these, in their own sections.
//
//===----------------------------------------------------------------------===//

#ifndef SPD_OPS
#define SPD_OPS

include "SpdDialect.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"

//===----------------------------------------------------------------------===//
// Base classes
//===----------------------------------------------------------------------===//

class Spd_Op<string mnemonic, list<Trait> traits = []>
    : Op<Spd_Dialect, mnemonic, traits>;

def Spd_Tensor : RankedTensorOf<[AnyType]>;

// Axes, offsets and counts are signed: the getters return int64_t (upstream I64Attr's return
// uint64_t, which turns every `< 0` check into a silent no-op).
def Spd_I64Attr : TypedSignlessIntegerAttrBase<I64, "int64_t",
                                               "64-bit signless integer attribute"> {
  let convertFromStorage = "$_self.getValue().getSExtValue()";
}
def Spd_BoolTensor : RankedTensorOf<[I1]>;
def Spd_IndexTensor : RankedTensorOf<[I32, I64]>;

// Elementwise unary op whose result has the operand's type.
class Spd_UnaryOp<string mnemonic, string opSummary, string formula,
                  list<Trait> traits = []>
    : Spd_Op<mnemonic, traits # [Pure, SameOperandsAndResultType]> {
  let summary = opSummary;
  let description = "Elementwise `" # formula # "`, as ONNX defines it.";
  let arguments = (ins Spd_Tensor:$input);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
}

// Elementwise unary predicate: result is i1 of the operand's shape.
class Spd_UnaryPredicateOp<string mnemonic, string opSummary, list<Trait> traits = []>
    : Spd_Op<mnemonic, traits # [Pure, SameOperandsAndResultShape]> {
  let summary = opSummary;
  let results = (outs Spd_BoolTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
}

// Elementwise binary op with numpy broadcasting; both operands and the result share one
// element type.
class Spd_BinaryOp<string mnemonic, string opSummary, string formula,
                   list<Trait> traits = []>
    : Spd_Op<mnemonic, traits # [Pure, ResultsBroadcastableShape,
                                 AllElementTypesMatch<["lhs", "rhs", "output"]>]> {
  let summary = opSummary;
  let description = "Elementwise `" # formula # "` with numpy broadcasting, as ONNX defines it.";
  let arguments = (ins Spd_Tensor:$lhs, Spd_Tensor:$rhs);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($output)";
}

// Elementwise comparison with numpy broadcasting; result is i1.
class Spd_CompareOp<string mnemonic, string opSummary, string formula, list<Trait> traits = []>
    : Spd_Op<mnemonic, traits # [Pure, ResultsBroadcastableShape,
                                 AllElementTypesMatch<["lhs", "rhs"]>]> {
  let summary = opSummary;
  let description = "Elementwise `" # formula # "` with numpy broadcasting; the result is i1.";
  let arguments = (ins Spd_Tensor:$lhs, Spd_Tensor:$rhs);
  let results = (outs Spd_BoolTensor:$output);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($output)";
}

// Reduction over `axes` (sorted, non-negative, unique; empty means none reduced).
class Spd_ReduceOp<string mnemonic, string opSummary, string formula>
    : Spd_Op<mnemonic, [Pure]> {
  let summary = opSummary;
  let description = "Reduces `input` over `axes` with `" # formula # "`. Reduced dimensions "
                    "are kept with size 1 when `keepdims` is set and dropped otherwise. "
                    "The importer resolves ONNX's empty-axes conventions to an explicit list.";
  let arguments = (ins Spd_Tensor:$input, DenseI64ArrayAttr:$axes,
                   DefaultValuedAttr<BoolAttr, "true">:$keepdims);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

def Spd_ConstantOp : Spd_Op<"constant", [ConstantLike, Pure,
                                           AllTypesMatch<["value", "output"]>]> {
  let summary = "A constant tensor";
  let description = [{
    Holds weights and folded values. Large weights are `dense_resource` attributes backed by the
    model's memory (or its mmapped external data), so printing IR never dumps them; small values
    are `dense` attributes that folders can read.
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

def Spd_ConstantOfShapeOp : Spd_Op<"constant_of_shape", [Pure]> {
  let summary = "A tensor of the given shape filled with one value";
  let description = "`shape` is a 1-D integer tensor; `value` is a one-element tensor.";
  let arguments = (ins Spd_IndexTensor:$shape, ElementsAttr:$value);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$shape attr-dict `:` type($shape) `->` type($output)";
  let hasVerifier = 1;
}

def Spd_RangeOp : Spd_Op<"range", [Pure, AllTypesMatch<["start", "limit", "delta"]>]> {
  let summary = "Evenly spaced values: start, start + delta, ... up to limit (excluded)";
  let description = "Operands are scalars (0-D tensors) of the result's element type.";
  let arguments = (ins Spd_Tensor:$start, Spd_Tensor:$limit, Spd_Tensor:$delta);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$start `,` $limit `,` $delta attr-dict `:` type($start) `->` type($output)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise unary
//===----------------------------------------------------------------------===//

def Spd_NegOp : Spd_UnaryOp<"neg", "Negation", "-x">;
def Spd_AbsOp : Spd_UnaryOp<"abs", "Absolute value", "|x|">;
def Spd_SqrtOp : Spd_UnaryOp<"sqrt", "Square root", "sqrt(x)">;
def Spd_ReciprocalOp : Spd_UnaryOp<"reciprocal", "Reciprocal", "1 / x">;
def Spd_ExpOp : Spd_UnaryOp<"exp", "Exponential", "exp(x)">;
def Spd_LogOp : Spd_UnaryOp<"log", "Natural logarithm", "log(x)">;
def Spd_ErfOp : Spd_UnaryOp<"erf", "Error function", "erf(x)">;
def Spd_TanhOp : Spd_UnaryOp<"tanh", "Hyperbolic tangent", "tanh(x)">;
def Spd_SigmoidOp : Spd_UnaryOp<"sigmoid", "Logistic sigmoid", "1 / (1 + exp(-x))">;
def Spd_ReluOp : Spd_UnaryOp<"relu", "Rectified linear unit", "max(x, 0)">;
def Spd_SinOp : Spd_UnaryOp<"sin", "Sine", "sin(x)">;
def Spd_CosOp : Spd_UnaryOp<"cos", "Cosine", "cos(x)">;
def Spd_FloorOp : Spd_UnaryOp<"floor", "Round toward negative infinity", "floor(x)">;
def Spd_CeilOp : Spd_UnaryOp<"ceil", "Round toward positive infinity", "ceil(x)">;
def Spd_RoundOp : Spd_UnaryOp<"round", "Round half to even", "round_half_even(x)">;
def Spd_SignOp : Spd_UnaryOp<"sign", "Sign", "x > 0 ? 1 : (x < 0 ? -1 : 0)">;
def Spd_SoftplusOp : Spd_UnaryOp<"softplus", "Softplus", "log(1 + exp(x))">;
def Spd_HardSwishOp : Spd_UnaryOp<"hard_swish", "Hard swish", "x * max(0, min(1, x / 6 + 1 / 2))">;
def Spd_NotOp : Spd_UnaryOp<"not", "Logical not", "!x">;

def Spd_LeakyReluOp : Spd_UnaryOp<"leaky_relu", "Leaky rectified linear unit",
                                  "x >= 0 ? x : alpha * x"> {
  let arguments = (ins Spd_Tensor:$input, F32Attr:$alpha);
}
def Spd_EluOp : Spd_UnaryOp<"elu", "Exponential linear unit",
                            "x >= 0 ? x : alpha * (exp(x) - 1)"> {
  let arguments = (ins Spd_Tensor:$input, F32Attr:$alpha);
}
def Spd_HardSigmoidOp : Spd_UnaryOp<"hard_sigmoid", "Hard sigmoid",
                                    "max(0, min(1, alpha * x + beta))"> {
  let arguments = (ins Spd_Tensor:$input, F32Attr:$alpha, F32Attr:$beta);
}
def Spd_GeluOp : Spd_UnaryOp<"gelu", "Gaussian error linear unit",
    "x * Phi(x); approximate = \"tanh\": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"> {
  let arguments = (ins Spd_Tensor:$input,
                   DefaultValuedStrAttr<StrAttr, "none">:$approximate);
  let hasVerifier = 1;
}

def Spd_IsNaNOp : Spd_UnaryPredicateOp<"is_nan", "Tests for NaN"> {
  let description = "Elementwise `isnan(x)`.";
  let arguments = (ins Spd_Tensor:$input);
}
def Spd_IsInfOp : Spd_UnaryPredicateOp<"is_inf", "Tests for infinities"> {
  let description = "Elementwise: true for +inf when `detect_positive`, for -inf when "
                    "`detect_negative`.";
  let arguments = (ins Spd_Tensor:$input,
                   DefaultValuedAttr<BoolAttr, "true">:$detect_positive,
                   DefaultValuedAttr<BoolAttr, "true">:$detect_negative);
}

def Spd_CastOp : Spd_Op<"cast", [Pure, SameOperandsAndResultShape]> {
  let summary = "Element type conversion";
  let description = [{
    Converts each element to the result's element type with ONNX Cast semantics: float to
    integer truncates toward zero, anything to i1 tests for non-zero, float narrowing rounds to
    nearest even.
  }];
  let arguments = (ins Spd_Tensor:$input);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Spd_ClipOp : Spd_Op<"clip", [Pure, AttrSizedOperandSegments]> {
  let summary = "Clamps values to [min, max]";
  let description = "`min` and `max` are optional scalars (0-D tensors) of the input's type.";
  let arguments = (ins Spd_Tensor:$input, Optional<Spd_Tensor>:$min,
                   Optional<Spd_Tensor>:$max);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $input (`min` `(` $min^ `:` type($min) `)`)? (`max` `(` $max^ `:` type($max) `)`)?
    attr-dict `:` type($input) `->` type($output)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise binary and ternary
//===----------------------------------------------------------------------===//

def Spd_AddOp : Spd_BinaryOp<"add", "Addition", "lhs + rhs", [Commutative]> {
  let hasCanonicalizer = 1;
}
def Spd_SubOp : Spd_BinaryOp<"sub", "Subtraction", "lhs - rhs"> {
  let hasCanonicalizer = 1;
}
def Spd_MulOp : Spd_BinaryOp<"mul", "Multiplication", "lhs * rhs", [Commutative]> {
  let hasCanonicalizer = 1;
}
def Spd_DivOp : Spd_BinaryOp<"div", "Division (integers truncate toward zero)", "lhs / rhs"> {
  let hasCanonicalizer = 1;
}
def Spd_MaxOp : Spd_BinaryOp<"max", "Maximum (NaN propagates)", "max(lhs, rhs)", [Commutative]>;
def Spd_MinOp : Spd_BinaryOp<"min", "Minimum (NaN propagates)", "min(lhs, rhs)", [Commutative]>;
def Spd_AndOp : Spd_BinaryOp<"and", "Logical and", "lhs && rhs", [Commutative]>;
def Spd_OrOp : Spd_BinaryOp<"or", "Logical or", "lhs || rhs", [Commutative]>;
def Spd_XorOp : Spd_BinaryOp<"xor", "Logical exclusive or", "lhs != rhs", [Commutative]>;
def Spd_ModOp : Spd_BinaryOp<"mod", "Remainder",
    "fmod ? fmod(lhs, rhs) : lhs - floor(lhs / rhs) * rhs (sign of the divisor)"> {
  let arguments = (ins Spd_Tensor:$lhs, Spd_Tensor:$rhs,
                   DefaultValuedAttr<BoolAttr, "false">:$fmod);
}

def Spd_PowOp : Spd_Op<"pow", [Pure, ResultsBroadcastableShape,
                               AllElementTypesMatch<["lhs", "output"]>]> {
  let summary = "Power";
  let description = "Elementwise `lhs ^ rhs` with broadcasting; the exponent may have another "
                    "element type than the base, the result has the base's.";
  let arguments = (ins Spd_Tensor:$lhs, Spd_Tensor:$rhs);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($output)";
}

def Spd_EqualOp : Spd_CompareOp<"equal", "Equality", "lhs == rhs", [Commutative]>;
def Spd_LessOp : Spd_CompareOp<"less", "Less than", "lhs < rhs">;
def Spd_LessEqualOp : Spd_CompareOp<"less_equal", "Less than or equal", "lhs <= rhs">;
def Spd_GreaterOp : Spd_CompareOp<"greater", "Greater than", "lhs > rhs">;
def Spd_GreaterEqualOp : Spd_CompareOp<"greater_equal", "Greater than or equal", "lhs >= rhs">;

def Spd_WhereOp : Spd_Op<"where", [Pure, ResultsBroadcastableShape,
                                   AllElementTypesMatch<["true_value", "false_value", "output"]>]> {
  let summary = "Elementwise select";
  let description = "`condition ? true_value : false_value` with broadcasting of all three.";
  let arguments = (ins Spd_BoolTensor:$condition, Spd_Tensor:$true_value,
                   Spd_Tensor:$false_value);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $condition `,` $true_value `,` $false_value attr-dict `:`
    type($condition) `,` type($true_value) `,` type($false_value) `->` type($output)
  }];
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

def Spd_MatMulOp : Spd_Op<"matmul", [Pure]> {
  let summary = "Matrix product with numpy semantics";
  let description = [{
    numpy.matmul: 1-D operands are promoted to matrices and the added dimension removed, leading
    (batch) dimensions broadcast. Floating-point products accumulate in f32 or wider.
  }];
  let arguments = (ins Spd_Tensor:$lhs, Spd_Tensor:$rhs);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($output)";
  let hasVerifier = 1;
}

def Spd_MatMulIntegerOp : Spd_Op<"matmul_integer", [Pure, AttrSizedOperandSegments]> {
  let summary = "Integer matrix product with zero points, accumulated in i32";
  let description = "numpy.matmul of `(lhs - lhs_zero_point) x (rhs - rhs_zero_point)` over 8-bit "
                    "integers; zero points are scalars or per-row / per-column vectors.";
  let arguments = (ins Spd_Tensor:$lhs, Spd_Tensor:$rhs,
                   Optional<Spd_Tensor>:$lhs_zero_point, Optional<Spd_Tensor>:$rhs_zero_point);
  let results = (outs RankedTensorOf<[I32]>:$output);
  let assemblyFormat = [{
    $lhs `,` $rhs (`zero_points` `(` $lhs_zero_point^ `:` type($lhs_zero_point) `)`)?
    (`rhs_zero_point` `(` $rhs_zero_point^ `:` type($rhs_zero_point) `)`)?
    attr-dict `:` type($lhs) `,` type($rhs) `->` type($output)
  }];
}

def Spd_EinsumOp : Spd_Op<"einsum", [Pure]> {
  let summary = "Einstein summation";
  let description = "numpy.einsum with an explicit or implicit output and `...` broadcasting.";
  let arguments = (ins Variadic<Spd_Tensor>:$inputs, StrAttr:$equation);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, $output)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Normalizations and softmax
//===----------------------------------------------------------------------===//

def Spd_SoftmaxOp : Spd_Op<"softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "Softmax along one axis";
  let description = "`exp(x - max) / sum(exp(x - max))` along `axis`, computed in f32 or wider.";
  let arguments = (ins Spd_Tensor:$input, Spd_I64Attr:$axis);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
}

def Spd_LogSoftmaxOp : Spd_Op<"log_softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "Log of softmax along one axis";
  let description = "`x - max - log(sum(exp(x - max)))` along `axis`.";
  let arguments = (ins Spd_Tensor:$input, Spd_I64Attr:$axis);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
}

def Spd_LayerNormOp : Spd_Op<"layer_norm", [Pure]> {
  let summary = "Layer normalization over the trailing dimensions from `axis`";
  let description = [{
    `(x - mean) / sqrt(var + epsilon) * scale + bias`, with mean and (biased) variance over the
    dimensions `axis..rank-1`, computed in f32 or wider. `scale` and `bias` broadcast to the
    normalized dimensions; `bias` is optional.
  }];
  let arguments = (ins Spd_Tensor:$input, Spd_Tensor:$scale, Optional<Spd_Tensor>:$bias,
                   Spd_I64Attr:$axis, F32Attr:$epsilon);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $input `,` $scale (`,` $bias^)? attr-dict `:` functional-type(operands, $output)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

def Spd_ReduceSumOp : Spd_ReduceOp<"reduce_sum", "Sum reduction", "sum">;
def Spd_ReduceMeanOp : Spd_ReduceOp<"reduce_mean", "Mean reduction", "mean">;
def Spd_ReduceMaxOp : Spd_ReduceOp<"reduce_max", "Max reduction", "max">;
def Spd_ReduceMinOp : Spd_ReduceOp<"reduce_min", "Min reduction", "min">;
def Spd_ReduceProdOp : Spd_ReduceOp<"reduce_prod", "Product reduction", "product">;
def Spd_ReduceSumSquareOp : Spd_ReduceOp<"reduce_sum_square", "Sum of squares", "sum(x^2)">;
def Spd_ReduceL1Op : Spd_ReduceOp<"reduce_l1", "L1 norm", "sum(|x|)">;
def Spd_ReduceL2Op : Spd_ReduceOp<"reduce_l2", "L2 norm", "sqrt(sum(x^2))">;
def Spd_ReduceLogSumOp : Spd_ReduceOp<"reduce_log_sum", "Log of sum", "log(sum(x))">;
def Spd_ReduceLogSumExpOp : Spd_ReduceOp<"reduce_log_sum_exp", "Log-sum-exp",
                                         "log(sum(exp(x)))">;

class Spd_ArgReduceOp<string mnemonic, string opSummary> : Spd_Op<mnemonic, [Pure]> {
  let summary = opSummary;
  let description = "Index of the extreme element along `axis` (the first one, or the last "
                    "with `select_last_index`), as i64.";
  let arguments = (ins Spd_Tensor:$input, Spd_I64Attr:$axis,
                   DefaultValuedAttr<BoolAttr, "true">:$keepdims,
                   DefaultValuedAttr<BoolAttr, "false">:$select_last_index);
  let results = (outs RankedTensorOf<[I64]>:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasVerifier = 1;
}
def Spd_ArgMaxOp : Spd_ArgReduceOp<"arg_max", "Index of the maximum">;
def Spd_ArgMinOp : Spd_ArgReduceOp<"arg_min", "Index of the minimum">;

def Spd_CumSumOp : Spd_Op<"cumsum", [Pure, SameOperandsAndResultType]> {
  let summary = "Cumulative sum along an axis";
  let description = "Inclusive prefix sum, or exclusive with `exclusive`; from the end with "
                    "`reverse`.";
  let arguments = (ins Spd_Tensor:$input, Spd_I64Attr:$axis,
                   DefaultValuedAttr<BoolAttr, "false">:$exclusive,
                   DefaultValuedAttr<BoolAttr, "false">:$reverse);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
}

def Spd_TopKOp : Spd_Op<"top_k", [Pure]> {
  let summary = "The k largest (or smallest) elements along an axis, with their indices";
  let description = "`k` is a 1-element i64 tensor. Ties keep the lower index first.";
  let arguments = (ins Spd_Tensor:$input, Spd_IndexTensor:$k, Spd_I64Attr:$axis,
                   DefaultValuedAttr<BoolAttr, "true">:$largest,
                   DefaultValuedAttr<BoolAttr, "true">:$sorted);
  let results = (outs Spd_Tensor:$values, RankedTensorOf<[I64]>:$indices);
  let assemblyFormat = [{
    $input `,` $k attr-dict `:` type($input) `,` type($k) `->` type($values) `,` type($indices)
  }];
  let hasVerifier = 1;
}

def Spd_TriluOp : Spd_Op<"trilu", [Pure, SameOperandsAndResultType]> {
  let summary = "Upper or lower triangle of the trailing two dimensions";
  let description = "Keeps elements with `col - row >= k` (upper) or `col - row <= k` (lower) "
                    "and zeroes the rest.";
  let arguments = (ins Spd_Tensor:$input, Spd_I64Attr:$k, BoolAttr:$upper);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def Spd_GatherOp : Spd_Op<"gather", [Pure]> {
  let summary = "Gathers slices along an axis (embedding lookup)";
  let description = "numpy.take: `output` has shape `data[:axis] + indices + data[axis+1:]`. "
                    "Negative indices count from the end.";
  let arguments = (ins Spd_Tensor:$data, Spd_IndexTensor:$indices, Spd_I64Attr:$axis);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat =
      "$data `,` $indices attr-dict `:` type($data) `,` type($indices) `->` type($output)";
  let hasVerifier = 1;
}

def Spd_GatherElementsOp : Spd_Op<"gather_elements", [Pure]> {
  let summary = "Gathers single elements along an axis";
  let description = "`output[i][j] = data[indices[i][j]][j]` for axis 0, and so on.";
  let arguments = (ins Spd_Tensor:$data, Spd_IndexTensor:$indices, Spd_I64Attr:$axis);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat =
      "$data `,` $indices attr-dict `:` type($data) `,` type($indices) `->` type($output)";
  let hasVerifier = 1;
}

def Spd_GatherNDOp : Spd_Op<"gather_nd", [Pure]> {
  let summary = "Gathers slices addressed by index tuples";
  let description = "ONNX GatherND with `batch_dims` leading batch dimensions.";
  let arguments = (ins Spd_Tensor:$data, Spd_IndexTensor:$indices,
                   DefaultValuedAttr<Spd_I64Attr, "0">:$batch_dims);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat =
      "$data `,` $indices attr-dict `:` type($data) `,` type($indices) `->` type($output)";
}

def Spd_ScatterNDOp : Spd_Op<"scatter_nd", [Pure]> {
  let summary = "Writes updates at index tuples into a copy of data";
  let description = "ONNX ScatterND; `reduction` is none, add, mul, max or min.";
  let arguments = (ins Spd_Tensor:$data, Spd_IndexTensor:$indices, Spd_Tensor:$updates,
                   DefaultValuedStrAttr<StrAttr, "none">:$reduction);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $data `,` $indices `,` $updates attr-dict `:`
    type($data) `,` type($indices) `,` type($updates) `->` type($output)
  }];
  let hasVerifier = 1;
}

def Spd_ConcatOp : Spd_Op<"concat", [Pure]> {
  let summary = "Concatenation along an axis";
  let arguments = (ins Variadic<Spd_Tensor>:$inputs, Spd_I64Attr:$axis);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, $output)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Spd_SplitOp : Spd_Op<"split", [Pure]> {
  let summary = "Splits a tensor into parts along an axis";
  let description = "Part `i` has `sizes[i]` elements along `axis`.";
  let arguments = (ins Spd_Tensor:$input, Spd_I64Attr:$axis, DenseI64ArrayAttr:$sizes);
  let results = (outs Variadic<Spd_Tensor>:$outputs);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($outputs)";
  let hasVerifier = 1;
}

def Spd_SliceOp : Spd_Op<"slice", [Pure]> {
  let summary = "Strided slice";
  let description = [{
    ONNX Slice: for each `axes[i]`, takes `starts[i]` to `ends[i]` (excluded) by `steps[i]`,
    with negative values counting from the end and out-of-range values clamped. The four index
    operands are 1-D integer tensors of equal length; they may be computed at run time.
  }];
  let arguments = (ins Spd_Tensor:$input, Spd_IndexTensor:$starts, Spd_IndexTensor:$ends,
                   Spd_IndexTensor:$axes, Spd_IndexTensor:$steps);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $input `[` $starts `,` $ends `,` $axes `,` $steps `]` attr-dict `:`
    functional-type(operands, $output)
  }];
  let hasVerifier = 1;
}

def Spd_ReshapeOp : Spd_Op<"reshape", [Pure]> {
  let summary = "Reshape to a shape given as a tensor";
  let description = [{
    ONNX Reshape: `shape` is a 1-D i64 tensor; -1 infers one dimension, 0 copies the input's
    dimension unless `allowzero`.
  }];
  let arguments = (ins Spd_Tensor:$input, Spd_IndexTensor:$shape,
                   DefaultValuedAttr<BoolAttr, "false">:$allowzero);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat =
      "$input `,` $shape attr-dict `:` type($input) `,` type($shape) `->` type($output)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Spd_TransposeOp : Spd_Op<"transpose", [Pure]> {
  let summary = "Permutes dimensions";
  let description = "`output.shape[i] = input.shape[perm[i]]`.";
  let arguments = (ins Spd_Tensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Spd_UnsqueezeOp : Spd_Op<"unsqueeze", [Pure]> {
  let summary = "Inserts dimensions of size 1";
  let description = "`axes` index the output's dimensions.";
  let arguments = (ins Spd_Tensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Spd_SqueezeOp : Spd_Op<"squeeze", [Pure]> {
  let summary = "Removes dimensions of size 1";
  let description = "`axes` index the input's dimensions; each must have size 1.";
  let arguments = (ins Spd_Tensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Spd_FlattenOp : Spd_Op<"flatten", [Pure]> {
  let summary = "Flattens to 2-D at an axis";
  let description = "Output shape `[prod(d[:axis]), prod(d[axis:])]`.";
  let arguments = (ins Spd_Tensor:$input, Spd_I64Attr:$axis);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasVerifier = 1;
}

def Spd_ExpandOp : Spd_Op<"expand", [Pure]> {
  let summary = "Broadcasts to a shape given as a tensor";
  let description = "ONNX Expand: the output shape is the broadcast of the input's and `shape`.";
  let arguments = (ins Spd_Tensor:$input, Spd_IndexTensor:$shape);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat =
      "$input `,` $shape attr-dict `:` type($input) `,` type($shape) `->` type($output)";
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Spd_TileOp : Spd_Op<"tile", [Pure]> {
  let summary = "Repeats a tensor along each dimension";
  let arguments = (ins Spd_Tensor:$input, Spd_IndexTensor:$repeats);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat =
      "$input `,` $repeats attr-dict `:` type($input) `,` type($repeats) `->` type($output)";
  let hasVerifier = 1;
}

def Spd_PadOp : Spd_Op<"pad", [Pure]> {
  let summary = "Pads a tensor";
  let description = [{
    `pads` is a 1-D i64 tensor `[begin_0, ..., begin_n, end_0, ..., end_n]` over all
    dimensions (negative values crop). `mode` is constant, reflect, edge or wrap; constant mode
    fills with `value` (a scalar of the input's type).
  }];
  let arguments = (ins Spd_Tensor:$input, Spd_IndexTensor:$pads, Spd_Tensor:$value,
                   DefaultValuedStrAttr<StrAttr, "constant">:$mode);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $input `,` $pads `,` $value attr-dict `:` functional-type(operands, $output)
  }];
  let hasVerifier = 1;
}

def Spd_ShapeOp : Spd_Op<"shape", [Pure]> {
  let summary = "The shape of a tensor, as a 1-D i64 tensor";
  let description = "Dimensions `start` to `end` (excluded) of the input's shape.";
  let arguments = (ins Spd_Tensor:$input, Spd_I64Attr:$start, Spd_I64Attr:$end);
  let results = (outs RankedTensorOf<[I64]>:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Spd_SizeOp : Spd_Op<"size", [Pure]> {
  let summary = "The number of elements of a tensor, as a 0-D i64 tensor";
  let arguments = (ins Spd_Tensor:$input);
  let results = (outs RankedTensorOf<[I64]>:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def Spd_QuantizeLinearOp : Spd_Op<"quantize_linear", [Pure]> {
  let summary = "Affine quantization";
  let description = [{
    `saturate(round_half_even(x / scale) + zero_point)`, per tensor (scalar scale), per axis
    (1-D scale along `axis`) or blockwise (`block_size` > 0). The result's element type is the
    zero point's.
  }];
  let arguments = (ins Spd_Tensor:$input, Spd_Tensor:$scale, Spd_Tensor:$zero_point,
                   DefaultValuedAttr<Spd_I64Attr, "1">:$axis,
                   DefaultValuedAttr<Spd_I64Attr, "0">:$block_size);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $input `,` $scale `,` $zero_point attr-dict `:` functional-type(operands, $output)
  }];
}

def Spd_DequantizeLinearOp : Spd_Op<"dequantize_linear", [Pure]> {
  let summary = "Affine dequantization";
  let description = "`(x - zero_point) * scale`, with the granularities of quantize_linear.";
  let arguments = (ins Spd_Tensor:$input, Spd_Tensor:$scale, Spd_Tensor:$zero_point,
                   DefaultValuedAttr<Spd_I64Attr, "1">:$axis,
                   DefaultValuedAttr<Spd_I64Attr, "0">:$block_size);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $input `,` $scale `,` $zero_point attr-dict `:` functional-type(operands, $output)
  }];
}

def Spd_DynamicQuantizeLinearOp : Spd_Op<"dynamic_quantize_linear", [Pure]> {
  let summary = "Quantizes to ui8 with a scale and zero point computed from the data";
  let description = "ONNX DynamicQuantizeLinear: the range [min(0, x), max(0, x)] maps to "
                    "[0, 255].";
  let arguments = (ins RankedTensorOf<[F32]>:$input);
  let results = (outs RankedTensorOf<[UI8]>:$output, RankedTensorOf<[F32]>:$scale,
                  RankedTensorOf<[UI8]>:$zero_point);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type(results)";
}

//===----------------------------------------------------------------------===//
// Composite operations: what exporters write as chains of primitives, recognized by the
// passes in lib/Transforms. Each has exact semantics the interpreter executes, so recognition
// is checked numerically.
//===----------------------------------------------------------------------===//

def Spd_RmsNormOp : Spd_Op<"rms_norm", [Pure]> {
  let summary = "Root-mean-square normalization over the trailing dimensions from `axis`";
  let description = [{
    `x / sqrt(mean(x^2) + epsilon) * scale`, with the mean over dimensions `axis..rank-1`,
    computed in f32 or wider and rounded once to the result type. `scale` broadcasts to the
    normalized dimensions and is optional (absent = 1). Models that scale by `(1 + w)` (Gemma)
    carry the folded `1 + w` as `scale`.
  }];
  let arguments = (ins Spd_Tensor:$input, Optional<Spd_Tensor>:$scale, Spd_I64Attr:$axis,
                   F32Attr:$epsilon);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $input (`,` $scale^)? attr-dict `:` functional-type(operands, $output)
  }];
  let hasVerifier = 1;
}

def Spd_SiluOp : Spd_UnaryOp<"silu", "Sigmoid linear unit (swish)", "x * sigmoid(x)">;

def Spd_SwiGluOp : Spd_Op<"swiglu", [Pure, AllTypesMatch<["gate", "up", "output"]>]> {
  let summary = "Gated linear unit with SiLU: silu(gate) * up";
  let description = [{
    The feed-forward gate of Llama-family models: `gate * sigmoid(gate) * up`, elementwise, in
    f32 or wider. `gate` and `up` are the two projections, of the same shape.
  }];
  let arguments = (ins Spd_Tensor:$gate, Spd_Tensor:$up);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($output)";
}

def Spd_RopeOp : Spd_Op<"rope", [Pure]> {
  let summary = "Rotary position embedding";
  let description = [{
    `out = x * cos + rotate(x) * sin` on the first `rotary_dim` elements of the last dimension;
    the rest pass through unchanged (partial rotary, as in GPT-NeoX and Phi). `rotate` is
    rotate-half (`[-x2, x1]` for the halves `x1, x2`) unless `interleaved`, where it maps each
    pair `(a, b)` to `(-b, a)` (GPT-J). `cos` and `sin` are the tables the model computes, with
    last dimension `rotary_dim`, broadcast to `x[..., :rotary_dim]` (typically [b or 1, 1, s, r]
    against x's [b, h, s, d]). Computed in f32 or wider.
  }];
  let arguments = (ins Spd_Tensor:$input, Spd_Tensor:$cos, Spd_Tensor:$sin,
                   Spd_I64Attr:$rotary_dim, DefaultValuedAttr<BoolAttr, "false">:$interleaved);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $input `,` $cos `,` $sin attr-dict `:` functional-type(operands, $output)
  }];
  let hasVerifier = 1;
}

def Spd_AttentionOp : Spd_Op<"attention", [Pure]> {
  let summary = "Scaled dot-product attention with masks and grouped key/value heads";
  let description = [{
    `softmax(scale * Q K^T + mask) V` per batch and head, in f32 or wider.

    `query` is [batch, q_heads, q_len, head_dim], `key` [batch, kv_heads, kv_len, head_dim],
    `value` [batch, kv_heads, kv_len, v_head_dim]; `q_heads` is a multiple of `kv_heads` and
    query head `h` reads key/value head `h / (q_heads / kv_heads)` (grouped-query attention,
    without materializing the repeated K/V). The result is [batch, q_heads, q_len, v_head_dim].

    `causal`: query `i` sees keys `j <= i + kv_len - q_len` (bottom-right aligned, so one decode
    token sees the whole cache). `mask`, optional, broadcasts to [batch, q_heads, q_len, kv_len]:
    i1 keeps the positions where it is true, a float mask is added to the scores. A query row
    that sees no key gives zeros (the guard SDPA exports write with IsNaN/Where).

    `softcap`, when positive, caps the scaled scores before the mask as Gemma 2 does:
    `softcap * tanh(scale * Q K^T / softcap) + mask`. Zero (the default) leaves them as they are.
  }];
  let arguments = (ins Spd_Tensor:$query, Spd_Tensor:$key, Spd_Tensor:$value,
                   Optional<Spd_Tensor>:$mask, F32Attr:$scale,
                   DefaultValuedAttr<BoolAttr, "false">:$causal,
                   DefaultValuedAttr<F32Attr, "0.0f">:$softcap);
  let results = (outs Spd_Tensor:$output);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` `(` $mask^ `:` type($mask) `)`)? attr-dict `:`
    type($query) `,` type($key) `,` type($value) `->` type($output)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fusion regions
//===----------------------------------------------------------------------===//

def Spd_FusionOp : Spd_Op<"fusion", [IsolatedFromAbove,
    SingleBlockImplicitTerminator<"YieldOp">, RecursiveMemoryEffects]> {
  let summary = "A group of ops that becomes one kernel";
  let description = [{
    The body computes the results from the block arguments (one per operand) and yields them;
    nothing inside reads a value from outside. The interpreter executes the body as written, so
    fusion never changes results; code generation turns each region into one kernel. `kind`
    names the grouping rule that formed it (elementwise, reduction, matmul_epilogue,
    attention_prologue, ...).
  }];
  let arguments = (ins Variadic<Spd_Tensor>:$inputs, StrAttr:$kind);
  let results = (outs Variadic<Spd_Tensor>:$outputs);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $kind `(` $inputs `)` `:` functional-type($inputs, $outputs) attr-dict-with-keyword $body
  }];
  let hasVerifier = 1;
}

def Spd_YieldOp : Spd_Op<"yield", [Pure, Terminator, HasParent<"FusionOp">, ReturnLike]> {
  let summary = "Returns a fusion region's results";
  let arguments = (ins Variadic<Spd_Tensor>:$values);
  let builders = [OpBuilder<(ins), [{ build($_builder, $_state, ValueRange()); }]>];
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

#endif // SPD_OPS
