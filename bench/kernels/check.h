//===- check.h - CUDA runtime error check of the kernel benchmark programs ----------------===//
#pragma once

#include <cstdio>
#include <cstdlib>

// Exits with the file, line and CUDA's message when a runtime call fails.
#define CHECK(x)                                                                                \
  do {                                                                                          \
    cudaError_t e_ = (x);                                                                       \
    if (e_ != cudaSuccess) {                                                                    \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));          \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

// Milliseconds per call of `n` calls of `launch` between two events on the default stream, where
// the programs launch.
template <class F> float eventMs(cudaEvent_t a, cudaEvent_t b, F &&launch, int n = 1) {
  CHECK(cudaEventRecord(a));
  for (int i = 0; i < n; ++i)
    launch();
  CHECK(cudaEventRecord(b));
  CHECK(cudaEventSynchronize(b));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, a, b));
  return ms / n;
}
