//===- PlanInts.h - every Int of a plan, for one walk ---------*- C++ -*-===//
//
// Internal to SpdcBundle: the validator and instantiatePlan visit the same Ints, so a field added
// to the plan is checked and instantiated as soon as it is listed here.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_RUNTIME_BUNDLE_PLANINTS_H
#define SPDC_RUNTIME_BUNDLE_PLANINTS_H

#include "Plan.h"

#include <iterator>
#include <string>
#include <type_traits>

namespace spdc::bundle {

/// Calls f(Int &, where) on every Int of `plan` (a Plan or a const Plan), in a fixed order;
/// where() builds the name of the field ("launch 3 grid[0]"), only when asked. Stops at, and
/// returns, the first non-empty string f returns.
template <class PlanT, class F> std::string forEachInt(PlanT &plan, F &&f) {
  static_assert(std::is_same_v<std::remove_const_t<PlanT>, Plan>);
  using std::to_string;
  std::string e;
  auto visit = [&](auto &v, auto &&where) {
    if (e.empty())
      e = f(v, where);
  };
  visit(plan.arenaBytes, [] { return std::string("arena size"); });
  for (auto [list, what] : {std::pair(&plan.inputs, "input "), std::pair(&plan.outputs, "output ")})
    for (size_t i = 0; i < list->size(); ++i)
      for (size_t d = 0; d < (*list)[i].shape.size(); ++d)
        visit((*list)[i].shape[d], [&, what = what] {
          return what + to_string(i) + " ('" + (*list)[i].name + "') dimension " + to_string(d);
        });
  for (size_t i = 0; i < plan.launches.size() && e.empty(); ++i) {
    auto &l = plan.launches[i];
    for (int g = 0; g < 3; ++g)
      visit(l.grid[g], [&] { return "launch " + to_string(i) + " grid[" + to_string(g) + "]"; });
    for (size_t a = 0; a < l.args.size() + l.specialArgs.size(); ++a) {
      const bool special = a >= l.args.size();
      auto &x = special ? l.specialArgs[a - l.args.size()] : l.args[a];
      auto arg = [&] {
        return "launch " + to_string(i) + (special ? " special argument " : " argument ") +
               to_string(special ? a - l.args.size() : a);
      };
      visit(x.buffer.offset, [&] { return arg() + " offset"; });
      visit(x.i64, arg);
      for (size_t d = 0; d < std::size(x.map.dims); ++d)
        visit(x.map.dims[d], [&] { return arg() + " tensor map dimension " + to_string(d); });
      for (size_t d = 0; d < std::size(x.map.strides); ++d)
        visit(x.map.strides[d], [&] { return arg() + " tensor map stride " + to_string(d); });
    }
  }
  for (size_t i = 0; i < plan.gemms.size() && e.empty(); ++i) {
    auto &g = plan.gemms[i];
    auto field = [&](const char *name) {
      return [&, name] { return "gemm " + to_string(i) + " " + name; };
    };
    visit(g.m, field("m")), visit(g.n, field("n")), visit(g.k, field("k"));
    visit(g.batch, field("batch"));
    visit(g.lda, field("lda")), visit(g.ldb, field("ldb")), visit(g.ldc, field("ldc"));
    visit(g.strideA, field("strideA")), visit(g.strideB, field("strideB"));
    visit(g.strideC, field("strideC"));
    visit(g.a.offset, field("a offset")), visit(g.b.offset, field("b offset"));
    visit(g.c.offset, field("c offset")), visit(g.d.offset, field("d offset"));
    visit(g.bias.offset, field("bias offset"));
  }
  for (size_t i = 0; i < plan.copies.size() && e.empty(); ++i) {
    auto &c = plan.copies[i];
    auto field = [&](const char *name) {
      return [&, name] { return "copy " + to_string(i) + " " + name; };
    };
    visit(c.src.offset, field("source offset"));
    visit(c.dst.offset, field("destination offset"));
    visit(c.bytes, field("bytes"));
  }
  for (size_t i = 0; i < plan.pitchedOutputs.size() && e.empty(); ++i)
    visit(plan.pitchedOutputs[i].padded.offset,
          [&] { return "pitched output " + to_string(i) + " padded offset"; });
  return e;
}

/// The checks of a plan with symbols or expressions (Instantiate.cpp): the expressions'
/// structure, that every symbol is bound by an input dimension, then validatePlan's checks on
/// the plan instantiated at the sample symbol values.
std::string validateSymbolicPlan(const Plan &plan, uint64_t weightsSize);

} // namespace spdc::bundle

#endif // SPDC_RUNTIME_BUNDLE_PLANINTS_H
