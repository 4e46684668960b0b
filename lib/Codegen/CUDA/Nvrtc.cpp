//===- Nvrtc.cpp - compile a plan's sources with NVRTC --------------------===//
//
// Reuses the runtime's JIT library (runtime/Jit.h: the kernel headers embedded at build time,
// the toolkit's include directory found at run time, the on-disk cache), so compile-time checks
// and the runtime compile exactly the same way. Without the CUDA toolkit at build time, NVRTC
// is unavailable.
//
//===----------------------------------------------------------------------===//

#include "spdc/Codegen/CUDA/Codegen.h"

#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/Threading.h"

#include <cctype>
#include <optional>

#ifdef SPDC_HAVE_NVRTC
#include "Jit.h"
#include "JitCache.h"
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

codegen::CompiledUnits spdc::codegen::compileUnits(const bundle::Plan &plan,
                                                   const std::string &arch,
                                                   const std::string &jitCacheDir) {
  size_t n = plan.sources.size();
  CompiledUnits out;
  out.cubins.resize(n);
  out.loweredNames.resize(n);
#ifdef SPDC_HAVE_NVRTC
  std::vector<std::string> errors(n);
  std::string includeDir = rt::findCudaIncludeDir("");
  std::optional<rt::JitCache> cache;
  if (!jitCacheDir.empty())
    cache.emplace(jitCacheDir);
  auto compileUnit = [&](size_t unit) {
    rt::JitRequest req;
    req.source = plan.sources[unit];
    req.target = arch;
    req.cudaIncludeDir = includeDir;
    req.cache = cache ? &*cache : nullptr;
    for (size_t k = 0; k < plan.kernelNames.size(); ++k)
      if (plan.kernelSources[k] == unit && !isCIdentifier(plan.kernelNames[k]))
        req.nameExpressions.push_back(plan.kernelNames[k]);
    rt::JitResult result;
    if (rt::compileCuda(req, result, errors[unit]) != rt::JitStatus::Ok) {
      if (errors[unit].empty())
        errors[unit] = "NVRTC failed";
      return;
    }
    out.cubins[unit] = std::move(result.code);
    out.loweredNames[unit] = std::move(result.loweredNames);
  };
  if (n == 1) {
    compileUnit(0);
  } else if (n > 1) {
    // The template instantiations first: with fewer cores than units, the heavy ones
    // (attention) bound the wall time.
    llvm::DefaultThreadPool pool(llvm::hardware_concurrency(unsigned(n)));
    for (size_t unit = n; unit-- > 0;)
      pool.async([&, unit] { compileUnit(unit); });
    pool.wait();
  }
  for (size_t i = 0; i < n && out.error.empty(); ++i)
    if (!errors[i].empty())
      out.error = n == 1 ? errors[i] : "source unit " + std::to_string(i) + ": " + errors[i];
#else
  (void)arch;
  (void)jitCacheDir;
  out.error = "this spdc was built without the CUDA toolkit: NVRTC is not available";
#endif
  return out;
}

std::string spdc::codegen::addBinaries(bundle::Plan &plan, const std::string &arch,
                                       CompiledUnits units) {
  if (!units.error.empty())
    return units.error;
  std::vector<size_t> next(plan.sources.size(), 0);
  for (size_t k = 0; k < plan.kernelNames.size(); ++k) {
    std::string &name = plan.kernelNames[k];
    uint32_t unit = plan.kernelSources[k];
    if (!isCIdentifier(name))
      name = units.loweredNames[unit][next[unit]++];
  }
  for (size_t unit = 0; unit < plan.sources.size(); ++unit)
    plan.binaries.push_back({arch, uint32_t(unit), std::move(units.cubins[unit])});
  return {};
}

std::string spdc::codegen::defaultJitCacheDir() {
#ifdef SPDC_HAVE_NVRTC
  return rt::JitCache::defaultDir();
#else
  return {};
#endif
}

std::string spdc::codegen::compileWithNvrtc(const bundle::Plan &plan, const std::string &arch) {
  return compileUnits(plan, arch).error;
}

std::string spdc::codegen::precompile(bundle::Plan &plan, const std::string &arch,
                                      const std::string &jitCacheDir) {
  return addBinaries(plan, arch, compileUnits(plan, arch, jitCacheDir));
}
