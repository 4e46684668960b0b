//===- Jit.cpp - NVRTC compilation with the on-disk cache -----------------===//

#include "Jit.h"

#include "JitCache.h"
#include "bundle/Bundle.h"
#include "bundle/Hash.h"

#include <nvrtc.h>

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <memory>

#ifndef SPDC_CUDA_INCLUDE_DIR
#define SPDC_CUDA_INCLUDE_DIR "/usr/local/cuda/include"
#endif

namespace spdc::rt {
namespace {

bool isFile(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool isDir(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string parent(const std::string &p) {
  size_t slash = p.find_last_of('/');
  return slash == std::string::npos || slash == 0 ? std::string("/") : p.substr(0, slash);
}

std::string nvrtcError(nvrtcResult r, const char *step) {
  return std::string(step) + ": " + nvrtcGetErrorString(r);
}

// Cache payload: u32 count of lowered names, each as u64 length + bytes, then the code. The name
// expressions are part of the key, so a hit always has the names the request asks for.
std::vector<uint8_t> packPayload(const JitResult &r) {
  std::vector<uint8_t> out;
  auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      out.push_back(uint8_t(v >> (8 * i)));
  };
  put(r.loweredNames.size(), 4);
  for (const std::string &n : r.loweredNames) {
    put(n.size(), 8);
    out.insert(out.end(), n.begin(), n.end());
  }
  out.insert(out.end(), r.code.begin(), r.code.end());
  return out;
}

bool unpackPayload(const std::vector<uint8_t> &in, size_t names, JitResult &r) {
  size_t pos = 0;
  auto get = [&](int bytes, uint64_t &v) {
    if (in.size() - pos < size_t(bytes))
      return false;
    v = 0;
    for (int i = 0; i < bytes; ++i)
      v |= uint64_t(in[pos + i]) << (8 * i);
    pos += size_t(bytes);
    return true;
  };
  uint64_t count = 0;
  if (!get(4, count) || count != names)
    return false;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t len = 0;
    if (!get(8, len) || in.size() - pos < len)
      return false;
    r.loweredNames.emplace_back(reinterpret_cast<const char *>(in.data() + pos), len);
    pos += len;
  }
  r.code.assign(in.begin() + long(pos), in.end());
  return !r.code.empty();
}

} // namespace

bool isCIdentifier(const std::string &name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

uint64_t embeddedHeadersHash() {
  static const uint64_t hash = [] {
    bundle::Xxh64 h;
    for (size_t i = 0; i < kEmbeddedHeaderCount; ++i) {
      std::string name = kEmbeddedHeaders[i].name, text = kEmbeddedHeaders[i].contents;
      uint64_t n = name.size(), t = text.size();
      h.update(&n, 8), h.update(name.data(), n);
      h.update(&t, 8), h.update(text.data(), t);
    }
    return h.digest();
  }();
  return hash;
}

void nvrtcVersion(int &major, int &minor) {
  major = minor = 0;
  ::nvrtcVersion(&major, &minor);
}

std::string nvrtcTarget(int major, int minor, bool &ptx) {
  ptx = false;
  int count = 0;
  if (nvrtcGetNumSupportedArchs(&count) != NVRTC_SUCCESS || count <= 0)
    return {};
  std::vector<int> archs(size_t(count), 0);
  if (nvrtcGetSupportedArchs(archs.data()) != NVRTC_SUCCESS)
    return {};
  int cc = major * 10 + minor;
  if (std::find(archs.begin(), archs.end(), cc) != archs.end())
    return "sm_" + std::to_string(cc) + (major >= 9 ? "a" : "");
  int best = -1;
  for (int a : archs)
    if (a <= cc && a > best)
      best = a;
  if (best < 0)
    return {};
  ptx = true;
  return "compute_" + std::to_string(best);
}

std::string findCudaIncludeDir(const std::string &override) {
  auto ok = [](const std::string &d) { return !d.empty() && isFile(d + "/cuda_fp16.h"); };
  if (!override.empty())
    return ok(override) ? override : std::string();
  for (const char *var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char *v = std::getenv(var); v && *v && ok(std::string(v) + "/include"))
      return std::string(v) + "/include";
  // Next to the libnvrtc actually loaded: <root>/lib64/libnvrtc.so -> <root>/include, or the
  // targets/<triple>/lib layout -> targets/<triple>/include.
  Dl_info info;
  if (::dladdr(reinterpret_cast<void *>(&::nvrtcVersion), &info) && info.dli_fname) {
    char real[PATH_MAX];
    if (::realpath(info.dli_fname, real)) {
      std::string lib = parent(real);
      for (std::string d : {parent(lib) + "/include", parent(parent(lib)) + "/include"})
        if (ok(d))
          return d;
    }
  }
  if (ok(SPDC_CUDA_INCLUDE_DIR))
    return SPDC_CUDA_INCLUDE_DIR;
  return {};
}

std::vector<std::string> nvrtcOptions(const std::string &target,
                                      const std::string &cudaIncludeDir) {
  std::vector<std::string> o = {"--gpu-architecture=" + target, "-std=c++17"};
  if (!cudaIncludeDir.empty()) {
    o.push_back("-I" + cudaIncludeDir);
    if (isDir(cudaIncludeDir + "/cccl"))
      o.push_back("-I" + cudaIncludeDir + "/cccl");
  }
  // SPDC_NVRTC_OPTIONS: extra options, space-separated (they are part of the cache key).
  if (const char *extra = std::getenv("SPDC_NVRTC_OPTIONS")) {
    std::string word;
    for (const char *c = extra;; ++c) {
      if (*c && *c != ' ') {
        word += *c;
        continue;
      }
      if (!word.empty())
        o.push_back(word);
      word.clear();
      if (!*c)
        break;
    }
  }
  return o;
}

JitStatus compileCuda(const JitRequest &req, JitResult &result, std::string &error) {
  result = JitResult();
  result.ptx = req.target.rfind("compute_", 0) == 0;
  std::vector<std::string> options = nvrtcOptions(req.target, req.cudaIncludeDir);

  CacheKeyParts parts;
  std::string key;
  if (req.cache) {
    parts.source = req.source;
    parts.options = options;
    for (const std::string &n : req.nameExpressions)
      parts.options.push_back("name-expression:" + n); // key only, not an NVRTC option
    parts.arch = req.target;
    nvrtcVersion(parts.nvrtcMajor, parts.nvrtcMinor);
    parts.spdcVersion = bundle::spdcVersion();
    parts.headersHash = embeddedHeadersHash();
    key = cacheKey(parts);
    std::vector<uint8_t> payload;
    if (req.cache->lookup(key, payload)) {
      if (unpackPayload(payload, req.nameExpressions.size(), result)) {
        result.cacheHit = true;
        return JitStatus::Ok;
      }
      result = JitResult(); // well-formed file, unusable contents: compile again
      result.ptx = req.target.rfind("compute_", 0) == 0;
    }
  }

  std::vector<const char *> headerNames, headerContents;
  for (size_t i = 0; i < kEmbeddedHeaderCount; ++i) {
    headerNames.push_back(kEmbeddedHeaders[i].name);
    headerContents.push_back(kEmbeddedHeaders[i].contents);
  }
  nvrtcProgram prog = nullptr;
  nvrtcResult r =
      nvrtcCreateProgram(&prog, req.source.c_str(), "spdc_bundle.cu", int(headerNames.size()),
                         headerContents.data(), headerNames.data());
  if (r != NVRTC_SUCCESS) {
    error = nvrtcError(r, "nvrtcCreateProgram");
    return JitStatus::Error;
  }
  std::unique_ptr<nvrtcProgram, void (*)(nvrtcProgram *)> guard(
      &prog, [](nvrtcProgram *p) { nvrtcDestroyProgram(p); });

  for (const std::string &n : req.nameExpressions)
    if ((r = nvrtcAddNameExpression(prog, n.c_str())) != NVRTC_SUCCESS) {
      error = nvrtcError(r, ("nvrtcAddNameExpression(" + n + ")").c_str());
      return JitStatus::Error;
    }

  std::vector<const char *> argv;
  for (const std::string &o : options)
    argv.push_back(o.c_str());
  r = nvrtcCompileProgram(prog, int(argv.size()), argv.data());
  if (r != NVRTC_SUCCESS) {
    size_t logSize = 0;
    std::string log;
    if (nvrtcGetProgramLogSize(prog, &logSize) == NVRTC_SUCCESS && logSize > 1) {
      log.resize(logSize);
      nvrtcGetProgramLog(prog, log.data());
      log.resize(logSize - 1);
    }
    std::string cmd;
    for (const std::string &o : options)
      cmd += " " + o;
    error = "NVRTC failed to compile the bundle's CUDA source for " + req.target + " (" +
            nvrtcGetErrorString(r) + "; options:" + cmd + "):\n" + log;
    return r == NVRTC_ERROR_COMPILATION ? JitStatus::CompileError : JitStatus::Error;
  }

  for (const std::string &n : req.nameExpressions) {
    const char *lowered = nullptr;
    if ((r = nvrtcGetLoweredName(prog, n.c_str(), &lowered)) != NVRTC_SUCCESS || !lowered) {
      error = "kernel '" + n + "' is not defined by the bundle's source (" +
              nvrtcGetErrorString(r) + ")";
      return JitStatus::CompileError;
    }
    result.loweredNames.push_back(lowered);
  }

  size_t size = 0;
  if (result.ptx) {
    if ((r = nvrtcGetPTXSize(prog, &size)) != NVRTC_SUCCESS) {
      error = nvrtcError(r, "nvrtcGetPTXSize");
      return JitStatus::Error;
    }
    result.code.resize(size);
    if ((r = nvrtcGetPTX(prog, reinterpret_cast<char *>(result.code.data()))) != NVRTC_SUCCESS) {
      error = nvrtcError(r, "nvrtcGetPTX");
      return JitStatus::Error;
    }
  } else {
    if ((r = nvrtcGetCUBINSize(prog, &size)) != NVRTC_SUCCESS) {
      error = nvrtcError(r, "nvrtcGetCUBINSize");
      return JitStatus::Error;
    }
    result.code.resize(size);
    if ((r = nvrtcGetCUBIN(prog, reinterpret_cast<char *>(result.code.data()))) != NVRTC_SUCCESS) {
      error = nvrtcError(r, "nvrtcGetCUBIN");
      return JitStatus::Error;
    }
  }
  if (req.cache)
    result.cacheWarning = req.cache->store(key, packPayload(result));
  return JitStatus::Ok;
}

} // namespace spdc::rt
