//===- BundleTest.cpp - .spdc bundle round trip and corruption -----------===//

#include "bundle/Bundle.h"
#include "bundle/Hash.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <unistd.h>

using namespace spdc::bundle;

namespace {

std::string tempPath(const std::string &name) {
  const char *dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/spdc-bundle-test-" +
         std::to_string(::getpid()) + "-" + name;
}

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void writeFile(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
}

uint64_t get64(const std::vector<uint8_t> &b, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t(b[at + i]) << (8 * i);
  return v;
}

void put64(std::vector<uint8_t> &b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    b[at + i] = uint8_t(v >> (8 * i));
}

/// Recomputes the header checksum after a deliberate edit, to reach the checks behind it.
void reseal(std::vector<uint8_t> &b) { put64(b, 24, xxh64(b.data() + 64, b.size() - 64)); }

BufferRef ref(Space space, uint64_t offset, uint32_t index = 0) {
  BufferRef r;
  r.space = space;
  r.index = index;
  r.offset = offset;
  return r;
}

Plan samplePlan() {
  Plan p;
  p.inputs.push_back({"input_ids", ElementType::I64, {2, 8}});
  p.outputs.push_back({"logits", ElementType::F16, {2, 8, 16}});
  p.arenaBytes = 4096;
  p.source = "extern \"C\" __global__ void k0(float *x) {}\n";
  p.kernelNames = {"k0", "k1"};
  Launch l;
  l.kernel = 1;
  l.grid[0] = 7, l.block[0] = 128, l.block[1] = 2;
  l.sharedBytes = 1024;
  KernelArg a;
  a.buffer = ref(Space::Input, 0);
  l.args.push_back(a);
  a.buffer = ref(Space::Arena, 256);
  l.args.push_back(a);
  KernelArg n;
  n.kind = KernelArg::Kind::I64;
  n.i64 = -42;
  l.args.push_back(n);
  KernelArg f;
  f.kind = KernelArg::Kind::F32;
  f.f32 = 0.125f;
  l.args.push_back(f);
  p.launches.push_back(l);
  Gemm g;
  g.type = ElementType::F16;
  g.m = 16, g.n = 16, g.k = 8, g.batch = 1;
  g.transB = true;
  g.lda = 8, g.ldb = 8, g.ldc = 16;
  g.alpha = 0.5f;
  g.epilogue = Gemm::Epilogue::BiasGelu;
  g.a = ref(Space::Arena, 0);
  g.b = ref(Space::Weights, 0);
  g.d = ref(Space::Output, 0);
  g.bias = ref(Space::Weights, 256);
  p.gemms.push_back(g);
  Copy c;
  c.src = ref(Space::Arena, 1024);
  c.dst = ref(Space::Output, 64);
  c.bytes = 128;
  p.copies.push_back(c);
  p.steps.push_back({Step::Kind::Launch, 0, "/layer0/Add"});
  p.steps.push_back({Step::Kind::Gemm, 0, "/layer0/MatMul"});
  p.steps.push_back({Step::Kind::Copy, 0, "/layer0/Reshape"});
  p.weights.resize(1000);
  for (size_t i = 0; i < p.weights.size(); ++i)
    p.weights[i] = uint8_t(i * 7 + 3);
  p.binaries.push_back({"sm_90a", {1, 2, 3, 4, 5}});
  p.binaries.push_back({"sm_80", {9}});
  return p;
}

class BundleTest : public ::testing::Test {
protected:
  std::string path = tempPath("model.spdc");
  void SetUp() override { ASSERT_EQ(writeBundle(samplePlan(), path), ""); }
  void TearDown() override { std::remove(path.c_str()); }

  /// Reads `path` expecting failure; returns the message.
  std::string refuse() {
    LoadedBundle b;
    std::string e = readBundle(path, b);
    EXPECT_NE(e, "");
    EXPECT_EQ(b.weights, nullptr);
    EXPECT_EQ(e.rfind(path + ": ", 0), 0u) << "message must name the file: " << e;
    return e;
  }
};

} // namespace

TEST(Xxh64, MatchesReferenceValues) {
  // From the reference implementation (python-xxhash 3.x).
  EXPECT_EQ(xxh64("", 0), 0xef46db3751d8e999ULL);
  EXPECT_EQ(xxh64("abc", 3), 0x44bc2cf5ad770999ULL);
  std::vector<uint8_t> data(200);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = uint8_t(i);
  EXPECT_EQ(xxh64(data.data(), 200), 0x50dc1079b99e879cULL);
  EXPECT_EQ(xxh64(data.data(), 37, 7), 0x69e0c889396afaf7ULL);
  // Streaming in odd pieces gives the one-shot value.
  Xxh64 h;
  for (size_t at = 0, step = 1; at < data.size(); at += step, step = step * 3 % 41 + 1)
    h.update(data.data() + at, std::min(step, data.size() - at));
  EXPECT_EQ(h.digest(), 0x50dc1079b99e879cULL);
}

TEST_F(BundleTest, RoundTrip) {
  Plan want = samplePlan();
  LoadedBundle got;
  ASSERT_EQ(readBundle(path, got), "");
  const Plan &p = got.plan;
  EXPECT_EQ(got.spdcVersion, spdcVersion());
  ASSERT_EQ(p.inputs.size(), 1u);
  EXPECT_EQ(p.inputs[0].name, "input_ids");
  EXPECT_EQ(p.inputs[0].type, ElementType::I64);
  EXPECT_EQ(p.inputs[0].shape, (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(p.outputs[0].shape, (std::vector<int64_t>{2, 8, 16}));
  EXPECT_EQ(p.arenaBytes, 4096u);
  EXPECT_EQ(p.source, want.source);
  EXPECT_EQ(p.kernelNames, want.kernelNames);
  ASSERT_EQ(p.launches.size(), 1u);
  const Launch &l = p.launches[0];
  EXPECT_EQ(l.kernel, 1u);
  EXPECT_EQ(l.grid[0], 7u);
  EXPECT_EQ(l.block[1], 2u);
  EXPECT_EQ(l.sharedBytes, 1024u);
  ASSERT_EQ(l.args.size(), 4u);
  EXPECT_EQ(l.args[0].buffer.space, Space::Input);
  EXPECT_EQ(l.args[1].buffer.offset, 256u);
  EXPECT_EQ(l.args[2].kind, KernelArg::Kind::I64);
  EXPECT_EQ(l.args[2].i64, -42);
  EXPECT_EQ(l.args[3].f32, 0.125f);
  ASSERT_EQ(p.gemms.size(), 1u);
  const Gemm &g = p.gemms[0];
  EXPECT_EQ(g.type, ElementType::F16);
  EXPECT_EQ(g.m, 16);
  EXPECT_EQ(g.k, 8);
  EXPECT_TRUE(g.transB);
  EXPECT_FALSE(g.transA);
  EXPECT_EQ(g.ldc, 16);
  EXPECT_EQ(g.alpha, 0.5f);
  EXPECT_EQ(g.epilogue, Gemm::Epilogue::BiasGelu);
  EXPECT_EQ(g.bias.offset, 256u);
  EXPECT_EQ(g.d.space, Space::Output);
  ASSERT_EQ(p.copies.size(), 1u);
  EXPECT_EQ(p.copies[0].bytes, 128u);
  EXPECT_EQ(p.copies[0].dst.offset, 64u);
  ASSERT_EQ(p.steps.size(), 3u);
  EXPECT_EQ(p.steps[1].kind, Step::Kind::Gemm);
  EXPECT_EQ(p.steps[2].label, "/layer0/Reshape");
  EXPECT_EQ(p.binaries, want.binaries);
  EXPECT_TRUE(p.weights.empty()); // they stay in the mapping
  ASSERT_EQ(got.weightsSize, want.weights.size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(got.weights) % 64, 0u);
  EXPECT_TRUE(std::equal(want.weights.begin(), want.weights.end(), got.weights));
}

TEST_F(BundleTest, TruncatedFilesAreRefused) {
  std::vector<uint8_t> full = readFile(path);
  for (size_t size : {size_t(0), size_t(10), size_t(63), size_t(64), size_t(200), full.size() / 2,
                      full.size() - 1}) {
    writeFile(path, std::vector<uint8_t>(full.begin(), full.begin() + long(size)));
    std::string e = refuse();
    EXPECT_NE(e.find("truncated"), std::string::npos) << size << ": " << e;
  }
}

TEST_F(BundleTest, FlippedBytesFailTheChecksum) {
  std::vector<uint8_t> full = readFile(path);
  // In the section table, in the plan, in the weights (the last byte of the file).
  for (size_t at : {size_t(70), size_t(64 + 4 * 48 + 100), full.size() - 1}) {
    std::vector<uint8_t> bad = full;
    bad[at] ^= 0x10;
    writeFile(path, bad);
    std::string e = refuse();
    EXPECT_NE(e.find("checksum mismatch"), std::string::npos) << at << ": " << e;
  }
}

TEST_F(BundleTest, WrongMagicIsRefused) {
  std::vector<uint8_t> b = readFile(path);
  b[0] = 'X';
  writeFile(path, b);
  EXPECT_NE(refuse().find("not an spdc bundle"), std::string::npos);
}

TEST_F(BundleTest, OtherVersionIsRefused) {
  std::vector<uint8_t> b = readFile(path);
  b[8] = uint8_t(kFormatVersion + 1);
  writeFile(path, b);
  std::string e = refuse();
  EXPECT_NE(e.find("format version " + std::to_string(kFormatVersion + 1)), std::string::npos) << e;
  EXPECT_NE(e.find("recompile"), std::string::npos) << e;
}

TEST_F(BundleTest, SectionOutsideTheFileIsRefused) {
  std::vector<uint8_t> b = readFile(path);
  put64(b, 64 + 16, b.size()); // the plan section's size: now runs past the end
  reseal(b);
  writeFile(path, b);
  EXPECT_NE(refuse().find("outside the file"), std::string::npos);
}

TEST_F(BundleTest, ReferencesOutsideTheArenaAreRefused) {
  std::vector<uint8_t> b = readFile(path);
  uint64_t planOffset = get64(b, 64 + 8);
  put64(b, planOffset, 512); // arenaBytes: 4096 -> 512, the copy reads arena [1024, 1152)
  reseal(b);
  writeFile(path, b);
  std::string e = refuse();
  EXPECT_NE(e.find("invalid plan"), std::string::npos) << e;
  EXPECT_NE(e.find("outside the arena"), std::string::npos) << e;
}

TEST_F(BundleTest, PlanCountsBeyondTheSectionAreRefused) {
  std::vector<uint8_t> b = readFile(path);
  uint64_t planOffset = get64(b, 64 + 8);
  put64(b, planOffset + 8, 1ULL << 60); // the input count
  reseal(b);
  writeFile(path, b);
  EXPECT_NE(refuse().find("exceeds the section"), std::string::npos);
}

TEST(Bundle, MissingFileIsNamed) {
  LoadedBundle b;
  std::string e = readBundle("/nonexistent/model.spdc", b);
  EXPECT_NE(e.find("/nonexistent/model.spdc: cannot open"), std::string::npos) << e;
}

TEST(Bundle, WriterRefusesInvalidPlans) {
  std::string path = tempPath("invalid.spdc");
  auto expectRefused = [&](Plan p, const std::string &what) {
    std::string e = writeBundle(p, path);
    EXPECT_NE(e.find(what), std::string::npos) << "want '" << what << "', got: " << e;
    EXPECT_NE(::access(path.c_str(), F_OK), 0) << "nothing written";
  };
  Plan p = samplePlan();
  p.launches[0].kernel = 2;
  expectRefused(p, "kernel index 2 out of range");
  p = samplePlan();
  p.launches[0].args[1].buffer.offset = 4096;
  expectRefused(p, "outside the arena");
  p = samplePlan();
  p.launches[0].args[0].buffer.index = 1;
  expectRefused(p, "refers to input 1 of 1");
  p = samplePlan();
  p.gemms[0].k = 600; // A spans 16 rows of 600 halves, far more than the arena
  p.gemms[0].lda = 600;
  p.gemms[0].ldb = 600;
  expectRefused(p, "gemm 0: A");
  p = samplePlan();
  p.gemms[0].bias.offset = 999;
  expectRefused(p, "gemm 0: bias");
  p = samplePlan();
  p.copies[0].bytes = 1u << 20;
  expectRefused(p, "copy 0");
  p = samplePlan();
  p.steps[1].index = 5;
  expectRefused(p, "step 1 ('/layer0/MatMul') refers to index 5");
  p = samplePlan();
  p.inputs[0].shape[0] = -1;
  expectRefused(p, "dynamic dimensions are not supported");
  p = samplePlan();
  p.binaries.push_back({"sm_80", {}});
  expectRefused(p, "two binaries for architecture 'sm_80'");
}

TEST(Bundle, PlanOfOnlyMatmulsRoundTrips) {
  // The gemm records are the largest fixed-size records: a plan that ends with them must not
  // trip the reader's count-versus-remaining-bytes bound.
  Plan p;
  p.arenaBytes = 1 << 16;
  for (int i = 0; i < 3; ++i) {
    Gemm g;
    g.m = g.n = g.k = 8;
    g.lda = g.ldb = g.ldc = 8;
    g.a = ref(Space::Arena, 0);
    g.b = ref(Space::Arena, 256);
    g.d = ref(Space::Arena, 512 + 256 * uint64_t(i));
    p.gemms.push_back(g);
  }
  std::string path = tempPath("gemms.spdc");
  ASSERT_EQ(writeBundle(p, path), "");
  LoadedBundle b;
  EXPECT_EQ(readBundle(path, b), "");
  EXPECT_EQ(b.plan.gemms.size(), 3u);
  EXPECT_EQ(b.plan.gemms[2].d.offset, 1024u);
  EXPECT_EQ(b.weightsSize, 0u);
  std::remove(path.c_str());
}
