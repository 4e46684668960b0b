//===- Gemm.cpp - the plan's matmuls on cuBLASLt --------------------------===//

#include "Gemm.h"

#include "Driver.h"

#include <algorithm>

namespace spdc::rt {
namespace {

cudaDataType_t dataType(bundle::ElementType t) {
  switch (t) {
  case bundle::ElementType::F16:
    return CUDA_R_16F;
  case bundle::ElementType::BF16:
    return CUDA_R_16BF;
  default:
    return CUDA_R_32F;
  }
}

cublasLtEpilogue_t epilogue(bundle::Gemm::Epilogue e) {
  switch (e) {
  case bundle::Gemm::Epilogue::Bias:
    return CUBLASLT_EPILOGUE_BIAS;
  case bundle::Gemm::Epilogue::Gelu:
    return CUBLASLT_EPILOGUE_GELU;
  case bundle::Gemm::Epilogue::BiasGelu:
    return CUBLASLT_EPILOGUE_GELU_BIAS;
  default:
    return CUBLASLT_EPILOGUE_DEFAULT;
  }
}

bool hasBias(const bundle::Gemm &g) {
  return g.epilogue == bundle::Gemm::Epilogue::Bias ||
         g.epilogue == bundle::Gemm::Epilogue::BiasGelu;
}

#define SPDC_LT(call)                                                                              \
  if (cublasStatus_t s_ = (call); s_ != CUBLAS_STATUS_SUCCESS)                                     \
    return cublasError(s_, #call);

std::string layout(cublasLtMatrixLayout_t &l, cudaDataType_t type, int64_t rows, int64_t cols,
                   int64_t ld, int64_t batch, int64_t stride) {
  SPDC_LT(cublasLtMatrixLayoutCreate(&l, type, uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    int32_t count = int32_t(batch);
    SPDC_LT(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                             sizeof count));
    SPDC_LT(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                             &stride, sizeof stride));
  }
  return {};
}

} // namespace

std::string cublasError(cublasStatus_t s, const char *step) {
  return std::string(step) + ": " + cublasLtGetStatusName(s) + " (" + cublasLtGetStatusString(s) +
         ")";
}

static void destroyDescriptors(const GemmPlan &p) {
  if (p.desc)
    cublasLtMatmulDescDestroy(p.desc);
  for (cublasLtMatrixLayout_t l : {p.layoutA, p.layoutB, p.layoutC, p.layoutD})
    if (l)
      cublasLtMatrixLayoutDestroy(l);
}

GemmRunner::~GemmRunner() {
  for (GemmPlan &p : owned)
    destroyDescriptors(p);
  if (handle)
    cublasLtDestroy(handle);
}

void GemmRunner::release(const GemmPlan &plan) {
  auto it = std::find_if(owned.begin(), owned.end(),
                         [&](const GemmPlan &p) { return p.desc && p.desc == plan.desc; });
  if (it == owned.end())
    return;
  destroyDescriptors(*it);
  owned.erase(it);
}

std::string GemmRunner::init(size_t workspace) {
  workspaceBytes = workspace;
  SPDC_LT(cublasLtCreate(&handle));
  return {};
}

std::string GemmRunner::prepare(const bundle::Gemm &g, uint32_t alignA, uint32_t alignB,
                                uint32_t alignC, uint32_t alignD, GemmPlan &out) {
  out = GemmPlan();
  if (int64_t(int32_t(g.batch)) != g.batch)
    return "batch count " + std::to_string(g.batch) + " exceeds cuBLASLt's int32 limit";
  cudaDataType_t type = dataType(g.type);
  owned.emplace_back();
  GemmPlan &p = owned.back();
  SPDC_LT(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t opA = g.transB ? CUBLAS_OP_T : CUBLAS_OP_N; // cuBLASLt A = plan B
  cublasOperation_t opB = g.transA ? CUBLAS_OP_T : CUBLAS_OP_N; // cuBLASLt B = plan A
  SPDC_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA));
  SPDC_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof opB));
  cublasLtEpilogue_t epi = epilogue(g.epilogue);
  SPDC_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));

  if (std::string e = layout(p.layoutA, type, g.transB ? g.k : g.n, g.transB ? g.n : g.k, g.ldb,
                             g.batch, g.strideB);
      !e.empty())
    return e;
  if (std::string e = layout(p.layoutB, type, g.transA ? g.m : g.k, g.transA ? g.k : g.m, g.lda,
                             g.batch, g.strideA);
      !e.empty())
    return e;
  if (std::string e = layout(p.layoutC, type, g.n, g.m, g.ldc, g.batch, g.strideC); !e.empty())
    return e;
  if (std::string e = layout(p.layoutD, type, g.n, g.m, g.ldc, g.batch, g.strideC); !e.empty())
    return e;

  // cuBLASLt's A/B are the plan's B/A: swap the alignments too.
  std::vector<int64_t> key = {
      int64_t(g.type), g.m,    g.n,    g.k,       g.batch,   g.transA,  g.transB,
      g.lda,           g.ldb,  g.ldc,  g.strideA, g.strideB, g.strideC, int64_t(g.epilogue),
      alignA,          alignB, alignC, alignD};
  p.key = key;
  if (auto it = algoCache.find(key); it != algoCache.end()) {
    p.algo = it->second;
    out = p;
    return {};
  }
  if (auto it = candidateCache.find(key); it != candidateCache.end()) {
    p.candidates = it->second;
    p.algo = p.candidates.front();
    p.tuned = p.candidates.size() < 2;
    out = p;
    return {};
  }
  cublasLtMatmulPreference_t pref = nullptr;
  SPDC_LT(cublasLtMatmulPreferenceCreate(&pref));
  struct PrefGuard {
    cublasLtMatmulPreference_t p;
    ~PrefGuard() { cublasLtMatmulPreferenceDestroy(p); }
  } guard{pref};
  uint64_t ws = workspaceBytes;
  SPDC_LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                               sizeof ws));
  uint32_t alignments[4] = {alignB, alignA, alignC, alignD};
  const cublasLtMatmulPreferenceAttributes_t attrs[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  for (int i = 0; i < 4; ++i)
    SPDC_LT(
        cublasLtMatmulPreferenceSetAttribute(pref, attrs[i], &alignments[i], sizeof alignments[i]));
  cublasLtMatmulHeuristicResult_t results[kTuneCandidates] = {};
  int found = 0;
  SPDC_LT(cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.layoutA, p.layoutB, p.layoutC, p.layoutD,
                                         pref, kTuneCandidates, results, &found));
  if (found == 0)
    return "cublasLtMatmulAlgoGetHeuristic: no algorithm for this matmul";
  for (int i = 0; i < found; ++i)
    if (results[i].state == CUBLAS_STATUS_SUCCESS)
      p.candidates.push_back(results[i].algo);
  if (p.candidates.empty())
    p.candidates.push_back(results[0].algo);
  p.algo = p.candidates.front();
  p.tuned = p.candidates.size() < 2;
  if (p.tuned)
    algoCache.emplace(key, p.algo);
  else
    candidateCache.emplace(key, p.candidates);
  out = p;
  return {};
}

std::string GemmRunner::run(const bundle::Gemm &g, GemmPlan &p, CUdeviceptr a, CUdeviceptr b,
                            CUdeviceptr c, CUdeviceptr d, CUdeviceptr bias, CUdeviceptr workspace,
                            CUstream stream) {
  if (hasBias(g)) {
    void *ptr = reinterpret_cast<void *>(bias);
    SPDC_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ptr,
                                           sizeof ptr));
  }
  float alpha = g.alpha, beta = g.beta;
  SPDC_LT(cublasLtMatmul(handle, p.desc, &alpha, reinterpret_cast<const void *>(b), p.layoutA,
                         reinterpret_cast<const void *>(a), p.layoutB, &beta,
                         reinterpret_cast<const void *>(g.beta != 0 ? c : d), p.layoutC,
                         reinterpret_cast<void *>(d), p.layoutD, &p.algo,
                         reinterpret_cast<void *>(workspace), workspaceBytes,
                         reinterpret_cast<cudaStream_t>(stream)));
  return {};
}

std::string GemmRunner::tune(const Driver &d, const bundle::Gemm &g, GemmPlan &p, CUdeviceptr a,
                             CUdeviceptr b, CUdeviceptr c, CUdeviceptr dst, CUdeviceptr bias,
                             CUdeviceptr workspace, CUstream stream) {
  if (p.tuned)
    return {};
  p.tuned = true;
  if (auto it = algoCache.find(p.key); it != algoCache.end()) { // tuned by a plan of this shape
    p.algo = it->second;
    return {};
  }
  CUevent start = nullptr, stop = nullptr;
  if (d.eventCreate(&start, CU_EVENT_DEFAULT) != CUDA_SUCCESS ||
      d.eventCreate(&stop, CU_EVENT_DEFAULT) != CUDA_SUCCESS) {
    if (start)
      d.eventDestroy(start);
    return {}; // keep the heuristic's choice
  }
  // A matmul that reads C (a residual added in place, D == C) must not run more than once on
  // its own output: its timed runs write a scratch D of the same layout instead.
  CUdeviceptr scratch = 0;
  if (g.beta != 0) {
    const uint64_t elems = uint64_t(int64_t(g.ldc)) * uint64_t(int64_t(g.m)) +
                           uint64_t(int64_t(g.strideC)) * uint64_t(int64_t(g.batch) - 1);
    if (d.memAlloc(&scratch, elems * bundle::elementSize(g.type)) != CUDA_SUCCESS) {
      d.eventDestroy(start);
      d.eventDestroy(stop);
      return {}; // keep the heuristic's choice
    }
    dst = scratch;
  }
  float best = -1;
  cublasLtMatmulAlgo_t chosen = p.algo;
  for (const cublasLtMatmulAlgo_t &algo : p.candidates) {
    p.algo = algo;
    if (!run(g, p, a, b, c, dst, bias, workspace, stream).empty())
      continue; // warm-up; this algorithm cannot run here
    float fastest = -1;
    for (int i = 0; i < kTuneRuns; ++i) {
      float ms = 0;
      if (d.eventRecord(start, stream) != CUDA_SUCCESS ||
          !run(g, p, a, b, c, dst, bias, workspace, stream).empty() ||
          d.eventRecord(stop, stream) != CUDA_SUCCESS ||
          d.eventSynchronize(stop) != CUDA_SUCCESS ||
          d.eventElapsedTime(&ms, start, stop) != CUDA_SUCCESS) {
        fastest = -1;
        break;
      }
      fastest = fastest < 0 ? ms : std::min(fastest, ms);
    }
    if (fastest >= 0 && (best < 0 || fastest < best)) {
      best = fastest;
      chosen = algo;
    }
  }
  d.eventDestroy(start);
  d.eventDestroy(stop);
  if (scratch)
    d.memFree(scratch); // waits for the timed runs still in flight
  p.algo = chosen;
  algoCache.emplace(p.key, chosen);
  candidateCache.erase(p.key);
  return {};
}

#undef SPDC_LT

} // namespace spdc::rt
