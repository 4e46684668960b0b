//===- CompileCache.h - bundles of unchanged models, reused --------*- C++ -*-===//
//
// `spdc model.onnx` compiled again with the same compiler, model files and options gives the
// same bundle: the compile cache keeps the last bundles (hard links into the cache folder, so
// no second copy of the weights) with the summary that was printed, and a hit links the cached
// bundle to the requested path instead of compiling.
//
// The key covers the compiler binary (size, modification time), the model file's content
// (XXH64), every other file beside it (name, size, modification time: external data), and
// every option that changes the bundle. A cached bundle is checked (checksum, plan) before it
// is used; a damaged one is dropped and the model compiled again.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_LIB_DRIVER_COMPILECACHE_H
#define SPDC_LIB_DRIVER_COMPILECACHE_H

#include "spdc/Driver/Driver.h"

#include <optional>
#include <string>

namespace spdc::driver {

class CompileCache {
public:
  /// The cache for `options`, or nullopt when these options do not use it (caching off, no
  /// bundle written, remarks printed, inputs bound by value, no cache folder, or the model
  /// file cannot be read).
  static std::optional<CompileCache> forOptions(const CompileOptions &options);

  /// Links the cached bundle to `bundlePath` and returns the summary printed when it was
  /// compiled; nullopt on a miss.
  std::optional<std::string> fetch(const std::string &bundlePath) const;
  /// Records a freshly written bundle and its summary (best effort: errors are ignored).
  void store(const std::string &bundlePath, const std::string &summary) const;

  /// `$XDG_CACHE_HOME/spdc/bundles`, else `~/.cache/spdc/bundles` (beside the runtime's JIT
  /// cache); empty when neither is set.
  static std::string defaultDir();

private:
  std::string dir, key;
};

} // namespace spdc::driver

#endif // SPDC_LIB_DRIVER_COMPILECACHE_H
