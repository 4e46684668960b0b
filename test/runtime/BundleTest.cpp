//===- BundleTest.cpp - .spdc bundle round trip and corruption -----------===//

#include "bundle/Bundle.h"
#include "bundle/Hash.h"
#include "PlanTestSupport.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <unistd.h>

using namespace spdc::bundle;
using spdc::bundle::test::tensorMapArg;

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

uint32_t get32(const std::vector<uint8_t> &b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= uint32_t(b[at + i]) << (8 * i);
  return v;
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
/// Recomputes the checksum: the bytes after the section table, then the table.
void reseal(std::vector<uint8_t> &b) {
  uint64_t tableEnd = 64 + uint64_t(get32(b, 32)) * 48;
  Xxh64 h;
  h.update(b.data() + tableEnd, b.size() - tableEnd);
  h.update(b.data() + 64, tableEnd - 64);
  put64(b, 24, h.digest());
}

/// The offset in the file of the first section table entry of `kind` (1 plan, 2 source, ...).
size_t entryOf(const std::vector<uint8_t> &b, uint32_t kind) {
  for (size_t e = 64; e < 64 + size_t(get32(b, 32)) * 48; e += 48)
    if (get32(b, e) == kind)
      return e;
  ADD_FAILURE() << "no section of kind " << kind;
  return 64;
}

BufferRef ref(Space space, uint64_t offset, uint32_t index = 0) {
  BufferRef r;
  r.space = space;
  r.index = index;
  r.offset = offset;
  return r;
}

/// The constants of a shape (every dimension static).
std::vector<int64_t> constants(const std::vector<Int> &shape) {
  std::vector<int64_t> dims;
  for (const Int &d : shape) {
    EXPECT_FALSE(d.isDynamic());
    dims.push_back(d.value);
  }
  return dims;
}

Plan samplePlan() {
  Plan p;
  p.inputs.push_back({"input_ids", ElementType::I64, {2, 8}});
  p.outputs.push_back({"logits", ElementType::F16, {2, 8, 16}});
  p.arenaBytes = 4096;
  p.sources = {"extern \"C\" __global__ void k0(float *x) {}\n",
               "template __global__ void k1<float>(float *);\n"};
  p.kernelNames = {"k0", "k1"};
  p.kernelSources = {0, 1};
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
  // A special kernel that takes a tensor map over the arena after the arguments.
  l.specialTarget = "sm_90a";
  l.specialKernel = 0;
  l.specialSharedBytes = 200000;
  l.dependentLaunch = true;
  l.specialArgs.push_back(tensorMapArg(ref(Space::Arena, 512), ElementType::BF16,
                                      {64, 300, 4, 2}, {128, 38400, 153600}, {64, 128}));
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
  p.steps.push_back({Step::Kind::Launch, 0, "/head/MatMul"});
  // The logits' 16 rows of 16 computed 24 apart at arena+2048 by step 1, packed by step 3.
  p.pitchedOutputs.push_back({0, 24, ref(Space::Arena, 2048), 1, 3});
  p.weights.resize(1000);
  for (size_t i = 0; i < p.weights.size(); ++i)
    p.weights[i] = uint8_t(i * 7 + 3);
  p.binaries.push_back({"sm_90a", 0, {1, 2, 3, 4, 5}});
  p.binaries.push_back({"sm_90a", 1, {6, 7}});
  p.binaries.push_back({"sm_80", 0, {9}});
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
  EXPECT_EQ(constants(p.inputs[0].shape), (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(constants(p.outputs[0].shape), (std::vector<int64_t>{2, 8, 16}));
  EXPECT_TRUE(p.symbols.empty());
  EXPECT_TRUE(p.exprs.empty());
  EXPECT_EQ(p.arenaBytes, 4096u);
  EXPECT_EQ(p.sources, want.sources);
  EXPECT_EQ(p.kernelNames, want.kernelNames);
  EXPECT_EQ(p.kernelSources, want.kernelSources);
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
  EXPECT_EQ(l.specialTarget, "sm_90a");
  EXPECT_EQ(l.specialSharedBytes, 200000u);
  EXPECT_TRUE(l.dependentLaunch);
  ASSERT_EQ(l.specialArgs.size(), 1u);
  const KernelArg &m = l.specialArgs[0];
  EXPECT_EQ(m.kind, KernelArg::Kind::TensorMap);
  EXPECT_EQ(m.buffer.offset, 512u);
  EXPECT_EQ(m.map.type, ElementType::BF16);
  EXPECT_EQ(m.map.rank, 4u);
  EXPECT_EQ(m.map.dims[1], 300);
  EXPECT_EQ(m.map.dims[3], 2);
  EXPECT_EQ(m.map.strides[2], 153600);
  EXPECT_EQ(m.map.box[0], 64u);
  EXPECT_EQ(m.map.box[1], 128u);
  EXPECT_EQ(m.map.box[2], 1u);
  EXPECT_EQ(m.map.swizzle, 128u);
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
  ASSERT_EQ(p.steps.size(), 4u);
  EXPECT_EQ(p.steps[1].kind, Step::Kind::Gemm);
  EXPECT_EQ(p.steps[2].label, "/layer0/Reshape");
  ASSERT_EQ(p.pitchedOutputs.size(), 1u);
  EXPECT_EQ(p.pitchedOutputs[0].output, 0u);
  EXPECT_EQ(p.pitchedOutputs[0].rowPitch, 24);
  EXPECT_EQ(p.pitchedOutputs[0].padded.space, Space::Arena);
  EXPECT_EQ(p.pitchedOutputs[0].padded.offset, 2048u);
  EXPECT_EQ(p.pitchedOutputs[0].writeStep, 1u);
  EXPECT_EQ(p.pitchedOutputs[0].packStep, 3u);
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
  // In the section table, in the plan, in the weights, in the last section (a binary).
  for (size_t at : {size_t(70), size_t(get64(full, entryOf(full, 1) + 8) + 10),
                    size_t(get64(full, entryOf(full, 4) + 8) + 500), full.size() - 1}) {
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
  std::vector<uint8_t> full = readFile(path);
  // The next version, and version 1 (static shapes, sizes without expressions).
  for (uint32_t version : {kFormatVersion + 1, 1u}) {
    std::vector<uint8_t> b = full;
    b[8] = uint8_t(version);
    writeFile(path, b);
    std::string e = refuse();
    EXPECT_NE(e.find("format version " + std::to_string(version)), std::string::npos) << e;
    EXPECT_NE(e.find("recompile"), std::string::npos) << e;
  }
}

TEST_F(BundleTest, SectionOutsideTheFileIsRefused) {
  std::vector<uint8_t> b = readFile(path);
  put64(b, entryOf(b, 1) + 16, b.size()); // the plan section's size: now runs past the end
  reseal(b);
  writeFile(path, b);
  EXPECT_NE(refuse().find("outside the file"), std::string::npos);
}

TEST_F(BundleTest, ReferencesOutsideTheArenaAreRefused) {
  std::vector<uint8_t> b = readFile(path);
  uint64_t planOffset = get64(b, entryOf(b, 1) + 8);
  put64(b, planOffset, 512); // arenaBytes: 4096 -> 512, the copy reads arena [1024, 1152)
  reseal(b);
  writeFile(path, b);
  std::string e = refuse();
  EXPECT_NE(e.find("invalid plan"), std::string::npos) << e;
  EXPECT_NE(e.find("outside the arena"), std::string::npos) << e;
}

TEST_F(BundleTest, PlanCountsBeyondTheSectionAreRefused) {
  std::vector<uint8_t> b = readFile(path);
  uint64_t planOffset = get64(b, entryOf(b, 1) + 8);
  put64(b, planOffset + 12, 1ULL << 60); // the symbol count, after arenaBytes (i64, i32)
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
  p.launches[0].specialArgs[0].map.rank = 6;
  expectRefused(p, "special argument 0: tensor map rank 6");
  p = samplePlan();
  p.launches[0].specialArgs[0].map.box[0] = 128; // 256 bytes, over the 128-byte swizzle
  expectRefused(p, "special argument 0: tensor map box rows of 256 bytes");
  p = samplePlan();
  p.launches[0].specialArgs[0].buffer.offset = 8192;
  expectRefused(p, "outside the arena");
  p = samplePlan();
  p.launches[0].args.push_back(p.launches[0].specialArgs[0]);
  expectRefused(p, "argument 4 is a tensor map: only a special kernel's arguments take them");

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
  expectRefused(p, "input 0 ('input_ids') has dimension -1");
  p = samplePlan();
  p.launches[0].grid[1] = Int::dynamic(0); // no expressions in a static plan
  expectRefused(p, "launch 0 grid[1] refers to expression 0 of 0");
  p = samplePlan();
  p.launches[0].grid[0] = int64_t(1) << 32;
  expectRefused(p, "grid dimension 4294967296 out of range");
  p = samplePlan();
  p.binaries.push_back({"sm_80", 0, {}});
  expectRefused(p, "two binaries for architecture 'sm_80' and source unit 0");
  p = samplePlan();
  p.binaries.push_back({"sm_80", 2, {1}});
  expectRefused(p, "binary for 'sm_80' of source unit 2 of 2");
  p = samplePlan();
  p.kernelSources[1] = 5;
  expectRefused(p, "kernel 1 is in source unit 5 of 2");
  p = samplePlan();
  p.kernelSources.pop_back();
  expectRefused(p, "2 kernels but 1 kernel source units");
  p = samplePlan();
  p.pitchedOutputs[0].rowPitch = 15;
  expectRefused(p, "pitched output 0: row pitch 15 is shorter than a row of output 'logits'");
  p = samplePlan();
  p.pitchedOutputs[0].padded.offset = 3500; // 768 bytes from there pass the arena's end
  expectRefused(p, "pitched output 0: padded rows: bytes [3500, 3500+768) outside the arena");
  p = samplePlan();
  p.pitchedOutputs[0].packStep = 2; // a copy
  expectRefused(p, "pitched output 0: write step 1 and pack step 2 are not a step and a later launch");
  p = samplePlan();
  p.pitchedOutputs[0].output = 1;
  expectRefused(p, "pitched output 0: refers to output 1 of 1");
}

namespace {
// samplePlan plus decode attention's pair: launch 1's special kernel (sm_90a) runs in clusters
// of 4 and replaces launch 2, run by the last two steps.
Plan clusterPlan() {
  Plan p = samplePlan();
  Launch split = p.launches[0];
  split.specialArgs.clear();
  split.grid[0] = 8;
  split.specialSharedBytes = 100000;
  split.specialCluster = 4;
  split.specialReplaces = 2;
  Launch combine = p.launches[0];
  combine.specialTarget.clear();
  combine.specialArgs.clear();
  p.launches.push_back(split);
  p.launches.push_back(combine);
  p.steps.push_back({Step::Kind::Launch, 1, "/attn/split"});
  p.steps.push_back({Step::Kind::Launch, 2, "/attn/combine"});
  return p;
}
} // namespace

TEST(Bundle, ClusterSpecialKernelsRoundTripAndAreChecked) {
  Plan p = clusterPlan();
  std::string path = tempPath("cluster.spdc");
  ASSERT_EQ(writeBundle(p, path), "");
  LoadedBundle b;
  ASSERT_EQ(readBundle(path, b), "");
  ASSERT_EQ(b.plan.launches.size(), 3u);
  EXPECT_EQ(b.plan.launches[0].specialCluster, 0u);
  EXPECT_EQ(b.plan.launches[0].specialReplaces, 0u);
  EXPECT_EQ(b.plan.launches[1].specialCluster, 4u);
  EXPECT_EQ(b.plan.launches[1].specialReplaces, 2u);
  std::remove(path.c_str());

  auto expectRefused = [&](Plan q, const std::string &what) {
    std::string e = writeBundle(q, path);
    EXPECT_NE(e.find(what), std::string::npos) << "want '" << what << "', got: " << e;
  };
  Plan q = p;
  q.launches[1].specialCluster = 3; // does not divide grid x = 8
  expectRefused(q, "launch 1: special cluster of 3 blocks (at most 8, dividing grid x 8)");
  q = p;
  q.launches[1].grid[0] = 16;
  q.launches[1].specialCluster = 16;
  expectRefused(q, "launch 1: special cluster of 16 blocks");
  q = p;
  q.launches[1].specialReplaces = 1; // itself
  expectRefused(q, "launch 1: special kernel replaces launch 1");
  q = p;
  q.launches[1].specialReplaces = 3;
  expectRefused(q, "launch 1: special kernel replaces launch 3");
  q = p;
  q.launches[0].specialReplaces = 2; // a kernel with tensor maps may fall back at run time
  expectRefused(q, "launch 0: special kernel replaces launch 2");
  q = p;
  q.launches[2].specialCluster = 1;
  expectRefused(q, "launch 2: a cluster or replaced launch without a special kernel");
  q = p;
  q.launches[1].specialReplaces = 0;
  q.launches[0].specialArgs.clear();
  q.launches[0].specialReplaces = 1; // launch 1 has a special kernel of its own
  expectRefused(q, "launch 0: special kernel replaces launch 1");
}


TEST(Bundle, SpecializeRunsSpecialKernelsInTheirClustersAndDropsReplacedSteps) {
  Plan p = clusterPlan();
  ASSERT_EQ(validatePlan(p, p.weights.size()), "");
  std::vector<uint32_t> clusters;
  std::vector<bool> replaced;
  specializePlan(p, "sm_90a", 228 * 1024, clusters, replaced);
  EXPECT_EQ(clusters, (std::vector<uint32_t>{0, 4, 0}));
  EXPECT_EQ(replaced, (std::vector<bool>{false, false, true}));
  // Both special kernels chosen: kernel and shared bytes swapped, the tensor maps kept.
  EXPECT_EQ(p.launches[0].kernel, 0u);
  EXPECT_EQ(p.launches[0].specialKernel, 1u);
  EXPECT_EQ(p.launches[0].sharedBytes, 200000u);
  EXPECT_EQ(p.launches[0].specialArgs.size(), 1u);
  EXPECT_EQ(p.launches[1].kernel, 0u);
  EXPECT_EQ(p.launches[1].sharedBytes, 100000u);
  for (const Launch &l : p.launches) {
    EXPECT_TRUE(l.specialTarget.empty());
    EXPECT_EQ(l.specialCluster, 0u);
    EXPECT_EQ(l.specialReplaces, 0u);
  }
  ASSERT_EQ(p.steps.size(), 5u); // the combine step is gone
  EXPECT_EQ(p.steps[4].label, "/attn/split");
  EXPECT_EQ(validatePlan(p, p.weights.size()), "");

  // Another target: no special kernel, nothing replaced, the maps dropped.
  p = clusterPlan();
  specializePlan(p, "sm_80", 228 * 1024, clusters, replaced);
  EXPECT_EQ(clusters, (std::vector<uint32_t>{0, 0, 0}));
  EXPECT_EQ(replaced, (std::vector<bool>{false, false, false}));
  EXPECT_EQ(p.launches[1].kernel, 1u);
  EXPECT_TRUE(p.launches[0].specialArgs.empty());
  EXPECT_EQ(p.steps.size(), 6u);
  EXPECT_EQ(validatePlan(p, p.weights.size()), "");

  // Too little shared memory for launch 0's special kernel (200000 bytes), enough for launch 1's.
  p = clusterPlan();
  specializePlan(p, "sm_90a", 150000, clusters, replaced);
  EXPECT_EQ(p.launches[0].kernel, 1u);
  EXPECT_EQ(p.launches[1].kernel, 0u);
  EXPECT_EQ(clusters, (std::vector<uint32_t>{0, 4, 0}));

  // A pitched output written by the replaced step is written by the replacing one; its pack
  // step moves up with the steps after the dropped one.
  p = clusterPlan();
  p.steps.push_back({Step::Kind::Launch, 0, "/pack"});
  p.pitchedOutputs[0].writeStep = 5; // the combine step
  p.pitchedOutputs[0].packStep = 6;
  ASSERT_EQ(validatePlan(p, p.weights.size()), "");
  specializePlan(p, "sm_90a", 228 * 1024, clusters, replaced);
  ASSERT_EQ(p.steps.size(), 6u);
  EXPECT_EQ(p.pitchedOutputs[0].writeStep, 4u);
  EXPECT_EQ(p.pitchedOutputs[0].packStep, 5u);
  EXPECT_EQ(p.steps[5].label, "/pack");
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

//===--- dynamic dimensions ------------------------------------------------===//

namespace {

using spdc::bundle::test::op;

using C = ExprOp::Code;

/// Expression indices of dynamicPlan().
enum : uint32_t {
  kBatch,       // s0
  kSeq,         // s1
  kTokens,      // s0 * s1
  kLogitsBytes, // tokens * 32 (f16 [s0, s1, 16])
  kGrid,        // ceildiv(tokens, 4)
  kArena,       // tokens * 64 + 1024
  kElems,       // tokens * 16
  kStrideA,     // s1 * 8
  kStrideC,     // s1 * 16
};

/// input_ids/attention_mask [s0, s1] -> logits f16 [s0, s1, 16]; every kind of Int is dynamic
/// somewhere: a grid, a kernel argument, buffer offsets, gemm sizes and strides, copy bytes,
/// the arena and the tensor dims.
Plan dynamicPlan() {
  Plan p;
  p.symbols = {"input_ids.0", "input_ids.1"};
  p.exprs = {
      {{op(C::Symbol, 0)}},
      {{op(C::Symbol, 1)}},
      {{op(C::Ref, kBatch), op(C::Ref, kSeq), op(C::Mul)}},
      {{op(C::Ref, kTokens), op(C::Const, 32), op(C::Mul)}},
      {{op(C::Ref, kTokens), op(C::Const, 4), op(C::CeilDiv)}},
      {{op(C::Ref, kTokens), op(C::Const, 64), op(C::Mul), op(C::Const, 1024), op(C::Add)}},
      {{op(C::Ref, kTokens), op(C::Const, 16), op(C::Mul)}},
      {{op(C::Symbol, 1), op(C::Const, 8), op(C::Mul)}},
      {{op(C::Symbol, 1), op(C::Const, 16), op(C::Mul)}},
  };
  Int batch = Int::dynamic(kBatch), seq = Int::dynamic(kSeq);
  p.inputs.push_back({"input_ids", ElementType::I64, {batch, seq}});
  p.inputs.push_back({"attention_mask", ElementType::I64, {batch, seq}});
  p.outputs.push_back({"logits", ElementType::F16, {batch, seq, 16}});
  p.arenaBytes = Int::dynamic(kArena);
  p.sources = {"extern \"C\" __global__ void k0() {}\n"};
  p.kernelNames = {"k0"};
  p.kernelSources = {0};
  Launch l;
  l.grid[0] = Int::dynamic(kGrid);
  l.block[0] = 128;
  KernelArg a;
  a.buffer = ref(Space::Input, 0);
  l.args.push_back(a);
  a.buffer.space = Space::Arena;
  a.buffer.offset = Int::dynamic(kElems);
  l.args.push_back(a);
  KernelArg n;
  n.kind = KernelArg::Kind::I64;
  n.i64 = Int::dynamic(kElems);
  l.args.push_back(n);
  p.launches.push_back(l);
  Gemm g;
  g.type = ElementType::F16;
  g.batch = batch, g.m = seq, g.n = 16, g.k = 8;
  g.lda = 8, g.ldb = 16, g.ldc = 16;
  g.strideA = Int::dynamic(kStrideA), g.strideB = 0, g.strideC = Int::dynamic(kStrideC);
  g.a = ref(Space::Arena, 0);
  g.b = ref(Space::Weights, 0);
  g.d = ref(Space::Output, 0);
  p.gemms.push_back(g);
  Copy c;
  c.src = ref(Space::Arena, 0);
  c.src.offset = Int::dynamic(kElems);
  c.dst = ref(Space::Output, 0);
  c.bytes = Int::dynamic(kLogitsBytes);
  p.copies.push_back(c);
  p.steps = {{Step::Kind::Launch, 0, "/Embed"},
             {Step::Kind::Gemm, 0, "/MatMul"},
             {Step::Kind::Copy, 0, "/Identity"}};
  p.weights.resize(256, 1);
  return p;
}

bool sameInt(const Int &a, const Int &b) { return a.value == b.value && a.expr == b.expr; }

} // namespace

TEST(DynamicBundle, RoundTrip) {
  Plan want = dynamicPlan();
  std::string path = tempPath("dynamic.spdc");
  ASSERT_EQ(writeBundle(want, path), "");
  LoadedBundle got;
  ASSERT_EQ(readBundle(path, got), "");
  std::remove(path.c_str());
  const Plan &p = got.plan;
  EXPECT_EQ(p.symbols, want.symbols);
  ASSERT_EQ(p.exprs.size(), want.exprs.size());
  for (size_t i = 0; i < p.exprs.size(); ++i) {
    ASSERT_EQ(p.exprs[i].ops.size(), want.exprs[i].ops.size()) << "expression " << i;
    for (size_t j = 0; j < p.exprs[i].ops.size(); ++j) {
      EXPECT_EQ(p.exprs[i].ops[j].code, want.exprs[i].ops[j].code);
      EXPECT_EQ(p.exprs[i].ops[j].operand, want.exprs[i].ops[j].operand);
    }
  }
  // Every Int, dynamic or not, comes back as it was written.
  ASSERT_EQ(p.inputs.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    for (size_t d = 0; d < 2; ++d)
      EXPECT_TRUE(sameInt(p.inputs[i].shape[d], want.inputs[i].shape[d]));
  EXPECT_TRUE(sameInt(p.outputs[0].shape[2], Int(16)));
  EXPECT_TRUE(sameInt(p.outputs[0].shape[1], Int::dynamic(kSeq)));
  EXPECT_TRUE(sameInt(p.arenaBytes, Int::dynamic(kArena)));
  EXPECT_TRUE(sameInt(p.launches[0].grid[0], Int::dynamic(kGrid)));
  EXPECT_TRUE(sameInt(p.launches[0].grid[1], Int(1)));
  EXPECT_TRUE(sameInt(p.launches[0].args[1].buffer.offset, Int::dynamic(kElems)));
  EXPECT_TRUE(sameInt(p.launches[0].args[2].i64, Int::dynamic(kElems)));
  const Gemm &g = p.gemms[0];
  EXPECT_TRUE(sameInt(g.batch, Int::dynamic(kBatch)));
  EXPECT_TRUE(sameInt(g.m, Int::dynamic(kSeq)));
  EXPECT_TRUE(sameInt(g.n, Int(16)));
  EXPECT_TRUE(sameInt(g.strideA, Int::dynamic(kStrideA)));
  EXPECT_TRUE(sameInt(g.strideC, Int::dynamic(kStrideC)));
  EXPECT_TRUE(sameInt(p.copies[0].bytes, Int::dynamic(kLogitsBytes)));
  EXPECT_TRUE(sameInt(p.copies[0].src.offset, Int::dynamic(kElems)));
}

TEST(DynamicBundle, MalformedExpressionsAreRefused) {
  auto expectRefused = [](const Plan &p, const std::string &what) {
    std::string e = validatePlan(p, p.weights.size());
    EXPECT_NE(e.find(what), std::string::npos) << "want '" << what << "', got: " << e;
  };
  Plan p = dynamicPlan();
  p.exprs[kTokens].ops = {op(C::Ref, kBatch), op(C::Mul)};
  expectRefused(p, "expression 2 operation 1: mul needs two values, the stack holds 1");
  p = dynamicPlan();
  p.exprs[kTokens].ops = {op(C::Ref, kBatch), op(C::Ref, kSeq)};
  expectRefused(p, "expression 2 leaves 2 values (one expected)");
  p = dynamicPlan();
  p.exprs[kTokens].ops.clear();
  expectRefused(p, "expression 2 leaves 0 values");
  p = dynamicPlan();
  p.exprs[kTokens].ops[1] = op(C::Ref, kTokens); // itself
  expectRefused(p, "expression 2 operation 1: refers to expression 2, not an earlier one");
  p = dynamicPlan();
  p.exprs[kTokens].ops[1] = op(C::Ref, kStrideC); // a later one
  expectRefused(p, "refers to expression 8, not an earlier one");
  p = dynamicPlan();
  p.exprs[kStrideA].ops[0] = op(C::Symbol, 2);
  expectRefused(p, "expression 7 operation 0: symbol 2 of 2");
  p = dynamicPlan();
  p.exprs[kStrideA].ops[0] = op(C::Symbol, -1);
  expectRefused(p, "expression 7 operation 0: symbol -1 of 2");
  p = dynamicPlan();
  p.exprs[kStrideA].ops[2] = op(ExprOp::Code(42));
  expectRefused(p, "expression 7 operation 2: unknown code 42");
  p = dynamicPlan();
  p.gemms[0].strideC = Int::dynamic(9);
  expectRefused(p, "gemm 0 strideC refers to expression 9 of 9");
  p = dynamicPlan();
  p.launches[0].grid[0].expr = -2;
  expectRefused(p, "launch 0 grid[0] refers to expression -2 of 9");
  // A symbol only used inside expressions binds nothing.
  p = dynamicPlan();
  p.symbols.push_back("past.2");
  expectRefused(p, "symbol 2 ('past.2') is no input's dimension: nothing binds it");
  // A dimension that is an expression of a symbol does not bind it.
  p = dynamicPlan();
  p.inputs[0].shape[1] = Int::dynamic(kStrideA);
  p.inputs[1].shape[1] = Int::dynamic(kStrideA);
  expectRefused(p, "symbol 1 ('input_ids.1') is no input's dimension");
  // The instance at the sample values gets the static checks: an arena of s0 * s1 bytes is too
  // small for the copy's source.
  p = dynamicPlan();
  p.arenaBytes = Int::dynamic(kTokens);
  expectRefused(p, "at the sample symbol values: for input_ids.0 = 3, input_ids.1 = 3: launch 0: "
                   "argument 1: bytes [144, 144+1) outside the arena (9 bytes)");
  p = dynamicPlan();
  p.exprs[kGrid].ops[1] = op(C::Const, 0);
  expectRefused(p, "expression 4: division by zero (9 ceildiv 0)");
  // The writer refuses them as well.
  std::string path = tempPath("bad-dynamic.spdc");
  EXPECT_NE(writeBundle(p, path), "");
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(DynamicBundle, BindSymbols) {
  Plan p = dynamicPlan();
  std::vector<int64_t> values;
  EXPECT_EQ(bindSymbols(p, {{2, 9}, {2, 9}}, values), "");
  EXPECT_EQ(values, (std::vector<int64_t>{2, 9}));
  EXPECT_EQ(bindSymbols(p, {{2, 9}, {2, 7}}, values),
            "input 'attention_mask' dimension 1 is 7 but input_ids.1 is 9");
  EXPECT_TRUE(values.empty());
  EXPECT_EQ(bindSymbols(p, {{2, 9}, {2, 9, 1}}, values),
            "input 'attention_mask' has rank 3, the model takes rank 2");
  EXPECT_EQ(bindSymbols(p, {{2, 9}}, values), "1 input shapes for 2 inputs");
  EXPECT_EQ(bindSymbols(p, {{2, -1}, {2, 9}}, values), "input 'input_ids' dimension 1 is -1");
  // A static dimension and a dimension computed from the symbols are checked, not bound.
  p.inputs[1].shape = {Int::dynamic(kBatch), Int::dynamic(kStrideA), 4};
  EXPECT_EQ(bindSymbols(p, {{2, 9}, {2, 72, 4}}, values), "");
  EXPECT_EQ(bindSymbols(p, {{2, 9}, {2, 72, 5}}, values),
            "input 'attention_mask' dimension 2 is 5 but the model takes 4");
  EXPECT_EQ(bindSymbols(p, {{2, 9}, {2, 71, 4}}, values),
            "input 'attention_mask' dimension 1 is 71 but the model takes 72 (from the other "
            "dimensions)");
  // Zero is a dimension like any other here (instantiatePlan decides whether the plan runs).
  EXPECT_EQ(bindSymbols(dynamicPlan(), {{0, 9}, {0, 9}}, values), "");
}

TEST(DynamicBundle, EvaluateRoundsDivisionsAndChecksOverflow) {
  Plan p;
  p.symbols = {"a", "b"};
  auto eval = [&](C code, int64_t a, int64_t b, int64_t &out) {
    p.exprs = {{{op(C::Symbol, 0), op(C::Symbol, 1), op(code)}}};
    std::vector<int64_t> values;
    std::string e = evaluateExprs(p, {a, b}, values);
    out = values.empty() ? 0 : values[0];
    return e;
  };
  struct Case {
    int64_t a, b, floor, ceil;
  } cases[] = {
      // clang-format off
      {7, 2, 3, 4},  {-7, 2, -4, -3},  {7, -2, -4, -3}, {-7, -2, 3, 4},
      {6, 3, 2, 2},  {-6, 3, -2, -2},  {0, -5, 0, 0},   {1, 1024, 0, 1},
      {INT64_MIN, 1, INT64_MIN, INT64_MIN},
      {INT64_MAX, 2, INT64_MAX / 2, INT64_MAX / 2 + 1},
      // clang-format on
  };
  for (const Case &c : cases) {
    int64_t v = 0;
    EXPECT_EQ(eval(C::FloorDiv, c.a, c.b, v), "");
    EXPECT_EQ(v, c.floor) << c.a << " floordiv " << c.b;
    EXPECT_EQ(eval(C::CeilDiv, c.a, c.b, v), "");
    EXPECT_EQ(v, c.ceil) << c.a << " ceildiv " << c.b;
  }
  int64_t v = 0;
  EXPECT_EQ(eval(C::Min, -3, 2, v), "");
  EXPECT_EQ(v, -3);
  EXPECT_EQ(eval(C::Max, -3, 2, v), "");
  EXPECT_EQ(v, 2);
  EXPECT_EQ(eval(C::Sub, 3, 5, v), "");
  EXPECT_EQ(v, -2);
  EXPECT_EQ(eval(C::FloorDiv, 5, 0, v), "expression 0: division by zero (5 floordiv 0)");
  EXPECT_EQ(eval(C::CeilDiv, 5, 0, v), "expression 0: division by zero (5 ceildiv 0)");
  EXPECT_NE(eval(C::FloorDiv, INT64_MIN, -1, v).find("overflows"), std::string::npos);
  EXPECT_NE(eval(C::Mul, int64_t(1) << 40, int64_t(1) << 30, v).find("overflows"),
            std::string::npos);
  EXPECT_NE(eval(C::Add, INT64_MAX, 1, v).find("overflows"), std::string::npos);
  EXPECT_NE(eval(C::Sub, INT64_MIN, 1, v).find("overflows"), std::string::npos);
  // Ref reads an earlier result; the symbol count must match.
  p.exprs = {{{op(C::Symbol, 0), op(C::Const, 10), op(C::Mul)}},
             {{op(C::Ref, 0), op(C::Symbol, 1), op(C::Sub)}}};
  std::vector<int64_t> values;
  EXPECT_EQ(evaluateExprs(p, {4, 5}, values), "");
  EXPECT_EQ(values, (std::vector<int64_t>{40, 35}));
  EXPECT_EQ(evaluateExprs(p, {4}, values), "1 symbol values for 2 symbols");
  EXPECT_TRUE(values.empty());
}

TEST(DynamicBundle, InstantiateResolvesEveryInt) {
  Plan p = dynamicPlan();
  // A tensor map among a special kernel's arguments: its dimensions and strides resolve too.
  Launch &special = p.launches[0];
  special.specialTarget = "sm_90a";
  special.specialKernel = 0;
  special.specialArgs.push_back(tensorMapArg(ref(Space::Arena, 0), ElementType::F16,
                                             {8, Int::dynamic(kTokens)},
                                             {Int::dynamic(kStrideA)}, {8, 4}));
  Plan inst;
  ASSERT_EQ(instantiatePlan(p, {2, 5}, p.weights.size(), inst), "");
  const int64_t tokens = 10;
  EXPECT_TRUE(inst.symbols.empty());
  EXPECT_TRUE(inst.exprs.empty());
  EXPECT_TRUE(inst.weights.empty());
  EXPECT_TRUE(inst.sources.empty());
  EXPECT_TRUE(inst.kernelSources.empty());
  EXPECT_EQ(inst.kernelNames, p.kernelNames);
  ASSERT_EQ(inst.steps.size(), 3u);
  EXPECT_EQ(inst.steps[2].label, "/Identity");
  auto is = [](const Int &v, int64_t want) { return !v.isDynamic() && v.value == want; };
  EXPECT_TRUE(is(inst.arenaBytes, tokens * 64 + 1024));
  EXPECT_TRUE(is(inst.inputs[1].shape[0], 2));
  EXPECT_TRUE(is(inst.inputs[1].shape[1], 5));
  EXPECT_TRUE(is(inst.outputs[0].shape[1], 5));
  EXPECT_TRUE(is(inst.outputs[0].shape[2], 16));
  const Launch &l = inst.launches[0];
  EXPECT_TRUE(is(l.grid[0], 3)); // ceildiv(10, 4)
  EXPECT_TRUE(is(l.grid[1], 1));
  EXPECT_TRUE(is(l.args[1].buffer.offset, tokens * 16));
  EXPECT_TRUE(is(l.args[2].i64, tokens * 16));
  ASSERT_EQ(l.specialArgs.size(), 1u);
  EXPECT_TRUE(is(l.specialArgs[0].map.dims[0], 8));
  EXPECT_TRUE(is(l.specialArgs[0].map.dims[1], tokens));
  EXPECT_TRUE(is(l.specialArgs[0].map.strides[0], 40)); // gemm 0's strideA below
  const Gemm &g = inst.gemms[0];
  EXPECT_TRUE(is(g.batch, 2));
  EXPECT_TRUE(is(g.m, 5));
  EXPECT_TRUE(is(g.k, 8));
  EXPECT_TRUE(is(g.strideA, 40));
  EXPECT_TRUE(is(g.strideB, 0));
  EXPECT_TRUE(is(g.strideC, 80));
  EXPECT_TRUE(is(inst.copies[0].bytes, tokens * 32));
  EXPECT_TRUE(is(inst.copies[0].src.offset, tokens * 16));
  // An instance is validated: zero tokens make a zero grid.
  std::string e = instantiatePlan(p, {0, 5}, p.weights.size(), inst);
  EXPECT_EQ(e, "for input_ids.0 = 0, input_ids.1 = 5: launch 0: zero grid or block dimension");
  EXPECT_TRUE(inst.launches.empty());
  EXPECT_EQ(instantiatePlan(p, {1}, p.weights.size(), inst), "1 symbol values for 2 symbols");
  // A static plan instantiates to itself.
  Plan s = samplePlan();
  ASSERT_EQ(instantiatePlan(s, {}, s.weights.size(), inst), "");
  EXPECT_EQ(inst.launches[0].args[2].i64, -42);
  EXPECT_EQ(inst.arenaBytes, 4096);
  EXPECT_TRUE(inst.binaries.empty());
}
