//===- CompileCache.cpp - bundles of unchanged models, reused ---------------===//

#include "CompileCache.h"

#include "bundle/Bundle.h"
#include "bundle/Hash.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"

#include <algorithm>
#include <cstdlib>
#include <unistd.h>
#include <utime.h>
#include <vector>

using namespace spdc::driver;
namespace fs = llvm::sys::fs;

namespace {

/// Entries kept; older ones (by last use) are removed when a new one is stored.
constexpr size_t kMaxEntries = 16;

void hashString(spdc::bundle::Xxh64 &h, llvm::StringRef s) {
  uint64_t n = s.size();
  h.update(&n, sizeof n);
  h.update(s.data(), s.size());
}

void hashInt(spdc::bundle::Xxh64 &h, int64_t v) { h.update(&v, sizeof v); }

/// Size and modification time of a file (what changes when it is rebuilt or rewritten).
bool hashStat(spdc::bundle::Xxh64 &h, const llvm::Twine &path) {
  fs::file_status st;
  if (fs::status(path, st) || !fs::is_regular_file(st))
    return false;
  hashInt(h, int64_t(st.getSize()));
  hashInt(h, st.getLastModificationTime().time_since_epoch().count());
  return true;
}

/// Links (or, across file systems, copies) `from` to `to` through a temporary name, so that a
/// reader never sees a partial file and `to` is replaced atomically.
bool linkOrCopy(const std::string &from, const std::string &to) {
  std::string tmp = to + ".tmp." + std::to_string(::getpid());
  fs::remove(tmp);
  if (fs::create_hard_link(from, tmp) && fs::copy_file(from, tmp))
    return false;
  if (fs::rename(tmp, to)) {
    fs::remove(tmp);
    return false;
  }
  return true;
}

} // namespace

std::string CompileCache::defaultDir() {
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/')
    return std::string(xdg) + "/spdc/bundles";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/spdc/bundles";
  return {};
}

std::optional<CompileCache> CompileCache::forOptions(const CompileOptions &options) {
  if (!options.useCache || !options.emit.empty() || options.remarks ||
      !options.import.boundInputs.empty())
    return std::nullopt;
  CompileCache cache;
  cache.dir = defaultDir();
  if (cache.dir.empty())
    return std::nullopt;

  bundle::Xxh64 h;
  hashString(h, "spdc compile cache 1");
  hashString(h, bundle::spdcVersion());
  // The compiler itself: a rebuilt spdc may generate other code.
  std::string exe = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
  if (exe.empty() || !hashStat(h, exe))
    return std::nullopt;
  // The model: its content, and what lies beside it (external data files).
  auto model = llvm::MemoryBuffer::getFile(options.inputPath, /*IsText=*/false,
                                           /*RequiresNullTerminator=*/false);
  if (!model)
    return std::nullopt;
  h.update((*model)->getBufferStart(), (*model)->getBufferSize());
  llvm::SmallString<256> modelPath(options.inputPath);
  fs::make_absolute(modelPath);
  llvm::StringRef folder = llvm::sys::path::parent_path(modelPath);
  std::vector<std::string> beside;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; it != end && !ec; it.increment(ec))
    if (it->path() != modelPath)
      beside.push_back(it->path());
  if (ec)
    return std::nullopt;
  llvm::sort(beside);
  for (const std::string &f : beside) {
    hashString(h, llvm::sys::path::filename(f));
    hashStat(h, f);
  }
  // Options that change the bundle.
  hashString(h, options.pipeline);
  hashString(h, options.arch);
  hashString(h, options.dtype);
  hashInt(h, options.kernels.attentionInPlace);
  hashInt(h, options.kernels.attentionWarpSpecialized);
  hashInt(h, options.kernels.attentionPersistent);
  hashInt(h, options.kernels.attentionWideKeyTiles);
  hashInt(h, options.kernels.attentionTensorCopies);
  hashInt(h, options.kernels.gemmPaddedRows);
  hashInt(h, options.import.foldConstants);
  hashInt(h, options.import.maxInlineElements);
  std::vector<std::string> shapes;
  for (const auto &entry : options.import.inputShapes) {
    std::string s = entry.getKey().str() + ":";
    for (int64_t d : entry.getValue())
      s += std::to_string(d) + "x";
    shapes.push_back(s);
  }
  llvm::sort(shapes);
  for (const std::string &s : shapes)
    hashString(h, s);

  char key[17];
  std::snprintf(key, sizeof key, "%016llx", static_cast<unsigned long long>(h.digest()));
  cache.key = key;
  return cache;
}

std::optional<std::string> CompileCache::fetch(const std::string &bundlePath) const {
  std::string cached = dir + "/" + key + ".spdc", summaryPath = dir + "/" + key + ".txt";
  auto summary = llvm::MemoryBuffer::getFile(summaryPath, /*IsText=*/true);
  if (!summary || !fs::exists(cached))
    return std::nullopt;
  // Never hand out a damaged entry: the reader checks the checksum and the plan.
  bundle::LoadedBundle loaded;
  if (!bundle::readBundle(cached, loaded).empty()) {
    fs::remove(cached);
    fs::remove(summaryPath);
    return std::nullopt;
  }
  loaded = bundle::LoadedBundle();
  llvm::SmallString<256> out(bundlePath), in(cached);
  fs::make_absolute(out);
  fs::make_absolute(in);
  fs::UniqueID a, b;
  bool same = !fs::getUniqueID(out, a) && !fs::getUniqueID(in, b) && a == b;
  if (!same && !linkOrCopy(cached, bundlePath))
    return std::nullopt;
  ::utime(summaryPath.c_str(), nullptr); // now: the entry was used
  return (*summary)->getBuffer().str();
}

void CompileCache::store(const std::string &bundlePath, const std::string &summary) const {
  if (fs::create_directories(dir))
    return;
  std::string cached = dir + "/" + key + ".spdc", summaryPath = dir + "/" + key + ".txt";
  if (!linkOrCopy(bundlePath, cached))
    return;
  std::string tmp = summaryPath + ".tmp." + std::to_string(::getpid());
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(tmp, ec);
    if (ec)
      return;
    os << summary;
  }
  if (fs::rename(tmp, summaryPath)) {
    fs::remove(tmp);
    return;
  }
  // Keep the most recently used entries (a hit touches its summary).
  std::vector<std::pair<llvm::sys::TimePoint<>, std::string>> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
    if (llvm::sys::path::extension(it->path()) != ".txt")
      continue;
    fs::file_status st;
    if (!fs::status(it->path(), st))
      entries.emplace_back(st.getLastModificationTime(), it->path());
  }
  if (entries.size() <= kMaxEntries)
    return;
  llvm::sort(entries, [](auto &x, auto &y) { return x.first > y.first; });
  for (size_t i = kMaxEntries; i < entries.size(); ++i) {
    llvm::SmallString<256> p(entries[i].second);
    fs::remove(p);
    llvm::sys::path::replace_extension(p, "spdc");
    fs::remove(p);
  }
}
