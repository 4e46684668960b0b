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
#include <future>
#include <map>
#include <mutex>
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

namespace {
/// What compiling one unit gave.
struct UnitResult {
  std::string error;
  std::vector<uint8_t> cubin;
  std::vector<std::string> lowered; ///< per name expression
};

/// The name expressions of `plan`'s unit `unit`, in kernel order.
std::vector<std::string> nameExpressions(const bundle::Plan &plan, size_t unit) {
  std::vector<std::string> names;
  for (size_t k = 0; k < plan.kernelNames.size(); ++k)
    if (plan.kernelSources[k] == unit && !isCIdentifier(plan.kernelNames[k]))
      names.push_back(plan.kernelNames[k]);
  return names;
}
} // namespace

struct codegen::UnitCompiler::Impl {
  Impl(std::string arch, const std::string &jitCacheDir) : arch(std::move(arch)) {
#ifdef SPDC_HAVE_NVRTC
    includeDir = rt::findCudaIncludeDir("");
    if (!jitCacheDir.empty())
      cache.emplace(jitCacheDir);
#else
    (void)jitCacheDir;
#endif
  }

  std::string arch;
#ifdef SPDC_HAVE_NVRTC
  std::string includeDir;
  std::optional<rt::JitCache> cache; ///< shared by the threads (its stores are atomic renames)
#endif
  llvm::DefaultThreadPool pool;
  std::mutex mutex;
  /// Started units by source and name expressions.
  std::map<std::pair<std::string, std::vector<std::string>>, std::shared_future<UnitResult>>
      started;

  std::shared_future<UnitResult> get(const std::string &source,
                                     const std::vector<std::string> &names) {
    std::lock_guard<std::mutex> lock(mutex);
    auto key = std::make_pair(source, names);
    if (auto it = started.find(key); it != started.end())
      return it->second;
    std::shared_future<UnitResult> f =
        pool.async([this, source, names] { return compileOne(source, names); });
    started.emplace(std::move(key), f);
    return f;
  }

  UnitResult compileOne(const std::string &source, const std::vector<std::string> &names) {
    UnitResult out;
#ifdef SPDC_HAVE_NVRTC
    rt::JitRequest req;
    req.source = source;
    req.target = arch;
    req.cudaIncludeDir = includeDir;
    req.cache = cache ? &*cache : nullptr;
    req.nameExpressions = names;
    rt::JitResult result;
    if (rt::compileCuda(req, result, out.error) != rt::JitStatus::Ok) {
      if (out.error.empty())
        out.error = "NVRTC failed";
      return out;
    }
    out.cubin = std::move(result.code);
    out.lowered = std::move(result.loweredNames);
#else
    (void)source;
    (void)names;
    out.error = "this spdc was built without the CUDA toolkit: NVRTC is not available";
#endif
    return out;
  }
};

codegen::UnitCompiler::UnitCompiler(std::string arch, std::string jitCacheDir)
    : impl(std::make_unique<Impl>(std::move(arch), jitCacheDir)) {}

codegen::UnitCompiler::~UnitCompiler() { impl->pool.wait(); }

void codegen::UnitCompiler::start(const std::string &source,
                                  const std::vector<std::string> &names) {
  impl->get(source, names);
}

codegen::CompiledUnits codegen::UnitCompiler::compile(const bundle::Plan &plan) {
  size_t n = plan.sources.size();
  std::vector<std::shared_future<UnitResult>> results(n);
  // The template instantiations first: with fewer cores than units, the heavy ones (attention)
  // bound the wall time.
  for (size_t unit = n; unit-- > 0;)
    results[unit] = impl->get(plan.sources[unit], nameExpressions(plan, unit));
  CompiledUnits out;
  for (size_t unit = 0; unit < n; ++unit) {
    const UnitResult &r = results[unit].get();
    if (!r.error.empty() && out.error.empty())
      out.error = n == 1 ? r.error : "source unit " + std::to_string(unit) + ": " + r.error;
    out.cubins.push_back(r.cubin);
    out.loweredNames.push_back(r.lowered);
  }
  return out;
}

codegen::CompiledUnits spdc::codegen::compileUnits(const bundle::Plan &plan,
                                                   const std::string &arch,
                                                   const std::string &jitCacheDir) {
  UnitCompiler compiler(arch, jitCacheDir);
  return compiler.compile(plan);
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
