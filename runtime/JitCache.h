//===- JitCache.h - on-disk cache of NVRTC output ---------------*- C++ -*-===//
//
// One file per compiled program, named by a 128-bit key over everything that affects the code:
// source, embedded headers, NVRTC options, target arch, NVRTC and spdc versions. Entries carry
// their size and XXH64, so a truncated or damaged entry reads as a miss (and is recompiled and
// overwritten); writes go to a temporary file renamed into place, so concurrent processes never
// see half an entry.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_RUNTIME_JITCACHE_H
#define SPDC_RUNTIME_JITCACHE_H

#include <cstdint>
#include <string>
#include <vector>

namespace spdc::rt {

struct CacheKeyParts {
  std::string source;
  std::vector<std::string> options; ///< NVRTC options, in order
  std::string arch;                 ///< "sm_90a"
  int nvrtcMajor = 0, nvrtcMinor = 0;
  std::string spdcVersion;
  uint64_t headersHash = 0; ///< of the embedded kernel headers
};

/// 32 lowercase hex digits; stable across runs and machines for equal parts.
std::string cacheKey(const CacheKeyParts &parts);

class JitCache {
public:
  /// `dir` is created on first store (with parents).
  explicit JitCache(std::string dir) : dir(std::move(dir)) {}

  /// $XDG_CACHE_HOME/spdc, else $HOME/.cache/spdc; empty when neither variable is set.
  static std::string defaultDir();

  /// The entry's path (whether or not it exists).
  std::string path(const std::string &key) const;

  /// True and the payload when a valid entry exists; false when missing or damaged (a damaged
  /// entry is removed).
  bool lookup(const std::string &key, std::vector<uint8_t> &payload) const;

  /// Writes the entry atomically. Returns an empty string, or why it failed (callers treat a
  /// failed store as a warning: the compiled code is still good).
  std::string store(const std::string &key, const std::vector<uint8_t> &payload) const;

  const std::string &directory() const { return dir; }

private:
  std::string dir;
};

} // namespace spdc::rt

#endif // SPDC_RUNTIME_JITCACHE_H
