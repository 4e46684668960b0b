//===- Tensor.cpp - host tensors of the reference interpreter -------------===//
//
// Buffers, element access and the f16 / bf16 conversions. Half conversions are written out bit
// by bit (rather than through APFloat) because kernels call them once per element.
//
//===----------------------------------------------------------------------===//

#include "spdc/Interpreter/Tensor.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/bit.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

using namespace llvm;

namespace spdc {

size_t dtypeSize(DType t) {
  switch (t) {
  case DType::F64:
  case DType::I64:
  case DType::U64:
    return 8;
  case DType::F32:
  case DType::I32:
  case DType::U32:
    return 4;
  case DType::F16:
  case DType::BF16:
  case DType::I16:
  case DType::U16:
    return 2;
  case DType::I8:
  case DType::U8:
  case DType::Bool:
    return 1;
  }
  return 1;
}

StringRef dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F64:
    return "f64";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I8:
    return "i8";
  case DType::I16:
    return "i16";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  case DType::U8:
    return "ui8";
  case DType::U16:
    return "ui16";
  case DType::U32:
    return "ui32";
  case DType::U64:
    return "ui64";
  case DType::Bool:
    return "i1";
  }
  return "?";
}

bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16;
}
bool isSignedInt(DType t) {
  return t == DType::I8 || t == DType::I16 || t == DType::I32 || t == DType::I64;
}
bool isUnsignedInt(DType t) {
  return t == DType::U8 || t == DType::U16 || t == DType::U32 || t == DType::U64;
}

int64_t Tensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape_)
    n *= d;
  return n;
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += "x";
    s += std::to_string(d);
  }
  return s;
}

Expected<Tensor> Tensor::allocate(DType dtype, ArrayRef<int64_t> shape) {
  uint64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return createStringError(inconvertibleErrorCode(),
                               "cannot allocate a tensor with negative dimension %lld",
                               static_cast<long long>(d));
    if (d != 0 && elements > kMaxTensorBytes / static_cast<uint64_t>(d))
      return createStringError(inconvertibleErrorCode(), "tensor of shape [%s] is too large",
                               shapeString(shape).c_str());
    elements *= static_cast<uint64_t>(d);
  }
  uint64_t bytes = elements * dtypeSize(dtype);
  if (elements > kMaxTensorBytes || bytes > kMaxTensorBytes)
    return createStringError(
        inconvertibleErrorCode(), "tensor %s[%s] needs %llu bytes, more than the limit of %llu",
        dtypeName(dtype).str().c_str(), shapeString(shape).c_str(),
        static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(kMaxTensorBytes));
  // calloc hands back zeroed pages without touching them; at least one byte so that even an
  // empty tensor has a non-null, aligned pointer.
  void *memory = std::calloc(std::max<uint64_t>(bytes, 1), 1);
  if (!memory)
    return createStringError(inconvertibleErrorCode(), "out of memory allocating %llu bytes",
                             static_cast<unsigned long long>(bytes));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_.assign(shape.begin(), shape.end());
  t.owner_ =
      std::shared_ptr<const void>(memory, [](const void *p) { std::free(const_cast<void *>(p)); });
  t.data_ = memory;
  return t;
}

Tensor Tensor::view(DType dtype, ArrayRef<int64_t> shape, const void *data,
                    std::shared_ptr<const void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_.assign(shape.begin(), shape.end());
  t.owner_ = std::move(owner);
  t.data_ = data;
  return t;
}

double Tensor::getDouble(int64_t i) const {
  switch (dtype_) {
  case DType::F32:
    return data<float>()[i];
  case DType::F64:
    return data<double>()[i];
  case DType::F16:
    return halfToFloat(data<uint16_t>()[i]);
  case DType::BF16:
    return bf16ToFloat(data<uint16_t>()[i]);
  case DType::I8:
    return data<int8_t>()[i];
  case DType::I16:
    return data<int16_t>()[i];
  case DType::I32:
    return data<int32_t>()[i];
  case DType::I64:
    return static_cast<double>(data<int64_t>()[i]);
  case DType::U8:
    return data<uint8_t>()[i];
  case DType::U16:
    return data<uint16_t>()[i];
  case DType::U32:
    return data<uint32_t>()[i];
  case DType::U64:
    return static_cast<double>(data<uint64_t>()[i]);
  case DType::Bool:
    return data<uint8_t>()[i] != 0 ? 1.0 : 0.0;
  }
  return 0.0;
}

/// Float to int64 truncating toward zero; NaN gives 0 and out-of-range values saturate, so
/// that a bad value never reaches an undefined conversion.
static int64_t truncToInt64(double v) {
  if (std::isnan(v))
    return 0;
  if (v >= 0x1p63)
    return INT64_MAX;
  if (v < -0x1p63)
    return INT64_MIN;
  return static_cast<int64_t>(v);
}

int64_t Tensor::getInt(int64_t i) const {
  switch (dtype_) {
  case DType::F32:
  case DType::F64:
  case DType::F16:
  case DType::BF16:
    return truncToInt64(getDouble(i));
  case DType::I8:
    return data<int8_t>()[i];
  case DType::I16:
    return data<int16_t>()[i];
  case DType::I32:
    return data<int32_t>()[i];
  case DType::I64:
    return data<int64_t>()[i];
  case DType::U8:
    return data<uint8_t>()[i];
  case DType::U16:
    return data<uint16_t>()[i];
  case DType::U32:
    return data<uint32_t>()[i];
  case DType::U64:
    return static_cast<int64_t>(data<uint64_t>()[i]);
  case DType::Bool:
    return data<uint8_t>()[i] != 0 ? 1 : 0;
  }
  return 0;
}

std::string Tensor::typeString() const {
  return dtypeName(dtype_).str() + "[" + shapeString(shape_) + "]";
}

//===----------------------------------------------------------------------===//
// Half conversions
//===----------------------------------------------------------------------===//

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in f32.
    float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (exp == 31) // inf, or NaN with its payload kept
    return llvm::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return llvm::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t floatToHalf(float f) {
  uint32_t x = llvm::bit_cast<uint32_t>(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) {
    if (x == 0x7f800000u)
      return sign | 0x7c00;
    // NaN: quiet, keeping the top payload bits.
    return sign | 0x7e00 | static_cast<uint16_t>((x >> 13) & 0x3ff);
  }
  // 65520 is halfway between the largest half (65504) and 2^16; ties go to the even 2^16 = inf.
  if (x >= 0x477ff000u)
    return sign | 0x7c00;
  if (x < 0x38800000u) {
    // Below the smallest normal half (2^-14): a subnormal, in units of 2^-24. Values up to
    // 2^-25 (half a unit, a tie with the even 0) become zero.
    if (x <= 0x33000000u)
      return sign;
    uint32_t exp = x >> 23;
    uint32_t mant = (x & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp; // 14..24
    uint32_t r = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1)))
      ++r;
    return sign | static_cast<uint16_t>(r);
  }
  // Normal: rebias the exponent (127 - 15 = 112) and round the 13 dropped mantissa bits; a
  // carry out of the mantissa correctly bumps the exponent.
  uint32_t r = x - 0x38000000u;
  uint32_t h = r >> 13;
  uint32_t rem = r & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    ++h;
  return sign | static_cast<uint16_t>(h);
}

float bf16ToFloat(uint16_t h) { return llvm::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t floatToBf16(float f) {
  uint32_t x = llvm::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) // NaN: quiet it, keep sign and top payload
    return static_cast<uint16_t>((x >> 16) | 0x40);
  // Round to nearest even on the 16 dropped bits; overflow rounds into inf as it should.
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

} // namespace spdc
