//===- BackendTest.cpp - `spdc test`: ONNX backend-test folders -----------===//
//
// A test folder holds model.onnx and test_data_set_N/{input_K.pb, output_K.pb}. Each folder is
// imported, run on the interpreter for every data set and compared with the reference outputs.
// With --target=nvrtc, a folder that passes is then compiled to CUDA (shapes fixed from the
// first data set) and the source compiled with NVRTC: PASS when NVRTC accepts it. With
// --target=cuda, the bundle is run on the GPU through libspdcrt and its outputs compared with
// the references.
//
//===----------------------------------------------------------------------===//

#include "Common.h"
#ifdef SPDC_HAVE_RUNTIME
#include "CudaTarget.h"
#endif

#include "spdc/Codegen/CUDA/Codegen.h"
#include "bundle/Bundle.h"
#include "spdc/Driver/Driver.h"
#include "spdc/Frontend/ONNX/TensorProto.h"
#include "spdc/Interpreter/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using llvm::Error;
using llvm::Expected;
using namespace spdc;
namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

namespace {

enum class Outcome { Pass, Fail, Skip };

struct Result {
  Outcome outcome;
  std::string why;
};

bool isTestFolder(StringRef dir) {
  SmallString<256> model(dir);
  path::append(model, "model.onnx");
  return fs::exists(model);
}

/// Test folders under each path: the path itself or its immediate sub-folders, sorted.
std::vector<std::string> collectTests(ArrayRef<std::string> paths, raw_ostream &out,
                                      bool &missing) {
  std::vector<std::string> tests;
  for (const std::string &given : paths) {
    // "dir/" names the same test as "dir".
    std::string p = StringRef(given).rtrim('/').str();
    if (p.empty())
      p = given;
    if (isTestFolder(p)) {
      tests.push_back(p);
      continue;
    }
    if (!fs::is_directory(p)) {
      out << "spdc test: " << p << " is neither a test folder (with model.onnx) nor a folder "
          << "of test folders\n";
      missing = true;
      continue;
    }
    std::vector<std::string> found;
    std::error_code ec;
    for (fs::directory_iterator it(p, ec), end; it != end && !ec; it.increment(ec))
      if (isTestFolder(it->path()))
        found.push_back(it->path());
    std::sort(found.begin(), found.end());
    if (found.empty()) {
      out << "spdc test: no test folders under " << p << "\n";
      missing = true;
    }
    tests.insert(tests.end(), found.begin(), found.end());
  }
  return tests;
}

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "[";
  llvm::interleave(shape, os, "x");
  os << "]";
  return s;
}

/// The flat index as a multi-index "[i, j, k]".
std::string indexString(int64_t flat, ArrayRef<int64_t> shape) {
  SmallVector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "[";
  llvm::interleaveComma(idx, os);
  os << "]";
  return s;
}

/// Empty when `got` matches `want`; otherwise why not, with the worst element.
std::string compare(const Tensor &got, const Tensor &want, double rtol, double atol) {
  // numpy has no bfloat16: exporters write the reference of a bf16 output as f32.
  bool bf16AgainstF32 = got.dtype() == DType::BF16 && want.dtype() == DType::F32;
  if (got.dtype() != want.dtype() && !bf16AgainstF32)
    return ("dtype " + dtypeName(got.dtype()) + ", expected " + dtypeName(want.dtype())).str();
  if (got.shape() != want.shape())
    return "shape " + shapeString(got.shape()) + ", expected " + shapeString(want.shape());
  bool exact = !isFloat(want.dtype());
  int64_t worst = -1, bad = 0;
  double worstExcess = 0;
  for (int64_t i = 0, n = want.numElements(); i < n; ++i) {
    double g = got.getDouble(i), w = want.getDouble(i);
    double excess;
    if (exact) {
      excess = got.getInt(i) == want.getInt(i) ? 0 : 1;
    } else if (std::isnan(w) || std::isnan(g)) {
      excess = std::isnan(w) && std::isnan(g) ? 0 : INFINITY;
    } else if (std::isinf(w) || std::isinf(g)) {
      excess = g == w ? 0 : INFINITY;
    } else {
      excess = std::fabs(g - w) - (atol + rtol * std::fabs(w));
    }
    if (excess > 0) {
      ++bad;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (worst < 0)
    return "";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << bad << " of " << want.numElements() << " elements differ; worst at "
     << indexString(worst, want.shape()) << ": got " << got.getDouble(worst) << ", expected "
     << want.getDouble(worst);
  return s;
}

std::string firstLine(StringRef s) { return s.split('\n').first.str(); }

/// A model whose ops or types are outside what spdc supports is skipped, not failed.
Result importFailure(StringRef diagnostics) {
  for (StringRef marker : {"unsupported op", "is not a tensor", "unsupported element type"}) {
    size_t at = diagnostics.find(marker);
    if (at == StringRef::npos)
      continue;
    size_t start = diagnostics.take_front(at).rfind(": ");
    start = start == StringRef::npos ? 0 : start + 2;
    return {Outcome::Skip, firstLine(diagnostics.substr(start))};
  }
  return {Outcome::Fail, "import: " + firstLine(diagnostics)};
}

/// Why reading the test data failed: the model's own unsupported parts when it has any (the
/// data then holds sequences or strings), else the data error itself.
Result dataFailure(StringRef model, const driver::TestOptions &options, std::string error) {
  std::unique_ptr<MLIRContext> ctx = driver::makeContext();
  std::string diagnostics;
  if (!driver::importAndOptimize(*ctx, model, "none", options.import, &diagnostics)) {
    Result r = importFailure(diagnostics);
    if (r.outcome == Outcome::Skip)
      return r;
  }
  return {Outcome::Fail, "test data: " + error};
}

/// Older test data stores bfloat16 tensors as uint16 bit patterns; read them as bf16 where the
/// model says bf16.
Tensor asBf16If(const Tensor &t, bool wantBf16) {
  if (!wantBf16 || t.dtype() != DType::U16)
    return t;
  return Tensor::view(DType::BF16, t.shape(), t.raw(), std::make_shared<Tensor>(t));
}

/// Integer vectors small enough to be axes, sizes or counts.
bool isSmallIntVector(const Tensor &t) {
  constexpr int64_t kMaxBoundElements = 64;
  return !isFloat(t.dtype()) && t.dtype() != DType::Bool && t.rank() <= 1 &&
         t.numElements() <= kMaxBoundElements;
}

/// Generates the CUDA of `module` and compiles it with NVRTC.
Result compileNvrtc(ModuleOp module, const driver::TestOptions &options) {
  std::string diagnostic;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    if (diagnostic.empty())
      diagnostic = d.str();
    return success();
  });
  codegen::CodegenOptions cgOptions = codegenOptions(options.dtype, options.kernels);
  codegen::CodegenStats stats;
  FailureOr<bundle::Plan> plan = codegen::generatePlan(module, cgOptions, stats);
  if (failed(plan))
    return {Outcome::Fail, "codegen: " + firstLine(diagnostic)};
  std::string e = codegen::compileWithNvrtc(*plan, options.arch);
  if (!e.empty()) {
    // The first compiler error line is the useful one.
    StringRef log(e);
    size_t at = log.find("error");
    size_t nl = at == StringRef::npos ? StringRef::npos : log.rfind('\n', at);
    StringRef line = at == StringRef::npos ? log : log.substr(nl == StringRef::npos ? 0 : nl + 1);
    return {Outcome::Fail, "nvrtc: " + firstLine(line)};
  }
  return {Outcome::Pass, ""};
}

/// Compares `got` with the reference files of a data set; nothing when they all match.
std::optional<Result> compareOutputs(ArrayRef<Tensor> got, ArrayRef<std::string> files,
                                     const driver::TestOptions &options, StringRef setName) {
  if (files.size() != got.size())
    return Result{Outcome::Fail, (setName + ": the model gave " + Twine(got.size()) +
                                  " outputs, the reference has " + Twine(files.size()))
                                     .str()};
  for (auto [i, file] : llvm::enumerate(files)) {
    Expected<Tensor> want = readTensorProtoFile(file);
    if (!want)
      return Result{Outcome::Fail, "reference data: " + toString(want.takeError())};
    Tensor expected = asBf16If(*want, got[i].dtype() == DType::BF16);
    std::string why = compare(got[i], expected, options.rtol, options.atol);
    if (!why.empty())
      return Result{Outcome::Fail, (setName + " output " + Twine(i) + ": " + why).str()};
  }
  return std::nullopt;
}

/// One run of a bundle: its inputs and the reference files of its outputs.
struct CudaRun {
  std::vector<Tensor> inputs;
  ArrayRef<std::string> outputFiles;
  std::string name;
};

/// Generates the bundle of `module`, loads it once on the GPU, and runs it with each run's inputs
/// `rounds` times over, comparing the outputs with the reference files. A second round runs each
/// shape again: the first run of a shape is eager, the next captures its CUDA graph, and going
/// back to an earlier shape replays that shape's graph.
Result runCuda(ModuleOp module, ArrayRef<CudaRun> runs, const driver::TestOptions &options,
               int rounds = 1) {
#ifndef SPDC_HAVE_RUNTIME
  return {Outcome::Skip, "this build has no CUDA runtime (libspdcrt)"};
#else
  SmallString<128> bundlePath;
  if (std::error_code ec = fs::createTemporaryFile("spdc-test", "spdc", bundlePath))
    return {Outcome::Fail, "temporary bundle: " + ec.message()};
  llvm::scope_exit removeBundle([&] { fs::remove(bundlePath); });
  codegen::CodegenOptions cgOptions = codegenOptions(options.dtype, options.kernels);
  std::string e = driver::writeModuleBundle(module, std::string(bundlePath), cgOptions,
                                            options.precompile ? options.arch : "");
  if (!e.empty())
    return {Outcome::Fail, "bundle: " + firstLine(e)};
  Expected<std::unique_ptr<CudaSession>> session = CudaSession::load(bundlePath);
  if (!session) {
    std::string why = toString(session.takeError());
    // No GPU here: the run cannot happen, which is not a failure of the model.
    if (StringRef(why).contains("NO_DEVICE"))
      return {Outcome::Skip, "no CUDA device"};
    return {Outcome::Fail, "load: " + firstLine(why)};
  }
  if (options.precompile) {
    std::string origin = (*session)->codeOrigin();
    if (!StringRef(origin).starts_with("bundle cubin")) {
      // A cubin for another GPU is rightly not used: nothing to check on this one.
      if ((*session)->deviceArch() != options.arch)
        return {Outcome::Skip, "the device is " + (*session)->deviceArch() + ", not " +
                                   options.arch};
      return {Outcome::Fail, "the bundle's cubin for " + options.arch +
                                 " was not used (kernels from: " + origin + ")"};
    }
  }
  for (int round = 0; round < rounds; ++round)
    for (const CudaRun &run : runs) {
      std::string name = run.name + (round ? " (cuda, again)" : " (cuda)");
      if (Error err = (*session)->bind(run.inputs, options.pitchedOutputs,
                                       options.pitchedOutputs))
        return {Outcome::Fail, name + ": bind: " + firstLine(toString(std::move(err)))};
      if (options.pitchedOutputs && !(*session)->pitchedOutputCount())
        return {Outcome::Fail, name + ": --pitched-outputs, but no output has padded rows"};
      Expected<std::vector<Tensor>> got = (*session)->run();
      if (!got)
        return {Outcome::Fail, name + ": run: " + firstLine(toString(got.takeError()))};
      if (std::optional<Result> mismatch = compareOutputs(*got, run.outputFiles, options, name))
        return *mismatch;
    }
  return {Outcome::Pass, ""};
#endif
}

/// Imports and optimizes `model` into `module` and its function `fn`; the failure otherwise.
std::optional<Result> importModel(MLIRContext &ctx, StringRef model, StringRef pipeline,
                                  const OnnxImportOptions &importOptions,
                                  OwningOpRef<ModuleOp> &module, func::FuncOp &fn) {
  std::string diagnostics;
  module = driver::importAndOptimize(ctx, model, pipeline, importOptions, &diagnostics);
  if (!module)
    return importFailure(diagnostics);
  auto fns = module->getOps<func::FuncOp>();
  if (fns.empty())
    return Result{Outcome::Fail, "import produced no function"};
  fn = *fns.begin();
  return std::nullopt;
}

/// Inputs in the types `fn` takes (bf16 read from older data's uint16 bit patterns).
void adaptInputs(func::FuncOp fn, MutableArrayRef<Tensor> inputs) {
  for (auto [i, t] : llvm::enumerate(inputs))
    if (i < fn.getNumArguments())
      t = asBf16If(t, cast<ShapedType>(fn.getArgumentTypes()[i]).getElementType().isBF16());
}

struct DataSet {
  std::string name;
  std::vector<std::pair<std::string, Tensor>> inputs;
  std::vector<std::string> outputFiles;
};

Result runDataSet(StringRef model, const DataSet &set, const driver::TestOptions &options,
                  bool bindSmallInputs) {
  std::unique_ptr<MLIRContext> ctx = driver::makeContext();
  OnnxImportOptions importOptions = options.import;
  std::vector<Tensor> inputs;
  // Code generation needs static shapes: take them from the data.
  bool toGpu = options.target == "nvrtc" || options.target == "cuda";
  if (toGpu)
    for (const auto &[name, t] : set.inputs)
      if (!name.empty() && !importOptions.inputShapes.count(name))
        importOptions.inputShapes[name] = SmallVector<int64_t>(t.shape());
  for (const auto &[name, t] : set.inputs) {
    // Code generation also needs float scalars that decide shapes (Range's bounds).
    if (bindSmallInputs && (isSmallIntVector(t) || (toGpu && t.rank() == 0)))
      importOptions.boundInputs[name] = t;
    else
      inputs.push_back(t);
  }
  OwningOpRef<ModuleOp> module;
  func::FuncOp fn;
  if (std::optional<Result> failure =
          importModel(*ctx, model, options.pipeline, importOptions, module, fn))
    return *failure;
  adaptInputs(fn, inputs);
  // On the GPU the references are the oracle; the interpreter is not run (it would dominate the
  // time of a billion-parameter model).
  if (options.target == "cuda")
    return runCuda(*module, {CudaRun{inputs, set.outputFiles, set.name}}, options);

  Expected<std::vector<Tensor>> got = runFunction(fn, inputs);
  if (!got)
    return {Outcome::Fail, set.name + ": " + toString(got.takeError())};
  if (std::optional<Result> mismatch = compareOutputs(*got, set.outputFiles, options, set.name)) {
    // With a GPU target, a model the interpreter gets wrong says nothing about the GPU.
    if (toGpu && !StringRef(mismatch->why).starts_with("reference data"))
      return {Outcome::Skip, "fails on the interpreter: " + mismatch->why};
    return *mismatch;
  }
  if (options.target == "nvrtc")
    return compileNvrtc(*module, options);
  return {Outcome::Pass, ""};
}

/// --dynamic-shapes: one import keeping the dynamic dimensions, one bundle, every data set.
Result runDynamic(StringRef model, ArrayRef<DataSet> sets, const driver::TestOptions &options) {
  std::unique_ptr<MLIRContext> ctx = driver::makeContext();
  OwningOpRef<ModuleOp> module;
  func::FuncOp fn;
  if (std::optional<Result> failure =
          importModel(*ctx, model, options.pipeline, options.import, module, fn))
    return *failure;
  auto inputsOf = [&](const DataSet &set) {
    std::vector<Tensor> inputs;
    for (const auto &named : set.inputs)
      inputs.push_back(named.second);
    adaptInputs(fn, inputs);
    return inputs;
  };
  if (options.target == "nvrtc")
    return compileNvrtc(*module, options);
  if (options.target != "cuda") {
    for (const DataSet &set : sets) {
      Expected<std::vector<Tensor>> got = runFunction(fn, inputsOf(set));
      if (!got)
        return {Outcome::Fail, set.name + ": " + toString(got.takeError())};
      if (std::optional<Result> mismatch =
              compareOutputs(*got, set.outputFiles, options, set.name))
        return *mismatch;
    }
    return {Outcome::Pass, ""};
  }
  // Every shape twice, on one loaded bundle.
  std::vector<CudaRun> runs;
  for (const DataSet &set : sets)
    runs.push_back({inputsOf(set), set.outputFiles, set.name});
  return runCuda(*module, runs, options, /*rounds=*/2);
}

Result runOne(StringRef dir, const driver::TestOptions &options) {
  SmallString<256> model(dir);
  path::append(model, "model.onnx");
  std::vector<std::string> setDirs;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec))
    if (path::filename(it->path()).starts_with("test_data_set_"))
      setDirs.push_back(it->path());
  std::sort(setDirs.begin(), setDirs.end());
  if (setDirs.empty())
    return {Outcome::Fail, "no test_data_set_N folder"};

  std::vector<DataSet> sets;
  for (const std::string &setDir : setDirs) {
    DataSet set;
    set.name = path::filename(setDir).str();
    for (const std::string &file : driver::numberedFiles(setDir, "input_")) {
      std::string name;
      Expected<Tensor> t = readTensorProtoFile(file, &name);
      if (!t)
        return dataFailure(model, options, toString(t.takeError()));
      set.inputs.emplace_back(name, std::move(*t));
    }
    set.outputFiles = driver::numberedFiles(setDir, "output_");
    sets.push_back(std::move(set));
  }
  if (options.dynamicShapes)
    return runDynamic(model, sets, options);
  for (const DataSet &set : sets) {
    Result r = runDataSet(model, set, options, /*bindSmallInputs=*/false);
    // Axes, sizes and the like that the model takes as inputs: spd needs them at compile time,
    // so specialize the model on this data set's values.
    if (r.outcome == Outcome::Fail &&
        (StringRef(r.why).contains("must be a constant") ||
         StringRef(r.why).contains("has a dynamic shape") ||
         StringRef(r.why).contains("not known in terms of the inputs' dimensions")))
      r = runDataSet(model, set, options, /*bindSmallInputs=*/true);
    if (r.outcome != Outcome::Pass)
      return r;
  }
  return {Outcome::Pass, ""};
}

/// "name  reason" lines; '#' starts a comment.
bool readSkipList(StringRef file, llvm::StringMap<std::string> &skips, raw_ostream &out) {
  auto buffer = llvm::MemoryBuffer::getFile(file);
  if (!buffer) {
    out << "spdc test: cannot read skip list " << file << ": " << buffer.getError().message()
        << "\n";
    return false;
  }
  SmallVector<StringRef> lines;
  (*buffer)->getBuffer().split(lines, '\n');
  for (StringRef line : lines) {
    line = line.split('#').first.trim();
    if (line.empty())
      continue;
    auto [name, reason] = line.split(' ');
    skips[name] = reason.trim().str();
  }
  return true;
}

} // namespace

int spdc::driver::test(ArrayRef<std::string> paths, const TestOptions &options,
                       raw_ostream &out) {
  llvm::StringMap<std::string> skips;
  if (!options.skipList.empty() && !readSkipList(options.skipList, skips, out))
    return 1;
  bool missing = false;
  std::vector<std::string> tests = collectTests(paths, out, missing);
  if (options.target == "cuda") {
    // Without a GPU nothing can run: say so once, visibly, instead of per test.
    std::string why = "this build has no CUDA runtime (libspdcrt)";
#ifdef SPDC_HAVE_RUNTIME
    if (!CudaSession::deviceAvailable(why))
#endif
    {
      out << "SKIPPED: " << why << "\n";
      out << "0 passed, 0 failed, " << tests.size() << " skipped\n";
      return missing ? 1 : 0;
    }
  }
  int passed = 0, failed = 0, skipped = 0;
  for (const std::string &dir : tests) {
    std::string name = path::filename(dir).str();
    Result r;
    auto skip = skips.find(name);
    if (skip != skips.end())
      r = {Outcome::Skip, skip->second};
    else
      r = runOne(dir, options);
    switch (r.outcome) {
    case Outcome::Pass:
      ++passed;
      out << "PASS " << name << "\n";
      break;
    case Outcome::Fail:
      ++failed;
      out << "FAIL " << name << ": " << r.why << "\n";
      break;
    case Outcome::Skip:
      ++skipped;
      out << "SKIP " << name << ": " << r.why << "\n";
      break;
    }
    out.flush();
  }
  out << passed << " passed, " << failed << " failed, " << skipped << " skipped\n";
  return (failed || missing) ? 1 : 0;
}
