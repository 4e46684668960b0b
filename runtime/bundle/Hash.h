//===- Hash.h - XXH64, the checksum of bundles and JIT cache entries -*- C++ -*-===//
//
// XXH64 (xxHash, 64-bit): an order of magnitude faster than FNV-1a on multi-GB weight sections
// (it consumes 32 bytes per round), and specified well enough to re-implement in a few lines.
// One-shot and streaming forms give the same value.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_RUNTIME_BUNDLE_HASH_H
#define SPDC_RUNTIME_BUNDLE_HASH_H

#include <cstddef>
#include <cstdint>

namespace spdc::bundle {

/// Streaming XXH64: update() any number of times, digest() at any point.
class Xxh64 {
public:
  explicit Xxh64(uint64_t seed = 0);
  void update(const void *data, size_t size);
  uint64_t digest() const;

private:
  uint64_t acc[4];
  uint64_t seed;
  uint64_t total = 0;
  uint8_t buffer[32];
  size_t buffered = 0;
};

/// XXH64 of one contiguous block.
uint64_t xxh64(const void *data, size_t size, uint64_t seed = 0);

} // namespace spdc::bundle

#endif // SPDC_RUNTIME_BUNDLE_HASH_H
