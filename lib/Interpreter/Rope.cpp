//===- Rope.cpp - interpreter kernels -------------------------------------===//

#include "Kernels.h"

void spdc::registerRopeKernels(KernelTable &table) {}
