//===- Activation.cpp - interpreter kernels -------------------------------------===//

#include "Kernels.h"

void spdc::registerActivationKernels(KernelTable &table) {}
