//===- Hash.cpp - XXH64 ---------------------------------------------------===//
//
// Follows the xxHash specification (doc/xxhash_spec.md in Cyan4973/xxHash); checked against
// the reference implementation's values in test/runtime/BundleTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "Hash.h"

#include <cstring>

namespace spdc::bundle {
namespace {

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ULL;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// Little-endian loads: the bundle format is little-endian, and so are the hosts we target.
inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t load32(const uint8_t *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline uint64_t round(uint64_t acc, uint64_t input) {
  acc += input * kPrime2;
  acc = rotl(acc, 31);
  return acc * kPrime1;
}

inline uint64_t mergeRound(uint64_t acc, uint64_t val) {
  acc ^= round(0, val);
  return acc * kPrime1 + kPrime4;
}

} // namespace

Xxh64::Xxh64(uint64_t seed) : seed(seed) {
  acc[0] = seed + kPrime1 + kPrime2;
  acc[1] = seed + kPrime2;
  acc[2] = seed;
  acc[3] = seed - kPrime1;
}

void Xxh64::update(const void *data, size_t size) {
  const uint8_t *p = static_cast<const uint8_t *>(data);
  total += size;
  if (buffered + size < 32) {
    std::memcpy(buffer + buffered, p, size);
    buffered += size;
    return;
  }
  if (buffered) {
    size_t fill = 32 - buffered;
    std::memcpy(buffer + buffered, p, fill);
    for (int i = 0; i < 4; ++i)
      acc[i] = round(acc[i], load64(buffer + 8 * i));
    p += fill;
    size -= fill;
    buffered = 0;
  }
  uint64_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  while (size >= 32) {
    a0 = round(a0, load64(p));
    a1 = round(a1, load64(p + 8));
    a2 = round(a2, load64(p + 16));
    a3 = round(a3, load64(p + 24));
    p += 32;
    size -= 32;
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
  std::memcpy(buffer, p, size);
  buffered = size;
}

uint64_t Xxh64::digest() const {
  uint64_t h;
  if (total >= 32) {
    h = rotl(acc[0], 1) + rotl(acc[1], 7) + rotl(acc[2], 12) + rotl(acc[3], 18);
    for (int i = 0; i < 4; ++i)
      h = mergeRound(h, acc[i]);
  } else {
    h = seed + kPrime5;
  }
  h += total;
  const uint8_t *p = buffer;
  size_t left = buffered;
  while (left >= 8) {
    h ^= round(0, load64(p));
    h = rotl(h, 27) * kPrime1 + kPrime4;
    p += 8;
    left -= 8;
  }
  if (left >= 4) {
    h ^= uint64_t(load32(p)) * kPrime1;
    h = rotl(h, 23) * kPrime2 + kPrime3;
    p += 4;
    left -= 4;
  }
  while (left) {
    h ^= (*p) * kPrime5;
    h = rotl(h, 11) * kPrime1;
    ++p;
    --left;
  }
  h ^= h >> 33;
  h *= kPrime2;
  h ^= h >> 29;
  h *= kPrime3;
  h ^= h >> 32;
  return h;
}

uint64_t xxh64(const void *data, size_t size, uint64_t seed) {
  Xxh64 h(seed);
  h.update(data, size);
  return h.digest();
}

} // namespace spdc::bundle
