//===- SymbolicShapes.h - dynamic dimensions as polynomials ---------*- C++ -*-===//
//
// What a `?` dimension of an spd value is, in terms of the function's dynamic input dimensions:
// every dynamic dimension of an argument is a symbol (s0, s1, ...), and each value's dimensions
// and each small integer tensor's elements (the shape arithmetic exporters leave in dynamic
// models: Shape, Gather, Concat, Reshape targets) are polynomials in them. This is what code
// generation needs to take batch and sequence length as kernel arguments and size buffers from
// the bound input shapes (docs: ../shared/DESIGN.md, "Shapes").
//
// Broadcasting two different symbols against each other makes them one (the graph is only valid
// when they agree); the analysis records each such equality so that a runtime can check it.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_ANALYSIS_SYMBOLICSHAPES_H
#define SPDC_ANALYSIS_SYMBOLICSHAPES_H

#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mlir {
class Operation;
namespace func {
class FuncOp;
} // namespace func
} // namespace mlir

namespace spdc {

/// An integer polynomial in the symbols, in canonical form (no zero terms; monomials as sorted
/// lists of symbol ids, with repeats for powers).
class SymExpr {
public:
  SymExpr() = default;
  static SymExpr constant(int64_t c);
  static SymExpr symbol(unsigned id);

  std::optional<int64_t> getConstant() const;
  /// The single symbol this is (1 * s_i), if it is one.
  std::optional<unsigned> getSymbol() const;
  bool operator==(const SymExpr &o) const { return terms == o.terms; }
  bool operator!=(const SymExpr &o) const { return terms != o.terms; }

  SymExpr operator+(const SymExpr &o) const;
  SymExpr operator-(const SymExpr &o) const;
  SymExpr operator*(const SymExpr &o) const;
  /// this / d when every coefficient (d a constant) or every term (d a monomial) divides
  /// exactly; nullopt otherwise.
  std::optional<SymExpr> divideExactly(const SymExpr &d) const;
  /// The same polynomial with every symbol replaced by map(symbol).
  SymExpr renamed(const std::function<unsigned(unsigned)> &map) const;

  /// "768", "s0", "12*s0*s1 + 4".
  std::string str() const;
  /// The terms: each monomial (sorted symbol ids, repeated for powers) and its coefficient.
  const std::map<std::vector<unsigned>, int64_t> &getTerms() const { return terms; }

private:
  std::map<std::vector<unsigned>, int64_t> terms;
};

class SymbolicShapes {
public:
  /// Analyzes `fn` (nested spd.fusion bodies included: their arguments are the operands).
  explicit SymbolicShapes(mlir::func::FuncOp fn);

  /// The dimensions of a ranked tensor value, or nullopt where some dimension is unknown.
  std::optional<llvm::SmallVector<SymExpr>> dims(mlir::Value v) const;
  /// The elements of a small integer tensor (shape arithmetic), or nullopt when unknown.
  std::optional<llvm::SmallVector<SymExpr>> elements(mlir::Value v) const;

  /// Symbol `id`'s origin: "input_ids.1" (argument name or index, then the dimension).
  const std::string &symbolName(unsigned id) const { return names[id]; }
  unsigned numSymbols() const { return names.size(); }
  /// The equalities the graph relies on, as pairs of symbols (merged into the first).
  const std::vector<std::pair<unsigned, unsigned>> &equalities() const { return merged; }
  /// "[s0, s1, 768]" with the symbols' canonical names, or "unknown".
  std::string dimsString(mlir::Value v) const;

private:
  void visit(mlir::Operation *op);
  void setDims(mlir::Value v, llvm::SmallVector<SymExpr> d);
  std::optional<llvm::SmallVector<SymExpr>> rawDims(mlir::Value v) const;
  SymExpr canonical(const SymExpr &e) const;
  unsigned find(unsigned s) const;
  /// Unifies two dimensions that must agree; false when they provably differ.
  bool unify(const SymExpr &a, const SymExpr &b);
  std::optional<SymExpr> broadcastDim(const SymExpr &a, const SymExpr &b);

  std::vector<std::string> names;
  mutable std::vector<unsigned> parent;
  std::vector<std::pair<unsigned, unsigned>> merged;
  llvm::DenseMap<mlir::Value, llvm::SmallVector<SymExpr>> dimsOf;
  llvm::DenseMap<mlir::Value, llvm::SmallVector<SymExpr>> elementsOf;
};

} // namespace spdc

#endif // SPDC_ANALYSIS_SYMBOLICSHAPES_H
