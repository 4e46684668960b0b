//===- JitCache.cpp - on-disk cache of NVRTC output -----------------------===//
//
// Entry layout: "SPDCJIT1", u64 payload size, u64 XXH64(payload), payload (little-endian).
//
//===----------------------------------------------------------------------===//

#include "JitCache.h"

#include "bundle/Hash.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace spdc::rt {
namespace {

constexpr char kEntryMagic[8] = {'S', 'P', 'D', 'C', 'J', 'I', 'T', '1'};
constexpr size_t kEntryHeader = 24;
// Two XXH64 seeds give a 128-bit key: collisions between distinct programs are then negligible.
constexpr uint64_t kSeedLow = 0x5350444331ULL, kSeedHigh = 0x5350444332ULL;

void hashField(bundle::Xxh64 &h, const std::string &s) {
  uint64_t n = s.size();
  h.update(&n, sizeof n); // length-prefixed: ("ab","c") and ("a","bc") differ
  h.update(s.data(), s.size());
}

uint64_t keyHash(const CacheKeyParts &p, uint64_t seed) {
  bundle::Xxh64 h(seed);
  hashField(h, p.source);
  uint64_t n = p.options.size();
  h.update(&n, sizeof n);
  for (const std::string &o : p.options)
    hashField(h, o);
  hashField(h, p.arch);
  hashField(h, std::to_string(p.nvrtcMajor) + "." + std::to_string(p.nvrtcMinor));
  hashField(h, p.spdcVersion);
  h.update(&p.headersHash, sizeof p.headersHash);
  return h.digest();
}

void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = uint8_t(v >> (8 * i));
}
uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t(p[i]) << (8 * i);
  return v;
}

std::string makeDirs(const std::string &dir) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty())
      continue;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
      return "cannot create " + partial + ": " + std::strerror(errno);
  }
  return {};
}

} // namespace

std::string cacheKey(const CacheKeyParts &parts) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", (unsigned long long)keyHash(parts, kSeedHigh),
                (unsigned long long)keyHash(parts, kSeedLow));
  return buf;
}

std::string JitCache::defaultDir() {
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/')
    return std::string(xdg) + "/spdc";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/spdc";
  return {};
}

std::string JitCache::path(const std::string &key) const { return dir + "/" + key + ".bin"; }

bool JitCache::lookup(const std::string &key, std::vector<uint8_t> &payload) const {
  payload.clear();
  std::string file = path(key);
  FILE *f = std::fopen(file.c_str(), "rb");
  if (!f)
    return false;
  uint8_t header[kEntryHeader];
  bool ok = std::fread(header, 1, kEntryHeader, f) == kEntryHeader &&
            std::memcmp(header, kEntryMagic, 8) == 0;
  uint64_t size = ok ? get64(header + 8) : 0;
  struct stat st;
  ok = ok && ::fstat(::fileno(f), &st) == 0 && uint64_t(st.st_size) == kEntryHeader + size;
  if (ok) {
    payload.resize(size);
    ok = std::fread(payload.data(), 1, size, f) == size &&
         bundle::xxh64(payload.data(), size) == get64(header + 16);
  }
  std::fclose(f);
  if (!ok) {
    payload.clear();
    ::unlink(file.c_str()); // damaged: the caller recompiles and stores a good one
  }
  return ok;
}

std::string JitCache::store(const std::string &key, const std::vector<uint8_t> &payload) const {
  if (dir.empty())
    return "no cache directory";
  if (std::string e = makeDirs(dir); !e.empty())
    return e;
  std::string file = path(key);
  // pid + a per-process counter: threads and processes storing the same key never share a file.
  static std::atomic<uint64_t> counter{0};
  std::string tmp =
      file + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return "cannot create " + tmp + ": " + std::strerror(errno);
  std::vector<uint8_t> bytes(kEntryHeader + payload.size());
  std::memcpy(bytes.data(), kEntryMagic, 8);
  put64(bytes.data() + 8, payload.size());
  put64(bytes.data() + 16, bundle::xxh64(payload.data(), payload.size()));
  if (!payload.empty())
    std::memcpy(bytes.data() + kEntryHeader, payload.data(), payload.size());
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      std::string e = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return e;
    }
    done += size_t(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), file.c_str()) != 0) {
    std::string e = "cannot store " + file + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

} // namespace spdc::rt
