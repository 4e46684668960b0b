//===- PlanPrinter.cpp - `spdc --emit=plan` -------------------------------===//
//
// A plan of static shapes prints as it always has (tests and diffs rely on it); in a plan with
// dynamic dimensions a header names the symbols (s0 = input_ids.0, ...) and every dynamic size
// prints as its expression in infix: `s1`, `(s0*s1*768)`, `ceildiv(s0*s1, 256)`. Long
// expressions that others build on (the arena offsets) print as `eN`, defined in the header.
//
//===----------------------------------------------------------------------===//

#include "spdc/Codegen/CUDA/Codegen.h"

#include "llvm/Support/Format.h"

#include <string>
#include <vector>

using namespace spdc;

namespace {

/// The infix text of each expression of a plan, built once; an Int prints as its constant or
/// its expression.
class IntPrinter {
public:
  explicit IntPrinter(const bundle::Plan &plan) {
    std::vector<bool> referenced(plan.exprs.size(), false);
    for (const bundle::IntExpr &x : plan.exprs)
      for (const bundle::ExprOp &op : x.ops)
        if (op.code == bundle::ExprOp::Code::Ref && op.operand >= 0 &&
            size_t(op.operand) < referenced.size())
          referenced[size_t(op.operand)] = true;
    for (size_t i = 0; i < plan.exprs.size(); ++i) {
      texts.push_back(render(plan, i));
      named.push_back(referenced[i] && texts.back().text.size() > kMaxInlineChars);
    }
  }

  std::string operator()(const bundle::Int &v) const {
    if (!v.isDynamic())
      return std::to_string(v.value);
    if (size_t(v.expr) >= texts.size())
      return "<expression " + std::to_string(v.expr) + "?>";
    if (named[size_t(v.expr)])
      return "e" + std::to_string(v.expr);
    const Text &t = texts[size_t(v.expr)];
    return t.precedence < kAtom ? "(" + t.text + ")" : t.text;
  }

  /// "  eN = <text>" for every expression printed by name.
  void printDefinitions(llvm::raw_ostream &os) const {
    for (size_t i = 0; i < texts.size(); ++i)
      if (named[i])
        os << "  e" << i << " = " << texts[i].text << "\n";
  }

private:
  // Referenced expressions longer than this print by name: inlined, the arena offsets (each
  // the previous one plus a size) would grow with every buffer.
  static constexpr size_t kMaxInlineChars = 40;
  // Binding strength of a text's outermost operator: + and - bind loosest, then * (which
  // chains, as does +), then atoms (numbers, symbols, function calls).
  static constexpr int kSum = 1, kProduct = 2, kAtom = 3;
  struct Text {
    std::string text;
    int precedence;
  };
  std::vector<Text> texts;
  std::vector<bool> named;

  Text render(const bundle::Plan &plan, size_t index) const {
    using Code = bundle::ExprOp::Code;
    std::vector<Text> stack;
    auto bad = [&] { return Text{"<expression " + std::to_string(index) + "?>", kAtom}; };
    for (const bundle::ExprOp &op : plan.exprs[index].ops) {
      switch (op.code) {
      case Code::Const:
        stack.push_back({std::to_string(op.operand), op.operand < 0 ? kSum : kAtom});
        continue;
      case Code::Symbol:
        stack.push_back({"s" + std::to_string(op.operand), kAtom});
        continue;
      case Code::Ref:
        if (op.operand < 0 || size_t(op.operand) >= index)
          return bad();
        stack.push_back(named[size_t(op.operand)] ? Text{"e" + std::to_string(op.operand), kAtom}
                                                  : texts[size_t(op.operand)]);
        continue;
      default:
        break;
      }
      if (stack.size() < 2)
        return bad();
      Text b = stack.back();
      stack.pop_back();
      Text a = stack.back();
      stack.pop_back();
      auto call = [&](const char *fn) {
        return Text{std::string(fn) + "(" + a.text + ", " + b.text + ")", kAtom};
      };
      // `a op b` where op binds with `precedence`; b needs parentheses at equal strength when
      // op is not associative (a-(b+c)).
      auto infix = [&](const char *sym, int precedence, bool associative) {
        auto wrap = [](const Text &t, bool paren) { return paren ? "(" + t.text + ")" : t.text; };
        return Text{
            wrap(a, a.precedence < precedence) + sym +
                wrap(b, b.precedence < precedence || (!associative && b.precedence == precedence)),
            precedence};
      };
      switch (op.code) {
      case Code::Add:
        stack.push_back(infix("+", kSum, true));
        break;
      case Code::Sub:
        stack.push_back(infix("-", kSum, false));
        break;
      case Code::Mul:
        stack.push_back(infix("*", kProduct, true));
        break;
      case Code::FloorDiv:
        stack.push_back(call("floordiv"));
        break;
      case Code::CeilDiv:
        stack.push_back(call("ceildiv"));
        break;
      case Code::Min:
        stack.push_back(call("min"));
        break;
      case Code::Max:
        stack.push_back(call("max"));
        break;
      default:
        return bad();
      }
    }
    return stack.size() == 1 ? stack.back() : bad();
  }
};

} // namespace

static const char *typeName(bundle::ElementType t) {
  static const char *names[] = {"f32", "f16", "bf16", "f64", "i64", "i32", "i16",
                                "i8",  "u8",  "u16",  "u32", "u64", "bool"};
  return names[static_cast<uint32_t>(t)];
}

static void printRef(const bundle::BufferRef &r, const IntPrinter &num, llvm::raw_ostream &os) {
  switch (r.space) {
  case bundle::Space::Arena:
    os << "arena+" << num(r.offset);
    break;
  case bundle::Space::Weights:
    os << "weights+" << num(r.offset);
    break;
  case bundle::Space::Input:
    os << "input" << r.index;
    break;
  case bundle::Space::Output:
    os << "output" << r.index;
    break;
  }
}

static void printTensor(const bundle::TensorInfo &t, const IntPrinter &num, llvm::raw_ostream &os) {
  os << t.name << ": " << typeName(t.type) << "[";
  for (size_t i = 0; i < t.shape.size(); ++i)
    os << (i ? "x" : "") << num(t.shape[i]);
  os << "]";
}

void spdc::codegen::printPlan(const bundle::Plan &plan, llvm::raw_ostream &os) {
  IntPrinter num(plan);
  if (!plan.symbols.empty()) {
    os << "symbols:";
    for (size_t i = 0; i < plan.symbols.size(); ++i)
      os << (i ? ", s" : " s") << i << " = " << plan.symbols[i];
    os << "\n";
    num.printDefinitions(os);
  }
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    os << "input " << i << " ";
    printTensor(plan.inputs[i], num, os);
    os << "\n";
  }
  for (size_t i = 0; i < plan.outputs.size(); ++i) {
    os << "output " << i << " ";
    printTensor(plan.outputs[i], num, os);
    for (const bundle::PitchedOutput &po : plan.pitchedOutputs)
      if (po.output == i) {
        os << " pitched(rows of " << po.rowPitch << " at ";
        printRef(po.padded, num, os);
        os << ", step " << po.writeStep << ", pack step " << po.packStep << ")";
      }
    os << "\n";
  }
  os << "arena " << num(plan.arenaBytes) << " bytes, weights " << plan.weights.size() << " bytes, "
     << plan.kernelNames.size() << " kernels, " << plan.steps.size() << " steps\n";
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    const bundle::Step &step = plan.steps[s];
    os << "step " << s << " ";
    switch (step.kind) {
    case bundle::Step::Kind::Launch: {
      const bundle::Launch &l = plan.launches[step.index];
      os << "launch " << plan.kernelNames[l.kernel] << " grid(" << num(l.grid[0]) << ","
         << num(l.grid[1]) << "," << num(l.grid[2]) << ") block(" << l.block[0] << "," << l.block[1]
         << "," << l.block[2] << ")";
      if (l.sharedBytes)
        os << " smem(" << l.sharedBytes << ")";
      if (l.blocksPerSM)
        os << " persistent(" << l.blocksPerSM << "/SM)";
      if (!l.specialTarget.empty())
        os << " on " << l.specialTarget << ": " << plan.kernelNames[l.specialKernel] << " smem("
           << l.specialSharedBytes << ")";
      if (l.specialCluster)
        os << " cluster(" << l.specialCluster << ")";
      if (l.specialReplaces)
        for (size_t r = 0; r < plan.steps.size(); ++r)
          if (plan.steps[r].kind == bundle::Step::Kind::Launch &&
              plan.steps[r].index == l.specialReplaces)
            os << " replaces step " << r;
      auto printArgs = [&](const char *what, const std::vector<bundle::KernelArg> &args) {
        os << " " << what << "(";
        for (size_t a = 0; a < args.size(); ++a) {
          if (a)
            os << ", ";
          const bundle::KernelArg &arg = args[a];
          if (arg.kind == bundle::KernelArg::Kind::Buffer) {
            printRef(arg.buffer, num, os);
          } else if (arg.kind == bundle::KernelArg::Kind::TensorMap) {
            // tmap(base, type, dims innermost first, byte strides, box, swizzle)
            const bundle::TensorMap &m = arg.map;
            os << "tmap(";
            printRef(arg.buffer, num, os);
            os << " " << typeName(m.type) << " dims=";
            for (uint32_t d = 0; d < m.rank; ++d)
              os << (d ? "x" : "") << num(m.dims[d]);
            os << " strides=";
            for (uint32_t d = 1; d < m.rank; ++d)
              os << (d > 1 ? "," : "") << num(m.strides[d - 1]);
            os << " box=";
            for (uint32_t d = 0; d < m.rank; ++d)
              os << (d ? "x" : "") << m.box[d];
            os << " swizzle=" << m.swizzle << ")";
          } else if (arg.kind == bundle::KernelArg::Kind::I64) {
            os << num(arg.i64);
          } else {
            os << llvm::format("%g", arg.f32) << "f";
          }
        }
        os << ")";
      };
      printArgs("args", l.args);
      if (!l.specialArgs.empty())
        printArgs("special args", l.specialArgs);
      if (l.dependentLaunch)
        os << " dependent";
      break;
    }
    case bundle::Step::Kind::Gemm: {
      const bundle::Gemm &g = plan.gemms[step.index];
      static const char *epi[] = {"none", "bias", "gelu", "bias_gelu"};
      os << "gemm " << typeName(g.type) << " m=" << num(g.m) << " n=" << num(g.n)
         << " k=" << num(g.k) << " batch=" << num(g.batch) << (g.transA ? " transA" : "")
         << (g.transB ? " transB" : "") << " lda=" << num(g.lda) << " ldb=" << num(g.ldb)
         << " ldc=" << num(g.ldc);
      if (g.batch.isDynamic() || g.batch > 1)
        os << " strides=" << num(g.strideA) << "," << num(g.strideB) << "," << num(g.strideC);
      os << " epilogue=" << epi[static_cast<uint32_t>(g.epilogue)] << " a=";
      printRef(g.a, num, os);
      os << " b=";
      printRef(g.b, num, os);
      os << " d=";
      printRef(g.d, num, os);
      if (g.beta != 0) {
        os << " beta=" << llvm::format("%g", g.beta) << " c=";
        printRef(g.c, num, os);
      }
      if (g.epilogue == bundle::Gemm::Epilogue::Bias ||
          g.epilogue == bundle::Gemm::Epilogue::BiasGelu) {
        os << " bias=";
        printRef(g.bias, num, os);
      }
      break;
    }
    case bundle::Step::Kind::Copy: {
      const bundle::Copy &c = plan.copies[step.index];
      os << "copy " << num(c.bytes) << " bytes ";
      printRef(c.src, num, os);
      os << " -> ";
      printRef(c.dst, num, os);
      break;
    }
    }
    os << "  // " << step.label << "\n";
  }
}
