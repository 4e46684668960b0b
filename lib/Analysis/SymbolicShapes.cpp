//===- SymbolicShapes.cpp - dynamic dimensions as polynomials -------------===//

#include "spdc/Analysis/SymbolicShapes.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>

using namespace mlir;
using namespace spdc;
using llvm::SmallVector;

/// Integer tensors up to this many elements are tracked element by element (shape vectors).
static constexpr int64_t kMaxTrackedElements = 16;

//===----------------------------------------------------------------------===//
// SymExpr
//===----------------------------------------------------------------------===//

SymExpr SymExpr::constant(int64_t c) {
  SymExpr e;
  if (c != 0)
    e.terms[{}] = c;
  return e;
}

SymExpr SymExpr::symbol(unsigned id) {
  SymExpr e;
  e.terms[{id}] = 1;
  return e;
}

std::optional<int64_t> SymExpr::getConstant() const {
  if (terms.empty())
    return 0;
  if (terms.size() == 1 && terms.begin()->first.empty())
    return terms.begin()->second;
  return std::nullopt;
}

std::optional<unsigned> SymExpr::getSymbol() const {
  if (terms.size() == 1 && terms.begin()->first.size() == 1 && terms.begin()->second == 1)
    return terms.begin()->first.front();
  return std::nullopt;
}

SymExpr SymExpr::operator+(const SymExpr &o) const {
  SymExpr r = *this;
  for (const auto &[m, c] : o.terms)
    if ((r.terms[m] += c) == 0)
      r.terms.erase(m);
  return r;
}

SymExpr SymExpr::operator-(const SymExpr &o) const { return *this + o * constant(-1); }

SymExpr SymExpr::operator*(const SymExpr &o) const {
  SymExpr r;
  for (const auto &[m1, c1] : terms)
    for (const auto &[m2, c2] : o.terms) {
      std::vector<unsigned> m = m1;
      m.insert(m.end(), m2.begin(), m2.end());
      std::sort(m.begin(), m.end());
      if ((r.terms[m] += c1 * c2) == 0)
        r.terms.erase(m);
    }
  return r;
}

std::optional<SymExpr> SymExpr::divideExactly(const SymExpr &d) const {
  if (d.terms.size() != 1)
    return std::nullopt; // only by a constant times a monomial
  const auto &[dm, dc] = *d.terms.begin();
  if (dc == 0)
    return std::nullopt;
  SymExpr r;
  for (const auto &[m, c] : terms) {
    if (c % dc != 0)
      return std::nullopt;
    // m / dm as multisets.
    std::vector<unsigned> rest;
    if (!std::includes(m.begin(), m.end(), dm.begin(), dm.end()))
      return std::nullopt;
    std::set_difference(m.begin(), m.end(), dm.begin(), dm.end(), std::back_inserter(rest));
    r.terms[rest] += c / dc;
  }
  return r;
}

SymExpr SymExpr::renamed(const std::function<unsigned(unsigned)> &map) const {
  SymExpr r;
  for (const auto &[m, c] : terms) {
    std::vector<unsigned> n;
    for (unsigned s : m)
      n.push_back(map(s));
    std::sort(n.begin(), n.end());
    if ((r.terms[n] += c) == 0)
      r.terms.erase(n);
  }
  return r;
}

std::string SymExpr::str() const {
  if (terms.empty())
    return "0";
  std::string s;
  // Highest degree first, the constant last.
  for (auto it = terms.rbegin(); it != terms.rend(); ++it) {
    const auto &[m, c] = *it;
    std::string term;
    if (m.empty() || (c != 1 && c != -1))
      term = std::to_string(c < 0 && !s.empty() ? -c : c);
    else if (c == -1 && s.empty())
      term = "-";
    for (unsigned v : m)
      term += (term.empty() || term == "-" ? "" : "*") + ("s" + std::to_string(v));
    if (s.empty())
      s = term;
    else
      s += (c < 0 ? " - " : " + ") + term;
  }
  return s;
}

//===----------------------------------------------------------------------===//
// The analysis
//===----------------------------------------------------------------------===//

unsigned SymbolicShapes::find(unsigned s) const {
  while (parent[s] != s)
    s = parent[s] = parent[parent[s]];
  return s;
}

SymExpr SymbolicShapes::canonical(const SymExpr &e) const {
  return e.renamed([this](unsigned s) { return find(s); });
}

bool SymbolicShapes::unify(const SymExpr &a, const SymExpr &b) {
  SymExpr x = canonical(a), y = canonical(b);
  if (x == y)
    return true;
  std::optional<unsigned> sx = x.getSymbol(), sy = y.getSymbol();
  if (sx && sy) {
    unsigned keep = std::min(*sx, *sy), drop = std::max(*sx, *sy);
    parent[drop] = keep;
    merged.push_back({keep, drop});
    return true;
  }
  return false; // a symbol against a constant or an expression: not a plain renaming
}

std::optional<SymExpr> SymbolicShapes::broadcastDim(const SymExpr &a, const SymExpr &b) {
  if (a.getConstant() == 1)
    return b;
  if (b.getConstant() == 1)
    return a;
  if (unify(a, b))
    return canonical(a);
  return std::nullopt;
}

std::optional<SmallVector<SymExpr>> SymbolicShapes::rawDims(Value v) const {
  if (auto it = dimsOf.find(v); it != dimsOf.end())
    return it->second;
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t || !t.hasStaticShape())
    return std::nullopt;
  SmallVector<SymExpr> d;
  for (int64_t n : t.getShape())
    d.push_back(SymExpr::constant(n));
  return d;
}

std::optional<SmallVector<SymExpr>> SymbolicShapes::dims(Value v) const {
  std::optional<SmallVector<SymExpr>> d = rawDims(v);
  if (d)
    for (SymExpr &e : *d)
      e = canonical(e);
  return d;
}

std::optional<SmallVector<SymExpr>> SymbolicShapes::elements(Value v) const {
  auto it = elementsOf.find(v);
  if (it == elementsOf.end())
    return std::nullopt;
  SmallVector<SymExpr> e = it->second;
  for (SymExpr &x : e)
    x = canonical(x);
  return e;
}

std::string SymbolicShapes::dimsString(Value v) const {
  std::optional<SmallVector<SymExpr>> d = dims(v);
  if (!d)
    return "unknown";
  std::string s = "[";
  for (auto [i, e] : llvm::enumerate(*d))
    s += (i ? ", " : "") + e.str();
  return s + "]";
}

void SymbolicShapes::setDims(Value v, SmallVector<SymExpr> d) {
  // Static dimensions of the type win (they are what the importer proved).
  if (auto t = dyn_cast<RankedTensorType>(v.getType())) {
    if (t.getRank() != static_cast<int64_t>(d.size()))
      return;
    for (auto [i, n] : llvm::enumerate(t.getShape()))
      if (!ShapedType::isDynamic(n))
        d[i] = SymExpr::constant(n);
  }
  dimsOf[v] = std::move(d);
}

SymbolicShapes::SymbolicShapes(func::FuncOp fn) {
  for (BlockArgument arg : fn.getArguments()) {
    auto t = dyn_cast<RankedTensorType>(arg.getType());
    if (!t)
      continue;
    std::string name = "arg" + std::to_string(arg.getArgNumber());
    if (auto n = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "onnx.name"))
      name = n.str();
    SmallVector<SymExpr> d;
    for (auto [i, n] : llvm::enumerate(t.getShape())) {
      if (!ShapedType::isDynamic(n)) {
        d.push_back(SymExpr::constant(n));
        continue;
      }
      unsigned id = names.size();
      names.push_back(name + "." + std::to_string(i));
      parent.push_back(id);
      d.push_back(SymExpr::symbol(id));
    }
    dimsOf[arg] = d;
  }
  fn.getBody().walk<WalkOrder::PreOrder>([&](Operation *op) { visit(op); });
}

/// Reads a constant integer tensor's elements.
static std::optional<SmallVector<SymExpr>> constantElements(Attribute attr) {
  auto dense = dyn_cast<DenseIntElementsAttr>(attr);
  if (!dense || dense.getNumElements() > kMaxTrackedElements)
    return std::nullopt;
  SmallVector<SymExpr> r;
  for (const APInt &x : dense.getValues<APInt>())
    r.push_back(SymExpr::constant(x.getSExtValue()));
  return r;
}

void SymbolicShapes::visit(Operation *op) {
  auto dimsOfOperand = [&](unsigned i) { return rawDims(op->getOperand(i)); };
  auto elems = [&](Value v) -> std::optional<SmallVector<SymExpr>> {
    auto it = elementsOf.find(v);
    if (it == elementsOf.end())
      return std::nullopt;
    return it->second;
  };
  auto rank = [](Value v) -> int64_t {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    return t ? t.getRank() : -1;
  };
  auto normAxis = [](int64_t axis, int64_t r) { return axis < 0 ? axis + r : axis; };

  // Fusion bodies: block arguments stand for the operands; yields give the results.
  if (auto fusion = dyn_cast<spd::FusionOp>(op)) {
    Block &body = fusion.getBody().front();
    for (auto [arg, operand] : llvm::zip(body.getArguments(), fusion->getOperands())) {
      if (auto d = rawDims(operand))
        dimsOf[arg] = *d;
      if (auto e = elems(operand))
        elementsOf[arg] = *e;
    }
    return; // the body is walked next; results are set at the yield
  }
  if (auto yield = dyn_cast<spd::YieldOp>(op)) {
    Operation *parentOp = yield->getParentOp();
    for (auto [result, value] : llvm::zip(parentOp->getResults(), yield->getOperands())) {
      if (auto d = rawDims(value))
        setDims(result, *d);
      if (auto e = elems(value))
        elementsOf[result] = *e;
    }
    return;
  }
  if (auto split = dyn_cast<spd::SplitOp>(op)) {
    // Static sizes along the axis; the other dimensions are the input's.
    auto in = rawDims(split.getInput());
    if (!in)
      return;
    int64_t axis = normAxis(split.getAxis(), in->size());
    for (auto [result, size] : llvm::zip(split.getOutputs(), split.getSizes())) {
      SmallVector<SymExpr> d = *in;
      d[axis] = SymExpr::constant(size);
      setDims(result, d);
    }
    return;
  }
  if (op->getNumResults() != 1)
    return;
  Value result = op->getResult(0);
  int64_t resultRank = rank(result);

  // Elements of shape arithmetic.
  std::optional<SmallVector<SymExpr>> resultElements =
      llvm::TypeSwitch<Operation *, std::optional<SmallVector<SymExpr>>>(op)
          .Case([&](spd::ConstantOp c) { return constantElements(c.getValue()); })
          .Case([&](spd::ShapeOp s) -> std::optional<SmallVector<SymExpr>> {
            std::optional<SmallVector<SymExpr>> d = rawDims(s.getInput());
            int64_t r = rank(s.getInput());
            if (!d || r < 0)
              return std::nullopt;
            int64_t start = std::clamp<int64_t>(normAxis(s.getStart(), r), 0, r);
            int64_t end = std::clamp<int64_t>(normAxis(s.getEnd(), r), 0, r);
            return SmallVector<SymExpr>(d->begin() + start, d->begin() + std::max(start, end));
          })
          .Case([&](spd::GatherOp g) -> std::optional<SmallVector<SymExpr>> {
            auto data = elems(g.getData()), idx = elems(g.getIndices());
            if (!data || !idx || rank(g.getData()) != 1)
              return std::nullopt;
            SmallVector<SymExpr> r;
            for (const SymExpr &i : *idx) {
              std::optional<int64_t> k = i.getConstant();
              if (!k)
                return std::nullopt;
              int64_t n = static_cast<int64_t>(data->size());
              int64_t j = *k < 0 ? *k + n : *k;
              if (j < 0 || j >= n)
                return std::nullopt;
              r.push_back((*data)[j]);
            }
            return r;
          })
          .Case([&](spd::ConcatOp c) -> std::optional<SmallVector<SymExpr>> {
            SmallVector<SymExpr> r;
            for (Value in : c.getInputs()) {
              auto e = elems(in);
              if (!e)
                return std::nullopt;
              r.append(e->begin(), e->end());
            }
            return r;
          })
          .Case([&](spd::SliceOp sl) -> std::optional<SmallVector<SymExpr>> {
            auto data = elems(sl.getInput()), st = elems(sl.getStarts()),
                 en = elems(sl.getEnds()), stp = elems(sl.getSteps());
            if (!data || !st || !en || !stp || st->size() != 1 || en->size() != 1 ||
                stp->size() != 1)
              return std::nullopt;
            std::optional<int64_t> a = (*st)[0].getConstant(), b = (*en)[0].getConstant(),
                                   c = (*stp)[0].getConstant();
            if (!a || !b || !c || *c == 0)
              return std::nullopt;
            int64_t n = static_cast<int64_t>(data->size());
            auto clampIndex = [&](int64_t i, int64_t lo, int64_t hi) {
              if (i < 0)
                i += n;
              return std::clamp<int64_t>(i, lo, hi);
            };
            SmallVector<SymExpr> r;
            if (*c > 0) {
              for (int64_t i = clampIndex(*a, 0, n), e = clampIndex(*b, 0, n); i < e; i += *c)
                r.push_back((*data)[i]);
            } else {
              for (int64_t i = clampIndex(*a, -1, n - 1), e = clampIndex(*b, -1, n - 1); i > e;
                   i += *c)
                r.push_back((*data)[i]);
            }
            return r;
          })
          .Case<spd::UnsqueezeOp, spd::SqueezeOp, spd::CastOp, spd::ReshapeOp, spd::FlattenOp>(
              [&](Operation *o) { return elems(o->getOperand(0)); })
          .Case<spd::AddOp, spd::SubOp, spd::MulOp, spd::DivOp>(
              [&](Operation *o) -> std::optional<SmallVector<SymExpr>> {
                auto a = elems(o->getOperand(0)), b = elems(o->getOperand(1));
                if (!a || !b || (a->size() != b->size() && a->size() != 1 && b->size() != 1))
                  return std::nullopt;
                size_t n = std::max(a->size(), b->size());
                SmallVector<SymExpr> r;
                for (size_t i = 0; i < n; ++i) {
                  const SymExpr &x = (*a)[a->size() == 1 ? 0 : i];
                  const SymExpr &y = (*b)[b->size() == 1 ? 0 : i];
                  if (isa<spd::AddOp>(o))
                    r.push_back(x + y);
                  else if (isa<spd::SubOp>(o))
                    r.push_back(x - y);
                  else if (isa<spd::MulOp>(o))
                    r.push_back(x * y);
                  else if (std::optional<SymExpr> q = x.divideExactly(y))
                    r.push_back(*q);
                  else
                    return std::nullopt;
                }
                return r;
              })
          .Case([&](spd::EqualOp e) -> std::optional<SmallVector<SymExpr>> {
            // Decidable only when both sides are constants (exporters compare shape entries
            // with -1 before a Where).
            auto a = elems(e.getLhs()), b = elems(e.getRhs());
            if (!a || !b || a->size() != b->size())
              return std::nullopt;
            SmallVector<SymExpr> r;
            for (auto [x, y] : llvm::zip(*a, *b)) {
              std::optional<int64_t> cx = canonical(x).getConstant(),
                                     cy = canonical(y).getConstant();
              if (cx && cy)
                r.push_back(SymExpr::constant(*cx == *cy));
              else if (canonical(x) == canonical(y))
                r.push_back(SymExpr::constant(1));
              else if (cx || cy) // a symbolic size is never -1 (or any other marker)
                r.push_back(SymExpr::constant((cx ? *cx : *cy) < 0 ? 0 : -1));
              else
                return std::nullopt;
              if (r.back().getConstant() == -1)
                return std::nullopt;
            }
            return r;
          })
          .Case([&](spd::WhereOp w) -> std::optional<SmallVector<SymExpr>> {
            auto c = elems(w.getCondition()), a = elems(w.getTrueValue()),
                 b = elems(w.getFalseValue());
            if (!c || !a || !b)
              return std::nullopt;
            size_t n = std::max({c->size(), a->size(), b->size()});
            SmallVector<SymExpr> r;
            for (size_t i = 0; i < n; ++i) {
              std::optional<int64_t> ci = (*c)[c->size() == 1 ? 0 : i].getConstant();
              if (!ci)
                return std::nullopt;
              r.push_back(*ci ? (*a)[a->size() == 1 ? 0 : i] : (*b)[b->size() == 1 ? 0 : i]);
            }
            return r;
          })
          .Default([](Operation *) { return std::nullopt; });
  if (resultElements && static_cast<int64_t>(resultElements->size()) <= kMaxTrackedElements)
    elementsOf[result] = *resultElements;

  // Dimensions.
  auto broadcastAll = [&]() -> std::optional<SmallVector<SymExpr>> {
    SmallVector<SymExpr> r;
    for (Value in : op->getOperands()) {
      std::optional<SmallVector<SymExpr>> d = rawDims(in);
      if (!d)
        return std::nullopt;
      while (r.size() < d->size())
        r.insert(r.begin(), SymExpr::constant(1));
      size_t off = r.size() - d->size();
      for (size_t i = 0; i < d->size(); ++i) {
        std::optional<SymExpr> b = broadcastDim(r[off + i], (*d)[i]);
        if (!b)
          return std::nullopt;
        r[off + i] = *b;
      }
    }
    return r;
  };
  auto fromShape = [&](Value shape, const SmallVector<SymExpr> &input,
                       bool reshape) -> std::optional<SmallVector<SymExpr>> {
    std::optional<SmallVector<SymExpr>> target = elems(shape);
    if (!target)
      return std::nullopt;
    SmallVector<SymExpr> r = *target;
    if (!reshape) { // expand: broadcast the input against the target
      SmallVector<SymExpr> in = input;
      while (in.size() < r.size())
        in.insert(in.begin(), SymExpr::constant(1));
      while (r.size() < in.size())
        r.insert(r.begin(), SymExpr::constant(1));
      for (size_t i = 0; i < r.size(); ++i) {
        std::optional<SymExpr> b = broadcastDim(in[i], r[i]);
        if (!b)
          return std::nullopt;
        r[i] = *b;
      }
      return r;
    }
    int inferred = -1;
    SymExpr known = SymExpr::constant(1), total = SymExpr::constant(1);
    for (const SymExpr &d : input)
      total = total * d;
    for (auto [i, d] : llvm::enumerate(r)) {
      std::optional<int64_t> c = d.getConstant();
      if (c == 0 && i < input.size())
        d = input[i];
      if (c == -1) {
        inferred = i;
        continue;
      }
      known = known * d;
    }
    if (inferred >= 0) {
      std::optional<SymExpr> q = total.divideExactly(known);
      if (!q)
        return std::nullopt;
      r[inferred] = *q;
    }
    return r;
  };

  std::optional<SmallVector<SymExpr>> d =
      llvm::TypeSwitch<Operation *, std::optional<SmallVector<SymExpr>>>(op)
          .Case([&](spd::ReshapeOp r) -> std::optional<SmallVector<SymExpr>> {
            auto in = dimsOfOperand(0);
            return in ? fromShape(r.getShape(), *in, true) : std::nullopt;
          })
          .Case([&](spd::ExpandOp e) -> std::optional<SmallVector<SymExpr>> {
            auto in = dimsOfOperand(0);
            return in ? fromShape(e.getShape(), *in, false) : std::nullopt;
          })
          .Case([&](spd::ConstantOfShapeOp c) { return elems(c.getShape()); })
          .Case([&](spd::RangeOp r) -> std::optional<SmallVector<SymExpr>> {
            auto start = elems(r.getStart()), limit = elems(r.getLimit()),
                 delta = elems(r.getDelta());
            if (!start || !limit || !delta || start->size() != 1 || limit->size() != 1 ||
                delta->size() != 1)
              return std::nullopt;
            std::optional<SymExpr> n = ((*limit)[0] - (*start)[0]).divideExactly((*delta)[0]);
            if (!n)
              return std::nullopt;
            return SmallVector<SymExpr>{*n};
          })
          .Case([&](spd::MatMulOp m) -> std::optional<SmallVector<SymExpr>> {
            auto a = dimsOfOperand(0), b = dimsOfOperand(1);
            if (!a || !b || a->size() < 2 || b->size() < 2)
              return std::nullopt;
            SmallVector<SymExpr> batchA(a->begin(), a->end() - 2), batchB(b->begin(), b->end() - 2);
            unify(a->back(), (*b)[b->size() - 2]);
            while (batchA.size() < batchB.size())
              batchA.insert(batchA.begin(), SymExpr::constant(1));
            while (batchB.size() < batchA.size())
              batchB.insert(batchB.begin(), SymExpr::constant(1));
            SmallVector<SymExpr> r;
            for (auto [x, y] : llvm::zip(batchA, batchB)) {
              std::optional<SymExpr> bd = broadcastDim(x, y);
              if (!bd)
                return std::nullopt;
              r.push_back(*bd);
            }
            r.push_back((*a)[a->size() - 2]);
            r.push_back(b->back());
            return r;
          })
          .Case([&](spd::TransposeOp t) -> std::optional<SmallVector<SymExpr>> {
            auto in = dimsOfOperand(0);
            if (!in)
              return std::nullopt;
            SmallVector<SymExpr> r;
            for (int64_t p : t.getPerm())
              r.push_back((*in)[p]);
            return r;
          })
          .Case([&](spd::UnsqueezeOp u) -> std::optional<SmallVector<SymExpr>> {
            auto in = dimsOfOperand(0);
            if (!in || resultRank < 0)
              return std::nullopt;
            SmallVector<bool> added(resultRank, false);
            for (int64_t a : u.getAxes())
              added[normAxis(a, resultRank)] = true;
            SmallVector<SymExpr> r;
            size_t j = 0;
            for (int64_t i = 0; i < resultRank; ++i)
              r.push_back(added[i] ? SymExpr::constant(1) : (*in)[j++]);
            return r;
          })
          .Case([&](spd::SqueezeOp s) -> std::optional<SmallVector<SymExpr>> {
            auto in = dimsOfOperand(0);
            if (!in)
              return std::nullopt;
            SmallVector<bool> removed(in->size(), false);
            for (int64_t a : s.getAxes())
              removed[normAxis(a, in->size())] = true;
            SmallVector<SymExpr> r;
            for (auto [i, e] : llvm::enumerate(*in))
              if (!removed[i])
                r.push_back(e);
            return r;
          })
          .Case([&](spd::FlattenOp f) -> std::optional<SmallVector<SymExpr>> {
            auto in = dimsOfOperand(0);
            if (!in)
              return std::nullopt;
            int64_t axis = normAxis(f.getAxis(), in->size());
            SymExpr outer = SymExpr::constant(1), inner = SymExpr::constant(1);
            for (auto [i, e] : llvm::enumerate(*in)) {
              SymExpr &part = static_cast<int64_t>(i) < axis ? outer : inner;
              part = part * e;
            }
            return SmallVector<SymExpr>{outer, inner};
          })
          .Case([&](spd::ConcatOp c) -> std::optional<SmallVector<SymExpr>> {
            std::optional<SmallVector<SymExpr>> r;
            int64_t axis = normAxis(c.getAxis(), resultRank);
            for (Value in : c.getInputs()) {
              auto di = rawDims(in);
              if (!di)
                return std::nullopt;
              if (!r) {
                r = *di;
                continue;
              }
              (*r)[axis] = (*r)[axis] + (*di)[axis];
            }
            return r;
          })
          .Case([&](spd::GatherOp g) -> std::optional<SmallVector<SymExpr>> {
            auto data = dimsOfOperand(0), idx = dimsOfOperand(1);
            if (!data || !idx)
              return std::nullopt;
            int64_t axis = normAxis(g.getAxis(), data->size());
            SmallVector<SymExpr> r(data->begin(), data->begin() + axis);
            r.append(idx->begin(), idx->end());
            r.append(data->begin() + axis + 1, data->end());
            return r;
          })
          .Case([&](spd::SliceOp sl) -> std::optional<SmallVector<SymExpr>> {
            // Unit steps with constant starts: a symbolic dimension keeps its tail (end at or
            // beyond it) or takes a symbolic end (the exporters' x[:, :seq]).
            auto in = dimsOfOperand(0);
            auto st = elems(sl.getStarts()), en = elems(sl.getEnds()), ax = elems(sl.getAxes()),
                 stp = elems(sl.getSteps());
            if (!in || !st || !en || !ax || !stp || st->size() != ax->size())
              return std::nullopt;
            SmallVector<SymExpr> r = *in;
            for (size_t i = 0; i < ax->size(); ++i) {
              std::optional<int64_t> axis = (*ax)[i].getConstant(), a = (*st)[i].getConstant(),
                                     c = (*stp)[i].getConstant();
              if (!axis || !a || c != 1 || *a < 0)
                return std::nullopt;
              int64_t k = normAxis(*axis, in->size());
              const SymExpr &dim = (*in)[k];
              std::optional<int64_t> e = (*en)[i].getConstant(), d = dim.getConstant();
              if (d) {
                int64_t lo = std::min(*a, *d);
                int64_t hi = e ? std::clamp<int64_t>(*e < 0 ? *e + *d : *e, 0, *d) : -1;
                if (!e)
                  return std::nullopt;
                r[k] = SymExpr::constant(std::max<int64_t>(0, hi - lo));
              } else if (e && *e >= (int64_t(1) << 31)) {
                r[k] = dim - SymExpr::constant(*a);
              } else if (!e) {
                r[k] = (*en)[i] - SymExpr::constant(*a);
              } else {
                return std::nullopt; // a constant end inside a symbolic dimension: min(e, d)
              }
            }
            return r;
          })
          .Case([&](spd::TileOp t) -> std::optional<SmallVector<SymExpr>> {
            auto in = dimsOfOperand(0);
            auto repeats = elems(t.getRepeats());
            if (!in || !repeats || repeats->size() != in->size())
              return std::nullopt;
            SmallVector<SymExpr> r;
            for (auto [d, n] : llvm::zip(*in, *repeats))
              r.push_back(d * n);
            return r;
          })
          .Case([&](spd::GatherElementsOp g) { return dimsOfOperand(1); })
          .Case([&](spd::AttentionOp a) -> std::optional<SmallVector<SymExpr>> {
            auto q = rawDims(a.getQuery()), k = rawDims(a.getKey()), v = rawDims(a.getValue());
            if (!q || !k || !v || q->size() != 4 || k->size() != 4)
              return std::nullopt;
            // The mask broadcasts to the scores [b, h, q, k]: its sizes are those (or 1).
            if (Value mask = a.getMask())
              if (auto m = rawDims(mask)) {
                SymExpr scores[4] = {(*q)[0], (*q)[1], (*q)[2], (*k)[2]};
                for (size_t i = 0; i < m->size() && i < 4; ++i)
                  broadcastDim((*m)[m->size() - 1 - i], scores[3 - i]);
              }
            SmallVector<SymExpr> r = *q;
            r.back() = v->back();
            return r;
          })
          .Case<spd::LayerNormOp, spd::RmsNormOp, spd::RopeOp, spd::SwiGluOp, spd::SoftmaxOp,
                spd::LogSoftmaxOp, spd::CumSumOp, spd::TriluOp>(
              [&](Operation *) { return dimsOfOperand(0); })
          .Default([&](Operation *o) -> std::optional<SmallVector<SymExpr>> {
            if (o->hasTrait<OpTrait::SameOperandsAndResultShape>() ||
                o->hasTrait<OpTrait::SameOperandsAndResultType>())
              return o->getNumOperands() ? dimsOfOperand(0) : std::nullopt;
            if (o->hasTrait<OpTrait::ResultsBroadcastableShape>())
              return broadcastAll();
            if (auto reduce = o->getAttrOfType<DenseI64ArrayAttr>("axes");
                reduce && o->getNumOperands() == 1 &&
                o->getName().getStringRef().starts_with("spd.reduce_")) {
              auto in = dimsOfOperand(0);
              if (!in)
                return std::nullopt;
              auto keepAttr = o->getAttrOfType<BoolAttr>("keepdims");
              bool keep = !keepAttr || keepAttr.getValue();
              SmallVector<bool> reduced(in->size(), reduce.empty());
              for (int64_t a : reduce.asArrayRef())
                reduced[normAxis(a, in->size())] = true;
              SmallVector<SymExpr> r;
              for (auto [i, e] : llvm::enumerate(*in)) {
                if (!reduced[i])
                  r.push_back(e);
                else if (keep)
                  r.push_back(SymExpr::constant(1));
              }
              return r;
            }
            return std::nullopt;
          });
  if (d && static_cast<int64_t>(d->size()) == resultRank)
    setDims(result, *d);
}
