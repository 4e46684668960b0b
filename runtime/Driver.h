//===- Driver.h - the CUDA driver API, loaded at run time -------*- C++ -*-===//
//
// libspdcrt never links libcuda: the driver is dlopen'ed ("libcuda.so.1") on first use, so the
// library loads on machines without a GPU and context creation reports "no CUDA device" as a
// status. cuda.h is included for its types only; every function goes through this table.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_RUNTIME_DRIVER_H
#define SPDC_RUNTIME_DRIVER_H

#include <cuda.h>

#include <string>

namespace spdc::rt {

/// Function pointers of the driver. The types come from cuda.h's declarations, which its macros
/// map to the versioned entry points (cuMemAlloc -> cuMemAlloc_v2); the table resolves those.
struct Driver {
#define SPDC_DRIVER_FUNCTIONS(X)                                                                   \
  X(init, cuInit)                                                                                  \
  X(driverGetVersion, cuDriverGetVersion)                                                          \
  X(getErrorString, cuGetErrorString)                                                              \
  X(getErrorName, cuGetErrorName)                                                                  \
  X(deviceGetCount, cuDeviceGetCount)                                                              \
  X(deviceGet, cuDeviceGet)                                                                        \
  X(deviceGetName, cuDeviceGetName)                                                                \
  X(deviceGetAttribute, cuDeviceGetAttribute)                                                      \
  X(deviceTotalMem, cuDeviceTotalMem)                                                              \
  X(primaryCtxRetain, cuDevicePrimaryCtxRetain)                                                    \
  X(primaryCtxRelease, cuDevicePrimaryCtxRelease)                                                  \
  X(ctxSetCurrent, cuCtxSetCurrent)                                                                \
  X(ctxSynchronize, cuCtxSynchronize)                                                              \
  X(moduleLoadData, cuModuleLoadData)                                                              \
  X(moduleUnload, cuModuleUnload)                                                                  \
  X(moduleGetFunction, cuModuleGetFunction)                                                        \
  X(funcSetAttribute, cuFuncSetAttribute)                                                          \
  X(launchKernelEx, cuLaunchKernelEx)                                                              \
  X(tensorMapEncodeTiled, cuTensorMapEncodeTiled)                                                  \
  X(memAlloc, cuMemAlloc)                                                                          \
  X(memFree, cuMemFree)                                                                            \
  X(memcpyHtoD, cuMemcpyHtoD)                                                                      \
  X(memcpy, cuMemcpy)                                                                              \
  X(memcpyHtoDAsync, cuMemcpyHtoDAsync)                                                            \
  X(memcpyDtoHAsync, cuMemcpyDtoHAsync)                                                            \
  X(memcpyDtoDAsync, cuMemcpyDtoDAsync)                                                            \
  X(memsetD32Async, cuMemsetD32Async)                                                              \
  X(streamCreate, cuStreamCreate)                                                                  \
  X(streamDestroy, cuStreamDestroy)                                                                \
  X(streamSynchronize, cuStreamSynchronize)                                                        \
  X(streamWaitEvent, cuStreamWaitEvent)                                                            \
  X(streamBeginCapture, cuStreamBeginCapture)                                                      \
  X(streamEndCapture, cuStreamEndCapture)                                                          \
  X(graphInstantiate, cuGraphInstantiate)                                                          \
  X(graphLaunch, cuGraphLaunch)                                                                    \
  X(graphDestroy, cuGraphDestroy)                                                                  \
  X(graphExecDestroy, cuGraphExecDestroy)                                                          \
  X(eventCreate, cuEventCreate)                                                                    \
  X(eventDestroy, cuEventDestroy)                                                                  \
  X(eventRecord, cuEventRecord)                                                                    \
  X(eventSynchronize, cuEventSynchronize)                                                          \
  X(eventElapsedTime, cuEventElapsedTime)

#define SPDC_DECLARE(member, fn) decltype(&::fn) member = nullptr;
  SPDC_DRIVER_FUNCTIONS(SPDC_DECLARE)
#undef SPDC_DECLARE

  /// "cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY (out of memory)".
  std::string error(CUresult r, const char *step) const;
};

/// Loads libcuda.so.1, resolves the table and calls cuInit(0), once per process. Returns null
/// with `error` set ("no CUDA device: ...") when the driver is missing or has no device.
const Driver *loadDriver(std::string &error);

} // namespace spdc::rt

#endif // SPDC_RUNTIME_DRIVER_H
