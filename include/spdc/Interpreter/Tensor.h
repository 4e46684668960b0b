//===- Tensor.h - host tensors of the reference interpreter ----*- C++ -*-===//
//
// A dense, row-major host tensor: element type, shape and a shared buffer. Copies share the
// buffer; a tensor may view memory it does not own (weights in an mmapped model), kept alive by
// the `owner` handle. Depends on LLVM Support only, so test tools and the importer can use it.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_INTERPRETER_TENSOR_H
#define SPDC_INTERPRETER_TENSOR_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>

namespace spdc {

/// Element types the interpreter executes. Half types are stored as their 16-bit patterns and
/// computed in f32.
enum class DType : uint8_t { F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, Bool };

/// Size of one element in bytes.
size_t dtypeSize(DType t);
/// Lower-case name as MLIR prints it (f32, bf16, i64, ui8, i1).
llvm::StringRef dtypeName(DType t);
bool isFloat(DType t);
bool isSignedInt(DType t);
bool isUnsignedInt(DType t);

class Tensor {
public:
  Tensor() = default;

  /// A zero-initialized tensor. Fails (does not abort) when the size is absurd.
  static llvm::Expected<Tensor> allocate(DType dtype, llvm::ArrayRef<int64_t> shape);
  /// A tensor viewing `data`, which `owner` keeps alive. No copy.
  static Tensor view(DType dtype, llvm::ArrayRef<int64_t> shape, const void *data,
                     std::shared_ptr<const void> owner);

  DType dtype() const { return dtype_; }
  llvm::ArrayRef<int64_t> shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[i]; }
  int64_t numElements() const;
  size_t byteSize() const { return numElements() * dtypeSize(dtype_); }
  bool valid() const { return data_ != nullptr || numElements() == 0; }

  const void *raw() const { return data_; }
  /// Writable access. Only tensors made by `allocate` are writable; the interpreter never writes
  /// into an operand.
  void *mutableRaw() { return const_cast<void *>(data_); }

  template <typename T> const T *data() const { return static_cast<const T *>(data_); }
  template <typename T> T *mutableData() { return static_cast<T *>(mutableRaw()); }

  /// Element `i` (flat, row-major) converted to double / int64, for tests, folding and printing.
  double getDouble(int64_t i) const;
  int64_t getInt(int64_t i) const;

  /// "f32[2x16x512]".
  std::string typeString() const;

private:
  DType dtype_ = DType::F32;
  llvm::SmallVector<int64_t, 4> shape_;
  std::shared_ptr<const void> owner_;
  const void *data_ = nullptr;
};

/// Largest tensor the interpreter allocates (bytes); a model asking for more is refused with a
/// message instead of exhausting memory. 16 GiB is above any model the CPU oracle is meant for.
constexpr uint64_t kMaxTensorBytes = 16ull << 30;

/// f16 / bf16 bit patterns to and from f32 (round to nearest even).
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t h);
uint16_t floatToBf16(float f);

} // namespace spdc

#endif // SPDC_INTERPRETER_TENSOR_H
