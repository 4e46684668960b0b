//===- Bundle.h - reading and writing .spdc bundles ------------*- C++ -*-===//
//
// A bundle is one file: a versioned, checksummed header, the launch plan, the CUDA sources,
// optional cubins per architecture and source unit, and 64-byte-aligned weights
// (docs/bundle-format.md).
// Shared by the compiler (writer) and libspdcrt (reader); plain C++17, no exceptions: errors
// are returned as messages that name the file and what is wrong.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_RUNTIME_BUNDLE_BUNDLE_H
#define SPDC_RUNTIME_BUNDLE_BUNDLE_H

#include "Hash.h"
#include "Plan.h"

#include <memory>
#include <string>

namespace spdc::bundle {

/// Version of the byte layout; a reader refuses any other.
constexpr uint32_t kFormatVersion = 8;

/// The value of every symbol in the instance of a plan with dynamic dimensions that
/// validatePlan checks: small, so that no size overflows, and not 1, so that a size computed
/// from the wrong dimension or a missing factor shows.
constexpr int64_t kSampleSymbolValue = 3;

/// Writes `plan` (weights included) to `path` atomically (temporary file + rename). Returns an
/// empty string on success, else the error.
std::string writeBundle(const Plan &plan, const std::string &path);

/// writeBundle in two steps, so that the weights (most of a bundle) are written while the
/// kernels compile: begin() writes the sources and the weights of `plan` into a temporary file,
/// finish() the plan section and the binaries (`binaryCount` of them, as Plan::binaries then
/// holds), the table and the header, then renames the file to `path`. Between the two, the
/// plan's sources and weights must not change; its kernel names and binaries may (precompile
/// lowers the names). A writer destroyed unfinished removes its temporary file. Both return an
/// empty string on success, else the error.
class BundleWriter {
public:
  BundleWriter() = default;
  BundleWriter(const BundleWriter &) = delete;
  BundleWriter &operator=(const BundleWriter &) = delete;
  ~BundleWriter();

  std::string begin(const Plan &plan, const std::string &path, size_t binaryCount);
  std::string finish(const Plan &plan);

private:
  struct Entry {
    uint32_t kind;
    std::string name;
    uint64_t offset, size;
    uint32_t unit;
  };
  /// Closes and removes the temporary file; returns "<path>: <what>".
  std::string failed(const std::string &what);
  /// failed() for a write, with errno's reason.
  std::string writeFailed();
  bool writeAt(uint64_t offset, const void *data, uint64_t size);
  /// Writes section `data` at the next 64-byte boundary after `end`, hashes the gap and it,
  /// and records its table entry.
  bool append(uint32_t kind, const std::string &name, const void *data, uint64_t size,
              uint32_t unit);

  std::string path, tmp;
  int fd = -1;
  size_t sources = 0, binaries = 0;
  uint64_t weightsSize = 0, tableBytes = 0, end = 0;
  std::vector<Entry> entries;
  Xxh64 hash;
};

/// A bundle read back: the plan without its weights, which stay in the read-only mapping of
/// the file (`weights`, `weightsSize`), kept alive by `mapping`.
struct LoadedBundle {
  Plan plan;
  const uint8_t *weights = nullptr;
  uint64_t weightsSize = 0;
  std::shared_ptr<const void> mapping;
  std::string spdcVersion; ///< of the spdc that wrote it (informational)
};

/// Maps `path` and validates it: magic, format version, checksum, section bounds, every plan
/// reference inside the arena/weights/inputs/outputs. Returns an empty string on success.
std::string readBundle(const std::string &path, LoadedBundle &out);

/// Checks what readBundle checks on a plan: enum values, dims, kernel/step indices, and every
/// buffer reference (with the extent of copies and matmuls) inside its region, given the size of
/// the weights. A plan with symbols must also have well-formed expressions and every symbol
/// bound by a dynamic input dimension; the checks above then run on the plan instantiated with
/// every symbol = 3 (kSampleSymbolValue). BundleWriter::finish calls it before it writes the
/// plan, so a codegen bug fails at compile time. Returns an empty string when the plan is valid,
/// else what is wrong (naming the step, launch or gemm).
std::string validatePlan(const Plan &plan, uint64_t weightsSize);

/// Symbol values from the shapes of the inputs (one vector of dims per input, in order): an
/// input dimension whose Int is a bare symbol binds it, every other dimension must equal its
/// value. Returns an empty string on success, else what disagrees, naming the input, the
/// dimension and the symbol ("input 'attention_mask' dimension 1 is 7 but input_ids.1 is 9").
std::string bindSymbols(const Plan &plan, const std::vector<std::vector<int64_t>> &inputShapes,
                        std::vector<int64_t> &symbolValues);

/// Evaluates every expression of `plan` for `symbolValues` (exprs in order; Ref reads earlier
/// results). Fails on a malformed program, a division by zero or an overflow.
std::string evaluateExprs(const Plan &plan, const std::vector<int64_t> &symbolValues,
                          std::vector<int64_t> &values);

/// `plan` with every dynamic Int replaced by its value for `symbolValues`, no symbols and no
/// expressions (kernels and steps copied; weights, source and binaries left empty), then checked
/// with validatePlan against `weightsSize`. A plan without symbols instantiates to itself.
std::string instantiatePlan(const Plan &plan, const std::vector<int64_t> &symbolValues,
                            uint64_t weightsSize, Plan &out);

/// Chooses each launch's kernel for a device whose kernels compile for `target` ("sm_90a") and
/// that gives a block up to `maxSharedPerBlock` bytes of shared memory. A launch whose special
/// kernel applies runs it: kernel and specialKernel, sharedBytes and specialSharedBytes swap
/// (specialArgs stay, with the portable kernel as the fallback where they cannot be encoded);
/// its cluster size goes to `clusters` (per launch, 0 for none); a later launch it replaces is
/// dropped with its step, and a pitched output written by that step is written by the
/// replacing launch's step. Other launches drop their special kernel. Afterwards no launch
/// names a special target, cluster or replaced launch (an instance validates as such).
/// `replaced` tells which launches no step runs any more.
void specializePlan(Plan &plan, const std::string &target, uint32_t maxSharedPerBlock,
                    std::vector<uint32_t> &clusters, std::vector<bool> &replaced);

/// The spdc version written into bundle headers (the project version, e.g. "0.1.0").
const char *spdcVersion();

} // namespace spdc::bundle

#endif // SPDC_RUNTIME_BUNDLE_BUNDLE_H
