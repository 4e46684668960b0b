//===- Common.h - pieces shared by the driver's commands -------*- C++ -*-===//

#ifndef SPDC_LIB_DRIVER_COMMON_H
#define SPDC_LIB_DRIVER_COMMON_H

#include "spdc/Codegen/CUDA/Codegen.h"
#include "spdc/Driver/Driver.h"
#include "spdc/Frontend/ONNX/Importer.h"
#include "spdc/Interpreter/Tensor.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/Timing.h"

#include <memory>
#include <string>
#include <vector>

namespace spdc::driver {

/// A context with every dialect spdc's IR may hold, loaded.
std::unique_ptr<mlir::MLIRContext> makeContext();

/// Where the passes' remarks (ops not rewritten, and why) go: counted always, printed to `os`
/// when `print` is set and the remark's text matches `filter` (a regex; empty = all).
struct RemarkSink {
  bool print = false;
  std::string filter;
  llvm::raw_ostream *os = nullptr;
  int64_t count = 0;
};

/// Imports `path` and runs `pipeline`; errors go to `diagnostics` (one per line) when not null,
/// else to stderr. Remarks go to `remarks` when not null and are dropped otherwise. With
/// `timing`, the import and each pass are timed under it.
mlir::OwningOpRef<mlir::ModuleOp> importAndOptimize(mlir::MLIRContext &ctx, llvm::StringRef path,
                                                    llvm::StringRef pipeline,
                                                    const OnnxImportOptions &options,
                                                    std::string *diagnostics,
                                                    RemarkSink *remarks = nullptr,
                                                    mlir::TimingScope *timing = nullptr);

/// Code generation options of a compile or a test run.
codegen::CodegenOptions codegenOptions(const std::string &dtype, const KernelChoices &kernels);

/// Generates the bundle of `module` (after the default pipeline, static shapes) and writes it
/// to `path`. Returns an empty string on success, else why not (the op's diagnostic).
/// With `arch`, the kernels are precompiled for it (a cubin in the bundle).
std::string writeModuleBundle(mlir::ModuleOp module, const std::string &path,
                              const codegen::CodegenOptions &options = {},
                              const std::string &arch = "");

/// The files `dir/<prefix>0.pb`, `dir/<prefix>1.pb`, ... that exist, in order (the inputs and
/// outputs of a backend-test data set).
std::vector<std::string> numberedFiles(llvm::StringRef dir, llvm::StringRef prefix);

/// "f32[2x16]: min -1.2 max 3.4 mean 0.01 [0.1, 0.2, ...]".
std::string summarize(const Tensor &t);

} // namespace spdc::driver

#endif // SPDC_LIB_DRIVER_COMMON_H
