//===- TensorProto.cpp - onnx.TensorProto <-> host tensors ------------------===//

#include "spdc/Frontend/ONNX/TensorProto.h"
#include "TensorConversion.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace llvm;

namespace spdc::onnx_import {

std::optional<DType> dtypeFromOnnx(int32_t t) {
  switch (t) {
  case onnx::TensorProto::FLOAT: return DType::F32;
  case onnx::TensorProto::DOUBLE: return DType::F64;
  case onnx::TensorProto::FLOAT16: return DType::F16;
  case onnx::TensorProto::BFLOAT16: return DType::BF16;
  case onnx::TensorProto::INT8: return DType::I8;
  case onnx::TensorProto::INT16: return DType::I16;
  case onnx::TensorProto::INT32: return DType::I32;
  case onnx::TensorProto::INT64: return DType::I64;
  case onnx::TensorProto::UINT8: return DType::U8;
  case onnx::TensorProto::UINT16: return DType::U16;
  case onnx::TensorProto::UINT32: return DType::U32;
  case onnx::TensorProto::UINT64: return DType::U64;
  case onnx::TensorProto::BOOL: return DType::Bool;
  default: return std::nullopt;
  }
}

int32_t onnxFromDType(DType t) {
  switch (t) {
  case DType::F32: return onnx::TensorProto::FLOAT;
  case DType::F64: return onnx::TensorProto::DOUBLE;
  case DType::F16: return onnx::TensorProto::FLOAT16;
  case DType::BF16: return onnx::TensorProto::BFLOAT16;
  case DType::I8: return onnx::TensorProto::INT8;
  case DType::I16: return onnx::TensorProto::INT16;
  case DType::I32: return onnx::TensorProto::INT32;
  case DType::I64: return onnx::TensorProto::INT64;
  case DType::U8: return onnx::TensorProto::UINT8;
  case DType::U16: return onnx::TensorProto::UINT16;
  case DType::U32: return onnx::TensorProto::UINT32;
  case DType::U64: return onnx::TensorProto::UINT64;
  case DType::Bool: return onnx::TensorProto::BOOL;
  }
  return onnx::TensorProto::UNDEFINED;
}

std::string onnxDataTypeName(int32_t t) {
  if (onnx::TensorProto::DataType_IsValid(t))
    return onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(t));
  return std::to_string(t);
}

std::optional<int64_t> checkedNumElements(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0)
      return std::nullopt;
    if (d == 0)
      n = 0;
    else if (n != 0 && n > kMaxElements / d)
      return std::nullopt;
    else
      n *= d;
  }
  if (n > kMaxElements)
    return std::nullopt;
  return n;
}

Expected<std::shared_ptr<MemoryBuffer>> ExternalDataFiles::get(StringRef location) {
  auto it = files.find(location);
  if (it != files.end())
    return it->second;
  SmallString<256> path(baseDir);
  sys::path::append(path, location);
  // Not volatile and no null terminator: large files are mmapped, never read into memory.
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf)
    return createStringError(buf.getError(), "cannot open external data file '%s': %s",
                             path.c_str(), buf.getError().message().c_str());
  std::shared_ptr<MemoryBuffer> shared(std::move(*buf));
  files[location] = shared;
  return shared;
}

namespace {

template <typename To, typename Field>
void copyField(const Field &field, Tensor &t) {
  To *out = t.mutableData<To>();
  for (int64_t i = 0, e = field.size(); i < e; ++i)
    out[i] = static_cast<To>(field.Get(i));
}

/// A tensor viewing `bytes` (kept alive by `owner`), copied when misaligned for its type.
Expected<Tensor> viewBytes(DType dtype, ArrayRef<int64_t> shape, const char *bytes,
                           std::shared_ptr<const void> owner) {
  if (reinterpret_cast<uintptr_t>(bytes) % dtypeSize(dtype) == 0)
    return Tensor::view(dtype, shape, bytes, std::move(owner));
  Expected<Tensor> copy = Tensor::allocate(dtype, shape);
  if (!copy)
    return copy.takeError();
  std::memcpy(copy->mutableRaw(), bytes, copy->byteSize());
  return copy;
}

} // namespace

Expected<Tensor> tensorFromProto(const onnx::TensorProto &proto,
                                 std::shared_ptr<const void> owner,
                                 ExternalDataFiles *external) {
  std::string name = proto.name().empty() ? std::string("<unnamed>") : proto.name();
  auto fail = [&](const Twine &msg) -> Error {
    return createStringError(inconvertibleErrorCode(), "tensor '" + name + "': " + msg);
  };
  if (proto.has_segment())
    return fail("segmented tensors are not supported");
  std::optional<DType> dtype = dtypeFromOnnx(proto.data_type());
  if (!dtype)
    return fail("unsupported data type " + onnxDataTypeName(proto.data_type()));
  SmallVector<int64_t> shape(proto.dims().begin(), proto.dims().end());
  std::optional<int64_t> n = checkedNumElements(shape);
  if (!n)
    return fail("invalid shape (negative dimension or more than 2^40 elements)");
  size_t bytes = static_cast<size_t>(*n) * dtypeSize(*dtype);

  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    uint64_t offset = 0;
    std::optional<uint64_t> length;
    for (const onnx::StringStringEntryProto &kv : proto.external_data()) {
      uint64_t v = 0;
      if (kv.key() == "location")
        location = kv.value();
      else if ((kv.key() == "offset" || kv.key() == "length") &&
               StringRef(kv.value()).getAsInteger(10, v))
        return fail("external data " + kv.key() + " '" + kv.value() + "' is not a number");
      else if (kv.key() == "offset")
        offset = v;
      else if (kv.key() == "length")
        length = v;
    }
    if (location.empty())
      return fail("external data without a location");
    if (!external)
      return fail("external data '" + location + "' cannot be resolved here");
    Expected<std::shared_ptr<MemoryBuffer>> file = external->get(location);
    if (!file)
      return fail(toString(file.takeError()));
    uint64_t size = (*file)->getBufferSize();
    if (length && *length != bytes)
      return fail(formatv("external data length {0} differs from the {1} bytes its shape needs",
                          *length, bytes));
    if (offset > size || bytes > size - offset)
      return fail(formatv("external data [{0}, {1}) is out of range of '{2}' ({3} bytes)", offset,
                          offset + bytes, (*file)->getBufferIdentifier(), size));
    const char *data = (*file)->getBufferStart() + offset;
    return viewBytes(*dtype, shape, data, std::shared_ptr<const void>(*file, data));
  }

  if (proto.has_raw_data()) {
    const std::string &raw = proto.raw_data();
    if (raw.size() != bytes)
      return fail(formatv("raw data holds {0} bytes, but {1} elements of {2} need {3}",
                          raw.size(), *n, dtypeName(*dtype), bytes));
    return viewBytes(*dtype, shape, raw.data(), std::move(owner));
  }

  int64_t count = 0;
  switch (*dtype) {
  case DType::F32: count = proto.float_data_size(); break;
  case DType::F64: count = proto.double_data_size(); break;
  case DType::I64: count = proto.int64_data_size(); break;
  case DType::U32:
  case DType::U64: count = proto.uint64_data_size(); break;
  default: count = proto.int32_data_size(); break;
  }
  if (count != *n)
    return fail(formatv("holds {0} values, its shape needs {1}", count, *n));
  Expected<Tensor> t = Tensor::allocate(*dtype, shape);
  if (!t)
    return t.takeError();
  switch (*dtype) {
  case DType::F32: copyField<float>(proto.float_data(), *t); break;
  case DType::F64: copyField<double>(proto.double_data(), *t); break;
  case DType::I64: copyField<int64_t>(proto.int64_data(), *t); break;
  case DType::U32: copyField<uint32_t>(proto.uint64_data(), *t); break;
  case DType::U64: copyField<uint64_t>(proto.uint64_data(), *t); break;
  case DType::I32: copyField<int32_t>(proto.int32_data(), *t); break;
  case DType::I16: copyField<int16_t>(proto.int32_data(), *t); break;
  case DType::I8: copyField<int8_t>(proto.int32_data(), *t); break;
  case DType::U16:
  case DType::F16:
  case DType::BF16: copyField<uint16_t>(proto.int32_data(), *t); break;
  case DType::U8: copyField<uint8_t>(proto.int32_data(), *t); break;
  case DType::Bool: {
    uint8_t *out = t->mutableData<uint8_t>();
    for (int64_t i = 0; i < *n; ++i)
      out[i] = proto.int32_data(i) != 0;
    break;
  }
  }
  return t;
}

void tensorToProto(const Tensor &t, StringRef name, onnx::TensorProto &proto) {
  proto.Clear();
  proto.set_name(name.str());
  proto.set_data_type(onnxFromDType(t.dtype()));
  for (int64_t d : t.shape())
    proto.add_dims(d);
  proto.set_raw_data(static_cast<const char *>(t.raw()), t.byteSize());
}

} // namespace spdc::onnx_import

using namespace spdc::onnx_import;

Expected<spdc::Tensor> spdc::readTensorProtoFile(StringRef path, std::string *name) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf)
    return createStringError(buf.getError(), "cannot read '%s': %s", path.str().c_str(),
                             buf.getError().message().c_str());
  auto proto = std::make_shared<onnx::TensorProto>();
  StringRef bytes = (*buf)->getBuffer();
  if (bytes.size() > static_cast<size_t>(INT_MAX) ||
      !proto->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return createStringError(inconvertibleErrorCode(),
                             "'%s' is not a serialized onnx.TensorProto (truncated or corrupt)",
                             path.str().c_str());
  if (proto->data_type() == onnx::TensorProto::UNDEFINED)
    return createStringError(inconvertibleErrorCode(),
                             "'%s' is not a serialized onnx.TensorProto (no data type)",
                             path.str().c_str());
  ExternalDataFiles external(sys::path::parent_path(path).str());
  Expected<Tensor> t = tensorFromProto(*proto, proto, &external);
  if (!t)
    return createStringError(inconvertibleErrorCode(), "%s: %s", path.str().c_str(),
                             toString(t.takeError()).c_str());
  if (name)
    *name = proto->name();
  return t;
}

Error spdc::writeTensorProtoFile(StringRef path, const Tensor &t, StringRef name) {
  onnx::TensorProto proto;
  tensorToProto(t, name, proto);
  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    return createStringError(inconvertibleErrorCode(), "cannot serialize tensor '%s'",
                             name.str().c_str());
  std::error_code ec;
  raw_fd_ostream os(path, ec, sys::fs::OF_None);
  if (ec)
    return createStringError(ec, "cannot write '%s': %s", path.str().c_str(),
                             ec.message().c_str());
  os << bytes;
  os.close();
  if (os.has_error())
    return createStringError(os.error(), "cannot write '%s': %s", path.str().c_str(),
                             os.error().message().c_str());
  return Error::success();
}
