//===- Npy.cpp - numpy .npy files -----------------------------------------===//

#include "Npy.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstring>

using namespace spdc;
using llvm::StringRef;

static llvm::Error npyError(StringRef path, const llvm::Twine &what) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 path + ": " + what);
}

llvm::Expected<Tensor> spdc::driver::readNpyFile(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buffer)
    return npyError(path, buffer.getError().message());
  StringRef data = (*buffer)->getBuffer();
  constexpr StringRef kMagic("\x93NUMPY", 6);
  if (!data.starts_with(kMagic) || data.size() < 10)
    return npyError(path, "not a numpy .npy file");
  uint8_t major = static_cast<uint8_t>(data[6]);
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = static_cast<uint8_t>(data[8]) | (static_cast<uint8_t>(data[9]) << 8);
    headerStart = 10;
  } else if ((major == 2 || major == 3) && data.size() >= 12) {
    headerLen = 0;
    for (int i = 0; i < 4; ++i)
      headerLen |= static_cast<size_t>(static_cast<uint8_t>(data[8 + i])) << (8 * i);
    headerStart = 12;
  } else {
    return npyError(path, "unsupported .npy format version " + llvm::Twine(int(major)));
  }
  if (headerStart + headerLen > data.size())
    return npyError(path, "truncated header");
  StringRef header = data.substr(headerStart, headerLen);

  // The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
  auto field = [&](StringRef key) -> StringRef {
    size_t at = header.find(("'" + key + "'").str());
    if (at == StringRef::npos)
      return "";
    return header.substr(header.find(':', at) + 1).ltrim();
  };
  StringRef descr = field("descr");
  if (!descr.consume_front("'"))
    return npyError(path, "header has no descr");
  descr = descr.take_until([](char c) { return c == '\''; });
  std::optional<DType> dtype = llvm::StringSwitch<std::optional<DType>>(descr)
                                   .Cases("<f4", "=f4", DType::F32)
                                   .Cases("<f8", "=f8", DType::F64)
                                   .Cases("<f2", "=f2", DType::F16)
                                   .Cases("<i8", "=i8", DType::I64)
                                   .Cases("<i4", "=i4", DType::I32)
                                   .Cases("<i2", "=i2", DType::I16)
                                   .Case("|i1", DType::I8)
                                   .Case("|u1", DType::U8)
                                   .Cases("<u2", "=u2", DType::U16)
                                   .Cases("<u4", "=u4", DType::U32)
                                   .Cases("<u8", "=u8", DType::U64)
                                   .Case("|b1", DType::Bool)
                                   .Default(std::nullopt);
  if (!dtype)
    return npyError(path, "unsupported dtype '" + descr + "' (little-endian numbers and bool)");
  if (field("fortran_order").starts_with("True"))
    return npyError(path, "Fortran-order arrays are not supported; save with np.ascontiguousarray");
  StringRef shapeText = field("shape");
  if (!shapeText.consume_front("("))
    return npyError(path, "header has no shape");
  shapeText = shapeText.take_until([](char c) { return c == ')'; });
  llvm::SmallVector<int64_t> shape;
  llvm::SmallVector<StringRef> dims;
  shapeText.split(dims, ',', -1, /*KeepEmpty=*/false);
  for (StringRef d : dims) {
    d = d.trim();
    if (d.empty())
      continue;
    int64_t v;
    if (d.getAsInteger(10, v) || v < 0)
      return npyError(path, "bad dimension '" + d + "'");
    shape.push_back(v);
  }
  llvm::Expected<Tensor> t = Tensor::allocate(*dtype, shape);
  if (!t)
    return t.takeError();
  size_t bytes = t->byteSize();
  if (data.size() - headerStart - headerLen < bytes)
    return npyError(path, "truncated data: " + llvm::Twine(bytes) + " bytes expected");
  std::memcpy(t->mutableRaw(), data.data() + headerStart + headerLen, bytes);
  return t;
}
