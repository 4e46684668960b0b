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
