//===- Plan.h - the launch plan of a .spdc bundle --------------*- C++ -*-===//
//
// What the compiler hands the runtime: buffers in one device arena, the kernels (CUDA C++ source
// compiled by NVRTC), the steps that launch them and the cuBLASLt matmuls, and the weights.
// Plain C++17 with no MLIR/LLVM/CUDA header: lib/Codegen/CUDA fills a Plan and writes it with
// writeBundle; libspdcrt reads it with readBundle. The byte layout is in docs/bundle-format.md.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_RUNTIME_BUNDLE_PLAN_H
#define SPDC_RUNTIME_BUNDLE_PLAN_H

#include <cstdint>
#include <string>
#include <vector>

namespace spdc::bundle {

/// Element types on the device. Values are part of the format: never renumber.
enum class ElementType : uint32_t {
  F32 = 0, F16 = 1, BF16 = 2, F64 = 3, I64 = 4, I32 = 5, I16 = 6, I8 = 7,
  U8 = 8, U16 = 9, U32 = 10, U64 = 11, Bool = 12
};

/// Bytes per element.
uint32_t elementSize(ElementType t);

/// An integer of the plan: a constant, or (in a plan with dynamic dimensions) the value of
/// expression `expr` of Plan::exprs for the bound symbols. The conversions keep code that reads
/// an instantiated plan (where every Int is a constant, see instantiatePlan) plain.
struct Int {
  int64_t value = 0; ///< the constant (unused while expr >= 0)
  int32_t expr = -1; ///< index into Plan::exprs, or -1
  Int() = default;
  Int(int64_t v) : value(v) {}
  static Int dynamic(uint32_t e) {
    Int i;
    i.expr = int32_t(e);
    return i;
  }
  bool isDynamic() const { return expr >= 0; }
  operator int64_t() const { return value; }
};

/// One instruction of an integer expression, a postfix program over a stack of int64 values.
struct ExprOp {
  enum class Code : uint32_t {
    Const = 0,    ///< push operand
    Symbol = 1,   ///< push the value of symbol `operand`
    Ref = 2,      ///< push the value of Plan::exprs[operand] (an earlier expression)
    Add = 3,      ///< pop b, pop a, push a + b (likewise below)
    Sub = 4,
    Mul = 5,
    FloorDiv = 6, ///< a / b rounded toward -inf (b != 0)
    CeilDiv = 7,  ///< a / b rounded toward +inf (b != 0)
    Min = 8,
    Max = 9,
  };
  Code code = Code::Const;
  int64_t operand = 0; ///< Const, Symbol, Ref
};

/// An integer computed from the symbols: evaluating `ops` leaves exactly one value.
struct IntExpr {
  std::vector<ExprOp> ops;
};

/// Where an operand lives. Offsets are bytes from the start of the region.
enum class Space : uint32_t {
  Arena = 0,   ///< activations: one device allocation of Plan::arenaBytes
  Weights = 1, ///< the weights section, uploaded once (64-byte aligned entries)
  Input = 2,   ///< the bound input `index` (offset: bytes into it, normally 0)
  Output = 3,  ///< the bound output `index` (offset: bytes into it, normally 0)
};

struct BufferRef {
  Space space = Space::Arena;
  uint32_t index = 0;  ///< input/output index for Space::Input/Output
  Int offset = 0; ///< byte offset for Space::Arena/Weights
};

/// A graph input or output. A dynamic dimension is an expression: an input's dimension that is
/// a bare symbol binds that symbol; any other is checked against the bound symbols.
struct TensorInfo {
  std::string name;
  ElementType type = ElementType::F32;
  std::vector<Int> shape;
};

/// A tiled tensor map over a buffer (the driver's cuTensorMapEncodeTiled): what a kernel's tensor
/// copies (TMA) read. Dimensions innermost first; the innermost is contiguous.
struct TensorMap {
  static constexpr uint32_t kMaxRank = 5;
  ElementType type = ElementType::BF16;
  uint32_t rank = 0;   ///< 1..kMaxRank
  Int dims[kMaxRank];  ///< elements, the first `rank`
  Int strides[kMaxRank - 1]; ///< bytes between consecutive indices of dims 1..rank-1
  uint32_t box[kMaxRank] = {1, 1, 1, 1, 1}; ///< elements a copy moves along each dim
  uint32_t swizzle = 128; ///< bytes: 0 (none), 32, 64 or 128
};

/// One kernel argument.
struct KernelArg {
  enum class Kind : uint32_t { Buffer = 0, I64 = 1, F32 = 2, TensorMap = 3 };
  Kind kind = Kind::Buffer;
  BufferRef buffer;   ///< Kind::Buffer, and the base of Kind::TensorMap
  Int i64 = 0;        ///< Kind::I64, passed as a 64-bit integer (kernel parameter: int64_t)
  float f32 = 0;      ///< Kind::F32
  TensorMap map;      ///< Kind::TensorMap, passed as a CUtensorMap (128 bytes) by value
  /// Whether `buffer` is in use: a buffer, or a tensor map's base.
  bool refersToBuffer() const { return kind == Kind::Buffer || kind == Kind::TensorMap; }
};

/// Launch of kernel `kernel` (an index into Plan::kernelNames).
struct Launch {
  uint32_t kernel = 0;
  Int grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t sharedBytes = 0;
  std::vector<KernelArg> args;
  /// A faster kernel for one NVRTC target (same grid, block and arguments): the runtime
  /// launches `specialKernel` with `specialSharedBytes` instead when it compiles for
  /// `specialTarget` ("sm_90a") and the device gives a block that much shared memory. Empty
  /// target: none.
  std::string specialTarget;
  uint32_t specialKernel = 0;
  uint32_t specialSharedBytes = 0;
  /// Arguments the special kernel takes after `args` (tensor maps). Where the driver cannot
  /// encode them for the bound operands (an address or stride not a multiple of 16 bytes), the
  /// runtime launches `kernel` with `args` instead.
  std::vector<KernelArg> specialArgs;
  /// The special kernel runs in thread block clusters of this many blocks along x (sm_90+;
  /// grid[0] a multiple of it, at most 8). 0: no clusters.
  uint32_t specialCluster = 0;
  /// A later launch whose work the special kernel does too (the decode kernel's cluster merge
  /// does its combine kernel's): where the special kernel runs, the runtime drops that launch's
  /// step. 0: none (a launch replaces only a later one, so index 0 is never meant).
  uint32_t specialReplaces = 0;
  /// A persistent kernel (any grid is correct, blocks walk the work): when nonzero and the grid
  /// has more blocks than blocksPerSM times the device's SMs, the runtime launches that many
  /// blocks as grid (n, 1, 1). 0: the grid as given.
  uint32_t blocksPerSM = 0;
  /// The kernel waits for the previous grid on its stream before it touches memory
  /// (gridDependencySync), so the runtime may launch it with programmatic dependent launch
  /// (sm_90+): its blocks are scheduled while the previous kernel drains.
  bool dependentLaunch = false;
};

/// D = alpha * op(A) op(B) + beta * C (+ epilogue), batched and strided, row-major operands as
/// the compiler sees them; the runtime maps it onto cuBLASLt's column-major layouts.
struct Gemm {
  /// Bias adds a vector of n elements to every row of D; Gelu is cuBLASLt's, the tanh
  /// approximation (gelu(x) = 0.5 x (1 + tanh(0.79788456 (x + 0.044715 x^3)))).
  enum class Epilogue : uint32_t { None = 0, Bias = 1, Gelu = 2, BiasGelu = 3 };
  ElementType type = ElementType::F32; ///< A, B, C and D; accumulation is f32
  Int m = 0, n = 0, k = 0, batch = 1;
  bool transA = false, transB = false; ///< A is [k, m] / B is [n, k] in memory when set
  Int lda = 0, ldb = 0, ldc = 0;   ///< row-major leading dimensions (elements)
  Int strideA = 0, strideB = 0, strideC = 0; ///< between batch entries (elements; 0 = broadcast)
  float alpha = 1, beta = 0;
  Epilogue epilogue = Epilogue::None;
  BufferRef a, b, c, d, bias; ///< c is read only when beta != 0; bias only with a Bias epilogue
};

/// Device-to-device copy (a reshape that is not a view, a graph output that aliases an input).
struct Copy {
  BufferRef src, dst;
  Int bytes = 0;
};

struct Step {
  enum class Kind : uint32_t { Launch = 0, Gemm = 1, Copy = 2 };
  Kind kind = Kind::Launch;
  uint32_t index = 0; ///< into Plan::launches, Plan::gemms or Plan::copies
  std::string label;  ///< the ONNX node(s) it computes, for profiles and errors
};

/// An output whose rows the plan computes `rowPitch` elements apart into the arena buffer
/// `padded` (step `writeStep`; a last dimension padded to 16 bytes keeps cuBLASLt on its fast
/// kernels: GPT-2's 50257-word logits in rows of 50264), then packs into the output (step
/// `packStep`). Bound pitched (spdc_model_bind_output_pitched), the output takes the padded rows
/// in place: `writeStep` writes to it instead of `padded`, and `packStep` is skipped.
struct PitchedOutput {
  uint32_t output = 0;
  int64_t rowPitch = 0; ///< elements
  BufferRef padded;
  uint32_t writeStep = 0, packStep = 0;
};

/// A unit of Plan::sources compiled for one architecture ("sm_90a").
struct Binary {
  std::string arch;
  uint32_t source = 0;
  std::vector<uint8_t> code;
  bool operator==(const Binary &o) const {
    return arch == o.arch && source == o.source && code == o.code;
  }
};

struct Plan {
  std::vector<TensorInfo> inputs, outputs;
  Int arenaBytes = 0;
  /// Dynamic dimensions: the symbols' names ("input_ids.1", for messages) and the expressions
  /// over them that dynamic Ints refer to. Both empty in a plan of static shapes.
  std::vector<std::string> symbols;
  std::vector<IntExpr> exprs;
  /// The kernels' CUDA C++, in compilation units that NVRTC compiles apart (in parallel, and
  /// each cached on its own text): the generated kernels in one, each template instantiation in
  /// its own, so that an instantiation shared by models compiles once.
  std::vector<std::string> sources;
  /// extern "C" names, or C++ name expressions of template instantiations
  /// ("spdc::kernels::softmax<float, 256>") that the runtime resolves through NVRTC.
  std::vector<std::string> kernelNames;
  /// Per kernel, the index of the unit of `sources` that defines it.
  std::vector<uint32_t> kernelSources;
  std::vector<Launch> launches;
  std::vector<Gemm> gemms;
  std::vector<Copy> copies;
  std::vector<Step> steps; ///< in execution order
  std::vector<PitchedOutput> pitchedOutputs;
  std::vector<uint8_t> weights;
  /// Precompiled code, optional: per architecture and unit, the NVRTC output (cubin).
  std::vector<Binary> binaries;
};

} // namespace spdc::bundle

#endif // SPDC_RUNTIME_BUNDLE_PLAN_H
