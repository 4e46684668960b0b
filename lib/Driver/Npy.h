//===- Npy.h - numpy .npy files --------------------------------*- C++ -*-===//

#ifndef SPDC_LIB_DRIVER_NPY_H
#define SPDC_LIB_DRIVER_NPY_H

#include "spdc/Interpreter/Tensor.h"

namespace spdc::driver {

/// Reads a numpy .npy file (format 1.0/2.0/3.0, little-endian, C order). Errors name the file
/// and what is wrong (not .npy, unsupported dtype, Fortran order, truncated data).
llvm::Expected<Tensor> readNpyFile(llvm::StringRef path);

} // namespace spdc::driver

#endif // SPDC_LIB_DRIVER_NPY_H
