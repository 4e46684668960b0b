//===- TensorConversion.h - onnx.TensorProto <-> host tensors ---*- C++ -*-===//
//
// Shared by the importer (initializers, Constant nodes) and TensorProto.cpp (backend-test .pb
// files). Data held in `raw_data` or in external files is viewed, not copied: the caller hands
// an owner that keeps the proto (or the mapped file) alive.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_LIB_FRONTEND_ONNX_TENSORCONVERSION_H
#define SPDC_LIB_FRONTEND_ONNX_TENSORCONVERSION_H

#include "spdc/Interpreter/Tensor.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MemoryBuffer.h"

#include <onnx/onnx_pb.h>

#include <memory>
#include <optional>

namespace spdc::onnx_import {

/// Largest number of elements a tensor of the model may declare (2^40): beyond it a shape is
/// taken as corrupt and refused before anything is allocated.
constexpr int64_t kMaxElements = int64_t(1) << 40;

/// The DType of an ONNX TensorProto data type; none for unsupported ones (strings, complex,
/// float8, 4-bit).
std::optional<DType> dtypeFromOnnx(int32_t onnxDataType);
/// The ONNX data type of `t`.
int32_t onnxFromDType(DType t);
/// Name of an ONNX data type for messages ("FLOAT", "STRING", "17").
std::string onnxDataTypeName(int32_t onnxDataType);

/// Element count of `dims`, or none when a dim is negative or the count exceeds kMaxElements.
std::optional<int64_t> checkedNumElements(llvm::ArrayRef<int64_t> dims);

/// Maps external-data files once per import and keeps them mapped while any tensor views them.
class ExternalDataFiles {
public:
  explicit ExternalDataFiles(std::string baseDir) : baseDir(std::move(baseDir)) {}
  /// The mapped file `location` (relative to the model's folder).
  llvm::Expected<std::shared_ptr<llvm::MemoryBuffer>> get(llvm::StringRef location);
  const std::string &dir() const { return baseDir; }

private:
  std::string baseDir;
  llvm::StringMap<std::shared_ptr<llvm::MemoryBuffer>> files;
};

/// The tensor `proto` holds. `owner` keeps `proto` alive: raw data is viewed through it.
/// External data is resolved through `external` (an error when null). Errors name the tensor.
llvm::Expected<Tensor> tensorFromProto(const onnx::TensorProto &proto,
                                       std::shared_ptr<const void> owner,
                                       ExternalDataFiles *external);

/// `t` as a TensorProto with raw data.
void tensorToProto(const Tensor &t, llvm::StringRef name, onnx::TensorProto &proto);

} // namespace spdc::onnx_import

#endif // SPDC_LIB_FRONTEND_ONNX_TENSORCONVERSION_H
