//===- spdc.cpp - the spdc command ----------------------------------------===//
//
//   spdc model.onnx [--emit=summary|mlir|cuda|plan] [--pipeline=default|none] [-o FILE]
//                   [--arch=sm_90] [--dtype=f32|bf16|f16] [--check-nvrtc]
//                   [--remarks] [--remarks-filter=REGEX]
//   spdc run model.onnx|model.spdc (--input NAME=FILE.pb ... | --input-dir DIR)
//            [--output-dir D] [--target=interp|cuda]
//   spdc bench model.spdc [--iters N] [--trace=trace.json] [--input-dir DIR] [--host-io]
//              [--packed-outputs] [--json=result.json] [--input-shape=NAME:D0xD1 ...]
//              [--flush-l2-mb=256]
//   spdc test PATH... [--rtol R] [--atol A] [--pipeline P] [--skip-list FILE]
//                     [--target=interp|nvrtc|cuda] [--arch=sm_90] [--pitched-outputs]
//
// Flags only; the work is in lib/Driver.
//
//===----------------------------------------------------------------------===//

#include "spdc/Driver/Driver.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <vector>

namespace cl = llvm::cl;

// spdc's own options; --help lists them and MLIR's (--mlir-*), not the LLVM backends'.
static cl::OptionCategory spdcCategory("spdc options");

static cl::SubCommand runCmd("run", "Run a model (.onnx or .spdc) on the interpreter or the GPU");
static cl::SubCommand benchCmd("bench", "Time a bundle on the GPU, with a per-kernel table");
static cl::SubCommand testCmd("test", "Run ONNX backend-test folders and compare outputs");

// Shared by every command.
static cl::SubCommandGroup allCmds({&cl::SubCommand::getTopLevel(), &runCmd, &testCmd});
static cl::SubCommandGroup compileAndTestCmds({&cl::SubCommand::getTopLevel(), &testCmd});
static cl::opt<std::string> pipeline("pipeline", cl::desc("Pass pipeline: default or none"),
                                     cl::init(""), cl::cat(spdcCategory), cl::sub(allCmds));
// bench takes it too: the shapes of its made-up inputs where a bundle's are dynamic.
static cl::SubCommandGroup shapeCmds({&cl::SubCommand::getTopLevel(), &runCmd, &testCmd,
                                      &benchCmd});
static cl::list<std::string>
    inputShapes("input-shape", cl::desc("Fix an input's shape, e.g. input_ids:2x16 (repeatable)"),
                cl::cat(spdcCategory), cl::sub(shapeCmds));

// spdc model.onnx
static cl::opt<std::string> modelPath(cl::Positional, cl::desc("<model.onnx>"),
                                      cl::cat(spdcCategory),
                                      cl::sub(cl::SubCommand::getTopLevel()));
static cl::opt<std::string>
    emit("emit",
         cl::desc("What to print instead of writing the bundle: summary, mlir, cuda or plan "
                  "(default: print the summary and write the bundle)"),
         cl::init(""), cl::cat(spdcCategory), cl::sub(cl::SubCommand::getTopLevel()));
static cl::opt<std::string>
    outputPath("o", cl::desc("Output file (the bundle; with --emit, the text)"), cl::init(""),
               cl::cat(spdcCategory), cl::sub(cl::SubCommand::getTopLevel()));
static cl::opt<std::string> dtype("dtype",
                                  cl::desc("Float weights/activations type: f32, bf16 or f16"),
                                  cl::init("f32"), cl::cat(spdcCategory),
                                  cl::sub(compileAndTestCmds));
static cl::opt<bool> checkNvrtc("check-nvrtc",
                                cl::desc("With --emit=cuda|plan: compile the source with NVRTC"),
                                cl::cat(spdcCategory), cl::sub(cl::SubCommand::getTopLevel()));
static cl::opt<std::string> arch("arch",
                                 cl::desc("GPU architecture to precompile for (e.g. sm_90)"),
                                 cl::init(""),
                                 cl::cat(spdcCategory), cl::sub(compileAndTestCmds));
static cl::opt<bool> attentionInPlace(
    "attention-in-place",
    cl::desc("Attention reads Q, K, V views of a buffer in place and writes its output in its "
             "reader's layout (default; --attention-in-place=false: contiguous copies)"),
    cl::init(true), cl::cat(spdcCategory), cl::sub(compileAndTestCmds));
static cl::opt<bool> attentionWs(
    "attention-ws",
    cl::desc("f16/bf16 attention at head dims 64/128 through the warp-specialized kernel "
             "(default; --attention-ws=false: the previous 128-row kernel)"),
    cl::init(true), cl::cat(spdcCategory), cl::sub(compileAndTestCmds));
static cl::opt<bool> attentionPersistent(
    "attention-persistent",
    cl::desc("The warp-specialized attention kernel runs persistent, one block per SM walking "
             "the (query tile, head) pairs (default; =false: one block per pair)"),
    cl::init(true), cl::cat(spdcCategory), cl::sub(compileAndTestCmds));
static cl::opt<bool> attentionWideTiles(
    "attention-wide-tiles",
    cl::desc("At head dim 128, attention on sm_90a takes key tiles of 128 (default; =false: 64, "
             "as on every other GPU)"),
    cl::init(true), cl::cat(spdcCategory), cl::sub(compileAndTestCmds));
static cl::opt<bool> attentionTensorCopies(
    "attention-tensor-copies",
    cl::desc("On sm_90a the warp-specialized attention kernel loads Q, K and V with tensor "
             "copies (TMA) (default; =false: cp.async from a producer warpgroup)"),
    cl::init(true), cl::cat(spdcCategory), cl::sub(compileAndTestCmds));
static cl::opt<bool> gemmPaddedRows(
    "gemm-padded-rows",
    cl::desc("GEMM outputs of at least 1024 columns whose rows are not 16-byte multiples are "
             "computed padded, then packed (default; --gemm-padded-rows=false: written in place)"),
    cl::init(true), cl::cat(spdcCategory), cl::sub(compileAndTestCmds));
static cl::opt<bool> noCache("no-cache",
                             cl::desc("Compile even when the compile cache holds the bundle of "
                                      "this unchanged model"),
                             cl::cat(spdcCategory), cl::sub(cl::SubCommand::getTopLevel()));

static spdc::driver::KernelChoices kernelChoices() {
  spdc::driver::KernelChoices k;
  k.attentionInPlace = attentionInPlace;
  k.attentionWarpSpecialized = attentionWs;
  k.attentionPersistent = attentionPersistent;
  k.attentionWideKeyTiles = attentionWideTiles;
  k.attentionTensorCopies = attentionTensorCopies;
  k.gemmPaddedRows = gemmPaddedRows;
  return k;
}
static cl::opt<bool> remarks("remarks",
                             cl::desc("Print why ops were not rewritten or fused (remarks)"),
                             cl::cat(spdcCategory), cl::sub(cl::SubCommand::getTopLevel()));
static cl::opt<std::string>
    remarksFilter("remarks-filter",
                  cl::desc("Only remarks matching this regex, e.g. a pass name "
                           "(spd-fuse-attention); implies --remarks"),
                  cl::cat(spdcCategory), cl::sub(cl::SubCommand::getTopLevel()));

static cl::opt<bool> testDynamicShapes(
    "dynamic-shapes",
    cl::desc("Compile each model once with its dynamic dimensions and run every data set on that "
             "bundle (else each data set's shapes are fixed at compile time)"),
    cl::cat(spdcCategory), cl::sub(testCmd));
static cl::opt<bool> testPitchedOutputs(
    "pitched-outputs",
    cl::desc("With --target=cuda: bind inputs and outputs in device memory, outputs the model "
             "computes in padded rows in those rows (spdc_model_bind_output_pitched)"),
    cl::cat(spdcCategory), cl::sub(testCmd));

// spdc run
static cl::opt<std::string> runModel(cl::Positional, cl::desc("<model.onnx>"), cl::Required,
                                     cl::cat(spdcCategory), cl::sub(runCmd));
static cl::list<std::string> runInputs("input", cl::desc("NAME=FILE.pb (repeatable)"),
                                       cl::cat(spdcCategory), cl::sub(runCmd));
static cl::opt<std::string> runInputDir("input-dir",
                                        cl::desc("Folder of input_N.pb files, in input order"),
                                        cl::cat(spdcCategory), cl::sub(runCmd));
static cl::opt<std::string> runOutputDir("output-dir", cl::desc("Write output_N.pb here"),
                                         cl::cat(spdcCategory), cl::sub(runCmd));
static cl::opt<std::string> runTarget("target",
                                      cl::desc("Where to run an ONNX model: interp or cuda "
                                               "(a .spdc bundle always runs on cuda)"),
                                      cl::init("interp"), cl::cat(spdcCategory), cl::sub(runCmd));

// spdc bench
static cl::opt<std::string> benchModel(cl::Positional, cl::desc("<model.spdc>"), cl::Required,
                                       cl::cat(spdcCategory), cl::sub(benchCmd));
static cl::opt<int> benchIters("iters", cl::desc("Timed iterations"), cl::init(100),
                               cl::cat(spdcCategory), cl::sub(benchCmd));
static cl::opt<std::string> benchTrace("trace", cl::desc("Write a Perfetto/Chrome trace here"),
                                       cl::cat(spdcCategory), cl::sub(benchCmd));
static cl::opt<std::string> benchInputDir("input-dir",
                                          cl::desc("Folder of input_N.pb files (else made up)"),
                                          cl::cat(spdcCategory), cl::sub(benchCmd));
static cl::opt<bool> benchNoGraphs("no-cuda-graphs", cl::desc("Launch step by step"),
                                   cl::cat(spdcCategory), cl::sub(benchCmd));
static cl::opt<bool> benchDependentLaunch(
    "dependent-launch",
    cl::desc("On sm_90+, schedule each kernel while the previous one drains (programmatic "
             "dependent launch); default on"),
    cl::init(true), cl::cat(spdcCategory), cl::sub(benchCmd));
static cl::opt<bool> benchHostIO("host-io",
                                 cl::desc("Bind inputs/outputs in host memory (each run copies "
                                          "them); default: device memory"),
                                 cl::cat(spdcCategory), cl::sub(benchCmd));
static cl::opt<bool> benchPackedOutputs(
    "packed-outputs",
    cl::desc("Bind device outputs that the model computes in padded rows (a vocabulary that is "
             "not a multiple of 8) contiguous, which adds a packing kernel; default: in the "
             "padded rows"),
    cl::cat(spdcCategory), cl::sub(benchCmd));
static cl::opt<unsigned> benchFlushL2Mb(
    "flush-l2-mb",
    cl::desc("Time each run after writing this many MB of scratch, as triton's do_bench does "
             "(256); the back-to-back times are printed beside them"),
    cl::init(0), cl::cat(spdcCategory), cl::sub(benchCmd));
static cl::opt<std::string> benchJson("json", cl::desc("Also write the result as JSON here"),
                                      cl::cat(spdcCategory), cl::sub(benchCmd));

// spdc test
static cl::list<std::string> testPaths(cl::Positional, cl::desc("<test folder>..."),
                                       cl::OneOrMore, cl::cat(spdcCategory), cl::sub(testCmd));
static cl::opt<double> rtolOpt("rtol", cl::desc("Relative tolerance"), cl::init(1e-3),
                            cl::cat(spdcCategory), cl::sub(testCmd));
static cl::opt<double> atolOpt("atol", cl::desc("Absolute tolerance"), cl::init(1e-5),
                            cl::cat(spdcCategory), cl::sub(testCmd));
static cl::opt<std::string> testTarget("target",
                                       cl::desc("interp (run and compare), nvrtc (generate CUDA "
                                                "and compile it) or cuda (run the bundle on "
                                                "the GPU and compare)"),
                                       cl::init("interp"), cl::cat(spdcCategory), cl::sub(testCmd));
static cl::opt<std::string> skipList("skip-list",
                                     cl::desc("File of 'test_name reason' lines to skip"),
                                     cl::cat(spdcCategory), cl::sub(testCmd));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  std::vector<cl::Option *> mlirOptions;
  for (auto &entry : cl::getRegisteredOptions(cl::SubCommand::getTopLevel()))
    if (entry.first.starts_with("mlir-") &&
        entry.second->getOptionHiddenFlag() == cl::NotHidden)
      mlirOptions.push_back(entry.second);
  for (cl::SubCommand *sub : {&cl::SubCommand::getTopLevel(), &runCmd, &benchCmd, &testCmd})
    cl::HideUnrelatedOptions({&spdcCategory}, *sub);
  for (cl::Option *o : mlirOptions)
    o->setHiddenFlag(cl::NotHidden);
  cl::ParseCommandLineOptions(argc, argv, "spdc: a compiler for transformer models\n");

  spdc::OnnxImportOptions import;
  for (const std::string &spec : inputShapes) {
    std::string error;
    if (!spdc::driver::parseInputShape(spec, import, error)) {
      llvm::errs() << "spdc: " << error << "\n";
      return 1;
    }
  }

  if (testCmd) {
    spdc::driver::TestOptions options;
    options.rtol = rtolOpt;
    options.atol = atolOpt;
    options.skipList = skipList;
    options.target = testTarget;
    options.dtype = dtype;
    if (!arch.empty()) {
      options.arch = arch;
      options.precompile = true; // with --target=cuda; nvrtc compiles for `arch` anyway
    }
    options.import = import;
    options.dynamicShapes = testDynamicShapes;
    options.pitchedOutputs = testPitchedOutputs;
    options.kernels = kernelChoices();
    if (!pipeline.empty())
      options.pipeline = pipeline;
    return spdc::driver::test(testPaths, options, llvm::outs());
  }
  if (benchCmd) {
    spdc::driver::BenchOptions options;
    options.bundlePath = benchModel;
    options.iterations = benchIters;
    options.tracePath = benchTrace;
    options.inputDir = benchInputDir;
    options.useCudaGraphs = !benchNoGraphs;
    options.useDependentLaunch = benchDependentLaunch;
    options.hostIO = benchHostIO;
    options.packedOutputs = benchPackedOutputs;
    options.flushL2Mb = benchFlushL2Mb;
    options.jsonPath = benchJson;
    options.import = import;
    return spdc::driver::bench(options, llvm::outs(), llvm::errs());
  }
  if (runCmd) {
    spdc::driver::RunOptions options;
    options.modelPath = runModel;
    options.inputs = runInputs;
    options.inputDir = runInputDir;
    options.outputDir = runOutputDir;
    options.target = runTarget;
    options.import = import;
    if (!pipeline.empty())
      options.pipeline = pipeline;
    return spdc::driver::run(options, llvm::outs(), llvm::errs());
  }
  if (modelPath.empty()) {
    llvm::errs() << "spdc: no model given; see spdc --help\n";
    return 1;
  }
  spdc::driver::CompileOptions options;
  options.inputPath = modelPath;
  options.emit = emit;
  options.outputPath = outputPath;
  options.arch = arch;
  options.dtype = dtype;
  options.checkNvrtc = checkNvrtc;
  options.remarks = remarks || !remarksFilter.empty();
  options.remarksFilter = remarksFilter;
  options.useCache = !noCache;
  options.kernels = kernelChoices();
  options.import = import;
  if (!pipeline.empty())
    options.pipeline = pipeline;
  return spdc::driver::compile(options, llvm::outs(), llvm::errs());
}
