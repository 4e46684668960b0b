//===- JitCacheTest.cpp - cache keys, damaged entries, NVRTC through the cache -===//
//
// NVRTC runs on the CPU, so all of this runs without a GPU.
//
//===----------------------------------------------------------------------===//

#include "JitCache.h"
#include "Jit.h"
#include "bundle/Bundle.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <unistd.h>

using namespace spdc::rt;

namespace {

std::string tempDir(const std::string &name) {
  const char *dir = std::getenv("TMPDIR");
  std::string d = std::string(dir && *dir ? dir : "/tmp") + "/spdc-jit-test-" +
                  std::to_string(::getpid()) + "-" + name;
  static std::vector<std::string> made;
  if (made.empty())
    std::atexit([] {
      for (const std::string &m : made)
        std::system(("rm -rf '" + m + "'").c_str());
    });
  made.push_back(d);
  std::system(("rm -rf '" + d + "'").c_str());
  return d;
}

bool exists(const std::string &p) { return ::access(p.c_str(), F_OK) == 0; }

CacheKeyParts parts() {
  CacheKeyParts p;
  p.source = "extern \"C\" __global__ void k() {}";
  p.options = {"--gpu-architecture=sm_90a", "-std=c++17"};
  p.arch = "sm_90a";
  p.nvrtcMajor = 13;
  p.nvrtcMinor = 0;
  p.spdcVersion = "0.1.0";
  p.headersHash = 1234;
  return p;
}

const char *kKernel = R"(
extern "C" __global__ void add_one(const float *in, float *out, long long n) {
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i] + 1.0f;
}
)";

} // namespace

TEST(JitCache, KeyIsStableAndCoversEveryPart) {
  std::string key = cacheKey(parts());
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(cacheKey(parts()), key);
  // Pinned: the key must not depend on the process, the machine or the build.
  EXPECT_EQ(key, "6a57c6497714e5b58fa4c5024603fcda");

  auto differs = [&](auto edit) {
    CacheKeyParts p = parts();
    edit(p);
    return cacheKey(p) != key;
  };
  EXPECT_TRUE(differs([](CacheKeyParts &p) { p.source += " "; }));
  EXPECT_TRUE(differs([](CacheKeyParts &p) { p.options.push_back("-lineinfo"); }));
  EXPECT_TRUE(differs([](CacheKeyParts &p) { p.arch = "sm_90"; }));
  EXPECT_TRUE(differs([](CacheKeyParts &p) { p.nvrtcMinor = 1; }));
  EXPECT_TRUE(differs([](CacheKeyParts &p) { p.spdcVersion = "0.1.1"; }));
  EXPECT_TRUE(differs([](CacheKeyParts &p) { p.headersHash = 1235; }));
  // Field boundaries count: moving a character between options changes the key.
  EXPECT_TRUE(differs([](CacheKeyParts &p) {
    p.options = {"--gpu-architecture=sm_90a-", "std=c++17"};
  }));
}

TEST(JitCache, StoreLookupAndDamagedEntries) {
  std::string dir = tempDir("store") + "/nested/dir";
  JitCache cache(dir);
  std::vector<uint8_t> payload = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<uint8_t> got;
  EXPECT_FALSE(cache.lookup("k", got));
  ASSERT_EQ(cache.store("k", payload), "");
  ASSERT_TRUE(cache.lookup("k", got));
  EXPECT_EQ(got, payload);

  // A flipped payload byte: a miss, and the entry is removed.
  {
    std::fstream f(cache.path("k"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(24 + 3);
    f.put(char(0x7f));
  }
  EXPECT_FALSE(cache.lookup("k", got));
  EXPECT_TRUE(got.empty());
  EXPECT_FALSE(exists(cache.path("k")));

  // A truncated entry: a miss too.
  ASSERT_EQ(cache.store("k", payload), "");
  ASSERT_EQ(::truncate(cache.path("k").c_str(), 24 + 4), 0);
  EXPECT_FALSE(cache.lookup("k", got));

  // No temporary files left behind.
  ASSERT_EQ(cache.store("k", payload), "");
  int files = 0;
  if (DIR *d = ::opendir(dir.c_str())) {
    while (dirent *e = ::readdir(d))
      files += e->d_name[0] != '.';
    ::closedir(d);
  }
  EXPECT_EQ(files, 1);
}

TEST(JitCache, DefaultDirFollowsXdg) {
  const char *old = std::getenv("XDG_CACHE_HOME");
  std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", "/x/cache", 1);
  EXPECT_EQ(JitCache::defaultDir(), "/x/cache/spdc");
  ::unsetenv("XDG_CACHE_HOME");
  if (const char *home = std::getenv("HOME")) {
    EXPECT_EQ(JitCache::defaultDir(), std::string(home) + "/.cache/spdc");
  }
  if (old)
    ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}

TEST(Jit, TargetsFollowTheComputeCapability) {
  bool ptx = true;
  EXPECT_EQ(nvrtcTarget(9, 0, ptx), "sm_90a");
  EXPECT_FALSE(ptx);
  EXPECT_EQ(nvrtcTarget(8, 0, ptx), "sm_80");
  EXPECT_FALSE(ptx);
  // Newer than NVRTC knows: PTX for the newest arch it has, JIT-compiled by the driver.
  std::string future = nvrtcTarget(99, 0, ptx);
  EXPECT_TRUE(ptx);
  EXPECT_EQ(future.rfind("compute_", 0), 0u) << future;
}

TEST(Jit, FindsTheCudaHeaders) {
  std::string dir = findCudaIncludeDir("");
  ASSERT_NE(dir, "");
  EXPECT_TRUE(exists(dir + "/cuda_fp16.h"));
  EXPECT_EQ(findCudaIncludeDir("/nonexistent"), "");
}

TEST(Jit, EmbeddedHeadersAreNamedForInclusion) {
  for (size_t i = 0; i < kEmbeddedHeaderCount; ++i) {
    EXPECT_EQ(std::string(kEmbeddedHeaders[i].name).rfind("spdc/kernels/", 0), 0u)
        << kEmbeddedHeaders[i].name;
    EXPECT_GT(std::string(kEmbeddedHeaders[i].contents).size(), 0u);
  }
}

TEST(Jit, CompilesThroughTheCacheAndRecompilesDamagedEntries) {
  std::string dir = tempDir("nvrtc");
  JitCache cache(dir);
  JitRequest req;
  req.source = kKernel;
  req.target = "sm_90";
  req.cudaIncludeDir = findCudaIncludeDir("");
  req.cache = &cache;
  JitResult first, second, third;
  std::string error;
  ASSERT_EQ(compileCuda(req, first, error), JitStatus::Ok) << error;
  EXPECT_FALSE(first.cacheHit);
  EXPECT_FALSE(first.ptx);
  ASSERT_GT(first.code.size(), 4u);
  EXPECT_EQ(first.code[0], 0x7f); // an ELF cubin
  EXPECT_EQ(first.code[1], 'E');
  EXPECT_EQ(first.cacheWarning, "");

  ASSERT_EQ(compileCuda(req, second, error), JitStatus::Ok) << error;
  EXPECT_TRUE(second.cacheHit);
  EXPECT_EQ(second.code, first.code);

  // Damage the one entry: the next compile misses, recompiles and repairs it.
  std::string key;
  {
    CacheKeyParts p;
    p.source = req.source;
    p.options = nvrtcOptions(req.target, req.cudaIncludeDir);
    p.arch = req.target;
    nvrtcVersion(p.nvrtcMajor, p.nvrtcMinor);
    p.spdcVersion = spdc::bundle::spdcVersion();
    p.headersHash = embeddedHeadersHash();
    key = cacheKey(p);
  }
  ASSERT_TRUE(exists(cache.path(key)));
  ASSERT_EQ(::truncate(cache.path(key).c_str(), 100), 0);
  ASSERT_EQ(compileCuda(req, third, error), JitStatus::Ok) << error;
  EXPECT_FALSE(third.cacheHit);
  EXPECT_EQ(third.code.size(), first.code.size());
  std::vector<uint8_t> repaired;
  EXPECT_TRUE(cache.lookup(key, repaired));
}

TEST(Jit, CompileErrorsCarryTheLog) {
  JitRequest req;
  req.source = "extern \"C\" __global__ void broken() { undeclared_thing = 1; }";
  req.target = "sm_90";
  req.cudaIncludeDir = findCudaIncludeDir("");
  JitResult result;
  std::string error;
  EXPECT_EQ(compileCuda(req, result, error), JitStatus::CompileError);
  EXPECT_NE(error.find("undeclared_thing"), std::string::npos) << error;
  EXPECT_NE(error.find("sm_90"), std::string::npos) << error;
}

TEST(Jit, PtxForComputeTargets) {
  JitRequest req;
  req.source = kKernel;
  req.target = "compute_90";
  JitResult result;
  std::string error;
  ASSERT_EQ(compileCuda(req, result, error), JitStatus::Ok) << error;
  EXPECT_TRUE(result.ptx);
  std::string text(result.code.begin(), result.code.end());
  EXPECT_NE(text.find(".entry add_one"), std::string::npos);
}

TEST(Jit, TemplateKernelsByNameExpression) {
  EXPECT_TRUE(isCIdentifier("add_one"));
  EXPECT_FALSE(isCIdentifier("scale<float, 4>"));
  EXPECT_FALSE(isCIdentifier("ns::k"));
  JitCache cache(tempDir("names"));
  JitRequest req;
  req.source = R"(
namespace ns {
template <typename T, int N> __global__ void scale(T *x) { x[threadIdx.x] *= T(N); }
}
)";
  req.target = "sm_90";
  req.cudaIncludeDir = findCudaIncludeDir("");
  req.cache = &cache;
  req.nameExpressions = {"ns::scale<float, 4>", "ns::scale<double, 2>"};
  JitResult first, second;
  std::string error;
  ASSERT_EQ(compileCuda(req, first, error), JitStatus::Ok) << error;
  ASSERT_EQ(first.loweredNames.size(), 2u);
  EXPECT_EQ(first.loweredNames[0].rfind("_ZN2ns5scaleIfLi4EEEvPT_", 0), 0u)
      << first.loweredNames[0];
  ASSERT_EQ(compileCuda(req, second, error), JitStatus::Ok) << error;
  EXPECT_TRUE(second.cacheHit);
  EXPECT_EQ(second.loweredNames, first.loweredNames);
  EXPECT_EQ(second.code, first.code);

  req.nameExpressions = {"ns::missing<float>"};
  JitResult third;
  EXPECT_EQ(compileCuda(req, third, error), JitStatus::CompileError);
}

TEST(Jit, EmbeddedKernelHeadersCompileWithoutFilesOnDisk) {
  if (kEmbeddedHeaderCount == 0)
    GTEST_SKIP() << "no kernel headers in runtime/kernels yet";
  // Only the CUDA toolkit's include directory is given: the kernel headers come from the
  // library itself, by the names kernels include them with.
  JitRequest req;
  for (size_t i = 0; i < kEmbeddedHeaderCount; ++i)
    req.source += std::string("#include \"") + kEmbeddedHeaders[i].name + "\"\n";
  req.source += "extern \"C\" __global__ void spdc_probe() {}\n";
  req.target = "sm_90a";
  req.cudaIncludeDir = findCudaIncludeDir("");
  JitResult result;
  std::string error;
  EXPECT_EQ(compileCuda(req, result, error), JitStatus::Ok) << error;
}
