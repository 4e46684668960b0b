//===- Attention.cpp - interpreter kernels -------------------------------------===//

#include "Kernels.h"

void spdc::registerAttentionKernels(KernelTable &table) {}
