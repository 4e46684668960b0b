//===- TensorProto.h - ONNX TensorProto files ------------------*- C++ -*-===//
//
// Reads and writes serialized onnx.TensorProto files (the backend-test layout's input_N.pb and
// output_N.pb) as host tensors.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_FRONTEND_ONNX_TENSORPROTO_H
#define SPDC_FRONTEND_ONNX_TENSORPROTO_H

#include "spdc/Interpreter/Tensor.h"

#include <string>

namespace spdc {

/// A tensor read from a serialized TensorProto; `name` receives its name when not null.
/// Errors name the file and what is wrong (truncated, unsupported data type, size mismatch).
llvm::Expected<Tensor> readTensorProtoFile(llvm::StringRef path, std::string *name = nullptr);

/// Writes `t` as a serialized TensorProto named `name`.
llvm::Error writeTensorProtoFile(llvm::StringRef path, const Tensor &t, llvm::StringRef name);

} // namespace spdc

#endif // SPDC_FRONTEND_ONNX_TENSORPROTO_H
