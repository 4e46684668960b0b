//===- Run.cpp - `spdc run` and `spdc bench` ------------------------------===//

#include "Common.h"
#include "Npy.h"
#ifdef SPDC_HAVE_RUNTIME
#include "CudaTarget.h"
#endif

#include "spdc/Driver/Driver.h"
#include "spdc/Frontend/ONNX/TensorProto.h"
#include "spdc/Interpreter/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
using llvm::Error;
using llvm::Expected;
using namespace spdc;

namespace {

/// Reads the inputs named `names` from --input-dir (by position) and --input NAME=FILE (by
/// name). Prints what is wrong and returns std::nullopt on error.
std::optional<std::vector<Tensor>> readInputs(ArrayRef<std::string> names, StringRef inputDir,
                                              ArrayRef<std::string> specs, raw_ostream &err) {
  std::vector<Tensor> inputs(names.size());
  std::vector<bool> bound(names.size(), false);
  auto bind = [&](size_t index, StringRef path) -> bool {
    Expected<Tensor> t = path.ends_with(".npy") ? driver::readNpyFile(path)
                                                : readTensorProtoFile(path);
    if (!t) {
      err << "spdc run: " << toString(t.takeError()) << "\n";
      return false;
    }
    inputs[index] = std::move(*t);
    bound[index] = true;
    return true;
  };
  if (!inputDir.empty()) {
    std::vector<std::string> files = driver::numberedFiles(inputDir, "input_");
    if (files.size() != names.size()) {
      err << "spdc run: " << inputDir << " holds " << files.size()
          << " input_N.pb files, the model takes " << names.size() << " inputs\n";
      return std::nullopt;
    }
    for (auto [i, file] : llvm::enumerate(files))
      if (!bind(i, file))
        return std::nullopt;
  }
  for (const std::string &spec : specs) {
    auto [name, path] = StringRef(spec).split('=');
    auto it = llvm::find(names, name);
    if (path.empty() || it == names.end()) {
      err << "spdc run: --input " << spec << ": expected NAME=FILE.pb|FILE.npy with NAME one of the "
          << "model's inputs\n";
      return std::nullopt;
    }
    if (!bind(it - names.begin(), path))
      return std::nullopt;
  }
  for (size_t i = 0; i < bound.size(); ++i) {
    if (bound[i])
      continue;
    err << "spdc run: no value for input '" << names[i]
        << "'; pass --input NAME=FILE.pb or --input-dir DIR\n";
    return std::nullopt;
  }
  return inputs;
}

/// Prints each output's summary and writes output_N.pb files when `outputDir` is set.
int reportOutputs(ArrayRef<Tensor> outputs, ArrayRef<std::string> names, StringRef outputDir,
                  raw_ostream &out, raw_ostream &err) {
  for (auto [i, t] : llvm::enumerate(outputs)) {
    std::string name = i < names.size() && !names[i].empty() ? names[i]
                                                             : ("output_" + Twine(i)).str();
    out << name << " " << driver::summarize(t) << "\n";
    if (outputDir.empty())
      continue;
    SmallString<256> path(outputDir);
    llvm::sys::fs::create_directories(path);
    llvm::sys::path::append(path, "output_" + Twine(i) + ".pb");
    if (Error e = writeTensorProtoFile(path, t, name)) {
      err << "spdc run: " << toString(std::move(e)) << "\n";
      return 1;
    }
  }
  return 0;
}

int runOnInterpreter(const driver::RunOptions &options, raw_ostream &out, raw_ostream &err) {
  std::unique_ptr<MLIRContext> ctx = driver::makeContext();
  OwningOpRef<ModuleOp> module = driver::importAndOptimize(*ctx, options.modelPath,
                                                           options.pipeline, options.import,
                                                           nullptr);
  if (!module)
    return 1;
  auto fn = *module->getOps<func::FuncOp>().begin();
  auto names = [&](bool results) {
    std::vector<std::string> names;
    unsigned n = results ? fn.getNumResults() : fn.getNumArguments();
    for (unsigned i = 0; i < n; ++i) {
      auto attr = results ? fn.getResultAttrOfType<StringAttr>(i, "onnx.name")
                          : fn.getArgAttrOfType<StringAttr>(i, "onnx.name");
      names.push_back(attr ? attr.getValue().str() : "");
    }
    return names;
  };
  std::optional<std::vector<Tensor>> inputs =
      readInputs(names(false), options.inputDir, options.inputs, err);
  if (!inputs)
    return 1;
  Expected<std::vector<Tensor>> results = runFunction(fn, *inputs);
  if (!results) {
    err << "spdc run: " << options.modelPath << ": " << toString(results.takeError()) << "\n";
    return 1;
  }
  return reportOutputs(*results, names(true), options.outputDir, out, err);
}

#ifdef SPDC_HAVE_RUNTIME
/// The bundle to load: `path` itself, or an ONNX model compiled into a temporary bundle
/// (removed by the caller through `temporary`).
std::optional<std::string> bundleFor(StringRef path, const OnnxImportOptions &import,
                                     SmallString<128> &temporary, raw_ostream &err) {
  if (path.ends_with(".spdc"))
    return path.str();
  std::unique_ptr<MLIRContext> ctx = driver::makeContext();
  OwningOpRef<ModuleOp> module =
      driver::importAndOptimize(*ctx, path, "default", import, nullptr);
  if (!module)
    return std::nullopt;
  if (std::error_code ec = llvm::sys::fs::createTemporaryFile("spdc-run", "spdc", temporary)) {
    err << "spdc: cannot create a temporary bundle: " << ec.message() << "\n";
    return std::nullopt;
  }
  std::string e = driver::writeModuleBundle(*module, std::string(temporary));
  if (!e.empty()) {
    err << "spdc: " << path << ": " << e << "\n";
    return std::nullopt;
  }
  return std::string(temporary);
}

std::unique_ptr<CudaSession> loadSession(StringRef path, const OnnxImportOptions &import,
                                         bool useGraphs, raw_ostream &err,
                                         bool useDependentLaunch = true) {
  SmallString<128> temporary;
  llvm::scope_exit removeTemporary([&] {
    if (!temporary.empty())
      llvm::sys::fs::remove(temporary);
  });
  std::optional<std::string> bundle = bundleFor(path, import, temporary, err);
  if (!bundle)
    return nullptr;
  Expected<std::unique_ptr<CudaSession>> session =
      CudaSession::load(*bundle, useGraphs, useDependentLaunch);
  if (!session) {
    std::string why = toString(session.takeError());
    err << "spdc: " << path << ": " << why << "\n";
    if (StringRef(why).contains("NO_DEVICE") && !path.ends_with(".spdc"))
      err << "spdc: run it on the CPU interpreter with --target=interp\n";
    return nullptr;
  }
  return std::move(*session);
}
#endif

} // namespace

int spdc::driver::run(const RunOptions &options, raw_ostream &out, raw_ostream &err) {
  bool bundle = StringRef(options.modelPath).ends_with(".spdc");
  std::string target = bundle ? "cuda" : options.target;
  if (target == "interp")
    return runOnInterpreter(options, out, err);
  if (target != "cuda") {
    err << "spdc run: unknown --target=" << options.target << " (expected interp or cuda)\n";
    return 1;
  }
#ifndef SPDC_HAVE_RUNTIME
  err << "spdc run: --target=cuda is not available in this build (no CUDA toolkit); use "
         "--target=interp (the CPU interpreter)\n";
  return 1;
#else
  std::unique_ptr<CudaSession> session =
      loadSession(options.modelPath, options.import, /*useGraphs=*/true, err);
  if (!session)
    return 1;
  std::vector<std::string> names;
  for (auto &[name, t] : session->inputDescriptions())
    names.push_back(name);
  std::optional<std::vector<Tensor>> inputs =
      readInputs(names, options.inputDir, options.inputs, err);
  if (!inputs)
    return 1;
  if (Error e = session->bind(*inputs)) {
    err << "spdc run: " << toString(std::move(e)) << "\n";
    return 1;
  }
  Expected<std::vector<Tensor>> results = session->run();
  if (!results) {
    err << "spdc run: " << toString(results.takeError()) << "\n";
    return 1;
  }
  return reportOutputs(*results, session->outputNames(), options.outputDir, out, err);
#endif
}

int spdc::driver::bench(const BenchOptions &options, raw_ostream &out, raw_ostream &err) {
#ifndef SPDC_HAVE_RUNTIME
  err << "spdc bench: not available in this build (no CUDA toolkit)\n";
  return 1;
#else
  std::unique_ptr<CudaSession> session = loadSession(
      options.bundlePath, options.import, options.useCudaGraphs, err, options.useDependentLaunch);
  if (!session)
    return 1;
  std::vector<Tensor> inputs;
  std::vector<std::pair<std::string, Tensor>> descriptions = session->inputDescriptions();
  if (!options.inputDir.empty()) {
    std::vector<std::string> names;
    for (auto &[name, t] : descriptions)
      names.push_back(name);
    std::optional<std::vector<Tensor>> read = readInputs(names, options.inputDir, {}, err);
    if (!read)
      return 1;
    inputs = std::move(*read);
  } else {
    // Made-up inputs, never zeros (zeros hide wrong indexing and can run faster than real data):
    // token ids spread over a small range every vocabulary has, masks all ones, floats in
    // [-1, 1).
    constexpr int64_t kTokenRange = 97;
    // Dynamic dimensions (-1) take the shapes of --input-shape; a bundle's static shapes need
    // none (the runtime checks that a given one repeats them).
    std::string missing;
    for (auto &[name, shapeOnly] : descriptions) {
      auto given = options.import.inputShapes.find(name);
      if (given != options.import.inputShapes.end()) {
        if (llvm::is_contained(given->second, ShapedType::kDynamic)) {
          err << "spdc bench: --input-shape for '" << name
              << "': give every dimension as a number, not '?'\n";
          return 1;
        }
        shapeOnly = Tensor::view(shapeOnly.dtype(), given->second, nullptr, nullptr);
      } else if (llvm::is_contained(shapeOnly.shape(), -1)) {
        std::string dims;
        for (int64_t d : shapeOnly.shape())
          dims += (dims.empty() ? "" : "x") + (d < 0 ? std::string("?") : std::to_string(d));
        missing += (missing.empty() ? "" : ", ") + ("'" + name + "' [" + dims + "]");
      }
    }
    for (const auto &entry : options.import.inputShapes)
      if (!llvm::any_of(descriptions, [&](const auto &d) { return d.first == entry.getKey(); })) {
        err << "spdc bench: --input-shape names '" << entry.getKey() << "', which is no input of "
            << options.bundlePath << "\n";
        return 1;
      }
    if (!missing.empty()) {
      err << "spdc bench: " << options.bundlePath
          << " has inputs with dynamic dimensions: " << missing
          << "; give their shapes with --input-shape=NAME:D0xD1x... (e.g. "
          << "--input-shape=" << descriptions.front().first << ":1x128), or real inputs with "
          << "--input-dir\n";
      return 1;
    }
    for (auto &[name, shapeOnly] : descriptions) {
      Expected<Tensor> t = Tensor::allocate(shapeOnly.dtype(), shapeOnly.shape());
      if (!t) {
        err << "spdc bench: " << toString(t.takeError()) << "\n";
        return 1;
      }
      bool mask = StringRef(name).contains_insensitive("mask");
      for (int64_t i = 0, n = t->numElements(); i < n; ++i) {
        switch (t->dtype()) {
        case DType::I64:
          t->mutableData<int64_t>()[i] = mask ? 1 : (i * 7919) % kTokenRange;
          break;
        case DType::I32:
          t->mutableData<int32_t>()[i] = mask ? 1 : static_cast<int32_t>((i * 7919) % kTokenRange);
          break;
        case DType::Bool:
        case DType::U8:
          t->mutableData<uint8_t>()[i] = 1;
          break;
        case DType::F32:
          t->mutableData<float>()[i] = static_cast<float>((i * 7919) % 2001) / 1000.0f - 1.0f;
          break;
        case DType::F16:
          t->mutableData<uint16_t>()[i] =
              floatToHalf(static_cast<float>((i * 7919) % 2001) / 1000.0f - 1.0f);
          break;
        case DType::BF16:
          t->mutableData<uint16_t>()[i] =
              floatToBf16(static_cast<float>((i * 7919) % 2001) / 1000.0f - 1.0f);
          break;
        default:
          break;
        }
      }
      inputs.push_back(std::move(*t));
    }
  }
  if (Error e = session->bind(inputs, /*deviceResident=*/!options.hostIO,
                              /*pitchedOutputs=*/!options.packedOutputs)) {
    err << "spdc bench: " << toString(std::move(e)) << "\n";
    return 1;
  }
  Expected<BenchResult> result = session->bench(options.iterations, size_t(options.flushL2Mb) * 1000000);
  if (!result) {
    err << "spdc bench: " << toString(result.takeError()) << "\n";
    return 1;
  }
  out << options.bundlePath << " on " << session->deviceName() << ", " << options.iterations
      << " iterations, " << (options.hostIO ? "host" : "device") << " inputs/outputs"
      << (session->pitchedOutputCount()
              ? " (" + std::to_string(session->pitchedOutputCount()) + " in padded rows)"
              : std::string())
      << ", kernels from " << session->codeOrigin() << "\n";
  printBenchTable(*result, out);
  auto write = [&](const std::string &path, const std::string &text) {
    std::string error;
    auto file = mlir::openOutputFile(path, &error);
    if (!file) {
      err << "spdc bench: " << error << "\n";
      return false;
    }
    file->os() << text;
    file->keep();
    return true;
  };
  if (!options.jsonPath.empty() &&
      !write(options.jsonPath, benchJson(*result, options.bundlePath, session->deviceName(),
                                         session->codeOrigin(), options.hostIO,
                                         session->pitchedOutputCount())))
    return 1;
  if (!options.tracePath.empty()) {
    if (!write(options.tracePath, chromeTrace(*result)))
      return 1;
    out << "trace: " << options.tracePath << "\n";
  }
  return 0;
#endif
}
