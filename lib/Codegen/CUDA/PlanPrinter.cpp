//===- PlanPrinter.cpp - `spdc --emit=plan` -------------------------------===//

#include "spdc/Codegen/CUDA/Codegen.h"

#include "llvm/Support/Format.h"

using namespace spdc;

static const char *typeName(bundle::ElementType t) {
  static const char *names[] = {"f32", "f16", "bf16", "f64", "i64", "i32", "i16",
                                "i8",  "u8",  "u16",  "u32", "u64", "bool"};
  return names[static_cast<uint32_t>(t)];
}

static void printRef(const bundle::BufferRef &r, llvm::raw_ostream &os) {
  switch (r.space) {
  case bundle::Space::Arena:
    os << "arena+" << r.offset;
    break;
  case bundle::Space::Weights:
    os << "weights+" << r.offset;
    break;
  case bundle::Space::Input:
    os << "input" << r.index;
    break;
  case bundle::Space::Output:
    os << "output" << r.index;
    break;
  }
}

static void printTensor(const bundle::TensorInfo &t, llvm::raw_ostream &os) {
  os << t.name << ": " << typeName(t.type) << "[";
  for (size_t i = 0; i < t.shape.size(); ++i)
    os << (i ? "x" : "") << t.shape[i];
  os << "]";
}

void spdc::codegen::printPlan(const bundle::Plan &plan, llvm::raw_ostream &os) {
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    os << "input " << i << " ";
    printTensor(plan.inputs[i], os);
    os << "\n";
  }
  for (size_t i = 0; i < plan.outputs.size(); ++i) {
    os << "output " << i << " ";
    printTensor(plan.outputs[i], os);
    os << "\n";
  }
  os << "arena " << plan.arenaBytes << " bytes, weights " << plan.weights.size() << " bytes, "
     << plan.kernelNames.size() << " kernels, " << plan.steps.size() << " steps\n";
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    const bundle::Step &step = plan.steps[s];
    os << "step " << s << " ";
    switch (step.kind) {
    case bundle::Step::Kind::Launch: {
      const bundle::Launch &l = plan.launches[step.index];
      os << "launch " << plan.kernelNames[l.kernel] << " grid(" << l.grid[0] << "," << l.grid[1]
         << "," << l.grid[2] << ") block(" << l.block[0] << "," << l.block[1] << ","
         << l.block[2] << ") args(";
      for (size_t a = 0; a < l.args.size(); ++a) {
        if (a)
          os << ", ";
        const bundle::KernelArg &arg = l.args[a];
        if (arg.kind == bundle::KernelArg::Kind::Buffer)
          printRef(arg.buffer, os);
        else if (arg.kind == bundle::KernelArg::Kind::I64)
          os << arg.i64;
        else
          os << llvm::format("%g", arg.f32) << "f";
      }
      os << ")";
      break;
    }
    case bundle::Step::Kind::Gemm: {
      const bundle::Gemm &g = plan.gemms[step.index];
      static const char *epi[] = {"none", "bias", "gelu", "bias_gelu"};
      os << "gemm " << typeName(g.type) << " m=" << g.m << " n=" << g.n << " k=" << g.k
         << " batch=" << g.batch << (g.transA ? " transA" : "") << (g.transB ? " transB" : "")
         << " lda=" << g.lda << " ldb=" << g.ldb << " ldc=" << g.ldc;
      if (g.batch > 1)
        os << " strides=" << g.strideA << "," << g.strideB << "," << g.strideC;
      os << " epilogue=" << epi[static_cast<uint32_t>(g.epilogue)] << " a=";
      printRef(g.a, os);
      os << " b=";
      printRef(g.b, os);
      os << " d=";
      printRef(g.d, os);
      if (g.beta != 0) {
        os << " beta=" << llvm::format("%g", g.beta) << " c=";
        printRef(g.c, os);
      }
      if (g.epilogue == bundle::Gemm::Epilogue::Bias ||
          g.epilogue == bundle::Gemm::Epilogue::BiasGelu) {
        os << " bias=";
        printRef(g.bias, os);
      }
      break;
    }
    case bundle::Step::Kind::Copy: {
      const bundle::Copy &c = plan.copies[step.index];
      os << "copy " << c.bytes << " bytes ";
      printRef(c.src, os);
      os << " -> ";
      printRef(c.dst, os);
      break;
    }
    }
    os << "  // " << step.label << "\n";
  }
}
