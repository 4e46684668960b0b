//===- Driver.cpp - the CUDA driver API, loaded at run time ---------------===//

#include "Driver.h"

#include <dlfcn.h>

#include <mutex>

namespace spdc::rt {
namespace {

// The versioned symbol each cuda.h name resolves to (cuda.h's macros rename the declarations,
// so the names below must be the exported ones, not the macro names).
struct Symbol {
  const char *primary;
  const char *fallback; // an older export with the same signature, or null
};

#define SPDC_STR2(x) #x
#define SPDC_STR(x) SPDC_STR2(x)

std::string gError;
const Driver *gDriver = nullptr;

const Driver *load(std::string &error) {
  void *lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = ::dlerror();
    error = std::string("no CUDA device: the CUDA driver (libcuda.so.1) is not installed or "
                        "cannot be loaded (") +
            (why ? why : "dlopen failed") + ")";
    return nullptr;
  }
  static Driver driver;
  // SPDC_STR(fn) expands cuda.h's macro first: "cuMemAlloc_v2" for cuMemAlloc. The plain
  // name is the fallback for the few entry points that got a _v2 only in recent drivers
  // (cuEventElapsedTime_v2 in 12.8, same signature).
#define SPDC_RESOLVE(member, fn)                                                                   \
  {                                                                                                \
    void *p = ::dlsym(lib, SPDC_STR(fn));                                                          \
    if (!p)                                                                                        \
      p = ::dlsym(lib, #fn);                                                                       \
    if (!p) {                                                                                      \
      error = std::string("no CUDA device: the CUDA driver lacks ") + SPDC_STR(fn) +               \
              " (driver too old for this spdc)";                                                   \
      return nullptr;                                                                              \
    }                                                                                              \
    driver.member = reinterpret_cast<decltype(driver.member)>(p);                                  \
  }
  SPDC_DRIVER_FUNCTIONS(SPDC_RESOLVE)
#undef SPDC_RESOLVE

  CUresult r = driver.init(0);
  if (r != CUDA_SUCCESS) {
    error = "no CUDA device: " + driver.error(r, "cuInit");
    return nullptr;
  }
  int count = 0;
  r = driver.deviceGetCount(&count);
  if (r != CUDA_SUCCESS) {
    error = "no CUDA device: " + driver.error(r, "cuDeviceGetCount");
    return nullptr;
  }
  if (count == 0) {
    error = "no CUDA device: the driver reports no GPU";
    return nullptr;
  }
  return &driver;
}

} // namespace

std::string Driver::error(CUresult r, const char *step) const {
  const char *name = nullptr, *text = nullptr;
  if (getErrorName)
    getErrorName(r, &name);
  if (getErrorString)
    getErrorString(r, &text);
  std::string s = std::string(step) + ": " + (name ? name : "CUDA error " + std::to_string(r));
  if (text)
    s += std::string(" (") + text + ")";
  return s;
}

const Driver *loadDriver(std::string &error) {
  static std::once_flag once;
  std::call_once(once, [] { gDriver = load(gError); });
  if (!gDriver)
    error = gError;
  return gDriver;
}

} // namespace spdc::rt
