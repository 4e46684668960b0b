//===- Nvrtc.cpp - compile a plan's source with NVRTC ---------------------===//
//
// Reuses the runtime's JIT library (runtime/Jit.h: the kernel headers embedded at build time,
// the toolkit's include directory found at run time), so compile-time checks and the runtime
// compile exactly the same way. Without the CUDA toolkit at build time, NVRTC is unavailable.
//
//===----------------------------------------------------------------------===//

#include "spdc/Codegen/CUDA/Codegen.h"

#include <cctype>

#ifdef SPDC_HAVE_NVRTC
#include "Jit.h"
#endif

using namespace spdc;

bool spdc::codegen::nvrtcAvailable() {
#ifdef SPDC_HAVE_NVRTC
  return true;
#else
  return false;
#endif
}

/// True for a plain C identifier (an extern "C" kernel or a lowered name).
static bool isCIdentifier(const std::string &s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

static std::string compile(const bundle::Plan &plan, const std::string &arch,
                           std::vector<uint8_t> *cubin, std::vector<std::string> *lowered) {
#ifdef SPDC_HAVE_NVRTC
  rt::JitRequest req;
  req.source = plan.source;
  req.target = arch;
  req.cudaIncludeDir = rt::findCudaIncludeDir("");
  for (const std::string &name : plan.kernelNames)
    if (!isCIdentifier(name))
      req.nameExpressions.push_back(name);
  rt::JitResult result;
  std::string error;
  if (rt::compileCuda(req, result, error) != rt::JitStatus::Ok)
    return error.empty() ? std::string("NVRTC failed") : error;
  if (cubin)
    *cubin = std::move(result.code);
  if (lowered)
    *lowered = std::move(result.loweredNames);
  return {};
#else
  (void)plan;
  (void)arch;
  (void)cubin;
  (void)lowered;
  return "this spdc was built without the CUDA toolkit: NVRTC is not available";
#endif
}

std::string spdc::codegen::compileWithNvrtc(const bundle::Plan &plan, const std::string &arch,
                                            std::vector<uint8_t> *cubin) {
  return compile(plan, arch, cubin, nullptr);
}

std::string spdc::codegen::precompile(bundle::Plan &plan, const std::string &arch) {
  std::vector<uint8_t> cubin;
  std::vector<std::string> lowered;
  if (std::string e = compile(plan, arch, &cubin, &lowered); !e.empty())
    return e;
  size_t j = 0;
  for (std::string &name : plan.kernelNames)
    if (!isCIdentifier(name))
      name = lowered[j++];
  plan.binaries.push_back({arch, std::move(cubin)});
  return {};
}
