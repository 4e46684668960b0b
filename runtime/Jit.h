//===- Jit.h - NVRTC compilation with the on-disk cache ---------*- C++ -*-===//
//
// Compiles a bundle's CUDA C++ for one device. The kernel templates of runtime/kernels are
// embedded in the library at build time and handed to NVRTC as headers, so
// `#include "spdc/kernels/<name>.cuh"` works without any file on disk; CUDA's own headers
// (and CCCL) come from the toolkit's include directory, found at run time.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_RUNTIME_JIT_H
#define SPDC_RUNTIME_JIT_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace spdc::rt {

class JitCache;

/// runtime/kernels/*.cuh, generated into EmbeddedHeaders.cpp by cmake/EmbedHeaders.cmake.
struct EmbeddedHeader {
  const char *name; ///< "spdc/kernels/softmax.cuh"
  const char *contents;
};
extern const EmbeddedHeader kEmbeddedHeaders[];
extern const size_t kEmbeddedHeaderCount;

/// XXH64 over the embedded headers' names and contents (part of the cache key).
uint64_t embeddedHeadersHash();

void nvrtcVersion(int &major, int &minor);

/// What NVRTC should target for compute capability major.minor: "sm_XY" ("sm_XYa" from
/// Hopper on, for the arch-specific instructions) when NVRTC knows the arch; else PTX for the
/// newest "compute_XY" below it (`ptx` set), which the driver JIT-compiles. Empty if none fits.
std::string nvrtcTarget(int major, int minor, bool &ptx);

/// CUDA headers for NVRTC: `override` if set, else $CUDA_HOME/include, else the include
/// directory next to the loaded libnvrtc, else the toolkit this library was built against.
/// Returns the first that holds cuda_fp16.h, or empty.
std::string findCudaIncludeDir(const std::string &override);

struct JitRequest {
  std::string source;
  std::string target;         ///< from nvrtcTarget
  std::string cudaIncludeDir; ///< from findCudaIncludeDir; may be empty
  const JitCache *cache = nullptr;
  /// C++ names of kernels that are not extern "C" (template instantiations such as
  /// "spdc::kernels::softmax<float, 256>"), resolved with nvrtcAddNameExpression.
  std::vector<std::string> nameExpressions;
};

struct JitResult {
  std::vector<uint8_t> code; ///< cubin, or NUL-terminated PTX for a compute_XY target
  bool ptx = false;
  std::vector<std::string> loweredNames; ///< mangled names, one per JitRequest::nameExpressions
  bool cacheHit = false;
  std::string cacheWarning; ///< a failed cache store (the code is still good)
};

enum class JitStatus { Ok, CompileError, Error };

/// Compiles (or finds in the cache) `request.source`. On CompileError, `error` holds the NVRTC
/// log; on Error, what failed.
JitStatus compileCuda(const JitRequest &request, JitResult &result, std::string &error);

/// True for a plain C identifier (an extern "C" kernel name); anything else is looked up as a
/// C++ name expression.
bool isCIdentifier(const std::string &name);

/// The NVRTC options compileCuda uses (exposed for the cache key tests and `--emit` tools).
std::vector<std::string> nvrtcOptions(const std::string &target, const std::string &cudaIncludeDir);

} // namespace spdc::rt

#endif // SPDC_RUNTIME_JIT_H
