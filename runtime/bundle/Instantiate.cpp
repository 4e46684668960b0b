//===- Instantiate.cpp - dynamic dimensions: symbols, expressions, instances ===//
//
// A plan with dynamic dimensions carries its sizes as postfix programs over the symbols (the
// dynamic input dimensions). The runtime binds the symbols from the shapes of the inputs,
// evaluates the programs and runs the plan instantiated with the values; the validator checks
// the programs' structure and an instance at sample values. Integer arithmetic is checked: a
// program that overflows or divides by zero is an error, never a wrapped size. Before any of
// it, the runtime specializes the plan for its device (specializePlan: special kernels).
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"
#include "PlanInts.h"

#include <algorithm>

namespace spdc::bundle {
namespace {

using std::to_string;

const char *codeName(ExprOp::Code c) {
  switch (c) {
  case ExprOp::Code::Const:
    return "const";
  case ExprOp::Code::Symbol:
    return "symbol";
  case ExprOp::Code::Ref:
    return "ref";
  case ExprOp::Code::Add:
    return "add";
  case ExprOp::Code::Sub:
    return "sub";
  case ExprOp::Code::Mul:
    return "mul";
  case ExprOp::Code::FloorDiv:
    return "floordiv";
  case ExprOp::Code::CeilDiv:
    return "ceildiv";
  case ExprOp::Code::Min:
    return "min";
  case ExprOp::Code::Max:
    return "max";
  }
  return "?";
}

/// Checks the program of expression `i`: known codes, Symbol operands that name a symbol, Ref
/// operands that name an earlier expression, a stack that never underflows and ends with
/// exactly one value.
std::string checkProgram(const Plan &plan, size_t i) {
  const IntExpr &x = plan.exprs[i];
  size_t depth = 0;
  for (size_t j = 0; j < x.ops.size(); ++j) {
    const ExprOp &op = x.ops[j];
    auto at = [&] { return "expression " + to_string(i) + " operation " + to_string(j) + ": "; };
    switch (op.code) {
    case ExprOp::Code::Const:
      ++depth;
      break;
    case ExprOp::Code::Symbol:
      if (op.operand < 0 || uint64_t(op.operand) >= plan.symbols.size())
        return at() + "symbol " + to_string(op.operand) + " of " + to_string(plan.symbols.size());
      ++depth;
      break;
    case ExprOp::Code::Ref:
      if (op.operand < 0 || uint64_t(op.operand) >= i)
        return at() + "refers to expression " + to_string(op.operand) + ", not an earlier one";
      ++depth;
      break;
    case ExprOp::Code::Add:
    case ExprOp::Code::Sub:
    case ExprOp::Code::Mul:
    case ExprOp::Code::FloorDiv:
    case ExprOp::Code::CeilDiv:
    case ExprOp::Code::Min:
    case ExprOp::Code::Max:
      if (depth < 2)
        return at() + codeName(op.code) + " needs two values, the stack holds " + to_string(depth);
      --depth;
      break;
    default:
      return at() + "unknown code " + to_string(uint32_t(op.code));
    }
  }
  if (depth != 1)
    return "expression " + to_string(i) + " leaves " + to_string(depth) + " values (one expected)";
  return {};
}

/// a op b, or an error (overflow, division by zero).
std::string apply(ExprOp::Code code, int64_t a, int64_t b, int64_t &r) {
  auto overflow = [&] {
    return to_string(a) + " " + codeName(code) + " " + to_string(b) + " overflows";
  };
  switch (code) {
  case ExprOp::Code::Add:
    return __builtin_add_overflow(a, b, &r) ? overflow() : std::string();
  case ExprOp::Code::Sub:
    return __builtin_sub_overflow(a, b, &r) ? overflow() : std::string();
  case ExprOp::Code::Mul:
    return __builtin_mul_overflow(a, b, &r) ? overflow() : std::string();
  case ExprOp::Code::FloorDiv:
  case ExprOp::Code::CeilDiv: {
    if (b == 0)
      return "division by zero (" + to_string(a) + " " + codeName(code) + " 0)";
    if (a == INT64_MIN && b == -1)
      return overflow();
    // C++ division truncates toward zero; a remainder whose sign differs from b's means the
    // truncated quotient lies above the exact one (floor must step down), the same sign that
    // it lies below (ceil must step up).
    int64_t q = a / b, rem = a % b;
    if (rem != 0 && code == ExprOp::Code::FloorDiv && ((rem < 0) != (b < 0)))
      --q;
    if (rem != 0 && code == ExprOp::Code::CeilDiv && ((rem < 0) == (b < 0)))
      ++q;
    r = q;
    return {};
  }
  case ExprOp::Code::Min:
    r = a < b ? a : b;
    return {};
  case ExprOp::Code::Max:
    r = a < b ? b : a;
    return {};
  default:
    return std::string("unexpected ") + codeName(code);
  }
}

/// The symbol an Int is when its expression is exactly [Symbol k], else -1.
int64_t bareSymbol(const Plan &plan, const Int &v) {
  if (!v.isDynamic() || size_t(v.expr) >= plan.exprs.size())
    return -1;
  const std::vector<ExprOp> &ops = plan.exprs[size_t(v.expr)].ops;
  if (ops.size() != 1 || ops[0].code != ExprOp::Code::Symbol || ops[0].operand < 0 ||
      uint64_t(ops[0].operand) >= plan.symbols.size())
    return -1;
  return ops[0].operand;
}

std::string symbolName(const Plan &plan, size_t k) {
  return plan.symbols[k].empty() ? "s" + to_string(k) : plan.symbols[k];
}

} // namespace

std::string evaluateExprs(const Plan &plan, const std::vector<int64_t> &symbolValues,
                          std::vector<int64_t> &values) {
  values.clear();
  if (symbolValues.size() != plan.symbols.size())
    return to_string(symbolValues.size()) + " symbol values for " + to_string(plan.symbols.size()) +
           " symbols";
  values.reserve(plan.exprs.size());
  std::vector<int64_t> stack;
  for (size_t i = 0; i < plan.exprs.size(); ++i) {
    if (std::string e = checkProgram(plan, i); !e.empty()) {
      values.clear();
      return e;
    }
    stack.clear();
    for (const ExprOp &op : plan.exprs[i].ops) {
      switch (op.code) {
      case ExprOp::Code::Const:
        stack.push_back(op.operand);
        break;
      case ExprOp::Code::Symbol:
        stack.push_back(symbolValues[size_t(op.operand)]);
        break;
      case ExprOp::Code::Ref:
        stack.push_back(values[size_t(op.operand)]);
        break;
      default: {
        int64_t b = stack.back();
        stack.pop_back();
        int64_t a = stack.back();
        if (std::string e = apply(op.code, a, b, stack.back()); !e.empty()) {
          values.clear();
          return "expression " + to_string(i) + ": " + e;
        }
      }
      }
    }
    values.push_back(stack.back());
  }
  return {};
}

std::string bindSymbols(const Plan &plan, const std::vector<std::vector<int64_t>> &inputShapes,
                        std::vector<int64_t> &symbolValues) {
  symbolValues.assign(plan.symbols.size(), 0);
  auto fail = [&](std::string e) {
    symbolValues.clear();
    return e;
  };
  if (inputShapes.size() != plan.inputs.size())
    return fail(to_string(inputShapes.size()) + " input shapes for " +
                to_string(plan.inputs.size()) + " inputs");
  std::vector<bool> bound(plan.symbols.size(), false);
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    const TensorInfo &t = plan.inputs[i];
    const std::vector<int64_t> &dims = inputShapes[i];
    std::string name = "input '" + t.name + "'";
    if (dims.size() != t.shape.size())
      return fail(name + " has rank " + to_string(dims.size()) + ", the model takes rank " +
                  to_string(t.shape.size()));
    for (size_t d = 0; d < dims.size(); ++d) {
      if (dims[d] < 0)
        return fail(name + " dimension " + to_string(d) + " is " + to_string(dims[d]));
      int64_t k = bareSymbol(plan, t.shape[d]);
      if (k < 0)
        continue;
      if (!bound[size_t(k)]) {
        bound[size_t(k)] = true;
        symbolValues[size_t(k)] = dims[d];
      } else if (symbolValues[size_t(k)] != dims[d]) {
        return fail(name + " dimension " + to_string(d) + " is " + to_string(dims[d]) + " but " +
                    symbolName(plan, size_t(k)) + " is " + to_string(symbolValues[size_t(k)]));
      }
    }
  }
  for (size_t k = 0; k < bound.size(); ++k)
    if (!bound[k])
      return fail("symbol " + symbolName(plan, k) + " is bound by no input dimension");

  // Every other dimension must equal its constant or its expression's value.
  std::vector<int64_t> values;
  if (!plan.exprs.empty())
    if (std::string e = evaluateExprs(plan, symbolValues, values); !e.empty())
      return fail(e);
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    const TensorInfo &t = plan.inputs[i];
    for (size_t d = 0; d < t.shape.size(); ++d) {
      const Int &want = t.shape[d];
      if (bareSymbol(plan, want) >= 0)
        continue;
      if (want.isDynamic() && size_t(want.expr) >= values.size())
        return fail("input '" + t.name + "' dimension " + to_string(d) + " refers to expression " +
                    to_string(want.expr) + " of " + to_string(values.size()));
      int64_t value = want.isDynamic() ? values[size_t(want.expr)] : want.value;
      if (inputShapes[i][d] != value)
        return fail("input '" + t.name + "' dimension " + to_string(d) + " is " +
                    to_string(inputShapes[i][d]) + " but the model takes " + to_string(value) +
                    (want.isDynamic() ? " (from the other dimensions)" : ""));
    }
  }
  return {};
}

void specializePlan(Plan &plan, const std::string &target, uint32_t maxSharedPerBlock,
                    std::vector<uint32_t> &clusters, std::vector<bool> &replaced) {
  clusters.assign(plan.launches.size(), 0);
  std::vector<uint32_t> replacedBy(plan.launches.size(), UINT32_MAX);
  for (size_t i = 0; i < plan.launches.size(); ++i) {
    Launch &l = plan.launches[i];
    // validatePlan puts a replaced launch after its replacing one, without a special kernel.
    if (replacedBy[i] == UINT32_MAX && !l.specialTarget.empty() && l.specialTarget == target &&
        l.specialSharedBytes <= maxSharedPerBlock) {
      std::swap(l.kernel, l.specialKernel);
      std::swap(l.sharedBytes, l.specialSharedBytes);
      clusters[i] = l.specialCluster;
      if (l.specialReplaces)
        replacedBy[l.specialReplaces] = uint32_t(i);
    } else {
      l.specialArgs.clear();
    }
    l.specialTarget.clear();
    l.specialCluster = 0;
    l.specialReplaces = 0;
  }
  replaced.assign(plan.launches.size(), false);
  for (size_t i = 0; i < plan.launches.size(); ++i)
    replaced[i] = replacedBy[i] != UINT32_MAX;
  if (std::find(replaced.begin(), replaced.end(), true) == replaced.end())
    return;
  std::vector<Step> kept;
  std::vector<uint32_t> newIndex(plan.steps.size()), launchStep(plan.launches.size(), 0);
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const Step &step = plan.steps[i];
    const bool launch = step.kind == Step::Kind::Launch;
    if (launch && replaced[step.index])
      continue;
    if (launch)
      launchStep[step.index] = uint32_t(kept.size());
    newIndex[i] = uint32_t(kept.size());
    kept.push_back(step);
  }
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const Step &step = plan.steps[i];
    if (step.kind == Step::Kind::Launch && replaced[step.index])
      newIndex[i] = launchStep[replacedBy[step.index]];
  }
  for (PitchedOutput &po : plan.pitchedOutputs) {
    po.writeStep = newIndex[po.writeStep];
    po.packStep = newIndex[po.packStep];
  }
  plan.steps = std::move(kept);
}

std::string instantiatePlan(const Plan &plan, const std::vector<int64_t> &symbolValues,
                            uint64_t weightsSize, Plan &out) {
  out = Plan();
  std::vector<int64_t> values;
  if (std::string e = evaluateExprs(plan, symbolValues, values); !e.empty())
    return e;
  // Field by field: the weights (the compiler's plan holds them), the sources and the binaries
  // are not copied (an instance runs the kernels of the module its plan was loaded from).
  Plan p;
  p.inputs = plan.inputs;
  p.outputs = plan.outputs;
  p.arenaBytes = plan.arenaBytes;
  p.kernelNames = plan.kernelNames;
  p.launches = plan.launches;
  p.gemms = plan.gemms;
  p.copies = plan.copies;
  p.steps = plan.steps;
  p.pitchedOutputs = plan.pitchedOutputs;
  std::string e = forEachInt(p, [&](Int &v, auto &&where) -> std::string {
    if (!v.isDynamic())
      return {};
    if (size_t(v.expr) >= values.size())
      return where() + " refers to expression " + to_string(v.expr) + " of " +
             to_string(values.size());
    v = Int(values[size_t(v.expr)]);
    return {};
  });
  if (e.empty())
    e = validatePlan(p, weightsSize);
  if (!e.empty()) {
    std::string at;
    for (size_t k = 0; k < symbolValues.size(); ++k)
      at += (k ? ", " : "") + symbolName(plan, k) + " = " + to_string(symbolValues[k]);
    return at.empty() ? e : "for " + at + ": " + e;
  }
  out = std::move(p);
  return {};
}

std::string validateSymbolicPlan(const Plan &plan, uint64_t weightsSize) {
  for (size_t i = 0; i < plan.exprs.size(); ++i)
    if (std::string e = checkProgram(plan, i); !e.empty())
      return e;
  std::vector<bool> bound(plan.symbols.size(), false);
  for (const TensorInfo &t : plan.inputs)
    for (const Int &d : t.shape)
      if (int64_t k = bareSymbol(plan, d); k >= 0)
        bound[size_t(k)] = true;
  for (size_t k = 0; k < bound.size(); ++k)
    if (!bound[k])
      return "symbol " + to_string(k) + " ('" + plan.symbols[k] +
             "') is no input's dimension: nothing binds it";
  Plan sample;
  std::vector<int64_t> values(plan.symbols.size(), kSampleSymbolValue);
  if (std::string e = instantiatePlan(plan, values, weightsSize, sample); !e.empty())
    return "at the sample symbol values: " + e;
  return {};
}

} // namespace spdc::bundle
