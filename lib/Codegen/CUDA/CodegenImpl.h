//===- CodegenImpl.h - shared state of the CUDA code generator --*- C++ -*-===//
//
// Internal to lib/Codegen/CUDA. The generator works on logical buffers (one per materialized
// value, views alias their source's) and fills a bundle::Plan whose buffer references name
// logical buffers until MemoryPlan.cpp assigns arena offsets and rewrites them.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_LIB_CODEGEN_CUDA_CODEGENIMPL_H
#define SPDC_LIB_CODEGEN_CUDA_CODEGENIMPL_H

#include "spdc/Analysis/SymbolicShapes.h"
#include "spdc/Codegen/CUDA/Codegen.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MathExtras.h"

#include <climits>
#include <optional>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace spdc::codegen::detail {

using bundle::ElementType;

/// Threads per block of the generated grid-stride kernels (a multiple of 32; 256 is the usual
/// occupancy sweet spot for memory-bound elementwise code).
constexpr int kElementwiseBlock = 256;
/// Elements per thread of the generated elementwise kernels (independent loads in flight).
constexpr int kElementwiseUnroll = 4;
/// Most elements per thread of the vectorized elementwise kernel (16 bytes of 2-byte types).
constexpr int64_t kMaxVectorLanes = 8;
/// GEMMs whose output rows are not 16-byte multiples write padded rows (then packed) from
/// this many columns on (a language-model head); narrower ones are not worth the copy.
constexpr int64_t kMinPaddedGemmColumns = 1024;
/// Cap on grid.x of grid-stride kernels: enough blocks to fill an H100 many times over.
constexpr int64_t kMaxGridStrideBlocks = 65535 * 16;
/// Threads per block of row kernels (norms, softmax) per the templates' launch contract.
constexpr int kRowBlock = 256;
constexpr int kRowBlockSmall = 128; ///< for rows of at most kSmallRowCols columns
constexpr int64_t kSmallRowCols = 1024;
/// Columns per thread that row kernels keep in registers between their passes (a 4096-wide row
/// at 256 threads); wider rows are read again in each pass.
constexpr int64_t kMaxRowSlots = 16;
/// 16-byte pieces per thread of row kernels that walk rows in pieces.
constexpr int64_t kRowPieces = 2;
/// Rows of at most this many columns are fused into kernels of one row per warp (kRowBlock / 32
/// rows per block, warp reductions only): many rows in flight per SM, where a block per short
/// row leaves the memory system idle between its barriers. Their columns stay in registers.
constexpr int64_t kWarpRowMaxCols = 1024;
/// Arena and weight alignment (bytes): 256 suits every vector load and cuBLASLt's preference;
/// the bundle format wants weights 64-byte aligned.
constexpr uint64_t kArenaAlign = 256;
constexpr uint64_t kWeightAlign = 64;

/// The dimensions of a value: constants, or polynomials in the dynamic input dimensions.
using Dims = llvm::SmallVector<SymExpr, 4>;

/// The product of `d` (1 for a scalar).
SymExpr product(llvm::ArrayRef<SymExpr> d);
/// Row-major element strides of `shape`.
Dims contiguousStrides(llvm::ArrayRef<SymExpr> shape);

/// A buffer before memory planning.
struct LogicalBuffer {
  bundle::Space space = bundle::Space::Arena;
  uint32_t index = 0;  ///< Input/Output index
  bundle::Int offset = 0; ///< Weights offset, or the Arena offset once planned
  uint64_t bytes = 0; ///< static size (0 when `size` has symbols)
  SymExpr size;       ///< the size in bytes, as a polynomial in the symbols
  ElementType type = ElementType::F32;
  Dims shape;
  int first = INT_MAX, last = -1; ///< steps that use it
  std::string what;               ///< for --emit=plan
};

/// Where a materialized value lives.
struct Buf {
  int id = -1;
  ElementType type = ElementType::F32;
};

/// A value read in place: element (i_0, ..., i_n-1) is element offset + sum(i_k * strides[k])
/// of `buf` (StridedView.cpp).
struct StridedView {
  Buf buf;
  int64_t offset = 0;
  llvm::SmallVector<SymExpr, 4> strides;
};

/// An integer literal for index arithmetic: plain when it fits in 32 bits (so that it takes the
/// kernel's idx_t), else with an LL suffix.
std::string indexLiteral(int64_t v);

/// bundle element type of an MLIR element type (storage as declared), or failure.
mlir::FailureOr<ElementType> elementTypeOf(mlir::Type t);
/// C++ spelling of a storage type ("float", "__nv_bfloat16", "long long", "bool", ...).
const char *cTypeName(ElementType t);
/// C++ type in which values of storage type `t` are computed ("float" for every float type
/// but f64, the type itself for integers).
const char *computeTypeName(ElementType t);
bool isFloatType(ElementType t);

/// ONNX node names of an op (from its NameLoc / FusedLoc), for step labels.
std::string nodeLabel(mlir::Operation *op);

class Generator;

/// The text of one generated kernel and its buffer parameters.
class KernelBuilder {
public:
  KernelBuilder(Generator &gen, std::string name) : gen(gen), name(std::move(name)) {}

  /// The pointer parameter for buffer `id` (read or written), added on first use.
  std::string param(int id, bool write);
  void line(const llvm::Twine &text);
  void open(const llvm::Twine &header) {
    line(header + " {");
    ++depth;
  }
  void close() {
    --depth;
    line("}");
  }
  std::string fresh(llvm::StringRef prefix = "v") {
    return (prefix + llvm::Twine(counter++)).str();
  }
  /// `extern "C" __global__ void name(params) { body }`.
  std::string finish() const;

  /// Row-major linear index of `idx` in `shape`; reuses a known one.
  std::string ravel(llvm::ArrayRef<std::string> idx, llvm::ArrayRef<SymExpr> shape);
  /// Emits the multi-index of `linear` in `shape` (beforeLanes: before the lane loop of a
  /// vectorized kernel, as preload does).
  llvm::SmallVector<std::string> unravel(const std::string &linear,
                                         llvm::ArrayRef<SymExpr> shape, bool beforeLanes = false);
  llvm::SmallVector<std::string> unravel(const std::string &linear,
                                         llvm::ArrayRef<int64_t> shape);
  /// A dimension (or any polynomial of them) as a C++ expression: its literal when constant,
  /// else arithmetic over the kernel's symbol parameters (`s0`, ...), which it adds.
  std::string dim(const SymExpr &e);
  /// Appends the symbol arguments that match the parameters finish() declares.
  void appendSymbolArgs(bundle::Launch &l) const;

  Generator &gen;
  std::string name;
  struct Param {
    int id;
    bool write;
    std::string name;
  };
  std::vector<Param> params;
  std::string body;
  int depth = 1;
  int counter = 0;
  std::map<std::string, std::string> knownLinear;
  /// The largest index a loop of the kernel reaches besides its buffers' sizes (for idx_t).
  int64_t maxIndex = 0;
  /// Plan symbols the kernel reads (parameters `const long long sN`, in order).
  std::set<unsigned> symbols;
  /// Vectorized elementwise kernels: loads of `lanes` consecutive elements along the lane index
  /// `(c0 + k)` are hoisted before the lane loop (inserted at body offset `preloadAt`) as one
  /// 16-byte-aligned vector load; `outerNames` are the variables defined before that loop.
  int64_t lanes = 0;
  size_t preloadAt = 0;
  int preloadDepth = 0;
  std::set<std::string> outerNames;
  std::map<std::string, std::string> preloaded;
  /// The lane array element for a load of buffer `id` at `idx`, or nothing when the load is
  /// not a whole aligned vector.
  std::optional<std::string> vectorLoad(int id, llvm::ArrayRef<std::string> idx,
                                        llvm::ArrayRef<SymExpr> shape);
  /// Whether `expr` reads only variables defined before the lane loop (and plan symbols).
  bool isOuter(llvm::StringRef expr) const;
  /// `base` of a last index `(base + k)` whose base is such a variable (a multiple of lanes).
  std::optional<std::string> laneBase(llvm::StringRef last) const;
  /// The index in shape `to` of the element at `idx` in shape `from` (a view: same elements,
  /// row-major), kept in the form (outer..., base + k) when idx has it and both last dims are
  /// multiples of `lanes`, its new indices computed before the lane loop; nothing otherwise.
  std::optional<llvm::SmallVector<std::string>>
  laneView(llvm::ArrayRef<std::string> idx, llvm::ArrayRef<SymExpr> from,
           llvm::ArrayRef<SymExpr> to);
  /// Inserts `line` before the lane loop of a vectorized kernel.
  void preload(const std::string &line);
};

/// Evaluates spd values at a multi-index as C++ expressions inside one kernel: buffers are
/// loads, elementwise ops compute, data movement remaps the index, reductions loop.
class ExprEmitter {
public:
  ExprEmitter(Generator &gen, KernelBuilder &kb) : gen(gen), kb(kb) { memo.emplace_back(); }
  /// A C++ expression (usually a variable) of v's compute type at `idx`.
  mlir::FailureOr<std::string> at(mlir::Value v, llvm::ArrayRef<std::string> idx);
  void pushScope() { memo.emplace_back(); }
  void popScope() { memo.pop_back(); }
  /// Values computed by the enclosing kernel rather than by their op (a norm's result inside
  /// a row kernel, from the row's statistics).
  llvm::DenseMap<mlir::Value,
                 std::function<mlir::FailureOr<std::string>(llvm::ArrayRef<std::string>)>>
      overrides;

private:
  mlir::FailureOr<std::string> emitOp(mlir::Operation *op, mlir::Value v,
                                      llvm::ArrayRef<std::string> idx);
  /// v at idx from the symbolic shape analysis, for integer shape arithmetic it resolved.
  std::optional<std::string> knownElement(mlir::Value v, llvm::ArrayRef<std::string> idx);
  Generator &gen;
  KernelBuilder &kb;
  std::vector<std::map<std::string, std::string>> memo;
};

/// The whole generation: values → buffers, steps, kernels.
class Generator {
public:
  Generator(const CodegenOptions &options) : options(options) {}

  mlir::LogicalResult run(mlir::func::FuncOp fn);
  bundle::Plan plan;

  /// Dimensions of a ranked tensor value: from its type, or from the symbolic shape analysis
  /// when it has dynamic ones (run() checks that every one resolves).
  Dims dims(mlir::Value v) const;
  /// True when the function has dynamic dimensions.
  bool isDynamic() const { return shapes != nullptr; }
  /// `e` with the analysis' symbols renumbered as the plan's (symbols() lists them in `used`).
  SymExpr planExpr(const SymExpr &e, std::set<unsigned> *used = nullptr) const;
  /// A plan integer: the constant, or an expression over the plan's symbols.
  bundle::Int planInt(const SymExpr &e);
  /// A plan integer from a postfix program (deduplicated).
  bundle::Int planInt(std::vector<bundle::ExprOp> ops);
  /// Appends the postfix program of `e` (in the plan's symbols) to `ops`.
  void appendProgram(const SymExpr &e, std::vector<bundle::ExprOp> &ops) const;
  /// An integer tensor of a dynamic model whose elements the analysis knows in terms of the
  /// symbols (a reshape target): computed where it is read, never materialized.
  bool isShapeArithmetic(mlir::Value v) const;
  /// The elements of an integer value of a dynamic model as polynomials, when the analysis
  /// knows them and some are not constants.
  std::optional<llvm::SmallVector<SymExpr>> symbolicElements(mlir::Value v) const;
  /// Fails with a message naming `op` when `values` have dynamic dimensions (code generation
  /// of `what` needs static shapes).
  mlir::LogicalResult requireStatic(mlir::Operation *op, mlir::ValueRange values,
                                    llvm::StringRef what);
  CodegenStats stats;
  std::vector<LogicalBuffer> buffers;

  /// The value a fusion block argument stands for (else `v`).
  mlir::Value resolve(mlir::Value v) const;
  /// The buffer holding `v` (resolved; views of buffers included), creating weights for
  /// constants; null id when v is computed but not materialized.
  Buf lookup(mlir::Value v);
  /// Storage type of a new buffer for a value of MLIR element type `t`.
  mlir::FailureOr<ElementType> storageType(mlir::Type t, mlir::Operation *where);
  int newBuffer(mlir::Value v, ElementType type, llvm::StringRef what);
  int newBuffer(llvm::ArrayRef<SymExpr> shape, ElementType type, llvm::StringRef what);
  int newBuffer(llvm::ArrayRef<int64_t> shape, ElementType type, llvm::StringRef what);
  /// Integer contents of a constant operand (slice bounds, pads, k), or failure.
  mlir::FailureOr<llvm::SmallVector<int64_t>> constantInts(mlir::Value v);
  /// A splat constant's value, as a C++ literal of its compute type.
  std::optional<std::string> splatLiteral(mlir::Value v);

  /// Kernel steps. A generated kernel joins the plan's first source unit.
  uint32_t addKernel(const std::string &name, const std::string &source);
  /// A template instantiation (`name` a C++ name expression of a template in `header`, under
  /// runtime/kernels/include/spdc/kernels) gets a source unit of its own with an explicit
  /// instantiation for its parameter list: it makes the kernel exist in the module whatever
  /// name the runtime looks it up by (expression or lowered name).
  uint32_t addTemplateKernel(const std::string &name, const std::string &templateParams,
                             llvm::StringRef header);
  void addLaunch(uint32_t kernel, const bundle::Launch &launch, const std::string &label,
                 llvm::ArrayRef<int> bufferIds);
  /// Adds the kernel `kb` built and one launch of it with `l`'s grid: its buffer parameters,
  /// then its symbols, as arguments.
  void launchGenerated(const KernelBuilder &kb, bundle::Launch l, const std::string &label);
  void addGemm(const bundle::Gemm &gemm, const std::string &label, llvm::ArrayRef<int> ids);
  void addCopy(int src, int dst, bundle::Int bytes, const std::string &label);
  bundle::KernelArg bufferArg(int id);

  /// Generates one grid-stride kernel that writes every value of `targets` (all of one
  /// element count) into its buffer.
  mlir::LogicalResult emitElementwise(llvm::ArrayRef<std::pair<mlir::Value, int>> targets,
                                      mlir::Operation *anchor, const std::string &label);
  /// emitElementwise for targets of one shape whose last dimension `lanes` divides: each thread
  /// computes `lanes` consecutive elements (16-byte accesses).
  mlir::LogicalResult emitVectorElementwise(llvm::ArrayRef<std::pair<mlir::Value, int>> targets,
                                            int64_t lanes, const std::string &name,
                                            const std::string &label);
  /// Materializes each value (grouped by shape into kernels) into a new buffer.
  mlir::LogicalResult materialize(llvm::ArrayRef<mlir::Value> values, mlir::Operation *anchor,
                                  const std::string &label);
  /// The buffer of v, materializing it (one kernel) when it is not one already.
  mlir::FailureOr<Buf> bufferOf(mlir::Value v, mlir::Operation *anchor, const std::string &label);

  const CodegenOptions &options;
  llvm::DenseMap<mlir::Value, Buf> valueBufs;
  llvm::DenseMap<mlir::Operation *, Buf> weightBufs;
  llvm::DenseMap<mlir::BlockArgument, mlir::Value> blockArgs;
  /// Values returned by the function (and the yields that become them): materialized in the
  /// declared type, so that --dtype needs no cast kernel at the exit.
  llvm::DenseSet<mlir::Value> graphOutputs;
  llvm::StringMap<uint32_t> kernelIndex;
  /// Generated kernels by their source with the name blanked out, to reuse identical ones.
  llvm::StringMap<uint32_t> kernelBySource;
  std::string kernelSources;
  int kernelCounter = 0;
  std::string kernelPrefix; ///< name stem for the next kernels (op or region kind)
  /// The symbolic shapes of a function with dynamic dimensions (null for static ones), and the
  /// plan's symbol of each canonical analysis symbol.
  std::unique_ptr<SymbolicShapes> shapes;
  std::map<unsigned, unsigned> planSymbol;
  std::map<std::vector<std::pair<uint32_t, int64_t>>, uint32_t> exprIndex;

private:
  mlir::LogicalResult processOps(llvm::ArrayRef<mlir::Operation *> ops,
                                 llvm::ArrayRef<mlir::Value> outputs, mlir::Operation *anchor);
  mlir::LogicalResult emitMatmul(mlir::Operation *op, mlir::DenseSet<mlir::Operation *> &handled,
                                 const std::string &label);
  /// A matmul result computed in padded rows and packed (emitPackRows): when the packed
  /// buffer becomes a graph output, the plan lets it be bound pitched (Plan::pitchedOutputs).
  struct PackedRows {
    int padded, packed;
    int64_t rowPitch;
    uint32_t writeStep, packStep;
  };
  std::vector<PackedRows> packedRows;
  /// Plan::pitchedOutputs for the packed rows that became outputs (after emitOutputs; the
  /// references still name logical buffers, as until memory planning).
  void addPitchedOutputs();
  /// Copies `rows` rows of `cols` elements from `src` (rows `srcStride` apart) into `dst`.
  void emitPackRows(int src, int dst, const SymExpr &rows, int64_t cols, int64_t srcStride,
                    const std::string &label);
  /// Where the next weight starts: the end of the weights section, aligned.
  uint64_t nextWeightOffset() const { return llvm::alignTo(plan.weights.size(), kWeightAlign); }
  /// Weight `id` ([rows, cols]) as [newRows, newCols] with zeros in the new rows and columns:
  /// a copy appended to the weights section, or, with rows appended only, the weight itself
  /// grown (moved to the end of the section first when it is not there).
  int paddedWeight(int id, int64_t rows, int64_t cols, int64_t newRows, int64_t newCols,
                   llvm::StringRef what);
  /// Drops the weights no step reads from the weights section (before memory planning, while
  /// plan references still name logical buffers).
  void compactWeights();
  /// The buffers of an attention's Q, K, V (materialized in `type` where they are not
  /// buffers yet) and of its mask, with the mask's element strides over [b, h, q, k].
  struct AttentionOperands {
    Buf q, k, v;
    /// With `strided`: element offsets into q, k and v's buffers and their strides over
    /// (batch, head, row); the head dim is contiguous. Else 0 and contiguous.
    int64_t offsets[3] = {0, 0, 0};
    SymExpr strides[3][3];
    std::optional<Buf> mask;
    std::string maskType = "float"; ///< the template's TMask (float when there is no mask)
    SymExpr maskStrides[4];
  };
  /// Q, K, V and the mask of an attention op in buffers of `type`. `strided`: Q, K and V that
  /// are strided views of a buffer (StridedView) are read in place.
  mlir::FailureOr<AttentionOperands> attentionOperands(mlir::Operation *attention,
                                                       ElementType type, const std::string &label,
                                                       bool strided = false);
  mlir::LogicalResult emitAttention(mlir::Operation *op, const std::string &label);
  /// Attention of a few query rows (decode) through attention_decode.cuh's split-KV kernels;
  /// false (nothing generated) when the op is not such a case.
  mlir::FailureOr<bool> emitAttentionDecode(mlir::Operation *op, const std::string &label);
  mlir::LogicalResult emitNorm(mlir::Operation *op, const std::string &label);
  mlir::LogicalResult emitSoftmax(mlir::Operation *op, const std::string &label);
  mlir::LogicalResult emitTopK(mlir::Operation *op, const std::string &label);
  /// A reduction region around one norm or last-axis softmax as one kernel, one block per row:
  /// the producers evaluated per element in each pass over the row, the consumers after.
  /// Returns false (and generates nothing) when the region has another shape.
  mlir::FailureOr<bool> emitRowFused(llvm::ArrayRef<mlir::Operation *> ops,
                                     llvm::ArrayRef<mlir::Value> outputs,
                                     mlir::Operation *anchor, const std::string &label);
  mlir::LogicalResult emitScatterND(mlir::Operation *op, const std::string &label);
  mlir::LogicalResult emitOutputs(mlir::func::FuncOp fn);
  /// For a function with dynamic dimensions: the symbolic shapes, the plan's symbols, and a
  /// check that every dimension is known in terms of them.
  mlir::LogicalResult bindSymbols(mlir::func::FuncOp fn);
  std::optional<Buf> viewSource(mlir::Value v);
  /// `v` as a strided view of a buffer that exists now, through reshapes, transposes, splits
  /// and constant slices; nullopt otherwise (it is then computed, by materialize).
  std::optional<StridedView> stridedView(mlir::Value v);
};

/// Assigns arena offsets (liveness over steps, best fit, kArenaAlign) and rewrites every buffer
/// reference of the plan. Returns the peak arena bytes. With dynamic sizes, buffers whose lives
/// do not overlap share slots sized by the largest, and offsets are expressions
/// (planMemoryDynamic; returns 0).
uint64_t planMemory(std::vector<LogicalBuffer> &buffers, bundle::Plan &plan);
void planMemoryDynamic(std::vector<LogicalBuffer> &buffers, Generator &gen);
/// Rewrites the plan's references to logical buffers into regions and offsets (`gen` builds
/// the offset expressions of dynamic ones; null for a static plan).
void rewriteBufferRefs(std::vector<LogicalBuffer> &buffers, bundle::Plan &plan, Generator *gen);

} // namespace spdc::codegen::detail

#endif // SPDC_LIB_CODEGEN_CUDA_CODEGENIMPL_H
