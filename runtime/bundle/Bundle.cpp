//===- Bundle.cpp - reading and writing .spdc bundles ----------------------===//
//
// The byte layout is documented in docs/bundle-format.md; keep the two in step. Every integer is
// little-endian, written and read field by field (never a struct memcpy), so the layout does not
// depend on the compiler's padding.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"
#include "Hash.h"
#include "PlanInts.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SPDC_VERSION_STRING
#define SPDC_VERSION_STRING "0.0.0"
#endif

namespace spdc::bundle {
namespace {

constexpr char kMagic[8] = {'S', 'P', 'D', 'C', 'B', 'N', 'D', 'L'};
constexpr uint64_t kHeaderSize = 64;
constexpr uint64_t kSectionEntrySize = 48;
constexpr size_t kVersionField = 24; // bytes for the spdc version in the header
constexpr size_t kNameField = 24;    // bytes for a section name (architecture of a binary)
// Sections start at multiples of 64 bytes: weights stay aligned for vector loads and cuBLASLt
// when the file is mapped (mmap returns page-aligned addresses).
constexpr uint64_t kSectionAlign = 64;
// A bound on the section count, so that a corrupt count cannot make us allocate much.
constexpr uint32_t kMaxSections = 1024;
// Encoded sizes of the plan's records (docs/bundle-format.md), for the reader's count bounds.
constexpr uint64_t kIntBytes = 12;    // i64 value, i32 expr
constexpr uint64_t kExprOpBytes = 12; // u32 code, i64 operand
constexpr uint64_t kBufferRefBytes = 8 + kIntBytes;
constexpr uint64_t kKernelArgBytes = 4 + kBufferRefBytes + kIntBytes + 4;
constexpr uint64_t kLaunchMinBytes =
    4 + 3 * kIntBytes + 3 * 4 + 4 + 8 + 8 + 4 + 4 + 4 + 8 + 4 + 4; // no arguments
constexpr uint64_t kGemmBytes = 4 + 4 * kIntBytes + 8 + 6 * kIntBytes + 8 + 4 + 5 * kBufferRefBytes;
constexpr uint64_t kCopyBytes = 2 * kBufferRefBytes + kIntBytes;
// Blocks per thread block cluster that every sm_90+ GPU launches (the portable size).
constexpr uint32_t kMaxClusterBlocks = 8;
constexpr uint64_t kPitchedOutputBytes = 4 + 8 + kBufferRefBytes + 4 + 4;
static_assert(kGemmBytes == 244 && kKernelArgBytes == 40 && kCopyBytes == 52,
              "docs/bundle-format.md gives these sizes");

enum SectionKind : uint32_t { kPlan = 1, kSource = 2, kBinary = 3, kWeights = 4 };

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
  return buf;
}

//===--- serialization of the plan section --------------------------------===//

class Writer {
public:
  std::vector<uint8_t> bytes;
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i)
      bytes.push_back(uint8_t(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i)
      bytes.push_back(uint8_t(v >> (8 * i)));
  }
  void i64(int64_t v) { u64(uint64_t(v)); }
  void f32(float v) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    u32(b);
  }
  void str(const std::string &s) {
    u64(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  /// An Int: its constant and its expression index (-1 for a constant).
  void num(const Int &v) {
    i64(v.value);
    u32(uint32_t(v.expr));
  }
  void ref(const BufferRef &r) {
    u32(uint32_t(r.space));
    u32(r.index);
    num(r.offset);
  }
  void tensor(const TensorInfo &t) {
    str(t.name);
    u32(uint32_t(t.type));
    u64(t.shape.size());
    for (const Int &d : t.shape)
      num(d);
  }
};

/// Bounds-checked reader: the first failure sticks and every later read returns zeros.
class Reader {
public:
  Reader(const uint8_t *p, uint64_t n) : p(p), n(n) {}
  std::string error;

  bool need(uint64_t bytes, const char *what) {
    if (!error.empty())
      return false;
    if (bytes > n - pos) {
      error = std::string("plan section truncated while reading ") + what;
      return false;
    }
    return true;
  }
  uint32_t u32(const char *what) {
    if (!need(4, what))
      return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= uint32_t(p[pos + i]) << (8 * i);
    pos += 4;
    return v;
  }
  uint64_t u64(const char *what) {
    if (!need(8, what))
      return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= uint64_t(p[pos + i]) << (8 * i);
    pos += 8;
    return v;
  }
  int64_t i64(const char *what) { return int64_t(u64(what)); }
  float f32(const char *what) {
    uint32_t b = u32(what);
    float v;
    std::memcpy(&v, &b, 4);
    return v;
  }
  std::string str(const char *what) {
    uint64_t len = u64(what);
    if (!need(len, what))
      return {};
    std::string s(reinterpret_cast<const char *>(p + pos), len);
    pos += len;
    return s;
  }
  /// A count of elements that take at least `minBytes` each: refuses counts the remaining
  /// bytes cannot hold, so a corrupt count never turns into a huge allocation.
  uint64_t count(uint64_t minBytes, const char *what) {
    uint64_t c = u64(what);
    if (error.empty() && minBytes && c > (n - pos) / minBytes) {
      error = std::string("plan section: count of ") + what + " (" + std::to_string(c) +
              ") exceeds the section";
      return 0;
    }
    return error.empty() ? c : 0;
  }
  Int num(const char *what) {
    Int v;
    v.value = i64(what);
    v.expr = int32_t(u32(what));
    return v;
  }
  BufferRef ref(const char *what) {
    BufferRef r;
    r.space = Space(u32(what));
    r.index = u32(what);
    r.offset = num(what);
    return r;
  }
  TensorInfo tensor() {
    TensorInfo t;
    t.name = str("tensor name");
    t.type = ElementType(u32("tensor type"));
    uint64_t rank = count(kIntBytes, "tensor dims");
    for (uint64_t i = 0; i < rank; ++i)
      t.shape.push_back(num("tensor dim"));
    return t;
  }
  bool atEnd() const { return pos == n; }

private:
  const uint8_t *p;
  uint64_t n;
  uint64_t pos = 0;
};

std::vector<uint8_t> encodePlan(const Plan &plan) {
  Writer w;
  w.num(plan.arenaBytes);
  w.u64(plan.symbols.size());
  for (const std::string &s : plan.symbols)
    w.str(s);
  w.u64(plan.exprs.size());
  for (const IntExpr &e : plan.exprs) {
    w.u64(e.ops.size());
    for (const ExprOp &op : e.ops) {
      w.u32(uint32_t(op.code));
      w.i64(op.operand);
    }
  }
  w.u64(plan.inputs.size());
  for (const TensorInfo &t : plan.inputs)
    w.tensor(t);
  w.u64(plan.outputs.size());
  for (const TensorInfo &t : plan.outputs)
    w.tensor(t);
  w.u64(plan.kernelNames.size());
  for (const std::string &s : plan.kernelNames)
    w.str(s);
  w.u64(plan.kernelSources.size());
  for (uint32_t unit : plan.kernelSources)
    w.u32(unit);
  w.u64(plan.launches.size());
  for (const Launch &l : plan.launches) {
    w.u32(l.kernel);
    for (const Int &g : l.grid)
      w.num(g);
    for (uint32_t b : l.block)
      w.u32(b);
    w.u32(l.sharedBytes);
    auto args = [&](const std::vector<KernelArg> &list) {
      w.u64(list.size());
      for (const KernelArg &a : list) {
        w.u32(uint32_t(a.kind));
        w.ref(a.buffer);
        w.num(a.i64);
        w.f32(a.f32);
        if (a.kind != KernelArg::Kind::TensorMap)
          continue;
        w.u32(uint32_t(a.map.type));
        w.u32(a.map.rank);
        for (const Int &d : a.map.dims)
          w.num(d);
        for (const Int &st : a.map.strides)
          w.num(st);
        for (uint32_t b : a.map.box)
          w.u32(b);
        w.u32(a.map.swizzle);
      }
    };
    args(l.args);
    w.str(l.specialTarget);
    w.u32(l.specialKernel);
    w.u32(l.specialSharedBytes);
    w.u32(l.blocksPerSM);
    w.u32(l.dependentLaunch ? 1 : 0);
    args(l.specialArgs);
    w.u32(l.specialCluster);
    w.u32(l.specialReplaces);
  }
  w.u64(plan.gemms.size());
  for (const Gemm &g : plan.gemms) {
    w.u32(uint32_t(g.type));
    w.num(g.m), w.num(g.n), w.num(g.k), w.num(g.batch);
    w.u32(g.transA), w.u32(g.transB);
    w.num(g.lda), w.num(g.ldb), w.num(g.ldc);
    w.num(g.strideA), w.num(g.strideB), w.num(g.strideC);
    w.f32(g.alpha), w.f32(g.beta);
    w.u32(uint32_t(g.epilogue));
    w.ref(g.a), w.ref(g.b), w.ref(g.c), w.ref(g.d), w.ref(g.bias);
  }
  w.u64(plan.copies.size());
  for (const Copy &c : plan.copies) {
    w.ref(c.src);
    w.ref(c.dst);
    w.num(c.bytes);
  }
  w.u64(plan.steps.size());
  for (const Step &s : plan.steps) {
    w.u32(uint32_t(s.kind));
    w.u32(s.index);
    w.str(s.label);
  }
  w.u64(plan.pitchedOutputs.size());
  for (const PitchedOutput &o : plan.pitchedOutputs) {
    w.u32(o.output);
    w.i64(o.rowPitch);
    w.ref(o.padded);
    w.u32(o.writeStep);
    w.u32(o.packStep);
  }
  return std::move(w.bytes);
}

std::string decodePlan(const uint8_t *p, uint64_t n, Plan &plan) {
  Reader r(p, n);
  plan.arenaBytes = r.num("arena size");
  for (uint64_t i = 0, e = r.count(8, "symbols"); i < e; ++i)
    plan.symbols.push_back(r.str("symbol name"));
  for (uint64_t i = 0, e = r.count(8, "expressions"); i < e; ++i) {
    IntExpr x;
    for (uint64_t j = 0, f = r.count(kExprOpBytes, "expression operations"); j < f; ++j) {
      ExprOp op;
      op.code = ExprOp::Code(r.u32("expression operation code"));
      op.operand = r.i64("expression operand");
      x.ops.push_back(op);
    }
    plan.exprs.push_back(std::move(x));
  }
  for (uint64_t i = 0, e = r.count(20, "inputs"); i < e; ++i)
    plan.inputs.push_back(r.tensor());
  for (uint64_t i = 0, e = r.count(20, "outputs"); i < e; ++i)
    plan.outputs.push_back(r.tensor());
  for (uint64_t i = 0, e = r.count(8, "kernel names"); i < e; ++i)
    plan.kernelNames.push_back(r.str("kernel name"));
  for (uint64_t i = 0, e = r.count(4, "kernel sources"); i < e; ++i)
    plan.kernelSources.push_back(r.u32("kernel source"));
  for (uint64_t i = 0, e = r.count(kLaunchMinBytes, "launches"); i < e; ++i) {
    Launch l;
    l.kernel = r.u32("launch kernel");
    for (Int &g : l.grid)
      g = r.num("launch grid");
    for (uint32_t &b : l.block)
      b = r.u32("launch block");
    l.sharedBytes = r.u32("launch shared bytes");
    auto args = [&](std::vector<KernelArg> &list) {
      for (uint64_t j = 0, f = r.count(kKernelArgBytes, "kernel arguments"); j < f; ++j) {
        KernelArg a;
        a.kind = KernelArg::Kind(r.u32("argument kind"));
        a.buffer = r.ref("argument buffer");
        a.i64 = r.num("argument i64");
        a.f32 = r.f32("argument f32");
        if (a.kind == KernelArg::Kind::TensorMap) {
          a.map.type = ElementType(r.u32("tensor map type"));
          a.map.rank = r.u32("tensor map rank");
          for (Int &d : a.map.dims)
            d = r.num("tensor map dimension");
          for (Int &st : a.map.strides)
            st = r.num("tensor map stride");
          for (uint32_t &b : a.map.box)
            b = r.u32("tensor map box");
          a.map.swizzle = r.u32("tensor map swizzle");
        }
        list.push_back(a);
      }
    };
    args(l.args);
    l.specialTarget = r.str("launch special target");
    l.specialKernel = r.u32("launch special kernel");
    l.specialSharedBytes = r.u32("launch special shared bytes");
    l.blocksPerSM = r.u32("launch blocks per SM");
    l.dependentLaunch = r.u32("launch dependent flag") != 0;
    args(l.specialArgs);
    l.specialCluster = r.u32("launch special cluster");
    l.specialReplaces = r.u32("launch special replaces");
    plan.launches.push_back(std::move(l));
  }
  for (uint64_t i = 0, e = r.count(kGemmBytes, "gemms"); i < e; ++i) {
    Gemm g;
    g.type = ElementType(r.u32("gemm type"));
    g.m = r.num("gemm m"), g.n = r.num("gemm n"), g.k = r.num("gemm k");
    g.batch = r.num("gemm batch");
    g.transA = r.u32("gemm transA") != 0, g.transB = r.u32("gemm transB") != 0;
    g.lda = r.num("gemm lda"), g.ldb = r.num("gemm ldb"), g.ldc = r.num("gemm ldc");
    g.strideA = r.num("gemm strideA"), g.strideB = r.num("gemm strideB");
    g.strideC = r.num("gemm strideC");
    g.alpha = r.f32("gemm alpha"), g.beta = r.f32("gemm beta");
    g.epilogue = Gemm::Epilogue(r.u32("gemm epilogue"));
    g.a = r.ref("gemm a"), g.b = r.ref("gemm b"), g.c = r.ref("gemm c");
    g.d = r.ref("gemm d"), g.bias = r.ref("gemm bias");
    plan.gemms.push_back(g);
  }
  for (uint64_t i = 0, e = r.count(kCopyBytes, "copies"); i < e; ++i) {
    Copy c;
    c.src = r.ref("copy src");
    c.dst = r.ref("copy dst");
    c.bytes = r.num("copy bytes");
    plan.copies.push_back(c);
  }
  for (uint64_t i = 0, e = r.count(16, "steps"); i < e; ++i) {
    Step s;
    s.kind = Step::Kind(r.u32("step kind"));
    s.index = r.u32("step index");
    s.label = r.str("step label");
    plan.steps.push_back(std::move(s));
  }
  for (uint64_t i = 0, e = r.count(kPitchedOutputBytes, "pitched outputs"); i < e; ++i) {
    PitchedOutput o;
    o.output = r.u32("pitched output index");
    o.rowPitch = r.i64("pitched output row pitch");
    o.padded = r.ref("pitched output padded rows");
    o.writeStep = r.u32("pitched output write step");
    o.packStep = r.u32("pitched output pack step");
    plan.pitchedOutputs.push_back(o);
  }
  if (!r.error.empty())
    return r.error;
  if (!r.atEnd())
    return "plan section has trailing bytes";
  return {};
}

//===--- validation -------------------------------------------------------===//

bool validType(ElementType t) { return uint32_t(t) <= uint32_t(ElementType::Bool); }

/// Bytes of a tensor, or ~0 on overflow; with rowPitch, of its rows (the last dimension) lying
/// rowPitch elements apart.
uint64_t tensorBytes(const TensorInfo &t, int64_t rowPitch = 0) {
  unsigned __int128 n = elementSize(t.type);
  for (size_t i = 0; i < t.shape.size(); ++i) {
    int64_t d = rowPitch && i + 1 == t.shape.size() ? rowPitch : int64_t(t.shape[i]);
    n *= uint64_t(d < 0 ? 0 : d);
    if (n > UINT64_MAX)
      return UINT64_MAX;
  }
  return uint64_t(n);
}

class Validator {
public:
  Validator(const Plan &plan, uint64_t weightsSize) : plan(plan), weightsSize(weightsSize) {}

  std::string run() {
    if (plan.arenaBytes < 0)
      return "negative arena size " + std::to_string(int64_t(plan.arenaBytes));
    if (std::string e = tensors(plan.inputs, "input"); !e.empty())
      return e;
    if (std::string e = tensors(plan.outputs, "output"); !e.empty())
      return e;
    for (size_t i = 0; i < plan.kernelNames.size(); ++i)
      if (plan.kernelNames[i].empty())
        return "kernel " + std::to_string(i) + " has an empty name";
    for (size_t i = 0; i < plan.launches.size(); ++i)
      if (std::string e = launch(plan.launches[i], i); !e.empty())
        return "launch " + std::to_string(i) + ": " + e;
    for (size_t i = 0; i < plan.gemms.size(); ++i)
      if (std::string e = gemm(plan.gemms[i]); !e.empty())
        return "gemm " + std::to_string(i) + ": " + e;
    for (size_t i = 0; i < plan.copies.size(); ++i) {
      const Copy &c = plan.copies[i];
      if (c.bytes < 0)
        return "copy " + std::to_string(i) + ": negative size " + std::to_string(int64_t(c.bytes));
      std::string e = ref(c.src, uint64_t(int64_t(c.bytes)), "source");
      if (e.empty())
        e = ref(c.dst, uint64_t(int64_t(c.bytes)), "destination");
      if (!e.empty())
        return "copy " + std::to_string(i) + ": " + e;
    }
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      const Step &s = plan.steps[i];
      size_t limit;
      switch (s.kind) {
      case Step::Kind::Launch:
        limit = plan.launches.size();
        break;
      case Step::Kind::Gemm:
        limit = plan.gemms.size();
        break;
      case Step::Kind::Copy:
        limit = plan.copies.size();
        break;
      default:
        return "step " + std::to_string(i) + " ('" + s.label + "') has unknown kind " +
               std::to_string(uint32_t(s.kind));
      }
      if (s.index >= limit)
        return "step " + std::to_string(i) + " ('" + s.label + "') refers to index " +
               std::to_string(s.index) + " of " + std::to_string(limit);
    }
    for (size_t i = 0; i < plan.pitchedOutputs.size(); ++i)
      if (std::string e = pitched(plan.pitchedOutputs[i]); !e.empty())
        return "pitched output " + std::to_string(i) + ": " + e;
    return {};
  }

private:
  const Plan &plan;
  uint64_t weightsSize;

  std::string tensors(const std::vector<TensorInfo> &ts, const char *what) {
    for (size_t i = 0; i < ts.size(); ++i) {
      const TensorInfo &t = ts[i];
      std::string name = std::string(what) + " " + std::to_string(i) + " ('" + t.name + "')";
      if (!validType(t.type))
        return name + " has unknown element type " + std::to_string(uint32_t(t.type));
      for (int64_t d : t.shape)
        if (d < 0)
          return name + " has dimension " + std::to_string(d) +
                 " (a dynamic dimension is an expression, not a negative number)";
      if (tensorBytes(t) == UINT64_MAX)
        return name + " is too large";
    }
    return {};
  }

  /// Size of the region a reference points into, or an error.
  std::string region(const BufferRef &r, uint64_t &size, const char *what) {
    switch (r.space) {
    case Space::Arena:
      size = uint64_t(int64_t(plan.arenaBytes));
      return {};
    case Space::Weights:
      size = weightsSize;
      return {};
    case Space::Input:
    case Space::Output: {
      const auto &ts = r.space == Space::Input ? plan.inputs : plan.outputs;
      if (r.index >= ts.size())
        return std::string(what) + " refers to " +
               (r.space == Space::Input ? "input " : "output ") + std::to_string(r.index) + " of " +
               std::to_string(ts.size());
      size = tensorBytes(ts[r.index]);
      return {};
    }
    }
    return std::string(what) + " has unknown space " + std::to_string(uint32_t(r.space));
  }

  static const char *spaceName(Space s) {
    switch (s) {
    case Space::Arena:
      return "arena";
    case Space::Weights:
      return "weights";
    case Space::Input:
      return "input";
    case Space::Output:
      return "output";
    }
    return "?";
  }

  /// `extent` bytes from r.offset must lie inside the region; a kernel argument (extent
  /// unknown) passes extent 1 when its region is not empty.
  std::string ref(const BufferRef &r, uint64_t extent, const char *what) {
    uint64_t size = 0;
    if (std::string e = region(r, size, what); !e.empty())
      return e;
    int64_t offset = r.offset;
    if (offset < 0 || uint64_t(offset) > size || extent > size - uint64_t(offset))
      return std::string(what) + ": bytes [" + std::to_string(offset) + ", " +
             std::to_string(offset) + "+" + std::to_string(extent) + ") outside the " +
             spaceName(r.space) + " (" + std::to_string(size) + " bytes)";
    return {};
  }

  /// Padded rows in the arena, at most as many as the output has, written by one step and
  /// packed by a later kernel launch.
  std::string pitched(const PitchedOutput &o) {
    if (o.output >= plan.outputs.size())
      return "refers to output " + std::to_string(o.output) + " of " +
             std::to_string(plan.outputs.size());
    const TensorInfo &t = plan.outputs[o.output];
    if (t.shape.empty() || o.rowPitch < t.shape.back())
      return "row pitch " + std::to_string(o.rowPitch) + " is shorter than a row of output '" +
             t.name + "'";
    if (o.padded.space != Space::Arena)
      return "padded rows outside the arena";
    uint64_t bytes = tensorBytes(t, o.rowPitch);
    if (bytes == UINT64_MAX)
      return "padded rows too large";
    if (std::string e = ref(o.padded, bytes, "padded rows"); !e.empty())
      return e;
    if (o.writeStep >= o.packStep || o.packStep >= plan.steps.size() ||
        plan.steps[o.packStep].kind != Step::Kind::Launch)
      return "write step " + std::to_string(o.writeStep) + " and pack step " +
             std::to_string(o.packStep) + " are not a step and a later launch";
    return {};
  }

  std::string launch(const Launch &l, size_t index) {
    for (uint32_t k : {l.kernel, l.specialKernel})
      if (k >= plan.kernelNames.size())
        return "kernel index " + std::to_string(k) + " out of range (" +
               std::to_string(plan.kernelNames.size()) + " kernels)";
    for (int i = 0; i < 3; ++i)
      if (l.grid[i] == 0 || l.block[i] == 0)
        return "zero grid or block dimension";
    // cuLaunchKernel takes unsigned grid dimensions (the range of format version 1's u32).
    for (int i = 0; i < 3; ++i)
      if (l.grid[i] < 0 || l.grid[i] > int64_t(UINT32_MAX))
        return "grid dimension " + std::to_string(int64_t(l.grid[i])) + " out of range";
    if (uint64_t(l.block[0]) * l.block[1] * l.block[2] > 1024)
      return "more than 1024 threads per block";
    if ((l.specialCluster || l.specialReplaces) && l.specialTarget.empty())
      return "a cluster or replaced launch without a special kernel";
    if (l.specialCluster > kMaxClusterBlocks || (l.specialCluster && l.grid[0] % l.specialCluster))
      return "special cluster of " + std::to_string(l.specialCluster) +
             " blocks (at most " + std::to_string(kMaxClusterBlocks) + ", dividing grid x " +
             std::to_string(int64_t(l.grid[0])) + ")";
    if (l.specialReplaces && (l.specialReplaces <= index ||
                              l.specialReplaces >= plan.launches.size() ||
                              !plan.launches[l.specialReplaces].specialTarget.empty() ||
                              !l.specialArgs.empty()))
      return "special kernel replaces launch " + std::to_string(l.specialReplaces) +
             " (a later launch without a special kernel, and tensor maps none)";
    if (l.specialReplaces)
      for (const PitchedOutput &o : plan.pitchedOutputs)
        if (o.packStep < plan.steps.size() && plan.steps[o.packStep].kind == Step::Kind::Launch &&
            plan.steps[o.packStep].index == l.specialReplaces)
          return "special kernel replaces the pack step of an output";
    for (size_t i = 0; i < l.args.size() + l.specialArgs.size(); ++i) {
      const bool special = i >= l.args.size();
      const KernelArg &a = special ? l.specialArgs[i - l.args.size()] : l.args[i];
      std::string what = (special ? "special argument " : "argument ") +
                         std::to_string(special ? i - l.args.size() : i);
      if (a.kind == KernelArg::Kind::TensorMap && !special)
        return what + " is a tensor map: only a special kernel's arguments take them";
      switch (a.kind) {
      case KernelArg::Kind::Buffer:
      case KernelArg::Kind::TensorMap: {
        uint64_t size = 0;
        if (std::string e = region(a.buffer, size, what.c_str()); !e.empty())
          return e;
        if (std::string e = ref(a.buffer, size ? 1 : 0, what.c_str()); !e.empty())
          return e;
        if (a.kind == KernelArg::Kind::TensorMap)
          if (std::string e = tensorMap(a.map); !e.empty())
            return what + ": " + e;
        break;
      }
      case KernelArg::Kind::I64:
      case KernelArg::Kind::F32:
        break;
      default:
        return what + " has unknown kind " + std::to_string(uint32_t(a.kind));
      }
    }
    return {};
  }

  /// A tensor map's shape; whether the driver accepts the operand's address and strides is
  /// known only when it is bound, and the runtime falls back to the portable kernel.
  static std::string tensorMap(const TensorMap &m) {
    if (m.type != ElementType::F16 && m.type != ElementType::BF16 &&
        m.type != ElementType::F32)
      return "tensor map of element type " + std::to_string(uint32_t(m.type)) +
             " (f16, bf16 or f32)";
    if (m.rank < 1 || m.rank > TensorMap::kMaxRank)
      return "tensor map rank " + std::to_string(m.rank) + " (1 to " +
             std::to_string(TensorMap::kMaxRank) + ")";
    if (m.swizzle != 0 && m.swizzle != 32 && m.swizzle != 64 && m.swizzle != 128)
      return "tensor map swizzle " + std::to_string(m.swizzle) + " (0, 32, 64 or 128 bytes)";
    for (uint32_t d = 0; d < m.rank; ++d)
      if (m.box[d] < 1 || m.box[d] > 256)
        return "tensor map box " + std::to_string(m.box[d]) + " (1 to 256 elements)";
    if (m.swizzle && m.box[0] * elementSize(m.type) > m.swizzle)
      return "tensor map box rows of " + std::to_string(m.box[0] * elementSize(m.type)) +
             " bytes exceed the swizzle's " + std::to_string(m.swizzle);
    return {};
  }

  /// Bytes spanned by `batch` row-major [rows, cols] matrices with leading dimension ld and
  /// batch stride `stride` (elements).
  static uint64_t span(const Gemm &g, int64_t rows, int64_t cols, int64_t ld, int64_t stride) {
    unsigned __int128 elems = (unsigned __int128)(g.batch - 1) * uint64_t(stride) +
                              (unsigned __int128)(rows - 1) * uint64_t(ld) + uint64_t(cols);
    elems *= elementSize(g.type);
    return elems > UINT64_MAX ? UINT64_MAX : uint64_t(elems);
  }

  std::string gemm(const Gemm &g) {
    if (g.type != ElementType::F32 && g.type != ElementType::F16 && g.type != ElementType::BF16)
      return "element type " + std::to_string(uint32_t(g.type)) + " (f32, f16 or bf16 only)";
    if (g.m < 1 || g.n < 1 || g.k < 1 || g.batch < 1)
      return "m, n, k and batch must be positive";
    if (uint32_t(g.epilogue) > uint32_t(Gemm::Epilogue::BiasGelu))
      return "unknown epilogue " + std::to_string(uint32_t(g.epilogue));
    int64_t rowsA = g.transA ? g.k : g.m, colsA = g.transA ? g.m : g.k;
    int64_t rowsB = g.transB ? g.n : g.k, colsB = g.transB ? g.k : g.n;
    if (g.lda < colsA || g.ldb < colsB || g.ldc < g.n)
      return "leading dimension smaller than a row";
    if (g.strideA < 0 || g.strideB < 0 || g.strideC < 0)
      return "negative batch stride";
    if (std::string e = ref(g.a, span(g, rowsA, colsA, g.lda, g.strideA), "A"); !e.empty())
      return e;
    if (std::string e = ref(g.b, span(g, rowsB, colsB, g.ldb, g.strideB), "B"); !e.empty())
      return e;
    uint64_t spanD = span(g, g.m, g.n, g.ldc, g.strideC);
    if (std::string e = ref(g.d, spanD, "D"); !e.empty())
      return e;
    if (g.beta != 0)
      if (std::string e = ref(g.c, spanD, "C"); !e.empty())
        return e;
    if (g.epilogue == Gemm::Epilogue::Bias || g.epilogue == Gemm::Epilogue::BiasGelu)
      if (std::string e = ref(g.bias, uint64_t(g.n) * elementSize(g.type), "bias"); !e.empty())
        return e;
    return {};
  }
};

//===--- file helpers -----------------------------------------------------===//

void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = uint8_t(v >> (8 * i));
}
void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = uint8_t(v >> (8 * i));
}
uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= uint32_t(p[i]) << (8 * i);
  return v;
}
uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t(p[i]) << (8 * i);
  return v;
}
} // namespace

uint32_t elementSize(ElementType t) {
  switch (t) {
  case ElementType::F64:
  case ElementType::I64:
  case ElementType::U64:
    return 8;
  case ElementType::F32:
  case ElementType::I32:
  case ElementType::U32:
    return 4;
  case ElementType::F16:
  case ElementType::BF16:
  case ElementType::I16:
  case ElementType::U16:
    return 2;
  case ElementType::I8:
  case ElementType::U8:
  case ElementType::Bool:
    return 1;
  }
  return 0;
}

const char *spdcVersion() { return SPDC_VERSION_STRING; }

std::string validatePlan(const Plan &plan, uint64_t weightsSize) {
  // An instance (instantiatePlan) carries neither sources nor the kernels' units.
  bool instance = plan.sources.empty() && plan.kernelSources.empty();
  if (!instance && plan.kernelSources.size() != plan.kernelNames.size())
    return std::to_string(plan.kernelNames.size()) + " kernels but " +
           std::to_string(plan.kernelSources.size()) + " kernel source units";
  for (size_t i = 0; i < plan.kernelSources.size(); ++i)
    if (plan.kernelSources[i] >= plan.sources.size())
      return "kernel " + std::to_string(i) + " is in source unit " +
             std::to_string(plan.kernelSources[i]) + " of " + std::to_string(plan.sources.size());
  std::set<std::pair<std::string, uint32_t>> binaries;
  for (const Binary &b : plan.binaries) {
    if (b.arch.empty() || b.arch.size() >= kNameField)
      return "binary architecture name '" + b.arch + "' must have 1 to " +
             std::to_string(kNameField - 1) + " characters";
    if (b.source >= plan.sources.size())
      return "binary for '" + b.arch + "' of source unit " + std::to_string(b.source) + " of " +
             std::to_string(plan.sources.size());
    if (!binaries.insert({b.arch, b.source}).second)
      return "two binaries for architecture '" + b.arch + "' and source unit " +
             std::to_string(b.source);
  }
  std::string e = forEachInt(plan, [&](const Int &v, auto &&where) -> std::string {
    if (v.expr < -1 || (v.expr >= 0 && size_t(v.expr) >= plan.exprs.size()))
      return where() + " refers to expression " + std::to_string(v.expr) + " of " +
             std::to_string(plan.exprs.size());
    return {};
  });
  if (!e.empty())
    return e;
  // A plan with dynamic dimensions is checked as an instance; one without, as it is.
  if (!plan.symbols.empty() || !plan.exprs.empty())
    return validateSymbolicPlan(plan, weightsSize);
  return Validator(plan, weightsSize).run();
}

BundleWriter::~BundleWriter() {
  if (fd >= 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
  }
}

std::string BundleWriter::failed(const std::string &what) {
  std::string e = path + ": " + what;
  if (fd >= 0)
    ::close(fd);
  fd = -1;
  ::unlink(tmp.c_str());
  return e;
}

std::string BundleWriter::writeFailed() {
  return failed(std::string("write failed: ") + std::strerror(errno));
}

bool BundleWriter::writeAt(uint64_t offset, const void *data, uint64_t size) {
  const uint8_t *p = static_cast<const uint8_t *>(data);
  while (size) {
    ssize_t n = ::pwrite(fd, p, size > (1u << 30) ? (1u << 30) : size, off_t(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n, offset += uint64_t(n), size -= uint64_t(n);
  }
  return true;
}

bool BundleWriter::append(uint32_t kind, const std::string &name, const void *data,
                          uint64_t size, uint32_t unit) {
  static const uint8_t zeros[kSectionAlign] = {};
  uint64_t offset = alignUp(end, kSectionAlign);
  hash.update(zeros, offset - end);
  hash.update(data, size);
  entries.push_back({kind, name, offset, size, unit});
  end = offset + size;
  return writeAt(offset, data, size);
}

std::string BundleWriter::begin(const Plan &plan, const std::string &bundlePath,
                                size_t binaryCount) {
  path = bundlePath;
  binaries = binaryCount;
  sources = plan.sources.size();
  weightsSize = plan.weights.size();
  // The table: sources, weights, the plan, the binaries (readers go by the table). The sections
  // follow it in that order; the checksum covers them in file order (zeros fill the alignment
  // gaps), then the table, which finish() writes last.
  tableBytes = kSectionEntrySize * (sources + 2 + binaries);
  end = kHeaderSize + tableBytes;
  entries.clear();
  hash = Xxh64();
  tmp = path + ".tmp." + std::to_string(::getpid());
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return failed("cannot create " + tmp + ": " + std::strerror(errno));
  for (size_t i = 0; i < sources; ++i)
    if (!append(kSource, "source", plan.sources[i].data(), plan.sources[i].size(), uint32_t(i)))
      return writeFailed();
  if (!append(kWeights, "weights", plan.weights.data(), weightsSize, 0))
    return writeFailed();
  return {};
}

std::string BundleWriter::finish(const Plan &plan) {
  if (fd < 0)
    return path + ": the bundle writer was not started";
  if (plan.sources.size() != sources || plan.binaries.size() != binaries ||
      plan.weights.size() != weightsSize)
    return failed("the plan changed its sources, binaries or weights while being written");
  if (std::string e = validatePlan(plan, plan.weights.size()); !e.empty())
    return failed("refusing to write an invalid plan: " + e);
  std::vector<uint8_t> planBytes = encodePlan(plan);
  if (!append(kPlan, "plan", planBytes.data(), planBytes.size(), 0))
    return writeFailed();
  for (const Binary &bin : plan.binaries)
    if (!append(kBinary, bin.arch, bin.code.data(), bin.code.size(), bin.source))
      return writeFailed();

  std::vector<uint8_t> table(tableBytes, 0);
  for (size_t i = 0; i < entries.size(); ++i) {
    uint8_t *e = table.data() + i * kSectionEntrySize;
    put32(e, entries[i].kind);
    put32(e + 4, entries[i].unit);
    put64(e + 8, entries[i].offset);
    put64(e + 16, entries[i].size);
    std::memcpy(e + 24, entries[i].name.data(), std::min(entries[i].name.size(), kNameField - 1));
  }
  hash.update(table.data(), table.size());
  uint8_t header[kHeaderSize] = {};
  std::memcpy(header, kMagic, 8);
  put32(header + 8, kFormatVersion);
  put32(header + 12, uint32_t(kHeaderSize));
  put64(header + 16, end); // the file ends right after the last section
  put64(header + 24, hash.digest());
  put32(header + 32, uint32_t(entries.size()));
  std::string version = spdcVersion();
  std::memcpy(header + 40, version.data(), std::min(version.size(), kVersionField - 1));
  if (!writeAt(kHeaderSize, table.data(), table.size()) || !writeAt(0, header, kHeaderSize))
    return writeFailed();
  // No fsync: the rename below keeps readers from ever seeing a partial bundle, and a compiler's
  // output need not outlive a power loss (flushing hundreds of megabytes of weights costs more
  // than the rest of a compile).
  int closing = fd;
  fd = -1;
  if (::close(closing) != 0) {
    std::string e = path + ": close failed: " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return e;
  }
  // An earlier bundle at `path` is removed first: renaming over it makes ext4 (auto_da_alloc)
  // flush the new file's data to disk on the spot, hundreds of milliseconds for a large model.
  // A reader opening `path` in between finds no file rather than a partial one.
  ::unlink(path.c_str());
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string e = path + ": rename from " + tmp + " failed: " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

std::string writeBundle(const Plan &plan, const std::string &path) {
  BundleWriter writer; // finish() validates the plan before its plan section is written
  if (std::string e = writer.begin(plan, path, plan.binaries.size()); !e.empty())
    return e;
  return writer.finish(plan);
}

namespace {
std::string readInto(const std::string &path, LoadedBundle &out) {
  auto err = [&](const std::string &what) { return path + ": " + what; };

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return err(std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return err(std::string("cannot stat: ") + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return err("not a regular file");
  }
  uint64_t size = uint64_t(st.st_size);
  if (size < kHeaderSize) {
    ::close(fd);
    return err("truncated: " + std::to_string(size) + " bytes, less than the " +
               std::to_string(kHeaderSize) + "-byte bundle header");
  }
  void *map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int mapErrno = errno;
  ::close(fd);
  if (map == MAP_FAILED)
    return err(std::string("mmap failed: ") + std::strerror(mapErrno));
  std::shared_ptr<const void> mapping(
      map, [size](const void *p) { ::munmap(const_cast<void *>(p), size); });
  const uint8_t *base = static_cast<const uint8_t *>(map);

  if (std::memcmp(base, kMagic, 8) != 0)
    return err("not an spdc bundle (bad magic)");
  uint32_t version = get32(base + 8);
  char writer[kVersionField + 1] = {};
  std::memcpy(writer, base + 40, kVersionField);
  writer[kVersionField - 1] = 0;
  if (version != kFormatVersion)
    return err("bundle format version " + std::to_string(version) + " (written by spdc " + writer +
               "); this spdc (" + spdcVersion() + ") reads version " +
               std::to_string(kFormatVersion) + ": recompile the model");
  if (get32(base + 12) != kHeaderSize)
    return err("bad header size " + std::to_string(get32(base + 12)));
  uint64_t fileSize = get64(base + 16);
  if (fileSize != size)
    return err(size < fileSize
                   ? "truncated: the header says " + std::to_string(fileSize) +
                         " bytes, the file has " + std::to_string(size)
                   : "the header says " + std::to_string(fileSize) + " bytes, the file has " +
                         std::to_string(size) + " (trailing data)");
  uint32_t count = get32(base + 32);
  if (count == 0 || count > kMaxSections ||
      kHeaderSize + uint64_t(count) * kSectionEntrySize > size)
    return err("bad section count " + std::to_string(count));
  // The checksum covers the bytes after the section table, then the table.
  uint64_t tableEnd = kHeaderSize + uint64_t(count) * kSectionEntrySize;
  ::madvise(map, size, MADV_SEQUENTIAL);
  uint64_t expected = get64(base + 24);
  Xxh64 checksum;
  checksum.update(base + tableEnd, size - tableEnd);
  checksum.update(base + kHeaderSize, tableEnd - kHeaderSize);
  uint64_t actual = checksum.digest();
  ::madvise(map, size, MADV_NORMAL);
  if (expected != actual)
    return err("checksum mismatch (header " + hex(expected) + ", contents " + hex(actual) +
               "): the file is corrupt or was modified");

  const uint8_t *planData = nullptr;
  uint64_t planSize = 0;
  std::map<uint32_t, std::string> sources;
  bool haveWeights = false;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t *e = base + kHeaderSize + uint64_t(i) * kSectionEntrySize;
    uint32_t kind = get32(e), unit = get32(e + 4);
    uint64_t off = get64(e + 8), len = get64(e + 16);
    char name[kNameField + 1] = {};
    std::memcpy(name, e + 24, kNameField);
    name[kNameField - 1] = 0;
    std::string where = "section " + std::to_string(i) + " ('" + name + "')";
    if (off > size || len > size - off)
      return err(where + ": bytes [" + std::to_string(off) + ", +" + std::to_string(len) +
                 ") outside the file (" + std::to_string(size) + " bytes)");
    if (off % kSectionAlign)
      return err(where + ": offset " + std::to_string(off) + " not 64-byte aligned");
    const uint8_t *data = base + off;
    switch (kind) {
    case kPlan:
      if (planData)
        return err("two plan sections");
      planData = data, planSize = len;
      break;
    case kSource:
      if (sources.count(unit))
        return err("two source sections of unit " + std::to_string(unit));
      sources[unit].assign(reinterpret_cast<const char *>(data), len);
      break;
    case kBinary:
      out.plan.binaries.push_back({name, unit, std::vector<uint8_t>(data, data + len)});
      break;
    case kWeights:
      if (haveWeights)
        return err("two weights sections");
      haveWeights = true;
      out.weights = data, out.weightsSize = len;
      break;
    default:
      return err(where + ": unknown section kind " + std::to_string(kind));
    }
  }
  if (!planData)
    return err("no plan section");
  // Units 0, 1, ... each once.
  for (auto &[unit, text] : sources) {
    if (unit != out.plan.sources.size())
      return err("no source section of unit " + std::to_string(out.plan.sources.size()));
    out.plan.sources.push_back(std::move(text));
  }

  if (std::string e = decodePlan(planData, planSize, out.plan); !e.empty())
    return err(e);
  if (out.plan.sources.empty() && !out.plan.kernelNames.empty())
    return err("no source section");
  if (std::string e = validatePlan(out.plan, out.weightsSize); !e.empty())
    return err("invalid plan: " + e);
  out.mapping = std::move(mapping);
  out.spdcVersion = writer;
  return {};
}
} // namespace

std::string readBundle(const std::string &path, LoadedBundle &out) {
  out = LoadedBundle();
  std::string e = readInto(path, out);
  if (!e.empty())
    out = LoadedBundle(); // nothing half-read survives, and the mapping is gone
  return e;
}

} // namespace spdc::bundle
