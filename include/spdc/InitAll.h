//===- InitAll.h - register spdc dialects and passes -----------*- C++ -*-===//

#ifndef SPDC_INITALL_H
#define SPDC_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace spdc {

/// Adds every dialect that spdc's IR may contain to `registry`.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers every spdc pass and pipeline with the global pass registry.
void registerAllPasses();

} // namespace spdc

#endif // SPDC_INITALL_H
