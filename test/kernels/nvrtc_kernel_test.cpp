//===- nvrtc_kernel_test.cpp - Every kernel template compiles under NVRTC ---===//
//
// Compiles, for each architecture given, one translation unit that includes every header of
// runtime/kernels and instantiates every kernel template through NVRTC name expressions, the
// way the runtime does (nvrtcAddNameExpression + nvrtcGetLoweredName). Each header is also
// compiled alone to check that it includes what it uses. Needs no GPU.
//
// Usage: spdc-kernel-nvrtc-test -I<dir>... <arch>...
//   -I: include directories (runtime/kernels/include and the toolkit's include directory, for
//   cuda_fp16.h / cuda_bf16.h); arch: sm_80, sm_90, sm_90a, ...
//
//===----------------------------------------------------------------------===//

#include <nvrtc.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

namespace {

const char *kHeaders[] = {"common",           "mma",         "norm",  "softmax", "rope", "attention",
                          "attention_decode", "elementwise", "reduce"};

struct TypeName {
  const char *cpp;
  bool isDouble;
};
const TypeName kFloatTypes[] = {{"float", false}, {"__half", false}, {"__nv_bfloat16", false}};

std::vector<std::string> nameExpressions() {
  std::vector<std::string> names;
  auto add = [&](const std::string &s) { names.push_back("&spdc::kernels::" + s); };
  std::vector<std::string> all = {"float", "__half", "__nv_bfloat16", "double"};
  for (const std::string &t : all) {
    add("layer_norm_kernel<" + t + ", " + t + ", " + t + ">");
    add("rms_norm_kernel<" + t + ", " + t + ", " + t + ">");
    add("layer_norm_regs_kernel<" + t + ", " + t + ", " + t + ", 2>");
    add("rms_norm_regs_kernel<" + t + ", " + t + ", " + t + ", 2>");
    add("softmax_kernel<" + t + ", " + t + ">");
    add("log_softmax_kernel<" + t + ", " + t + ">");
    add("softmax_strided_kernel<" + t + ", " + t + ">");
    add("rope_kernel<" + t + ", " + t + ", false>");
    add("rope_kernel<" + t + ", " + t + ", true>");
    add("gelu_kernel<" + t + ">");
    add("silu_kernel<" + t + ">");
    add("swiglu_kernel<" + t + ">");
    add("unary_kernel<" + t + ", " + t + ", spdc::kernels::GeluTanh>");
    add("gather_kernel<" + t + ", long long>");
    add("embedding_kernel<" + t + ", int>");
    add("arg_reduce_kernel<" + t + ", long long, true>");
    add("arg_reduce_kernel<" + t + ", long long, false>");
    add("cumsum_kernel<" + t + ", " + t + ">");
    add("topk_kernel<" + t + ", long long>");
    std::string acc = t == "double" ? "double" : "float";
    for (const char *op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                           "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum",
                           "ReduceLogSumExp"}) {
      add("reduce_rows_kernel<" + t + ", " + t + ", spdc::kernels::" + op + "<" + acc + ">>");
      add("reduce_strided_kernel<" + t + ", " + t + ", spdc::kernels::" + op + "<" + acc +
          ">>");
    }
  }
  // Mixed precision: f32 weights / tables with half activations, f32 outputs.
  for (const char *t : {"__half", "__nv_bfloat16"}) {
    add(std::string("layer_norm_kernel<") + t + ", float, " + t + ">");
    add(std::string("rms_norm_kernel<") + t + ", float, float>");
    add(std::string("layer_norm_regs_kernel<") + t + ", float, " + t + ", 4>");
    add(std::string("rms_norm_regs_kernel<") + t + ", float, float, 8>");
    add(std::string("softmax_kernel<") + t + ", float>");
    add(std::string("rope_kernel<") + t + ", float, false>");
  }
  // Integer cumsum / reductions (position ids, masks).
  add("cumsum_kernel<long long, long long>");
  add("cumsum_kernel<int, int>");
  add("reduce_rows_kernel<long long, long long, spdc::kernels::ReduceSum<long long>>");
  add("reduce_rows_kernel<int, int, spdc::kernels::ReduceMax<long long>>");
  add("gather_kernel<long long, long long>");
  add("gather_kernel<unsigned char, int>");
  // Attention: every element type with each mask kind at the common head dims, plus the odd
  // and the widest head dims.
  for (const TypeName &t : kFloatTypes) {
    std::string T = t.cpp;
    for (const std::string &mask : {std::string("float"), std::string("bool"), T})
      for (int d : {64, 128}) {
        std::string args = T + ", " + mask + ", " + std::to_string(d) + ", " + std::to_string(d);
        add("attention_fwd_kernel<" + args + ">");
        add("attention_decode_kernel<" + args + ">");
        if (T != "float")
          for (int bn : {64, 128})
            if (bn == 128 || d == 128)
              add("attention_fwd_ws_kernel<" + args + ", " + std::to_string(bn) + ">");
      }
    // Without a mask the warp-specialized kernel is instantiated for NoMask (no mask loads).
    if (T == "__nv_bfloat16")
      for (auto [d, bn] : {std::pair{64, 128}, {128, 64}, {128, 128}})
        add("attention_fwd_ws_kernel<" + T + ", spdc::kernels::NoMask, " + std::to_string(d) +
            ", " + std::to_string(d) + ", " + std::to_string(bn) + ">");
    for (auto [d, dv] : {std::pair{32, 32}, {80, 80}, {96, 96}, {256, 256}, {192, 128},
                         {72, 40}, {100, 100}, {64, 128}, {128, 64}}) {
      std::string args = T + ", unsigned char, " + std::to_string(d) + ", " + std::to_string(dv);
      add("attention_fwd_kernel<" + args + ">");
      add("attention_decode_kernel<" + args + ">");
      if (T != "float" && (d == 64 || d == 128) && (dv == 64 || dv == 128))
        for (int bn : {64, 128})
          add("attention_fwd_ws_kernel<" + args + ", " + std::to_string(bn) + ">");
    }
  }
  // Soft-capped scores (spd.attention's softcap, here 50): the last template argument of every
  // attention kernel, on each path (128-row, 64-row mma, FMA; warp-specialized with and without
  // tensor copies; the one-row and split-KV decode kernels).
  const std::string cap = ", spdc::kernels::SoftCap<0x42480000u>";
  for (const TypeName &t : kFloatTypes) {
    std::string T = t.cpp;
    for (auto [mask, d] : {std::pair{std::string("float"), 128}, {std::string("bool"), 64},
                           {std::string("unsigned char"), 32}, {T, 80}}) {
      std::string args = T + ", " + mask + ", " + std::to_string(d) + ", " + std::to_string(d);
      add("attention_fwd_kernel<" + args + cap + ">");
      add("attention_decode_kernel<" + args + cap + ">");
    }
    if (T != "float")
      for (const std::string &mask : {std::string("spdc::kernels::NoMask"), T})
        for (auto [d, bn] : {std::pair{64, 128}, {128, 64}, {128, 128}}) {
          std::string args = T + ", " + mask + ", " + std::to_string(d) + ", " +
                             std::to_string(d) + ", " + std::to_string(bn) + cap;
          add("attention_fwd_ws_kernel<" + args + ">");
          add("attention_fwd_ws_tma_kernel<" + args + ">");
        }
    // The split-KV decode kernels, their defaulted arguments spelled out as codegen does.
    add("attention_decode_split_kernel<" + T + ", float, 128, 128, 4, 0, true" + cap + ">");
    add("attention_decode_split_kernel<" + T + ", unsigned char, 80, 80, 8, 0, true" + cap + ">");
    if (T != "float")
      for (const char *cluster : {"false", "true"})
        add("attention_decode_mma_kernel<" + T + ", " + T + ", 128, 128, " + cluster +
            ", spdc::kernels::AttentionDecodeMmaConfig::kStages, "
            "spdc::kernels::AttentionDecodeMmaConfig::kL2Prefetch, "
            "spdc::kernels::AttentionDecodeMmaConfig::kCoalesced, false, "
            "spdc::kernels::AttentionDecodeMmaConfig::kEvictFirst" +
            cap + ">");
  }
  // Split-KV decode: each element type and mask kind at the common head dims for every row
  // count, the widest and odd head dims at the row counts codegen may pick for them.
  for (const TypeName &t : kFloatTypes) {
    std::string T = t.cpp;
    add("attention_decode_combine_kernel<" + T + ">");
    for (const std::string &mask : {std::string("float"), std::string("bool"), T})
      for (int d : {64, 128})
        for (int rows : {1, 2, 4, 8})
          add("attention_decode_split_kernel<" + T + ", " + mask + ", " + std::to_string(d) +
              ", " + std::to_string(d) + ", " + std::to_string(rows) + ">");
    // The tensor-core split kernel: half types, every head-dim pair it takes.
    if (T != "float")
      for (const std::string &mask : {std::string("float"), std::string("bool"), T})
        for (auto [d, dv] : {std::pair{64, 64}, {128, 128}, {64, 128}, {128, 64}})
          add("attention_decode_mma_kernel<" + T + ", " + mask + ", " + std::to_string(d) + ", " +
              std::to_string(dv) + ">");
    // The cluster-merging instantiation at every head-dim pair (sm_90; below it traps), and
    // bulk copies.
    if (T != "float") {
      add("attention_decode_mma_kernel<" + T + ", float, 128, 128, false, 3, 256, true, true>");
      for (auto [d, dv] : {std::pair{64, 64}, {128, 128}, {64, 128}, {128, 64}})
        add("attention_decode_mma_kernel<" + T + ", " + T + ", " + std::to_string(d) + ", " +
            std::to_string(dv) + ", true>");
    }
    for (auto [d, dv, rows] : {std::tuple{256, 256, 4}, {256, 256, 1}, {80, 80, 8}, {96, 48, 2},
                               {100, 100, 4}, {32, 32, 8}}) {
      add("attention_decode_split_kernel<" + T + ", unsigned char, " + std::to_string(d) + ", " +
          std::to_string(dv) + ", " + std::to_string(rows) + ">");
    }
  }
  return names;
}

bool check(nvrtcResult r, const char *what) {
  if (r == NVRTC_SUCCESS)
    return true;
  std::fprintf(stderr, "%s: %s\n", what, nvrtcGetErrorString(r));
  return false;
}

// Compiles `source`, instantiating `names`; prints the log on failure. `ptx`, if given, receives
// the generated PTX.
bool compile(const std::string &label, const std::string &source,
             const std::vector<std::string> &names, const std::vector<std::string> &options,
             std::string *ptx = nullptr) {
  auto start = std::chrono::steady_clock::now();
  nvrtcProgram prog;
  if (!check(nvrtcCreateProgram(&prog, source.c_str(), (label + ".cu").c_str(), 0, nullptr,
                                nullptr),
             "nvrtcCreateProgram"))
    return false;
  bool ok = true;
  for (const std::string &n : names)
    ok &= check(nvrtcAddNameExpression(prog, n.c_str()), n.c_str());
  std::vector<const char *> opts;
  for (const std::string &o : options)
    opts.push_back(o.c_str());
  nvrtcResult r = nvrtcCompileProgram(prog, int(opts.size()), opts.data());
  size_t logSize = 0;
  nvrtcGetProgramLogSize(prog, &logSize);
  std::string log(logSize, '\0');
  if (logSize > 1)
    nvrtcGetProgramLog(prog, log.data());
  if (r != NVRTC_SUCCESS) {
    std::fprintf(stderr, "FAIL %s: %s\n%s\n", label.c_str(), nvrtcGetErrorString(r),
                 log.c_str());
    nvrtcDestroyProgram(&prog);
    return false;
  }
  for (const std::string &n : names) {
    const char *lowered = nullptr;
    if (nvrtcGetLoweredName(prog, n.c_str(), &lowered) != NVRTC_SUCCESS || !lowered) {
      std::fprintf(stderr, "FAIL %s: no lowered name for %s\n", label.c_str(), n.c_str());
      ok = false;
    }
  }
  size_t cubinSize = 0;
  ok &= check(nvrtcGetCUBINSize(prog, &cubinSize), "nvrtcGetCUBINSize");
  if (ptx) {
    size_t ptxSize = 0;
    ok &= check(nvrtcGetPTXSize(prog, &ptxSize), "nvrtcGetPTXSize");
    ptx->assign(ptxSize, '\0');
    ok &= ptxSize > 0 && check(nvrtcGetPTX(prog, ptx->data()), "nvrtcGetPTX");
  }
  nvrtcDestroyProgram(&prog);
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s %s: %zu kernels, cubin %zu bytes, %.1f s\n", ok ? "ok  " : "FAIL",
              label.c_str(), names.size(), cubinSize, secs);
  return ok;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> includes, archs;
  for (int a = 1; a < argc; ++a) {
    std::string arg = argv[a];
    (arg.rfind("-I", 0) == 0 ? includes : archs).push_back(arg);
  }
  if (archs.empty()) {
    std::fprintf(stderr, "usage: %s -I<dir>... <arch>...\n", argv[0]);
    return 2;
  }
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  std::printf("NVRTC %d.%d\n", major, minor);
  std::vector<std::string> names = nameExpressions();
  std::string all;
  for (const char *h : kHeaders)
    all += std::string("#include \"spdc/kernels/") + h + ".cuh\"\n";

  bool ok = true;
  for (const std::string &arch : archs) {
    std::vector<std::string> options = {"--gpu-architecture=" + arch, "-std=c++17"};
    options.insert(options.end(), includes.begin(), includes.end());
    for (const char *h : kHeaders)
      ok &= compile(std::string(h) + "-" + arch,
                    std::string("#include \"spdc/kernels/") + h + ".cuh\"\n", {}, options);
    std::string ptx;
    ok &= compile("all-" + arch, all, names, options, &ptx);
    // The runtime JITs for sm_90a on Hopper: there the attention forward kernel must take its
    // warpgroup-MMA path, and nowhere else.
    const bool wgmma = ptx.find("wgmma.mma_async") != std::string::npos;
    if (wgmma != (arch == "sm_90a")) {
      std::printf("FAIL all-%s: the PTX %s wgmma.mma_async\n", arch.c_str(),
                  wgmma ? "holds" : "lacks");
      ok = false;
    }
  }
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
