//===- Gemm.h - the plan's matmuls on cuBLASLt ------------------*- C++ -*-===//
//
// The plan describes matmuls in row-major terms; cuBLASLt is column-major. A row-major matrix
// is the column-major view of its transpose, so D = op(A) op(B) is computed as
// D^T = op(B)^T op(A)^T: the B buffer becomes cuBLASLt's first operand, A its second, with
// m and n swapped. A row-major bias over D's columns is then a bias over D^T's rows, which is
// what CUBLASLT_EPILOGUE_BIAS adds.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_RUNTIME_GEMM_H
#define SPDC_RUNTIME_GEMM_H

#include "bundle/Plan.h"

#include <cublasLt.h>
#include <cuda.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace spdc::rt {

/// One plan Gemm, ready to run: descriptors built and an algorithm chosen.
struct GemmPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t layoutA = nullptr, layoutB = nullptr, layoutC = nullptr,
                         layoutD = nullptr; ///< cuBLASLt's operands (A = plan B, B = plan A)
  cublasLtMatmulAlgo_t algo;
  /// cuBLASLt's heuristic candidates, best first, until tune() has timed them on the device.
  std::vector<cublasLtMatmulAlgo_t> candidates;
  bool tuned = true;
  std::vector<int64_t> key; ///< of the algorithm cache
};

struct Driver;

/// Algorithms cuBLASLt's heuristic proposes per GEMM shape, and timed runs of each, for tune().
constexpr int kTuneCandidates = 8;
constexpr int kTuneRuns = 3;

class GemmRunner {
public:
  GemmRunner() = default;
  GemmRunner(const GemmRunner &) = delete;
  GemmRunner &operator=(const GemmRunner &) = delete;
  ~GemmRunner();

  /// Creates the cuBLASLt handle (the CUDA context must be current).
  std::string init(size_t workspaceBytes);

  /// Builds descriptors for `g` and asks cublasLtMatmulAlgoGetHeuristic for its best few
  /// algorithms, once per distinct shape/layout/alignment (cached). `align*` are the guaranteed
  /// byte alignments of the operand addresses (at most 256). The first one runs until tune()
  /// has timed the candidates.
  std::string prepare(const bundle::Gemm &g, uint32_t alignA, uint32_t alignB, uint32_t alignC,
                      uint32_t alignD, GemmPlan &out);

  /// Enqueues D = alpha op(A) op(B) + beta C (+ epilogue) on `stream`.
  std::string run(const bundle::Gemm &g, GemmPlan &plan, CUdeviceptr a, CUdeviceptr b,
                  CUdeviceptr c, CUdeviceptr d, CUdeviceptr bias, CUdeviceptr workspace,
                  CUstream stream);

  /// Times each candidate algorithm of `plan` on its real operands (a warm-up, then the best of
  /// kTuneRuns runs, CUDA events on `stream`) and keeps the fastest for this shape, in `plan`
  /// and in the cache. Synchronizes `stream`; never during graph capture. A candidate that
  /// fails is skipped; if all fail, the heuristic's first stays. A matmul that reads C (beta
  /// != 0, often in place: D == C) writes its timed runs to scratch memory of D's layout.
  std::string tune(const Driver &d, const bundle::Gemm &g, GemmPlan &plan, CUdeviceptr a,
                   CUdeviceptr b, CUdeviceptr c, CUdeviceptr dst, CUdeviceptr bias,
                   CUdeviceptr workspace, CUstream stream);

  /// Destroys the descriptors of a plan from prepare() (a model dropping the plans of a shape it
  /// no longer keeps); the algorithm caches stay. The plan must not be used afterwards.
  void release(const GemmPlan &plan);

  size_t workspaceSize() const { return workspaceBytes; }

private:
  cublasLtHandle_t handle = nullptr;
  size_t workspaceBytes = 0;
  std::vector<GemmPlan> owned;
  std::map<std::vector<int64_t>, cublasLtMatmulAlgo_t> algoCache; ///< tuned choices
  std::map<std::vector<int64_t>, std::vector<cublasLtMatmulAlgo_t>> candidateCache;
};

/// "cublasLtMatmul: CUBLAS_STATUS_NOT_SUPPORTED (...)".
std::string cublasError(cublasStatus_t s, const char *step);

} // namespace spdc::rt

#endif // SPDC_RUNTIME_GEMM_H
