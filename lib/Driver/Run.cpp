//===- Run.cpp - `spdc run` -----------------------------------------------===//

#include "Common.h"

#include "spdc/Driver/Driver.h"
#include "spdc/Frontend/ONNX/TensorProto.h"
#include "spdc/Interpreter/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using llvm::Error;
using llvm::Expected;
using namespace spdc;

/// Input files of a backend-test data folder, input_0.pb, input_1.pb, ... in order.
static std::vector<std::string> numberedFiles(StringRef dir, StringRef prefix) {
  std::vector<std::string> files;
  for (int i = 0;; ++i) {
    SmallString<256> path(dir);
    llvm::sys::path::append(path, (prefix + Twine(i) + ".pb").str());
    if (!llvm::sys::fs::exists(path))
      break;
    files.push_back(std::string(path));
  }
  return files;
}

int spdc::driver::run(const RunOptions &options, raw_ostream &out, raw_ostream &err) {
  if (options.target != "interp") {
    err << "spdc run: --target=" << options.target
        << " is not available in this build; use --target=interp (the CPU interpreter)\n";
    return 1;
  }
  std::unique_ptr<MLIRContext> ctx = makeContext();
  OwningOpRef<ModuleOp> module =
      importAndOptimize(*ctx, options.modelPath, options.pipeline, options.import, nullptr);
  if (!module)
    return 1;
  auto fn = *module->getOps<func::FuncOp>().begin();

  // Arguments are named by the importer (`spd.name`); inputs bind by name or by position.
  std::vector<Tensor> inputs(fn.getNumArguments());
  std::vector<bool> bound(fn.getNumArguments(), false);
  auto argIndex = [&](StringRef name) -> int {
    for (unsigned i = 0; i < fn.getNumArguments(); ++i)
      if (auto attr = fn.getArgAttrOfType<StringAttr>(i, "onnx.name"))
        if (attr.getValue() == name)
          return i;
    return -1;
  };
  auto bind = [&](int index, StringRef path) -> bool {
    Expected<Tensor> t = readTensorProtoFile(path);
    if (!t) {
      err << "spdc run: " << toString(t.takeError()) << "\n";
      return false;
    }
    inputs[index] = std::move(*t);
    bound[index] = true;
    return true;
  };
  if (!options.inputDir.empty()) {
    std::vector<std::string> files = numberedFiles(options.inputDir, "input_");
    if (files.size() != fn.getNumArguments()) {
      err << "spdc run: " << options.inputDir << " holds " << files.size()
          << " input_N.pb files, the model takes " << fn.getNumArguments() << " inputs\n";
      return 1;
    }
    for (auto [i, file] : llvm::enumerate(files))
      if (!bind(i, file))
        return 1;
  }
  for (const std::string &spec : options.inputs) {
    auto [name, path] = StringRef(spec).split('=');
    int index = argIndex(name);
    if (path.empty() || index < 0) {
      err << "spdc run: --input " << spec << ": expected NAME=FILE.pb with NAME one of the "
          << "model's inputs\n";
      return 1;
    }
    if (!bind(index, path))
      return 1;
  }
  for (unsigned i = 0; i < bound.size(); ++i) {
    if (bound[i])
      continue;
    auto name = fn.getArgAttrOfType<StringAttr>(i, "onnx.name");
    err << "spdc run: no value for input '" << (name ? name.getValue() : StringRef("?"))
        << "'; pass --input NAME=FILE.pb or --input-dir DIR\n";
    return 1;
  }

  Expected<std::vector<Tensor>> results = runFunction(fn, inputs);
  if (!results) {
    err << "spdc run: " << options.modelPath << ": " << toString(results.takeError()) << "\n";
    return 1;
  }
  for (auto [i, t] : llvm::enumerate(*results)) {
    auto name = fn.getResultAttrOfType<StringAttr>(i, "onnx.name");
    std::string outName = name ? name.getValue().str() : ("output_" + Twine(i)).str();
    out << outName << " " << summarize(t) << "\n";
    if (options.outputDir.empty())
      continue;
    SmallString<256> path(options.outputDir);
    llvm::sys::fs::create_directories(path);
    llvm::sys::path::append(path, "output_" + Twine(i) + ".pb");
    if (Error e = writeTensorProtoFile(path, t, outName)) {
      err << "spdc run: " << toString(std::move(e)) << "\n";
      return 1;
    }
  }
  return 0;
}
