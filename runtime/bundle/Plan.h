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
  uint64_t offset = 0; ///< byte offset for Space::Arena/Weights
};

/// A graph input or output. Dims are static in this format version (-1 is reserved for dynamic
/// dims in a later version and refused by the reader).
struct TensorInfo {
  std::string name;
  ElementType type = ElementType::F32;
  std::vector<int64_t> shape;
};

/// One kernel argument.
struct KernelArg {
  enum class Kind : uint32_t { Buffer = 0, I64 = 1, F32 = 2 };
  Kind kind = Kind::Buffer;
  BufferRef buffer;   ///< Kind::Buffer
  int64_t i64 = 0;    ///< Kind::I64, passed as a 64-bit integer (kernel parameter: int64_t)
  float f32 = 0;      ///< Kind::F32
};

/// Launch of kernel `kernel` (an index into Plan::kernelNames, all defined in Plan::source).
struct Launch {
  uint32_t kernel = 0;
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t sharedBytes = 0;
  std::vector<KernelArg> args;
};

/// D = alpha * op(A) op(B) + beta * C (+ epilogue), batched and strided, row-major operands as
/// the compiler sees them; the runtime maps it onto cuBLASLt's column-major layouts.
struct Gemm {
  /// Bias adds a vector of n elements to every row of D; Gelu is cuBLASLt's, the tanh
  /// approximation (gelu(x) = 0.5 x (1 + tanh(0.79788456 (x + 0.044715 x^3)))).
  enum class Epilogue : uint32_t { None = 0, Bias = 1, Gelu = 2, BiasGelu = 3 };
  ElementType type = ElementType::F32; ///< A, B, C and D; accumulation is f32
  int64_t m = 0, n = 0, k = 0, batch = 1;
  bool transA = false, transB = false; ///< A is [k, m] / B is [n, k] in memory when set
  int64_t lda = 0, ldb = 0, ldc = 0;   ///< row-major leading dimensions (elements)
  int64_t strideA = 0, strideB = 0, strideC = 0; ///< between batch entries (elements; 0 = broadcast)
  float alpha = 1, beta = 0;
  Epilogue epilogue = Epilogue::None;
  BufferRef a, b, c, d, bias; ///< c is read only when beta != 0; bias only with a Bias epilogue
};

/// Device-to-device copy (a reshape that is not a view, a graph output that aliases an input).
struct Copy {
  BufferRef src, dst;
  uint64_t bytes = 0;
};

struct Step {
  enum class Kind : uint32_t { Launch = 0, Gemm = 1, Copy = 2 };
  Kind kind = Kind::Launch;
  uint32_t index = 0; ///< into Plan::launches, Plan::gemms or Plan::copies
  std::string label;  ///< the ONNX node(s) it computes, for profiles and errors
};

struct Plan {
  std::vector<TensorInfo> inputs, outputs;
  uint64_t arenaBytes = 0;
  std::string source;                   ///< CUDA C++ of every kernel
  /// extern "C" names in `source`, or C++ name expressions of template instantiations
  /// ("spdc::kernels::softmax<float, 256>") that the runtime resolves through NVRTC.
  std::vector<std::string> kernelNames;
  std::vector<Launch> launches;
  std::vector<Gemm> gemms;
  std::vector<Copy> copies;
  std::vector<Step> steps; ///< in execution order
  std::vector<uint8_t> weights;
  /// Precompiled code, optional: per architecture ("sm_90"), the NVRTC output (cubin).
  std::vector<std::pair<std::string, std::vector<uint8_t>>> binaries;
};

} // namespace spdc::bundle

#endif // SPDC_RUNTIME_BUNDLE_PLAN_H
