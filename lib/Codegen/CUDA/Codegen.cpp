//===- Codegen.cpp - spd functions to bundle plans ------------------------===//
//
// Walks the function's top-level ops in order. A fusion region or an unfused op is one group:
// its "library" ops (matmul → cuBLASLt GEMM, attention, norms, softmax, top_k, scatter_nd →
// kernel templates of runtime/kernels) get their operands materialized in buffers and write
// their results to buffers; every other op is an expression (ExprEmitter.cpp) evaluated by one
// grid-stride kernel per output shape. Views of buffers alias them; constants become weights.
//
//===----------------------------------------------------------------------===//

#include "CodegenImpl.h"

#include "spdc/Analysis/SymbolicShapes.h"

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Interpreter/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstring>
#include <map>

using namespace mlir;
using namespace spdc;
using namespace spdc::codegen;
using namespace spdc::codegen::detail;
using llvm::formatv;

//===----------------------------------------------------------------------===//
// Types and names
//===----------------------------------------------------------------------===//

FailureOr<ElementType> spdc::codegen::detail::elementTypeOf(Type t) {
  if (t.isF32())
    return ElementType::F32;
  if (t.isF16())
    return ElementType::F16;
  if (t.isBF16())
    return ElementType::BF16;
  if (t.isF64())
    return ElementType::F64;
  if (auto i = dyn_cast<IntegerType>(t)) {
    bool u = i.isUnsigned();
    switch (i.getWidth()) {
    case 1:
      return ElementType::Bool;
    case 8:
      return u ? ElementType::U8 : ElementType::I8;
    case 16:
      return u ? ElementType::U16 : ElementType::I16;
    case 32:
      return u ? ElementType::U32 : ElementType::I32;
    case 64:
      return u ? ElementType::U64 : ElementType::I64;
    }
  }
  return failure();
}

std::string spdc::codegen::detail::indexLiteral(int64_t v) {
  if (v == INT64_MIN)
    return "(-9223372036854775807LL - 1)";
  if (v >= INT32_MIN && v <= INT32_MAX)
    return std::to_string(v);
  return std::to_string(v) + "LL";
}

const char *spdc::codegen::detail::cTypeName(ElementType t) {
  switch (t) {
  case ElementType::F32: return "float";
  case ElementType::F16: return "__half";
  case ElementType::BF16: return "__nv_bfloat16";
  case ElementType::F64: return "double";
  case ElementType::I64: return "long long";
  case ElementType::I32: return "int";
  case ElementType::I16: return "short";
  case ElementType::I8: return "signed char";
  case ElementType::U8: return "unsigned char";
  case ElementType::U16: return "unsigned short";
  case ElementType::U32: return "unsigned int";
  case ElementType::U64: return "unsigned long long";
  case ElementType::Bool: return "bool";
  }
  return "float";
}

const char *spdc::codegen::detail::computeTypeName(ElementType t) {
  switch (t) {
  case ElementType::F32:
  case ElementType::F16:
  case ElementType::BF16:
    return "float";
  default:
    return cTypeName(t);
  }
}

bool spdc::codegen::detail::isFloatType(ElementType t) {
  return t == ElementType::F32 || t == ElementType::F16 || t == ElementType::BF16 ||
         t == ElementType::F64;
}

static void collectNames(Location loc, SmallVectorImpl<std::string> &names) {
  if (auto n = dyn_cast<NameLoc>(loc)) {
    names.push_back(n.getName().str());
    return;
  }
  if (auto f = dyn_cast<FusedLoc>(loc))
    for (Location l : f.getLocations())
      collectNames(l, names);
}

std::string spdc::codegen::detail::nodeLabel(Operation *op) {
  SmallVector<std::string> names;
  auto add = [&](Operation *o) {
    if (isa<spd::ConstantOp, spd::YieldOp>(o))
      return;
    collectNames(o->getLoc(), names);
  };
  if (auto f = dyn_cast<spd::FusionOp>(op))
    f.getBody().walk([&](Operation *o) { add(o); });
  else
    add(op);
  std::string s;
  llvm::SmallDenseSet<StringRef> seen;
  for (const std::string &n : names) {
    if (!seen.insert(n).second)
      continue;
    if (!s.empty())
      s += ", ";
    s += n;
  }
  if (s.empty())
    s = op->getName().getStringRef().str();
  return s;
}

static ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}
static int64_t numElements(ArrayRef<int64_t> s) {
  int64_t n = 1;
  for (int64_t d : s)
    n *= d;
  return n;
}
static std::string shapeKey(ArrayRef<SymExpr> s) {
  std::string k;
  for (const SymExpr &d : s)
    k += d.str() + "x";
  return k;
}
static Dims constantDims(ArrayRef<int64_t> s) {
  Dims d;
  for (int64_t n : s)
    d.push_back(SymExpr::constant(n));
  return d;
}

SymExpr spdc::codegen::detail::product(ArrayRef<SymExpr> d) {
  SymExpr p = SymExpr::constant(1);
  for (const SymExpr &e : d)
    p = p * e;
  return p;
}

//===----------------------------------------------------------------------===//
// Dynamic dimensions
//===----------------------------------------------------------------------===//

Dims Generator::dims(Value v) const {
  auto t = cast<RankedTensorType>(v.getType());
  if (shapes && !t.hasStaticShape())
    if (std::optional<SmallVector<SymExpr>> d = shapes->dims(v))
      return Dims(d->begin(), d->end());
  return constantDims(t.getShape());
}

SymExpr Generator::planExpr(const SymExpr &e, std::set<unsigned> *used) const {
  return e.renamed([&](unsigned s) {
    auto it = planSymbol.find(s);
    unsigned p = it == planSymbol.end() ? s : it->second;
    if (used)
      used->insert(p);
    return p;
  });
}

void Generator::appendProgram(const SymExpr &e, std::vector<bundle::ExprOp> &ops) const {
  using Code = bundle::ExprOp::Code;
  bool first = true;
  SymExpr renamed = planExpr(e);
  for (const auto &[monomial, coefficient] : renamed.getTerms()) {
    if (monomial.empty())
      ops.push_back({Code::Const, coefficient});
    for (auto [i, sym] : llvm::enumerate(monomial)) {
      ops.push_back({Code::Symbol, sym});
      if (i)
        ops.push_back({Code::Mul, 0});
    }
    if (!monomial.empty() && coefficient != 1) {
      ops.push_back({Code::Const, coefficient});
      ops.push_back({Code::Mul, 0});
    }
    if (!first)
      ops.push_back({Code::Add, 0});
    first = false;
  }
  if (first)
    ops.push_back({Code::Const, 0});
}

bundle::Int Generator::planInt(std::vector<bundle::ExprOp> ops) {
  if (ops.size() == 1 && ops[0].code == bundle::ExprOp::Code::Const)
    return ops[0].operand;
  std::vector<std::pair<uint32_t, int64_t>> key;
  for (const bundle::ExprOp &o : ops)
    key.push_back({uint32_t(o.code), o.operand});
  auto [it, inserted] = exprIndex.try_emplace(key, plan.exprs.size());
  if (inserted)
    plan.exprs.push_back({std::move(ops)});
  return bundle::Int::dynamic(it->second);
}

bundle::Int Generator::planInt(const SymExpr &e) {
  if (std::optional<int64_t> c = e.getConstant())
    return *c;
  std::vector<bundle::ExprOp> ops;
  appendProgram(e, ops);
  return planInt(std::move(ops));
}

std::optional<SmallVector<SymExpr>> Generator::symbolicElements(Value v) const {
  if (!shapes || !isa<IntegerType>(cast<RankedTensorType>(v.getType()).getElementType()))
    return std::nullopt;
  std::optional<SmallVector<SymExpr>> e = shapes->elements(v);
  if (!e || llvm::all_of(*e, [](const SymExpr &x) { return x.getConstant().has_value(); }))
    return std::nullopt;
  return e;
}

bool Generator::isShapeArithmetic(Value v) const {
  // Kernels evaluate these in place (ExprEmitter::knownElement): no buffer, no kernel.
  return !graphOutputs.contains(v) && symbolicElements(v).has_value();
}

LogicalResult Generator::requireStatic(Operation *op, ValueRange values, StringRef what) {
  for (Value v : values)
    if (auto t = dyn_cast<RankedTensorType>(v.getType()); t && !t.hasStaticShape())
      return op->emitError("spdc codegen: ")
             << what << " with dynamic dimensions is not supported yet (operand of type " << t
             << "); give the inputs static shapes with --input-shape";
  return success();
}

//===----------------------------------------------------------------------===//
// KernelBuilder
//===----------------------------------------------------------------------===//

std::string KernelBuilder::param(int id, bool write) {
  for (const Param &p : params)
    if (p.id == id && p.write == write)
      return p.name;
  std::string n = (write ? "out" : "in") + std::to_string(params.size());
  params.push_back({id, write, n});
  return n;
}

void KernelBuilder::line(const llvm::Twine &text) {
  body.append(depth * 2, ' ');
  body += text.str();
  body += "\n";
}

std::string KernelBuilder::finish() const {
  std::string s = "extern \"C\" __global__ void __launch_bounds__(" +
                  std::to_string(kElementwiseBlock) + ") " + name + "(";
  for (size_t i = 0; i < params.size(); ++i) {
    const LogicalBuffer &b = gen.buffers[params[i].id];
    if (i)
      s += ", ";
    s += std::string(params[i].write ? "" : "const ") + cTypeName(b.type) + " *" +
         (params[i].write ? "" : "__restrict__ ") + params[i].name;
  }
  for (unsigned sym : symbols)
    s += (params.empty() && sym == *symbols.begin() ? "" : ", ") + std::string("const long long sym") +
         std::to_string(sym);
  // Index arithmetic in 32 bits when every buffer and loop of the kernel stays below 2^30
  // elements (64-bit division and multiplication cost several instructions each); a kernel
  // over dynamic dimensions cannot know, and uses 64 bits.
  int64_t largest = symbols.empty() ? maxIndex : INT64_MAX;
  for (const Param &p : params) {
    const LogicalBuffer &b = gen.buffers[p.id];
    largest = b.size.getConstant() ? std::max<int64_t>(largest, b.bytes / std::max<uint32_t>(
                                                                    1, bundle::elementSize(b.type)))
                                   : INT64_MAX;
  }
  // gridDependencySync first: the launch is marked dependent (programmatic dependent launch).
  s += ") {\n  using idx_t = " + std::string(largest < (int64_t(1) << 30) ? "int" : "long long") +
       ";\n  spdc::kernels::gridDependencySync();\n" + body + "}\n";
  return s;
}

std::string KernelBuilder::dim(const SymExpr &e) {
  if (std::optional<int64_t> c = e.getConstant())
    return indexLiteral(*c);
  std::string s = gen.planExpr(e, &symbols).str(), r = "(";
  // "12*s0*s1 + 4" over the parameters sym0, sym1.
  for (char c : s)
    r += c == 's' ? std::string("sym") : std::string(1, c);
  return r + ")";
}

void KernelBuilder::appendSymbolArgs(bundle::Launch &l) const {
  for (unsigned sym : symbols) {
    bundle::KernelArg a;
    a.kind = bundle::KernelArg::Kind::I64;
    a.i64 = gen.planInt({{bundle::ExprOp::Code::Symbol, int64_t(sym)}});
    l.args.push_back(a);
  }
}

bool KernelBuilder::isOuter(StringRef expr) const {
  StringRef rest = expr;
  while (!rest.empty()) {
    size_t start = rest.find_first_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_");
    if (start == StringRef::npos)
      break;
    size_t end = rest.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", start);
    StringRef name = rest.slice(start, end);
    unsigned sym;
    bool symbol = name.starts_with("sym") && !name.drop_front(3).getAsInteger(10, sym);
    if (!symbol && name != "idx_t" && !outerNames.count(name.str()))
      return false;
    rest = end == StringRef::npos ? StringRef() : rest.drop_front(end);
  }
  return true;
}

std::optional<std::string> KernelBuilder::laneBase(StringRef last) const {
  if (last.consume_front("(") && last.consume_back(" + k)") && outerNames.count(last.str()))
    return last.str();
  return std::nullopt;
}

std::optional<SmallVector<std::string>>
KernelBuilder::laneView(ArrayRef<std::string> idx, ArrayRef<SymExpr> from,
                        ArrayRef<SymExpr> to) {
  // idx = (outer..., base + k) with base a multiple of `lanes`: when both shapes' rows are
  // multiples of `lanes`, the flat index is ravel(outer..., base) + k, a multiple of `lanes`
  // plus k, so in `to` only the last index moves with k: (outer'..., base' + k).
  if (!lanes || idx.empty() || from.empty() || to.empty() || depth != preloadDepth + 1 ||
      from.back().getConstant().value_or(1) % lanes != 0 ||
      to.back().getConstant().value_or(1) % lanes != 0)
    return std::nullopt;
  std::optional<std::string> base = laneBase(idx.back());
  if (!base)
    return std::nullopt;
  SmallVector<std::string> outer(idx.begin(), idx.end());
  outer.back() = *base;
  for (const std::string &i : ArrayRef<std::string>(outer).drop_back())
    if (!isOuter(i))
      return std::nullopt;
  // The new indices are computed once per piece, before the lane loop.
  SmallVector<std::string> r = unravel(ravel(outer, from), to, /*beforeLanes=*/true);
  for (const std::string &i : r)
    outerNames.insert(i);
  r.back() = "(" + r.back() + " + k)";
  return r;
}

std::optional<std::string> KernelBuilder::vectorLoad(int id, ArrayRef<std::string> idx,
                                                    ArrayRef<SymExpr> shape) {
  // Only loads every lane makes (not under a branch or in a loop of the lane body): a hoisted
  // load must not read what a lane would not have read.
  if (idx.empty() || depth != preloadDepth + 1 ||
      shape.back().getConstant().value_or(1) % lanes != 0)
    return std::nullopt;
  // The last index: a lane-aligned variable plus the lane (c0 + k, a rotation's partner, a
  // view's last index), or the lane index shifted by a multiple of `lanes` (a slice).
  StringRef last = idx.back();
  int64_t shift = 0;
  std::string lane = "c0";
  if (std::optional<std::string> b = laneBase(last)) {
    lane = *b;
  } else if (!last.consume_front("(") || !last.consume_back(" + (c0 + k) * 1)") ||
             last.getAsInteger(10, shift) || shift % lanes != 0) {
    return std::nullopt;
  }
  // The other indices: variables defined before the lane loop.
  SmallVector<std::string> outer(idx.begin(), idx.end());
  outer.back() = "0";
  for (const std::string &i : ArrayRef<std::string>(outer).drop_back())
    if (!isOuter(i))
      return std::nullopt;
  std::string p = param(id, false);
  std::string base = "(" + ravel(outer, shape) + ") + " + lane + " + " + indexLiteral(shift);
  std::string key = p + "@" + base;
  auto [it, inserted] = preloaded.try_emplace(key, "");
  if (inserted) {
    it->second = fresh("vec");
    preload(formatv("const auto {0} = spdc_load_vec<{1}>({2} + {3});", it->second, lanes, p, base)
                .str());
  }
  return it->second + ".v[k]";
}

void KernelBuilder::preload(const std::string &line) {
  std::string text = std::string(preloadDepth * 2, ' ') + line + "\n";
  body.insert(preloadAt, text);
  preloadAt += text.size();
}

std::string KernelBuilder::ravel(ArrayRef<std::string> idx, ArrayRef<SymExpr> shape) {
  std::string key;
  for (const std::string &i : idx)
    key += i + ",";
  key += "|" + shapeKey(shape);
  if (auto it = knownLinear.find(key); it != knownLinear.end())
    return it->second;
  std::string e;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (e.empty() || e == "0") {
      e = idx[d];
      continue;
    }
    e = "(" + e + ") * " + dim(shape[d]) + " + " + idx[d];
  }
  if (e.empty())
    e = "0";
  return e;
}

SmallVector<std::string> KernelBuilder::unravel(const std::string &linear,
                                                ArrayRef<int64_t> shape) {
  return unravel(linear, constantDims(shape));
}

SmallVector<std::string> KernelBuilder::unravel(const std::string &linear,
                                                ArrayRef<SymExpr> shape, bool beforeLanes) {
  SmallVector<std::string> idx(shape.size(), "0");
  SymExpr stride = SymExpr::constant(1);
  for (int64_t d = shape.size() - 1; d >= 0; --d) {
    if (shape[d].getConstant() != 1) {
      std::string v = fresh("i");
      std::string e = stride.getConstant() == 1 ? linear : "(" + linear + ") / " + dim(stride);
      bool outermost = true;
      for (int64_t o = 0; o < d; ++o)
        outermost &= shape[o].getConstant() == 1;
      if (!outermost)
        e = "(" + e + ") % " + dim(shape[d]);
      std::string text = "const idx_t " + v + " = " + e + ";";
      if (beforeLanes)
        preload(text);
      else
        line(text);
      idx[d] = v;
    }
    stride = stride * shape[d];
  }
  std::string key;
  for (const std::string &i : idx)
    key += i + ",";
  knownLinear[key + "|" + shapeKey(shape)] = linear;
  return idx;
}

//===----------------------------------------------------------------------===//
// Generator: buffers, constants, steps
//===----------------------------------------------------------------------===//

Value Generator::resolve(Value v) const {
  while (auto arg = dyn_cast<BlockArgument>(v)) {
    auto it = blockArgs.find(arg);
    if (it == blockArgs.end())
      break;
    v = it->second;
  }
  return v;
}

FailureOr<ElementType> Generator::storageType(Type t, Operation *where) {
  if (auto tt = dyn_cast<ShapedType>(t))
    t = tt.getElementType();
  FailureOr<ElementType> e = elementTypeOf(t);
  if (failed(e)) {
    if (where)
      where->emitError("spdc codegen: unsupported element type ") << t;
    return failure();
  }
  if (*e == ElementType::F32 && options.dtype == "bf16")
    return ElementType::BF16;
  if (*e == ElementType::F32 && options.dtype == "f16")
    return ElementType::F16;
  return *e;
}

int Generator::newBuffer(ArrayRef<SymExpr> shape, ElementType type, StringRef what) {
  LogicalBuffer b;
  b.type = type;
  b.shape.assign(shape.begin(), shape.end());
  b.size = product(shape) * SymExpr::constant(bundle::elementSize(type));
  b.bytes = b.size.getConstant().value_or(0);
  b.what = what.str();
  buffers.push_back(std::move(b));
  return buffers.size() - 1;
}

int Generator::newBuffer(ArrayRef<int64_t> shape, ElementType type, StringRef what) {
  return newBuffer(constantDims(shape), type, what);
}

int Generator::newBuffer(Value v, ElementType type, StringRef what) {
  return newBuffer(dims(v), type, what);
}

/// Converts `n` elements of `src` (type `from`) to `to`, appending to `out`.
static bool convertElements(const uint8_t *src, int64_t n, ElementType from, ElementType to,
                            std::vector<uint8_t> &out) {
  size_t at = out.size();
  if (from == to) {
    out.insert(out.end(), src, src + n * bundle::elementSize(from));
    return true;
  }
  if (from != ElementType::F32 || (to != ElementType::BF16 && to != ElementType::F16))
    return false;
  out.resize(at + n * 2);
  for (int64_t i = 0; i < n; ++i) {
    float f;
    std::memcpy(&f, src + 4 * i, 4);
    uint16_t h;
    if (to == ElementType::BF16) {
      uint32_t u;
      std::memcpy(&u, &f, 4);
      if (std::isnan(f))
        h = 0x7fc0;
      else
        h = static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
    } else {
      llvm::APFloat a(f);
      bool lost;
      a.convert(llvm::APFloat::IEEEhalf(), llvm::APFloat::rmNearestTiesToEven, &lost);
      h = static_cast<uint16_t>(a.bitcastToAPInt().getZExtValue());
    }
    std::memcpy(out.data() + at + 2 * i, &h, 2);
  }
  return true;
}

Buf Generator::lookup(Value v) {
  v = resolve(v);
  if (auto it = valueBufs.find(v); it != valueBufs.end())
    return it->second;
  if (auto c = v.getDefiningOp<spd::ConstantOp>()) {
    if (auto it = weightBufs.find(c); it != weightBufs.end())
      return it->second;
    llvm::Expected<Tensor> t = tensorFromAttr(cast<ElementsAttr>(c.getValue()));
    if (!t) {
      c.emitError("spdc codegen: cannot read constant: ") << llvm::toString(t.takeError());
      return {};
    }
    FailureOr<ElementType> from = elementTypeOf(c.getType().getElementType());
    FailureOr<ElementType> to = storageType(c.getType(), c);
    if (failed(from) || failed(to))
      return {};
    size_t off = nextWeightOffset();
    plan.weights.resize(off);
    if (!convertElements(static_cast<const uint8_t *>(t->raw()), t->numElements(), *from, *to,
                         plan.weights)) {
      c.emitError("spdc codegen: cannot convert constant to the requested dtype");
      return {};
    }
    int id = newBuffer(c.getResult(), *to, "weight " + nodeLabel(c));
    buffers[id].space = bundle::Space::Weights;
    buffers[id].offset = off;
    Buf b{id, *to};
    weightBufs[c] = b;
    return b;
  }
  return {};
}

FailureOr<SmallVector<int64_t>> Generator::constantInts(Value v) {
  v = resolve(v);
  auto c = v.getDefiningOp<spd::ConstantOp>();
  if (!c)
    return failure();
  SmallVector<int64_t> r;
  auto attr = cast<ElementsAttr>(c.getValue());
  if (!isa<IntegerType>(attr.getElementType()))
    return failure();
  for (APInt i : attr.getValues<APInt>())
    r.push_back(i.getSExtValue());
  return r;
}

std::optional<std::string> Generator::splatLiteral(Value v) {
  v = resolve(v);
  auto c = v.getDefiningOp<spd::ConstantOp>();
  if (!c)
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
  if (!dense || !dense.isSplat())
    return std::nullopt;
  Type et = dense.getElementType();
  FailureOr<ElementType> e = elementTypeOf(et);
  if (failed(e))
    return std::nullopt;
  std::string ct = computeTypeName(*e);
  if (isa<FloatType>(et)) {
    double d = dense.getSplatValue<APFloat>().convertToDouble();
    if (std::isnan(d))
      return "spdc_nan<" + ct + ">()";
    if (std::isinf(d))
      return std::string(d < 0 ? "(-" : "(") + "spdc_inf<" + ct + ">())";
    return formatv("({0})({1:e17})", ct, d).str();
  }
  if (et.isInteger(1))
    return dense.getSplatValue<bool>() ? "true" : "false";
  APInt i = dense.getSplatValue<APInt>();
  auto it = cast<IntegerType>(et);
  if (it.isUnsigned())
    return "(" + ct + ")" + std::to_string(i.getZExtValue()) + "ULL";
  int64_t s = i.getSExtValue();
  if (s == INT64_MIN)
    return "(" + ct + ")(-9223372036854775807LL - 1)";
  return "(" + ct + ")" + std::to_string(s) + "LL";
}

uint32_t Generator::addKernel(const std::string &name, const std::string &source) {
  if (auto it = kernelIndex.find(name); it != kernelIndex.end())
    return it->second;
  // A generated kernel identical to an earlier one but for its name (the same region in every
  // layer) is that kernel: NVRTC compiles each body once.
  std::string body = source;
  if (size_t at = body.find(" " + name + "("); at != std::string::npos)
    body.replace(at + 1, name.size(), "@");
  if (auto it = kernelBySource.find(body); it != kernelBySource.end())
    return it->second;
  uint32_t i = plan.kernelNames.size();
  kernelBySource[body] = i;
  plan.kernelNames.push_back(name);
  plan.kernelSources.push_back(0);
  kernelIndex[name] = i;
  kernelSources += source + "\n";
  return i;
}

uint32_t Generator::addTemplateKernel(const std::string &name, const std::string &templateParams,
                                      StringRef header) {
  if (auto it = kernelIndex.find(name); it != kernelIndex.end())
    return it->second;
  uint32_t i = plan.kernelNames.size();
  plan.kernelNames.push_back(name);
  plan.kernelSources.push_back(plan.sources.size());
  plan.sources.push_back(("// Generated by spdc: one template kernel.\n#include \"spdc/kernels/" +
                          header + "\"\n\ntemplate __global__ void " + name + "(" +
                          templateParams + ");\n")
                             .str());
  kernelIndex[name] = i;
  if (options.onTemplateUnit)
    options.onTemplateUnit(plan.sources.back(), name);
  return i;
}

bundle::KernelArg Generator::bufferArg(int id) {
  bundle::KernelArg a;
  a.kind = bundle::KernelArg::Kind::Buffer;
  a.buffer.space = bundle::Space::Arena;
  a.buffer.index = id;
  return a;
}

static bundle::KernelArg i64Arg(bundle::Int v) {
  bundle::KernelArg a;
  a.kind = bundle::KernelArg::Kind::I64;
  a.i64 = v;
  return a;
}
static bundle::KernelArg f32Arg(float v) {
  bundle::KernelArg a;
  a.kind = bundle::KernelArg::Kind::F32;
  a.f32 = v;
  return a;
}

void Generator::addLaunch(uint32_t kernel, const bundle::Launch &launch, const std::string &label,
                          ArrayRef<int> ids) {
  int step = plan.steps.size();
  for (int id : ids) {
    buffers[id].first = std::min(buffers[id].first, step);
    buffers[id].last = std::max(buffers[id].last, step);
  }
  bundle::Launch l = launch;
  l.kernel = kernel;
  // Every kernel spdc emits or instantiates begins with gridDependencySync (kernels/common.cuh).
  l.dependentLaunch = true;
  plan.launches.push_back(l);
  plan.steps.push_back({bundle::Step::Kind::Launch, uint32_t(plan.launches.size() - 1), label});
  ++stats.kernels;
}

void Generator::launchGenerated(const KernelBuilder &kb, bundle::Launch l,
                                const std::string &label) {
  uint32_t k = addKernel(kb.name, kb.finish());
  SmallVector<int> ids;
  for (const KernelBuilder::Param &p : kb.params) {
    l.args.push_back(bufferArg(p.id));
    ids.push_back(p.id);
  }
  kb.appendSymbolArgs(l);
  addLaunch(k, l, label, ids);
}

void Generator::addGemm(const bundle::Gemm &gemm, const std::string &label, ArrayRef<int> ids) {
  int step = plan.steps.size();
  for (int id : ids) {
    buffers[id].first = std::min(buffers[id].first, step);
    buffers[id].last = std::max(buffers[id].last, step);
  }
  plan.gemms.push_back(gemm);
  plan.steps.push_back({bundle::Step::Kind::Gemm, uint32_t(plan.gemms.size() - 1), label});
  ++stats.gemms;
}

void Generator::addCopy(int src, int dst, bundle::Int bytes, const std::string &label) {
  int step = plan.steps.size();
  for (int id : {src, dst}) {
    buffers[id].first = std::min(buffers[id].first, step);
    buffers[id].last = std::max(buffers[id].last, step);
  }
  bundle::Copy c;
  c.src.index = src;
  c.dst.index = dst;
  c.bytes = bytes;
  plan.copies.push_back(c);
  plan.steps.push_back({bundle::Step::Kind::Copy, uint32_t(plan.copies.size() - 1), label});
  ++stats.copies;
}

/// min(max(ceil(e / div), lo), hi) as a plan integer.
static bundle::Int clampedCeilDiv(Generator &gen, const SymExpr &e, int64_t div, int64_t lo,
                                  int64_t hi) {
  if (std::optional<int64_t> n = e.getConstant())
    return std::min(std::max((*n + div - 1) / div, lo), hi);
  using Code = bundle::ExprOp::Code;
  std::vector<bundle::ExprOp> ops;
  gen.appendProgram(e, ops);
  if (div != 1)
    ops.insert(ops.end(), {{Code::Const, div}, {Code::CeilDiv, 0}});
  // Dimensions are never negative: a lower bound of 0 and no upper bound need no instruction.
  if (lo > 0)
    ops.insert(ops.end(), {{Code::Const, lo}, {Code::Max, 0}});
  if (hi < INT64_MAX)
    ops.insert(ops.end(), {{Code::Const, hi}, {Code::Min, 0}});
  return gen.planInt(std::move(ops));
}

static bundle::Launch gridStride(Generator &gen, const SymExpr &n, int64_t perThread = 1) {
  bundle::Launch l;
  l.grid[0] = clampedCeilDiv(gen, n, kElementwiseBlock * perThread, 1, kMaxGridStrideBlocks);
  l.block[0] = kElementwiseBlock;
  return l;
}

/// Threads per block for rows of `pieces` 16-byte pieces, `perThread` per thread (a multiple
/// of 32, from 64 to 1024).
static int pieceRowBlock(int64_t pieces, int64_t perThread = kRowPieces) {
  int64_t threads = (pieces + perThread - 1) / perThread;
  return int(std::clamp<int64_t>((threads + 31) / 32 * 32, 64, 1024));
}

static bundle::Launch rowLaunch(Generator &gen, const SymExpr &rows, int64_t cols) {
  bundle::Launch l;
  l.grid[0] = clampedCeilDiv(gen, rows, 1, 1, 65535);
  l.block[0] = cols <= kSmallRowCols ? kRowBlockSmall : kRowBlock;
  return l;
}

std::string sanitize(StringRef s) {
  std::string r;
  for (char c : s)
    r += isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return r;
}

//===----------------------------------------------------------------------===//
// Elementwise kernels
//===----------------------------------------------------------------------===//

/// Elements per 16-byte piece of the narrowest target when that many divide `last` (the
/// length of the rows walked in pieces); 0 otherwise.
static int64_t pieceLanes(const Generator &gen, ArrayRef<std::pair<Value, int>> targets,
                          std::optional<int64_t> last) {
  uint32_t narrowest = 16;
  for (auto [v, id] : targets)
    narrowest = std::min(narrowest, bundle::elementSize(gen.buffers[id].type));
  int64_t lanes = std::min<int64_t>(16 / narrowest, kMaxVectorLanes);
  if (lanes < 2 || !last || *last % lanes != 0)
    return 0;
  return lanes;
}

/// Elements per thread of the vectorized elementwise kernel: 16 bytes of the narrowest output
/// when every target has one shape whose last dimension they divide; 0 otherwise.
static int64_t vectorLanes(const Generator &gen, ArrayRef<std::pair<Value, int>> targets) {
  const Dims &shape = gen.buffers[targets.front().second].shape;
  for (auto [v, id] : targets)
    if (gen.buffers[id].shape != shape)
      return 0;
  return pieceLanes(gen, targets,
                    shape.empty() ? std::nullopt : shape.back().getConstant());
}

LogicalResult Generator::emitVectorElementwise(ArrayRef<std::pair<Value, int>> targets,
                                               int64_t lanes, const std::string &name,
                                               const std::string &label) {
  // Each thread computes `lanes` consecutive elements of a row: reads that follow the row are
  // then consecutive addresses from a 16-byte aligned base (every buffer is: the arena and
  // weights by construction, bound tensors by the runtime's contract), which NVVM's load/store
  // vectorizer turns into 16-byte accesses.
  KernelBuilder kb(*this, name);
  Dims vshape = buffers[targets.front().second].shape;
  vshape.back() = SymExpr::constant(*vshape.back().getConstant() / lanes);
  SymExpr n = product(vshape);
  bundle::Launch l = gridStride(*this, n);
  if (std::optional<int64_t> c = n.getConstant())
    kb.maxIndex = (*c + int64_t(l.grid[0]) * kElementwiseBlock) * lanes;
  std::string count = kb.dim(n);
  kb.line("using namespace spdc::kernels;");
  kb.open(formatv("for (idx_t vi = (idx_t)blockIdx.x * {0} + threadIdx.x; vi < {1}; "
                  "vi += (idx_t)gridDim.x * {0})",
                  kElementwiseBlock, count));
  SmallVector<std::string> idx = kb.unravel("vi", vshape);
  kb.line(formatv("const idx_t c0 = {0} * {1};", idx.back(), lanes));
  for (const std::string &i : idx)
    kb.outerNames.insert(i);
  kb.outerNames.insert("c0");
  idx.back() = "(c0 + k)";
  SmallVector<std::string> results;
  for (auto [v, id] : targets) {
    results.push_back(kb.fresh("r"));
    kb.line(formatv("spdc_vec<{0}, {1}> {2};", cTypeName(buffers[id].type), lanes,
                    results.back()));
  }
  kb.lanes = lanes;
  kb.preloadAt = kb.body.size();
  kb.preloadDepth = kb.depth;
  kb.line("#pragma unroll");
  kb.open(formatv("for (int k = 0; k < {0}; ++k)", lanes));
  ExprEmitter ee(*this, kb);
  for (auto [t, target] : llvm::enumerate(targets)) {
    FailureOr<std::string> x = ee.at(target.first, idx);
    if (failed(x))
      return failure();
    kb.line(formatv("{0}.v[k] = convert<{1}>({2});", results[t],
                    cTypeName(buffers[target.second].type), *x));
  }
  kb.close();
  kb.lanes = 0;
  for (auto [t, target] : llvm::enumerate(targets))
    kb.line(formatv("spdc_store_vec({0} + vi * {1}, {2});", kb.param(target.second, true), lanes,
                    results[t]));
  kb.close();
  launchGenerated(kb, l, label);
  return success();
}

LogicalResult Generator::emitElementwise(ArrayRef<std::pair<Value, int>> targets,
                                         Operation *anchor, const std::string &label) {
  std::string name = formatv("k{0}_{1}", kernelCounter++, kernelPrefix).str();
  if (int64_t lanes = vectorLanes(*this, targets))
    return emitVectorElementwise(targets, lanes, name, label);
  KernelBuilder kb(*this, name);
  SymExpr n = product(buffers[targets.front().second].shape);
  // Each thread computes kElementwiseUnroll elements a block apart (every load still coalesced
  // across the warp), all loads before all stores: that many independent loads in flight per
  // thread, which a memory-bound kernel needs to approach the bandwidth.
  bundle::Launch l = gridStride(*this, n, kElementwiseUnroll);
  if (std::optional<int64_t> c = n.getConstant())
    kb.maxIndex = *c + int64_t(l.grid[0]) * kElementwiseBlock * kElementwiseUnroll;
  std::string step = std::to_string(kElementwiseBlock * kElementwiseUnroll);
  std::string count = kb.dim(n);
  kb.line("using namespace spdc::kernels;");
  kb.open(formatv("for (idx_t base = (idx_t)blockIdx.x * {0} + threadIdx.x; base < {1}; "
                  "base += (idx_t)gridDim.x * {0})",
                  step, count));
  SmallVector<std::string> results;
  for (auto [v, id] : targets) {
    results.push_back(kb.fresh("r"));
    kb.line(formatv("{0} {1}[{2}];", cTypeName(buffers[id].type), results.back(),
                    kElementwiseUnroll));
  }
  kb.line("#pragma unroll");
  kb.open(formatv("for (int u = 0; u < {0}; ++u)", kElementwiseUnroll));
  kb.line(formatv("const idx_t i = base + u * {0};", kElementwiseBlock));
  kb.open(formatv("if (i < {0})", count));
  ExprEmitter ee(*this, kb);
  std::map<std::string, SmallVector<std::string>> indexOfShape;
  for (auto [t, target] : llvm::enumerate(targets)) {
    auto [v, id] = target;
    Dims vs = dims(v);
    auto [it, inserted] = indexOfShape.try_emplace(shapeKey(vs));
    if (inserted)
      it->second = kb.unravel("i", vs);
    SmallVector<std::string> idx = it->second;
    FailureOr<std::string> x = ee.at(v, idx);
    if (failed(x))
      return failure();
    kb.line(formatv("{0}[u] = convert<{1}>({2});", results[t], cTypeName(buffers[id].type), *x));
  }
  kb.close();
  kb.close();
  kb.line("#pragma unroll");
  kb.open(formatv("for (int u = 0; u < {0}; ++u)", kElementwiseUnroll));
  kb.line(formatv("const idx_t i = base + u * {0};", kElementwiseBlock));
  kb.open(formatv("if (i < {0})", count));
  for (auto [t, target] : llvm::enumerate(targets))
    kb.line(formatv("{0}[i] = {1}[u];", kb.param(target.second, true), results[t]));
  kb.close();
  kb.close();
  kb.close();
  launchGenerated(kb, l, label);
  return success();
}

std::optional<Buf> Generator::viewSource(Value v) {
  v = resolve(v);
  Buf b = lookup(v);
  if (b.id >= 0)
    return b;
  Operation *def = v.getDefiningOp();
  if (def && isa<spd::ReshapeOp, spd::FlattenOp, spd::SqueezeOp, spd::UnsqueezeOp>(def))
    return viewSource(def->getOperand(0));
  return std::nullopt;
}

LogicalResult Generator::materialize(ArrayRef<Value> values, Operation *anchor,
                                     const std::string &label) {
  // Views of buffers alias them; the rest is computed, one kernel per element count.
  std::map<std::string, SmallVector<std::pair<Value, int>>> groups;
  SmallVector<std::string> order;
  DenseSet<Value> seen;
  for (Value v : values) {
    v = resolve(v);
    if (!seen.insert(v).second || lookup(v).id >= 0)
      continue;
    if (std::optional<Buf> src = viewSource(v)) {
      valueBufs[v] = *src;
      continue;
    }
    if (isShapeArithmetic(v))
      continue;
    FailureOr<ElementType> st =
        graphOutputs.contains(v)
            ? elementTypeOf(cast<RankedTensorType>(v.getType()).getElementType())
            : storageType(v.getType(), v.getDefiningOp());
    if (failed(st))
      return failure();
    std::string what = "value of " + (v.getDefiningOp() ? nodeLabel(v.getDefiningOp()) : label);
    int id = newBuffer(v, *st, what);
    std::string n = product(dims(v)).str();
    if (!groups.count(n))
      order.push_back(n);
    groups[n].push_back({v, id});
  }
  // Buffers are registered after their kernel, which computes (rather than loads) them.
  for (const std::string &n : order) {
    if (failed(emitElementwise(groups[n], anchor, label)))
      return failure();
    for (auto [v, id] : groups[n])
      valueBufs[v] = {id, buffers[id].type};
  }
  return success();
}

FailureOr<Buf> Generator::bufferOf(Value v, Operation *anchor, const std::string &label) {
  if (failed(materialize({v}, anchor, label)))
    return failure();
  Buf b = lookup(v);
  if (b.id < 0)
    return failure();
  return b;
}

//===----------------------------------------------------------------------===//
// Library ops
//===----------------------------------------------------------------------===//

/// A buffer of `v` with storage type `type` (materializing a converted copy if needed).
static FailureOr<Buf> bufferTyped(Generator &g, Value v, ElementType type, Operation *anchor,
                                  const std::string &label) {
  FailureOr<Buf> b = g.bufferOf(v, anchor, label);
  if (failed(b) || b->type == type)
    return b;
  int id = g.newBuffer(g.dims(v), type, "converted " + label);
  if (failed(g.emitElementwise({{g.resolve(v), id}}, anchor, label)))
    return failure();
  return Buf{id, type};
}

LogicalResult Generator::emitMatmul(Operation *op, DenseSet<Operation *> &handled,
                                    const std::string &label) {
  auto mm = cast<spd::MatMulOp>(op);
  Value lhs = mm.getLhs(), rhs = mm.getRhs(), out = mm.getResult();
  Dims ls = dims(lhs), rs = dims(rhs), os = dims(out);
  FailureOr<ElementType> st = storageType(out.getType(), op);
  if (failed(st))
    return failure();
  // Integer or 1-D products: the expression path (a loop over k per element).
  if (!isFloatType(*st) || *st == ElementType::F64 || ls.size() < 2 || rs.size() < 2)
    return materialize({out}, op, label);
  SymExpr M = ls[ls.size() - 2], K = ls.back(), N = rs.back();
  size_t ob = os.size() - 2;
  ArrayRef<SymExpr> outBatch = ArrayRef<SymExpr>(os).take_front(ob);
  SymExpr batch = product(outBatch);
  auto batchKind = [&](ArrayRef<SymExpr> s) {
    // 0: broadcast (all ones), 1: full, -1: mixed
    ArrayRef<SymExpr> b = s.drop_back(2);
    if (product(b).getConstant() == 1)
      return 0;
    if (b.size() <= ob && b == outBatch.take_back(b.size()) && product(b) == batch)
      return 1;
    return -1;
  };
  int lk = batchKind(ls), rk = batchKind(rs);
  if (lk < 0 || rk < 0)
    return materialize({out}, op, label);

  // Operand layout: a transpose of the last two dims of a buffer folds into transA/transB.
  auto operand = [&](Value v, bool &trans) -> FailureOr<Buf> {
    trans = false;
    Value r = resolve(v);
    if (auto t = r.getDefiningOp<spd::TransposeOp>()) {
      ArrayRef<int64_t> perm = t.getPerm();
      bool swapLast = perm.size() >= 2;
      for (size_t i = 0; swapLast && i + 2 < perm.size(); ++i)
        swapLast = perm[i] == (int64_t)i;
      swapLast = swapLast && perm[perm.size() - 2] == (int64_t)perm.size() - 1 &&
                 perm.back() == (int64_t)perm.size() - 2;
      if (swapLast && lookup(r).id < 0) {
        if (std::optional<Buf> src = viewSource(t.getInput()); src && src->type == *st) {
          trans = true;
          return *src;
        }
      }
    }
    return bufferTyped(*this, v, *st, op, label);
  };
  bool ta, tb;
  FailureOr<Buf> a = operand(lhs, ta);
  if (failed(a))
    return failure();
  FailureOr<Buf> b = operand(rhs, tb);
  if (failed(b))
    return failure();

  bundle::Gemm g;
  g.type = *st;
  g.k = planInt(K);
  g.n = planInt(N);
  g.transA = ta;
  g.transB = tb;
  // A full-batch lhs against a shared rhs is one GEMM of batch*M rows.
  SymExpr gemmM = M, gemmBatch = batch;
  if (lk == 1 && rk == 0 && !ta) {
    gemmM = M * batch;
    gemmBatch = SymExpr::constant(1);
  } else {
    g.strideA = lk ? planInt(M * K) : bundle::Int(0);
    g.strideB = rk ? planInt(K * N) : bundle::Int(0);
    g.strideC = planInt(M * N);
  }
  g.m = planInt(gemmM);
  g.batch = planInt(gemmBatch);
  g.lda = planInt(ta ? M : K);
  g.ldb = planInt(tb ? K : N);
  g.ldc = planInt(N);
  g.a = bufferArg(a->id).buffer;
  g.b = bufferArg(b->id).buffer;

  // Epilogue: a 1-D bias add (then a tanh GELU, cuBLASLt's) whose only reader is the next op.
  Value result = out;
  g.epilogue = bundle::Gemm::Epilogue::None;
  int biasId = -1;
  if (out.hasOneUse()) {
    if (auto add = dyn_cast<spd::AddOp>(*out.getUsers().begin())) {
      Value other = add.getLhs() == out ? add.getRhs() : add.getLhs();
      Dims bs = dims(other);
      if (add.getLhs() != add.getRhs() && product(bs) == N && !bs.empty() &&
          bs.back() == N && dims(add.getResult()) == os) {
        std::optional<Buf> bias = viewSource(other);
        if (bias && bias->type == *st) {
          biasId = bias->id;
          g.epilogue = bundle::Gemm::Epilogue::Bias;
          handled.insert(add);
          result = add.getResult();
          // Through views to a tanh GELU.
          Value cur = result;
          SmallVector<Operation *> views;
          while (cur.hasOneUse()) {
            Operation *u = *cur.getUsers().begin();
            if (isa<spd::ReshapeOp, spd::FlattenOp, spd::SqueezeOp, spd::UnsqueezeOp>(u)) {
              views.push_back(u);
              cur = u->getResult(0);
              continue;
            }
            if (auto gelu = dyn_cast<spd::GeluOp>(u); gelu && gelu.getApproximate() == "tanh") {
              g.epilogue = bundle::Gemm::Epilogue::BiasGelu;
              handled.insert(gelu);
              for (Operation *v : views)
                handled.insert(v);
              result = gelu.getResult();
            }
            break;
          }
        }
      }
    }
  }
  // A residual add after it (through views): cuBLASLt's D = A B (+ bias) + 1 * C with C the
  // residual, already in a buffer of the same elements. Not under a GELU, which C would enter.
  int residualId = -1;
  if (g.epilogue != bundle::Gemm::Epilogue::BiasGelu) {
    Value cur = result;
    SmallVector<Operation *> views;
    while (cur.hasOneUse()) {
      Operation *u = *cur.getUsers().begin();
      if (isa<spd::ReshapeOp, spd::FlattenOp, spd::SqueezeOp, spd::UnsqueezeOp>(u)) {
        views.push_back(u);
        cur = u->getResult(0);
        continue;
      }
      auto add = dyn_cast<spd::AddOp>(u);
      if (!add || add.getLhs() == add.getRhs())
        break;
      Value other = add.getLhs() == cur ? add.getRhs() : add.getLhs();
      if (dims(other) != dims(add.getResult()) || dims(cur) != dims(other))
        break;
      std::optional<Buf> res = viewSource(other);
      if (!res || res->type != *st)
        break;
      residualId = res->id;
      handled.insert(add);
      for (Operation *v : views)
        handled.insert(v);
      result = add.getResult();
      break;
    }
  }
  int d = newBuffer(result, *st, "gemm " + label);
  valueBufs[result] = {d, *st};
  // Rows of D whose byte length is not a multiple of 16 (GPT-2's 50257-word logits) keep
  // cuBLASLt off its fast kernels (6x slower measured on an H100): the GEMM writes rows padded
  // to 16 bytes into a scratch buffer, and a copy kernel packs them. Not with a residual C,
  // which shares D's layout.
  int packInto = -1;
  uint32_t esize = bundle::elementSize(*st);
  SymExpr rows = gemmM * gemmBatch;
  std::optional<int64_t> cols = N.getConstant();
  int64_t padded = 0;
  if (options.gemmPaddedRows && residualId < 0 && cols && (*cols * esize) % 16 != 0 &&
      *cols >= kMinPaddedGemmColumns) {
    int64_t per = 16 / esize;
    padded = (*cols + per - 1) / per * per;
    packInto = d;
    d = newBuffer({rows, SymExpr::constant(padded)}, *st, "gemm (rows padded) " + label);
    g.ldc = padded;
    if (gemmBatch.getConstant() != 1)
      g.strideC = planInt(gemmM * SymExpr::constant(padded));
    // The row length of D is only half of it: cuBLASLt picks its fast kernels when n itself is
    // a 16-byte multiple. A constant B shared by the batch (a language-model head) gets a copy
    // with zero columns up to `padded`, so the GEMM computes the padded rows whole (the pack
    // drops the zeros); the unpadded weight leaves the bundle when nothing else reads it.
    std::optional<int64_t> depth = K.getConstant();
    if (depth && buffers[b->id].space == bundle::Space::Weights && g.strideB == 0 &&
        g.epilogue == bundle::Gemm::Epilogue::None) {
      int64_t bRows = tb ? *cols : *depth, bCols = tb ? *depth : *cols;
      int pb = paddedWeight(b->id, bRows, bCols, tb ? padded : bRows, tb ? bCols : padded,
                            "padded " + buffers[b->id].what);
      b->id = pb;
      g.b = bufferArg(pb).buffer;
      g.n = padded;
      if (!tb)
        g.ldb = padded;
    }
  }
  g.d = bufferArg(d).buffer;
  g.c = g.d;
  if (residualId >= 0) {
    g.c = bufferArg(residualId).buffer;
    g.beta = 1;
  }
  g.bias = biasId >= 0 ? bufferArg(biasId).buffer : g.d;
  SmallVector<int> ids = {a->id, b->id, d};
  if (biasId >= 0)
    ids.push_back(biasId);
  if (residualId >= 0)
    ids.push_back(residualId);
  addGemm(g, label, ids);
  if (packInto >= 0) {
    uint32_t writeStep = uint32_t(plan.steps.size() - 1);
    emitPackRows(d, packInto, rows, *cols, padded, label);
    packedRows.push_back({d, packInto, padded, writeStep, uint32_t(plan.steps.size() - 1)});
  }
  return success();
}

void Generator::addPitchedOutputs() {
  for (const PackedRows &p : packedRows) {
    const LogicalBuffer &out = buffers[p.packed];
    if (out.space != bundle::Space::Output)
      continue;
    bundle::PitchedOutput po;
    po.output = out.index;
    po.rowPitch = p.rowPitch;
    po.padded.index = uint32_t(p.padded);
    po.writeStep = p.writeStep;
    po.packStep = p.packStep;
    plan.pitchedOutputs.push_back(po);
  }
}

int Generator::paddedWeight(int id, int64_t rows, int64_t cols, int64_t newRows,
                            int64_t newCols, StringRef what) {
  ElementType type = buffers[id].type;
  uint32_t esize = bundle::elementSize(type);
  uint64_t from = buffers[id].offset;
  int pb = newBuffer(ArrayRef<int64_t>{newRows, newCols}, type, what);
  buffers[pb].space = bundle::Space::Weights;
  if (newCols == cols) {
    // Rows appended only: the weight itself becomes the padded one's first rows, so that other
    // readers of it (a tied embedding table) share the bytes. At the end of the section it
    // grows in place; elsewhere it moves to the end (compactWeights drops the old bytes).
    uint64_t bytes = uint64_t(rows) * cols * esize;
    if (from + bytes != plan.weights.size()) {
      size_t off = nextWeightOffset();
      plan.weights.resize(off + bytes);
      std::memcpy(plan.weights.data() + off, plan.weights.data() + from, bytes);
      buffers[id].offset = from = off;
    }
    plan.weights.resize(from + uint64_t(newRows) * newCols * esize, 0);
    buffers[pb].offset = from;
    return pb;
  }
  size_t off = nextWeightOffset();
  plan.weights.resize(off + uint64_t(newRows) * newCols * esize, 0);
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(plan.weights.data() + off + uint64_t(r) * newCols * esize,
                plan.weights.data() + from + uint64_t(r) * cols * esize, uint64_t(cols) * esize);
  buffers[pb].offset = off;
  return pb;
}

void Generator::compactWeights() {
  // Weights no step reads (a constant replaced by its padded copy, bytes a padded weight moved
  // away from) leave the section. Buffers at one offset share their bytes (a weight and its
  // row-padded form).
  std::vector<bool> used(buffers.size(), false);
  auto mark = [&](const bundle::BufferRef &r) { used[r.index] = true; };
  for (const bundle::Launch &l : plan.launches)
    for (auto *list : {&l.args, &l.specialArgs})
      for (const bundle::KernelArg &a : *list)
        if (a.refersToBuffer())
          mark(a.buffer);
  for (const bundle::Gemm &g : plan.gemms) {
    mark(g.a);
    mark(g.b);
    mark(g.c);
    mark(g.d);
    mark(g.bias);
  }
  for (const bundle::Copy &c : plan.copies) {
    mark(c.src);
    mark(c.dst);
  }
  // Live extents by offset (the widest buffer at each), and where each moves.
  struct Extent {
    uint64_t bytes = 0, packedOffset = 0;
  };
  std::map<uint64_t, Extent> extents;
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].space == bundle::Space::Weights && used[i]) {
      Extent &e = extents[buffers[i].offset.value];
      e.bytes = std::max<uint64_t>(e.bytes, buffers[i].bytes);
    }
  uint64_t packedSize = 0;
  for (auto &[offset, e] : extents) {
    e.packedOffset = llvm::alignTo(packedSize, kWeightAlign);
    packedSize = e.packedOffset + e.bytes;
  }
  if (packedSize == plan.weights.size())
    return;
  std::vector<uint8_t> packed(packedSize, 0);
  for (const auto &[offset, e] : extents)
    std::memcpy(packed.data() + e.packedOffset, plan.weights.data() + offset, e.bytes);
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].space == bundle::Space::Weights && used[i])
      buffers[i].offset = extents[buffers[i].offset.value].packedOffset;
  plan.weights = std::move(packed);
}

void Generator::emitPackRows(int src, int dst, const SymExpr &rows, int64_t cols,
                             int64_t srcStride, const std::string &label) {
  std::string name = formatv("k{0}_pack_rows", kernelCounter++).str();
  KernelBuilder kb(*this, name);
  SymExpr n = rows * SymExpr::constant(cols);
  bundle::Launch l = gridStride(*this, n, kElementwiseUnroll);
  if (std::optional<int64_t> r = rows.getConstant())
    kb.maxIndex = std::max(*r * srcStride,
                           *r * cols + int64_t(l.grid[0]) * kElementwiseBlock * kElementwiseUnroll);
  std::string in = kb.param(src, false), out = kb.param(dst, true);
  std::string t = cTypeName(buffers[dst].type);
  std::string count = kb.dim(n);
  kb.line("using namespace spdc::kernels;");
  std::string step = std::to_string(kElementwiseBlock * kElementwiseUnroll);
  kb.open(formatv("for (idx_t base = (idx_t)blockIdx.x * {0} + threadIdx.x; base < {1}; "
                  "base += (idx_t)gridDim.x * {0})",
                  step, count));
  kb.line(formatv("{0} r[{1}];", t, kElementwiseUnroll));
  for (bool store : {false, true}) {
    kb.line("#pragma unroll");
    kb.open(formatv("for (int u = 0; u < {0}; ++u)", kElementwiseUnroll));
    kb.line(formatv("const idx_t i = base + u * {0};", kElementwiseBlock));
    kb.open(formatv("if (i < {0})", count));
    if (store)
      kb.line(formatv("{0}[i] = r[u];", out));
    else
      kb.line(formatv("r[u] = {0}[(i / {1}) * {2} + i % {1}];", in, indexLiteral(cols),
                      indexLiteral(srcStride)));
    kb.close();
    kb.close();
  }
  kb.close();
  launchGenerated(kb, l, label);
}

//===--- decode attention: split KV (attention_decode.cuh) ---===//

/// qLen up to which attention runs on the split-KV decode kernels: they serve all of a GQA
/// group's query rows per block, reading K and V once per kv head, where attention_fwd_kernel's
/// 64-row query tiles would leave all but qLen rows idle and re-read K and V per query head.
constexpr int64_t kDecodeMaxQLen = 4;

/// Mirror of attention_decode.cuh's AttentionDecodeSplitConfig (this file includes no CUDA
/// header): threads per block of both kernels, key-group width, row and chunk choice. Change
/// both together.
namespace decode_launch {
constexpr int kThreads = 128;
constexpr int kCombineThreads = 128;
constexpr int kLanesPerKey = 16;
constexpr int kMaxRows = 8;
constexpr int64_t kMaxChunks = 256;
constexpr int64_t kTargetBlocks = 1024;
constexpr int64_t kMinChunkKeys = 256;
constexpr int64_t kChunkAlign = 64;

int elemsPerLane(int64_t headDim) { return (headDim + kLanesPerKey - 1) / kLanesPerKey; }
int rowsFor(int64_t rows, int64_t headDim, int64_t headDimV) {
  const int e = elemsPerLane(std::max(headDim, headDimV));
  int r = 1;
  while (r < rows && r < kMaxRows && (2 * r) * e <= 64)
    r *= 2;
  return r;
}
int64_t keysForChunks(int64_t kvLen, int64_t want) {
  want = std::min({want, (kvLen + kMinChunkKeys - 1) / kMinChunkKeys, kMaxChunks});
  want = std::max<int64_t>(want, 1);
  int64_t keys = (kvLen + want - 1) / want;
  keys = (keys + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
  return keys > 0 ? keys : kChunkAlign;
}
int64_t chunkKeysFor(int64_t kvLen, int64_t slices) {
  return keysForChunks(kvLen, (kTargetBlocks + slices - 1) / slices);
}

/// Mirror of AttentionDecodeMmaConfig: the tensor-core split kernel for f16/bf16 at head dims
/// 64 and 128 (16 query rows per block, per-warp cp.async rings in dynamic shared memory).
namespace mma {
constexpr int kThreads = 128;
constexpr int kWarps = 4;
constexpr int kRows = 16;
constexpr int kKeys = 16;
constexpr int kStages = 3;
constexpr int64_t kSms = 132;
// The kernel merges up to 8 chunks in a cluster (kMaxClusterChunks); the plan uses clusters of
// 2 only. The chunks are sized for one block per SM, and a cluster's blocks must be resident at
// once in one GPC: pairs always fit (SMs come in pairs, TPCs), but an H100's GPCs of 16 and 18
// SMs hold 32 clusters of 4, so 33 of them (132 blocks) would run in two waves, twice as long.
// Measured on the H100 (bench/notes/decode.md): 2 chunks of 4096 keys merged in clusters,
// 0.1012-0.1018 ms against 0.1025-0.1032 with the combine kernel.
constexpr int64_t kClusterMergeChunks = 2;
bool supports(int64_t headDim, int64_t headDimV) {
  return (headDim == 64 || headDim == 128) && (headDimV == 64 || headDimV == 128);
}
int64_t smemBytes(int64_t headDim, int64_t headDimV) {
  return int64_t(kWarps) * kStages * kKeys * (headDim + headDimV) * 2;
}
int64_t chunkKeysFor(int64_t kvLen, int64_t slices) {
  return keysForChunks(kvLen, kSms / slices); // one block per SM
}
} // namespace mma
} // namespace decode_launch

FailureOr<Generator::AttentionOperands>
Generator::attentionOperands(Operation *op, ElementType type, const std::string &label,
                             bool strided) {
  auto at = cast<spd::AttentionOp>(op);
  Value q = at.getQuery(), k = at.getKey(), v = at.getValue(), mask = at.getMask();
  AttentionOperands r;
  Value operands[3] = {q, k, v};
  Buf *bufs[3] = {&r.q, &r.k, &r.v};
  // Strided views read in place: a buffer of the kernel's type, the head dim contiguous, and
  // an offset only into the arena or the weights (bound inputs and outputs take none).
  std::optional<StridedView> views[3];
  if (strided)
    for (int i = 0; i < 3; ++i) {
      std::optional<StridedView> sv = stridedView(operands[i]);
      if (sv && sv->buf.type == type && sv->strides.size() == 4 &&
          sv->strides[3] == SymExpr::constant(1) &&
          (sv->offset == 0 || buffers[sv->buf.id].space == bundle::Space::Arena ||
           buffers[sv->buf.id].space == bundle::Space::Weights))
        views[i] = sv;
    }
  // The others materialized together (one kernel when their shapes agree).
  SmallVector<Value> pending;
  for (int i = 0; i < 3; ++i)
    if (!views[i] && !viewSource(operands[i]))
      pending.push_back(operands[i]);
  if (failed(materialize(pending, op, label)))
    return failure();
  for (int i = 0; i < 3; ++i) {
    if (views[i]) {
      *bufs[i] = views[i]->buf;
      r.offsets[i] = views[i]->offset;
      for (int d = 0; d < 3; ++d)
        r.strides[i][d] = views[i]->strides[d];
      continue;
    }
    FailureOr<Buf> b = bufferTyped(*this, operands[i], type, op, label);
    if (failed(b))
      return failure();
    *bufs[i] = *b;
    Dims cs = contiguousStrides(dims(operands[i]));
    for (int d = 0; d < 3 && d < int(cs.size()); ++d)
      r.strides[i][d] = cs[d];
  }
  if (mask) {
    Dims ms = dims(mask);
    if (ms.size() > 4)
      return op->emitError("spdc codegen: attention mask of rank above 4");
    FailureOr<Buf> m = bufferOf(mask, op, label);
    if (failed(m))
      return failure();
    r.mask = *m;
    r.maskType = cTypeName(m->type);
    // Element strides over [b, h, q, k]; 0 broadcasts.
    SymExpr stride = SymExpr::constant(1);
    for (int64_t i = ms.size() - 1; i >= 0; --i) {
      int64_t d = 4 - ms.size() + i;
      r.maskStrides[d] = ms[i].getConstant() == 1 ? SymExpr::constant(0) : stride;
      stride = stride * ms[i];
    }
  }
  return r;
}

/// The attention kernels' last template argument for the op's score modifier (attention.cuh's
/// Mod): empty for none, else ", spdc::kernels::SoftCap<bits>", the cap spelled exactly.
static std::string scoreModArg(spd::AttentionOp at) {
  float cap = at.getSoftcap().convertToFloat();
  if (cap == 0.0f)
    return "";
  return formatv(", spdc::kernels::SoftCap<{0:x}u>", llvm::bit_cast<uint32_t>(cap)).str();
}

FailureOr<bool> Generator::emitAttentionDecode(Operation *op, const std::string &label) {
  auto at = cast<spd::AttentionOp>(op);
  Value q = at.getQuery(), k = at.getKey(), v = at.getValue(), mask = at.getMask();
  // Dynamic shapes take the general kernel (the query length is not known to be small).
  for (Value x : {q, k, v, mask})
    if (x && !cast<RankedTensorType>(x.getType()).hasStaticShape())
      return false;
  ArrayRef<int64_t> qs = shapeOf(q), ks = shapeOf(k), vs = shapeOf(v);
  // Anything unusual is left to emitAttention, which diagnoses it.
  if (qs.size() != 4 || ks.size() != 4 || vs.size() != 4 || qs[2] > kDecodeMaxQLen ||
      qs[2] < 1 || ks[2] < 1 || ks[1] < 1 || qs[1] % ks[1] != 0 || qs[0] * ks[1] > 65535)
    return false;
  if (mask && shapeOf(mask).size() > 4)
    return false;
  FailureOr<ElementType> st = storageType(at.getResult().getType(), op);
  if (failed(st))
    return failure();
  if (!isFloatType(*st) || *st == ElementType::F64)
    return false;
  int64_t D = qs[3], DV = vs[3];
  if (D < 1 || DV < 1 || D > 256 || DV > 256)
    return false;

  FailureOr<AttentionOperands> operands = attentionOperands(op, *st, label);
  if (failed(operands))
    return failure();
  std::optional<Buf> qb = operands->q, kb = operands->k, vb = operands->v, mb = operands->mask;
  const std::string &maskType = operands->maskType;
  int64_t strides[4];
  for (int i = 0; i < 4; ++i)
    strides[i] = *operands->maskStrides[i].getConstant();

  const int64_t batch = qs[0], qHeads = qs[1], kvHeads = ks[1], qLen = qs[2], kvLen = ks[2];
  const int64_t groupRows = qHeads / kvHeads * qLen;
  // f16/bf16 at head dims 64 and 128 run on tensor cores; the rest on the CUDA-core kernel.
  const bool useMma = (*st == ElementType::F16 || *st == ElementType::BF16) &&
                      decode_launch::mma::supports(D, DV);
  const int rows = useMma ? decode_launch::mma::kRows : decode_launch::rowsFor(groupRows, D, DV);
  const int64_t rowTiles = (groupRows + rows - 1) / rows;
  const int64_t slices = batch * kvHeads * rowTiles;
  const int64_t chunkKeys = useMma ? decode_launch::mma::chunkKeysFor(kvLen, slices)
                                   : decode_launch::chunkKeysFor(kvLen, slices);
  const int64_t chunks = (kvLen + chunkKeys - 1) / chunkKeys;
  const int64_t outRows = batch * qHeads * qLen;

  int out = newBuffer(at.getResult(), *st, "attention " + label);
  valueBufs[at.getResult()] = {out, *st};
  int oPart = -1, lse = -1;
  if (chunks > 1) {
    oPart = newBuffer({chunks, outRows, DV}, ElementType::F32, "attention partials " + label);
    lse = newBuffer({chunks, outRows}, ElementType::F32, "attention log-sum-exp " + label);
  }
  std::string t = cTypeName(*st);
  // A score modifier comes last, after the defaulted template arguments spelled out.
  const std::string mod = scoreModArg(at);
  auto mmaTail = [&](bool cluster) -> std::string {
    if (mod.empty())
      return cluster ? ", true" : "";
    return formatv(", {0}, spdc::kernels::AttentionDecodeMmaConfig::kStages, "
                   "spdc::kernels::AttentionDecodeMmaConfig::kL2Prefetch, "
                   "spdc::kernels::AttentionDecodeMmaConfig::kCoalesced, false, "
                   "spdc::kernels::AttentionDecodeMmaConfig::kEvictFirst{1}",
                   cluster ? "true" : "false", mod)
        .str();
  };
  std::string name =
      useMma ? formatv("spdc::kernels::attention_decode_mma_kernel<{0}, {1}, {2}, {3}{4}>", t,
                       maskType, D, DV, mmaTail(false))
                   .str()
             : formatv("spdc::kernels::attention_decode_split_kernel<{0}, {1}, {2}, {3}, {4}{5}>",
                       t, maskType, D, DV, rows, mod.empty() ? "" : ", 0, true" + mod)
                   .str();
  std::string params =
      formatv("const {0} *, const {0} *, const {0} *, const {1} *, {0} *, float *, float *, int, "
              "int, int, long long, long long, long long, float, bool, long long, long long, "
              "long long, long long",
              t, maskType)
          .str();
  uint32_t kid = addTemplateKernel(name, params, "attention_decode.cuh");
  bundle::Launch l;
  l.grid[0] = chunks;
  l.grid[1] = batch * kvHeads;
  l.grid[2] = rowTiles;
  l.block[0] = useMma ? decode_launch::mma::kThreads : decode_launch::kThreads;
  if (useMma)
    l.sharedBytes = uint32_t(decode_launch::mma::smemBytes(D, DV));
  l.args = {bufferArg(qb->id), bufferArg(kb->id), bufferArg(vb->id),
            mb ? bufferArg(mb->id) : i64Arg(0), bufferArg(out),
            oPart >= 0 ? bufferArg(oPart) : i64Arg(0), lse >= 0 ? bufferArg(lse) : i64Arg(0),
            i64Arg(batch), i64Arg(qHeads), i64Arg(kvHeads), i64Arg(qLen), i64Arg(kvLen),
            i64Arg(chunkKeys), f32Arg(at.getScale().convertToFloat()),
            i64Arg(at.getCausal() ? 1 : 0), i64Arg(strides[0]), i64Arg(strides[1]),
            i64Arg(strides[2]), i64Arg(strides[3])};
  SmallVector<int> ids = {qb->id, kb->id, vb->id, out};
  if (mb)
    ids.push_back(mb->id);
  if (chunks > 1) {
    ids.push_back(oPart);
    ids.push_back(lse);
  }
  // On sm_90 two chunks of each (batch * kv head, row tile) merge in a thread block cluster:
  // the special kernel writes the output and replaces the combine kernel, the launch added next.
  if (useMma && chunks == decode_launch::mma::kClusterMergeChunks) {
    l.specialTarget = "sm_90a";
    l.specialKernel = addTemplateKernel(
        formatv("spdc::kernels::attention_decode_mma_kernel<{0}, {1}, {2}, {3}{4}>", t,
                maskType, D, DV, mmaTail(true))
            .str(),
        params, "attention_decode.cuh");
    l.specialSharedBytes = l.sharedBytes;
    l.specialCluster = uint32_t(chunks);
    l.specialReplaces = uint32_t(plan.launches.size() + 1);
  }
  addLaunch(kid, l, label, ids);
  if (chunks == 1)
    return true;

  std::string cname = formatv("spdc::kernels::attention_decode_combine_kernel<{0}>", t).str();
  uint32_t cid = addTemplateKernel(
      cname, formatv("const float *, const float *, {0} *, long long, int, int", t),
      "attention_decode.cuh");
  bundle::Launch c;
  c.grid[0] = std::min<int64_t>(outRows, 65535);
  c.block[0] = decode_launch::kCombineThreads;
  c.args = {bufferArg(oPart), bufferArg(lse), bufferArg(out), i64Arg(outRows), i64Arg(chunks),
            i64Arg(DV)};
  addLaunch(cid, c, label, {oPart, lse, out});
  return true;
}

LogicalResult Generator::emitAttention(Operation *op, const std::string &label) {
  auto at = cast<spd::AttentionOp>(op);
  // A few query rows: the split-KV decode kernels.
  FailureOr<bool> decoded = emitAttentionDecode(op, label);
  if (failed(decoded) || *decoded)
    return success(succeeded(decoded));
  Value q = at.getQuery(), k = at.getKey(), v = at.getValue();
  Dims qs = dims(q), ks = dims(k), vs = dims(v);
  if (qs.size() != 4 || ks.size() != 4 || vs.size() != 4)
    return op->emitError("spdc codegen: attention operands must be 4-D");
  FailureOr<ElementType> st = storageType(at.getResult().getType(), op);
  if (failed(st))
    return failure();
  if (!isFloatType(*st) || *st == ElementType::F64)
    return op->emitError("spdc codegen: attention needs f32, f16 or bf16");
  if (!qs[1].getConstant() || !ks[1].getConstant() || !qs[3].getConstant() ||
      !vs[3].getConstant())
    return op->emitError("spdc codegen: attention with a dynamic number of heads or head "
                         "dimension is not supported; give static shapes with --input-shape");
  int64_t D = *qs[3].getConstant(), DV = *vs[3].getConstant();
  if (D > 256 || DV > 256)
    return op->emitError("spdc codegen: attention head dims above 256 are not supported");
  FailureOr<AttentionOperands> operands =
      attentionOperands(op, *st, label, options.attentionInPlace);
  if (failed(operands))
    return failure();
  std::optional<Buf> qb = operands->q, kb = operands->k, vb = operands->v, mb = operands->mask;
  const std::string &maskType = operands->maskType;
  const SymExpr *strides = operands->maskStrides;

  // The output as [batch, len, heads, dim] when its only reader is the transpose back to that
  // layout (before the heads are merged for the output projection): the kernel writes it
  // there, and the transpose becomes a view.
  Value result = at.getResult();
  auto transposed = options.attentionInPlace && result.hasOneUse()
                        ? dyn_cast<spd::TransposeOp>(*result.getUsers().begin())
                        : spd::TransposeOp();
  FailureOr<ElementType> transposedType =
      transposed ? storageType(transposed.getType(), op) : FailureOr<ElementType>(failure());
  const bool outInPlace = transposed &&
                          transposed.getPerm() == ArrayRef<int64_t>{0, 2, 1, 3} &&
                          !graphOutputs.contains(transposed.getResult()) &&
                          succeeded(transposedType) && *transposedType == *st;
  Value stored = outInPlace ? transposed.getResult() : result;
  int out = newBuffer(stored, *st, "attention " + label);
  valueBufs[stored] = {out, *st};
  // Strides over (batch, head, row): [b, s, h, d] in place swaps the row and head strides.
  Dims cs = contiguousStrides(dims(stored));
  SymExpr outStrides[3] = {cs[0], outInPlace ? cs[2] : cs[1], outInPlace ? cs[1] : cs[2]};
  // The template's launch contract, mirrored from attention.cuh (AttentionConfig,
  // AttentionFwdConfig, AttentionWsConfig): query rows, threads and dynamic shared memory per
  // block of its paths.
  bool tensorCores = *st == ElementType::F16 || *st == ElementType::BF16;
  bool fast = tensorCores && D % 64 == 0 && DV % 64 == 0 && D <= 128 && DV <= 128;
  bool ws = fast && options.attentionWarpSpecialized;
  bool mma = !fast && tensorCores && D % 16 == 0 && DV % 16 == 0 && D <= 128 && DV <= 128;
  int blockM = fast ? 128 : mma ? 64 : ((D <= 128 && DV <= 128) ? 16 : 8);
  // Keys per tile: 128 at head dims 64; at 128, 64 everywhere (99 KiB of shared memory) and
  // 128 on sm_90a (161 KiB; wgmma leaves the registers for it), a specialization of the launch.
  int64_t blockN = (D <= 64 && DV <= 64) ? 128 : 64;
  std::string t = cTypeName(*st);
  // Without a mask the warp-specialized kernel is instantiated for NoMask: it then holds no mask
  // loads at all (a third less code, and NVRTC time, than a null float mask).
  const std::string kernelMask =
      ws && !operands->mask ? std::string("spdc::kernels::NoMask") : maskType;
  // Soft-capping is the kernels' last template argument, the cap spelled by its bits.
  const std::string mod = scoreModArg(at);
  std::string signature =
      formatv("const {0} *, const {0} *, const {0} *, const {1} *, {0} *, int, int, int, "
              "long long, long long, float, bool, long long, long long, long long, long long, "
              "long long, long long, long long, long long, long long, long long, long long, "
              "long long, long long, long long, long long, long long",
              t, kernelMask)
          .str();
  auto wsKernel = [&](int64_t keys, bool tensorCopies = false) {
    return addTemplateKernel(
        formatv("spdc::kernels::attention_fwd_ws{5}_kernel<{0}, {1}, {2}, {3}, {4}{6}>", t,
                kernelMask, D, DV, keys, tensorCopies ? "_tma" : "", mod)
            .str(),
        tensorCopies ? signature + ", const __grid_constant__ spdc::kernels::TmaDescriptor, "
                                   "const __grid_constant__ spdc::kernels::TmaDescriptor, "
                                   "const __grid_constant__ spdc::kernels::TmaDescriptor"
                     : signature,
        "attention.cuh");
  };
  // A producer and two consumer warpgroups; two stages of K and V tiles and the Q tile (2-byte
  // elements), plus 1 KiB to align the swizzled tiles; and the output tile where it fits 98 KiB
  // or the tiles are wide at head dim 128 (AttentionWsConfig::kStageO).
  auto wsSharedBytes = [&](int64_t keys) {
    int64_t bytes = 2 * keys * (D + DV) * 2 + 128 * D * 2 + 1024, out = 128 * DV * 2;
    bool stageOut = (D > 64 && keys == 128) || bytes + out <= 98 * 1024;
    return uint32_t(bytes + (stageOut ? out : 0));
  };
  // The tensor-copy kernel's maps over Q, K and V: (head dim, rows, heads, batch) with the
  // operands' strides, boxes of 64 columns (128 bytes, the swizzle) by the kernel's 128 query or
  // key rows (AttentionWsConfig). The driver takes addresses and strides of 16-byte multiples
  // only: operands known to break that keep the cp.async kernel (for the rest the runtime falls
  // back to the portable kernel where a bound address does).
  const int64_t elemBytes = bundle::elementSize(*st);
  auto operandArg = [&](const Buf &b, int i) {
    bundle::KernelArg a = bufferArg(b.id);
    a.buffer.offset = operands->offsets[i] * elemBytes;
    return a;
  };
  auto bytesOf16 = [&](const SymExpr &e) {
    for (const auto &term : e.getTerms())
      if (term.second * elemBytes % 16 != 0)
        return false;
    return true;
  };
  std::vector<bundle::KernelArg> maps;
  // Tensor copies are asked for and the operands can be mapped.
  bool mappable = ws && options.attentionTensorCopies;
  const Dims *shapes[3] = {&qs, &ks, &vs};
  const Buf *bufs[3] = {&*qb, &*kb, &*vb};
  for (int i = 0; i < 3 && mappable; ++i) {
    bundle::KernelArg a = operandArg(*bufs[i], i);
    a.kind = bundle::KernelArg::Kind::TensorMap;
    mappable = operands->offsets[i] * elemBytes % 16 == 0;
    bundle::TensorMap &m = a.map;
    m.type = *st;
    m.rank = 4;
    const Dims &sh = *shapes[i];
    // Rows, heads, batch: the operand's (batch, head, row) reversed. A dimension of one index
    // takes a dense stride instead of its own (any will do, but the driver wants 16-byte
    // multiples).
    SymExpr dense = sh[3] * SymExpr::constant(elemBytes);
    m.dims[0] = planInt(sh[3]);
    for (int d = 0; d < 3; ++d) {
      const SymExpr &extent = sh[2 - d];
      SymExpr stride = extent.getConstant() == std::optional<int64_t>(1)
                           ? dense
                           : operands->strides[i][2 - d] * SymExpr::constant(elemBytes);
      mappable = mappable && bytesOf16(stride);
      m.dims[d + 1] = planInt(extent);
      m.strides[d] = planInt(stride);
      dense = stride * extent;
    }
    m.box[0] = 64;
    m.box[1] = 128;
    m.swizzle = 128;
    maps.push_back(a);
  }
  bundle::Launch l;
  if (ws) {
    // Persistent: one block per SM walks the (query tile, head) pairs, loading the next pair's
    // tiles while it finishes one.
    if (options.attentionPersistent)
      l.blocksPerSM = 1;
    l.kernel = wsKernel(blockN);
    l.sharedBytes = wsSharedBytes(blockN);
    // On sm_90a: the tensor-copy kernel (128-key tiles at both head dims), or at head dim 128
    // the cp.async kernel with 128-key tiles.
    const bool tensorCopies = mappable && (blockN == 128 || options.attentionWideKeyTiles);
    if (tensorCopies || (blockN < 128 && options.attentionWideKeyTiles)) {
      l.specialTarget = "sm_90a";
      l.specialKernel = wsKernel(128, tensorCopies);
      l.specialSharedBytes = wsSharedBytes(128);
    }
    if (tensorCopies)
      l.specialArgs = std::move(maps);
  } else {
    l.kernel = addTemplateKernel(
        formatv("spdc::kernels::attention_fwd_kernel<{0}, {1}, {2}, {3}{4}>", t, maskType, D, DV,
                mod)
            .str(),
        signature, "attention.cuh");
    // 8 warps; three stages of K and V tiles, plus 1 KiB to align the swizzled tiles.
    if (fast)
      l.sharedBytes = uint32_t(3 * blockN * (D + DV) * 2 + 1024);
  }
  l.grid[0] = clampedCeilDiv(*this, qs[2], blockM, 0, INT64_MAX);
  l.grid[1] = planInt(qs[0] * qs[1]);
  l.block[0] = ws ? 384 : fast ? 256 : 128;
  auto arg = [&](const SymExpr &e) { return i64Arg(planInt(e)); };
  l.args = {operandArg(*qb, 0), operandArg(*kb, 1), operandArg(*vb, 2),
            mb ? bufferArg(mb->id) : i64Arg(0), bufferArg(out),
            arg(qs[0]), arg(qs[1]), arg(ks[1]), arg(qs[2]), arg(ks[2]),
            f32Arg(at.getScale().convertToFloat()), i64Arg(at.getCausal() ? 1 : 0),
            arg(strides[0]), arg(strides[1]), arg(strides[2]), arg(strides[3])};
  for (int i = 0; i < 3; ++i)
    for (int d = 0; d < 3; ++d)
      l.args.push_back(arg(operands->strides[i][d]));
  for (int d = 0; d < 3; ++d)
    l.args.push_back(arg(outStrides[d]));
  SmallVector<int> ids = {qb->id, kb->id, vb->id, out};
  if (mb)
    ids.push_back(mb->id);
  addLaunch(l.kernel, l, label, ids);
  return success();
}

LogicalResult Generator::emitNorm(Operation *op, const std::string &label) {
  Value x = op->getOperand(0), result = op->getResult(0);
  Dims xsDims = dims(x);
  int64_t axis = op->getAttrOfType<IntegerAttr>("axis").getInt();
  if (axis < 0)
    axis += xsDims.size();
  SymExpr rows = product(ArrayRef<SymExpr>(xsDims).take_front(axis));
  std::optional<int64_t> normCols = product(ArrayRef<SymExpr>(xsDims).drop_front(axis)).getConstant();
  if (!normCols)
    return op->emitError("spdc codegen: a norm over dynamic dimensions is not supported; give "
                         "static shapes with --input-shape");
  int64_t cols = *normCols;
  SmallVector<int64_t> xs;
  for (const SymExpr &d : ArrayRef<SymExpr>(xsDims).drop_front(axis))
    xs.push_back(*d.getConstant());
  axis = 0; // xs holds the normalized dims only
  float eps = op->getAttrOfType<FloatAttr>("epsilon").getValueAsDouble();
  Value scale, bias;
  bool layer = false;
  if (auto ln = dyn_cast<spd::LayerNormOp>(op)) {
    scale = ln.getScale();
    bias = ln.getBias();
    layer = true;
  } else {
    scale = cast<spd::RmsNormOp>(op).getScale();
  }
  FailureOr<ElementType> st = storageType(result.getType(), op);
  if (failed(st) || !isFloatType(*st))
    return op->emitError("spdc codegen: norms need a float type");
  FailureOr<Buf> xb = bufferOf(x, op, label);
  if (failed(xb))
    return failure();
  // scale / bias: `cols` contiguous elements, expanded when they broadcast over fewer dims.
  auto param = [&](Value p) -> FailureOr<Buf> {
    if (failed(requireStatic(op, p, "a norm's broadcast scale or bias")))
      return failure();
    if (numElements(shapeOf(p)) == cols)
      return bufferOf(p, op, label);
    int id = newBuffer(ArrayRef<int64_t>(xs), *st, "expanded " + label);
    // Read p broadcast to the normalized dims: an expand expression over a fresh view.
    KernelBuilder kb(*this, formatv("k{0}_expand", kernelCounter++).str());
    kb.line("using namespace spdc::kernels;");
    ArrayRef<int64_t> ns = xs;
    kb.open(formatv("for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < {0}LL; "
                    "i += (long long)gridDim.x * blockDim.x)",
                    cols));
    SmallVector<std::string> idx = kb.unravel("i", ns);
    ArrayRef<int64_t> ps = shapeOf(p);
    SmallVector<std::string> pi;
    for (size_t i = 0; i < ps.size(); ++i) {
      size_t o = ns.size() - ps.size() + i;
      pi.push_back(ps[i] == 1 && ns[o] != 1 ? "0" : idx[o]);
    }
    ExprEmitter ee(*this, kb);
    FailureOr<std::string> e = ee.at(p, pi);
    if (failed(e))
      return failure();
    kb.line(formatv("{0}[i] = convert<{1}>({2});", kb.param(id, true), cTypeName(*st), *e));
    kb.close();
    launchGenerated(kb, gridStride(*this, SymExpr::constant(cols)), label);
    return Buf{id, *st};
  };
  std::optional<Buf> sb, bb;
  if (scale) {
    FailureOr<Buf> s = param(scale);
    if (failed(s))
      return failure();
    sb = *s;
  }
  if (bias) {
    FailureOr<Buf> b = bufferTyped(*this, bias, sb ? sb->type : *st, op, label);
    if (product(dims(bias)).getConstant() != cols)
      b = param(bias);
    if (failed(b))
      return failure();
    if (sb && b->type != sb->type)
      return op->emitError("spdc codegen: layer_norm scale and bias of different types");
    bb = *b;
  }
  int out = newBuffer(result, *st, (layer ? "layer_norm " : "rms_norm ") + label);
  valueBufs[result] = {out, *st};
  std::string tscale = sb ? cTypeName(sb->type) : cTypeName(*st);
  // Rows of 16-byte pieces are held in registers, kRowPieces (or more, for rows wider than
  // 1024 threads hold) per thread: the *_regs_kernel templates.
  const int64_t vecElems = 16 / bundle::elementSize(xb->type);
  const int64_t pieces = cols / vecElems;
  int64_t packs = kRowPieces;
  while (packs * 1024 < pieces)
    packs *= 2;
  const bool inPieces = vecElems > 1 && cols % vecElems == 0 && packs <= 8;
  std::string kernel = layer ? "layer_norm_kernel" : "rms_norm_kernel";
  std::string tail;
  if (inPieces) {
    kernel = layer ? "layer_norm_regs_kernel" : "rms_norm_regs_kernel";
    tail = formatv(", {0}", packs).str();
  }
  std::string name = formatv("spdc::kernels::{0}<{1}, {2}, {3}{4}>", kernel, cTypeName(xb->type),
                             tscale, cTypeName(*st), tail)
                         .str();
  std::string tin = cTypeName(xb->type), tout = cTypeName(*st);
  uint32_t kid = addTemplateKernel(
      name,
      layer ? formatv("const {0} *, const {1} *, const {1} *, {2} *, long long, long long, float",
                      tin, tscale, tout)
                  .str()
            : formatv("const {0} *, const {1} *, {2} *, long long, long long, float", tin, tscale,
                      tout)
                  .str(),
      "norm.cuh");
  bundle::Launch l = rowLaunch(*this, rows, cols);
  if (inPieces)
    l.block[0] = pieceRowBlock(pieces, packs);
  l.args.push_back(bufferArg(xb->id));
  l.args.push_back(sb ? bufferArg(sb->id) : i64Arg(0));
  if (layer)
    l.args.push_back(bb ? bufferArg(bb->id) : i64Arg(0));
  l.args.push_back(bufferArg(out));
  l.args.push_back(i64Arg(planInt(rows)));
  l.args.push_back(i64Arg(cols));
  l.args.push_back(f32Arg(eps));
  SmallVector<int> ids = {xb->id, out};
  if (sb)
    ids.push_back(sb->id);
  if (bb)
    ids.push_back(bb->id);
  addLaunch(kid, l, label, ids);
  return success();
}

LogicalResult Generator::emitSoftmax(Operation *op, const std::string &label) {
  Value x = op->getOperand(0), result = op->getResult(0);
  Dims xs = dims(x);
  int64_t axis = op->getAttrOfType<IntegerAttr>("axis").getInt();
  if (axis < 0)
    axis += xs.size();
  if (!xs.empty() && !xs[axis].getConstant())
    return op->emitError("spdc codegen: softmax over a dynamic dimension is not supported; give "
                         "static shapes with --input-shape");
  bool log = isa<spd::LogSoftmaxOp>(op);
  FailureOr<ElementType> st = storageType(result.getType(), op);
  if (failed(st) || !isFloatType(*st))
    return op->emitError("spdc codegen: softmax needs a float type");
  FailureOr<Buf> xb = bufferOf(x, op, label);
  if (failed(xb))
    return failure();
  int out = newBuffer(result, *st, "softmax " + label);
  valueBufs[result] = {out, *st};
  SymExpr outer = product(ArrayRef<SymExpr>(xs).take_front(axis)),
          inner = product(ArrayRef<SymExpr>(xs).drop_front(axis + 1));
  int64_t cols = xs.empty() ? 1 : *xs[axis].getConstant();
  bundle::Launch l;
  std::string name, params;
  std::string tin = cTypeName(xb->type), tout = cTypeName(*st);
  if (inner.getConstant() == 1) {
    params = formatv("const {0} *, {1} *, long long, long long", tin, tout);
    name = formatv("spdc::kernels::{0}<{1}, {2}>", log ? "log_softmax_kernel" : "softmax_kernel",
                   cTypeName(xb->type), cTypeName(*st));
    l = rowLaunch(*this, outer, cols);
    l.args = {bufferArg(xb->id), bufferArg(out), i64Arg(planInt(outer)), i64Arg(cols)};
  } else {
    params = formatv("const {0} *, {1} *, long long, long long, long long, bool", tin, tout);
    name = formatv("spdc::kernels::softmax_strided_kernel<{0}, {1}>", cTypeName(xb->type),
                   cTypeName(*st));
    l = rowLaunch(*this, outer * inner, cols);
    l.args = {bufferArg(xb->id), bufferArg(out), i64Arg(planInt(outer)), i64Arg(cols),
              i64Arg(planInt(inner)), i64Arg(log ? 1 : 0)};
  }
  uint32_t kid = addTemplateKernel(name, params, "softmax.cuh");
  addLaunch(kid, l, label, {xb->id, out});
  return success();
}

LogicalResult Generator::emitTopK(Operation *op, const std::string &label) {
  auto tk = cast<spd::TopKOp>(op);
  Value x = tk.getInput();
  if (failed(requireStatic(op, op->getOperands(), "top_k")))
    return failure();
  ArrayRef<int64_t> xs = shapeOf(x);
  int64_t axis = tk.getAxis();
  if (axis < 0)
    axis += xs.size();
  FailureOr<SmallVector<int64_t>> kv = constantInts(tk.getK());
  if (failed(kv) || kv->size() != 1)
    return op->emitError("spdc codegen: top_k needs a constant k");
  FailureOr<Buf> xb = bufferOf(x, op, label);
  if (failed(xb))
    return failure();
  FailureOr<ElementType> vt = storageType(tk.getValues().getType(), op);
  if (failed(vt))
    return failure();
  if (*vt != xb->type)
    return op->emitError("spdc codegen: top_k values of another type than the input");
  int vals = newBuffer(tk.getValues(), *vt, "top_k values " + label);
  int inds = newBuffer(tk.getIndices(), ElementType::I64, "top_k indices " + label);
  valueBufs[tk.getValues()] = {vals, *vt};
  valueBufs[tk.getIndices()] = {inds, ElementType::I64};
  int64_t outer = numElements(xs.take_front(axis)), n = xs[axis],
          inner = numElements(xs.drop_front(axis + 1));
  std::string name = formatv("spdc::kernels::topk_kernel<{0}, long long>", cTypeName(xb->type));
  uint32_t kid = addTemplateKernel(
      name,
      formatv("const {0} *, {0} *, long long *, long long, long long, long long, int, bool",
              cTypeName(xb->type)),
      "reduce.cuh");
  bundle::Launch l;
  l.grid[0] = std::max<int64_t>(1, std::min<int64_t>(outer * inner, 65535));
  l.block[0] = 256;
  l.args = {bufferArg(xb->id), bufferArg(vals), bufferArg(inds), i64Arg(outer), i64Arg(n),
            i64Arg(inner), i64Arg((*kv)[0]), i64Arg(tk.getLargest() ? 1 : 0)};
  addLaunch(kid, l, label, {xb->id, vals, inds});
  return success();
}

LogicalResult Generator::emitScatterND(Operation *op, const std::string &label) {
  auto sc = cast<spd::ScatterNDOp>(op);
  Value data = sc.getData(), indices = sc.getIndices(), updates = sc.getUpdates();
  if (failed(requireStatic(op, op->getOperands(), "scatter_nd")))
    return failure();
  FailureOr<ElementType> st = storageType(sc.getResult().getType(), op);
  if (failed(st))
    return failure();
  int out = newBuffer(sc.getResult(), *st, "scatter_nd " + label);
  // Copy of data, then one thread per update slice element (serialized per element for
  // reductions through a single thread walking all updates: exact ONNX order).
  if (failed(emitElementwise({{resolve(data), out}}, op, label)))
    return failure();
  valueBufs[sc.getResult()] = {out, *st};
  FailureOr<Buf> ib = bufferOf(indices, op, label);
  FailureOr<Buf> ub = failed(ib) ? FailureOr<Buf>(failure()) : bufferOf(updates, op, label);
  if (failed(ub))
    return failure();
  ArrayRef<int64_t> ds = shapeOf(data), is = shapeOf(indices);
  int64_t q = is.back(), nIdx = numElements(is.drop_back());
  int64_t slice = numElements(ds.drop_front(q));
  std::string name = formatv("k{0}_scatter_nd", kernelCounter++).str();
  std::string ct = computeTypeName(*st);
  StringRef red = sc.getReduction();
  std::string combine = red == "add"   ? "o + u"
                        : red == "mul" ? "o * u"
                        : red == "max" ? "spdc_max(o, u)"
                        : red == "min" ? "spdc_min(o, u)"
                                       : "u";
  std::string src = formatv(
      "extern \"C\" __global__ void {0}({1} *out, const {2} *__restrict__ idx, const {3} "
      "*__restrict__ upd) {{\n"
      "  using namespace spdc::kernels;\n"
      "  gridDependencySync();\n"
      "  // One thread per element of a slice; it applies every update in order.\n"
      "  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < {4}LL; e += "
      "(long long)gridDim.x * blockDim.x) {{\n"
      "    for (long long n = 0; n < {5}LL; ++n) {{\n"
      "      long long off = 0;\n",
      name, cTypeName(*st), cTypeName(ib->type), cTypeName(ub->type), slice, nIdx);
  int64_t stride = slice;
  SmallVector<int64_t> strides(q);
  for (int64_t t = q - 1; t >= 0; --t) {
    strides[t] = stride;
    stride *= ds[t];
  }
  for (int64_t t = 0; t < q; ++t)
    src += formatv("      off += spdc_index((long long)idx[n * {0}LL + {1}], {2}LL) * {3}LL;\n", q, t,
                   ds[t], strides[t]);
  src += formatv("      const {0} o = convert<{0}>(out[off + e]);\n"
                 "      const {0} u = convert<{0}>(upd[n * {1}LL + e]);\n"
                 "      out[off + e] = convert<{2}>({3});\n"
                 "    }\n  }\n}\n",
                 ct, slice, cTypeName(*st), combine);
  uint32_t kid = addKernel(name, src);
  bundle::Launch l = gridStride(*this, SymExpr::constant(slice));
  l.args = {bufferArg(out), bufferArg(ib->id), bufferArg(ub->id)};
  addLaunch(kid, l, label, {out, ib->id, ub->id});
  return success();
}

//===----------------------------------------------------------------------===//
// Row kernels of reduction regions
//===----------------------------------------------------------------------===//

FailureOr<bool> Generator::emitRowFused(ArrayRef<Operation *> ops, ArrayRef<Value> outputs,
                                        Operation *anchor, const std::string &label) {
  Operation *red = nullptr;
  for (Operation *op : ops) {
    if (isa<spd::LayerNormOp, spd::RmsNormOp, spd::SoftmaxOp, spd::LogSoftmaxOp>(op)) {
      if (red)
        return false;
      red = op;
    } else if (isa<spd::MatMulOp, spd::AttentionOp, spd::TopKOp, spd::ScatterNDOp>(op)) {
      return false;
    }
  }
  if (!red)
    return false;
  Value x = red->getOperand(0), result = red->getResult(0);
  Dims xs = dims(x);
  if (xs.empty())
    return false;
  int64_t axis = red->getAttrOfType<IntegerAttr>("axis").getInt();
  if (axis < 0)
    axis += xs.size();
  bool softmax = isa<spd::SoftmaxOp, spd::LogSoftmaxOp>(red);
  if (softmax && axis != (int64_t)xs.size() - 1)
    return false;
  SymExpr rows = product(ArrayRef<SymExpr>(xs).take_front(axis));
  std::optional<int64_t> rowCols = product(ArrayRef<SymExpr>(xs).drop_front(axis)).getConstant();
  if (!rowCols)
    return false;
  int64_t cols = *rowCols;
  FailureOr<ElementType> xt = elementTypeOf(cast<RankedTensorType>(x.getType()).getElementType());
  if (failed(xt) || !isFloatType(*xt) || *xt == ElementType::F64)
    return false;
  // Every output is the row's elements in some shape (the norm's, or a view of it).
  SmallVector<std::pair<Value, int>> targets;
  for (Value v : outputs) {
    v = resolve(v);
    if (product(dims(v)) != rows * SymExpr::constant(cols))
      return false;
  }
  DenseSet<Value> seen;
  for (Value v : outputs) {
    v = resolve(v);
    if (!seen.insert(v).second || lookup(v).id >= 0)
      continue;
    FailureOr<ElementType> st =
        graphOutputs.contains(v)
            ? elementTypeOf(cast<RankedTensorType>(v.getType()).getElementType())
            : storageType(v.getType(), v.getDefiningOp());
    if (failed(st))
      return failure();
    targets.push_back({v, newBuffer(v, *st, "value of " + label)});
  }
  if (targets.empty())
    return true;

  std::string name = formatv("k{0}_{1}", kernelCounter++, kernelPrefix).str();
  KernelBuilder kb(*this, name);
  ExprEmitter ee(*this, kb);
  // Rows over the last axis whose length a 16-byte piece of the narrowest output divides are
  // walked in pieces: each thread owns `lanes` consecutive columns per slot, so that loads
  // along the row (x, scale, bias, a residual) are hoisted as vector loads and the outputs
  // stored as vectors (KernelBuilder::lanes), 16 bytes per access instead of 2.
  int64_t lanes = 1;
  if (axis == (int64_t)xs.size() - 1)
    if (int64_t n = pieceLanes(*this, targets, cols))
      lanes = n;
  // Short rows: one per warp; others: one per block, of kRowPieces pieces per thread when the
  // row is walked in pieces (a 2048-wide bf16 norm on the H100: 5.9 us with 128 threads of two
  // pieces, 7.8 us with 256 of one, 5.3 us for a copy of the same bytes; bench/kernels/
  // norm_profile.cu).
  const bool warpRows = cols <= kWarpRowMaxCols;
  bundle::Launch l;
  if (warpRows) {
    l.grid[0] = clampedCeilDiv(*this, rows, kRowBlock / 32, 1, kMaxGridStrideBlocks);
    l.block[0] = kRowBlock;
  } else {
    l = rowLaunch(*this, rows, cols);
    if (lanes > 1)
      l.block[0] = pieceRowBlock(cols / lanes);
  }
  int64_t threads = warpRows ? 32 : l.block[0];
  const bool vector = lanes > 1;
  // Rows of at most kMaxRowSlots columns per thread stay in registers after the first pass: the
  // statistics and the outputs read no memory again (the producers run once per element).
  int64_t slots = (cols + threads * lanes - 1) / (threads * lanes);
  bool cached = warpRows || slots * lanes <= kMaxRowSlots;
  const std::string reduce = warpRows ? "warpReduce" : "blockReduce";
  const std::string column = warpRows ? "(threadIdx.x & 31)" : "threadIdx.x";
  kb.line("using namespace spdc::kernels;");
  std::optional<int64_t> staticRows = rows.getConstant();
  kb.open((warpRows ? "forEachWarpRow(" : "forEachRow(") +
          (staticRows ? std::to_string(*staticRows) + "LL" : "(long long)" + kb.dim(rows)) +
          ", [&](index_t r)");
  if (cached)
    kb.line(formatv("float xs[{0}];", slots * lanes));
  // The row's multi-index: the outer dims from r, the column last (vector rows only).
  SmallVector<std::string> rowIdx;
  if (vector) {
    kb.outerNames.insert("r");
    rowIdx = kb.unravel("r", ArrayRef<SymExpr>(xs).drop_back());
    for (const std::string &i : rowIdx)
      kb.outerNames.insert(i);
    kb.outerNames.insert("c0");
    rowIdx.push_back("(c0 + k)");
  }
  const std::string col = vector ? "(c0 + k)" : "c";
  const std::string slot = vector ? formatv("j * {0} + k", lanes).str() : "k";
  std::string lin = "(idx_t)r * " + indexLiteral(cols) + " + " + col;
  // The columns this thread owns (xs[slot] when cached). Vector rows: slot j's piece starts at
  // column c0; the lane loop over k opens last, after the point where its loads are hoisted.
  auto openColumns = [&] {
    if (vector) {
      if (cached) {
        kb.line("#pragma unroll");
        kb.open(formatv("for (int j = 0; j < {0}; ++j)", slots));
        kb.line(formatv("const idx_t c0 = ({0} + j * {1}) * {2};", column, threads, lanes));
        kb.open(formatv("if (c0 < {0})", indexLiteral(cols)));
      } else {
        kb.open(formatv("for (idx_t c0 = {0} * {1}; c0 < {2}; c0 += {3})", column, lanes,
                        indexLiteral(cols), threads * lanes));
      }
      kb.lanes = lanes;
      kb.preloadAt = kb.body.size();
      kb.preloadDepth = kb.depth;
      kb.preloaded.clear(); // the vectors of an earlier pass are out of scope
      kb.line("#pragma unroll");
      kb.open(formatv("for (int k = 0; k < {0}; ++k)", lanes));
    } else if (cached) {
      kb.line("#pragma unroll");
      kb.open(formatv("for (int k = 0; k < {0}; ++k)", slots));
      kb.line(formatv("const idx_t c = {0} + k * {1};", column, threads));
      kb.open(formatv("if (c < {0})", indexLiteral(cols)));
    } else {
      kb.open(formatv("for (idx_t c = {0}; c < {1}; c += {2})", column, indexLiteral(cols),
                      threads));
    }
  };
  // `afterLanes` runs after the lane loop of a vector row's piece, still inside the piece.
  auto closeColumns = [&](llvm::function_ref<void()> afterLanes = {}) {
    kb.close();
    if (vector) {
      kb.lanes = 0;
      if (afterLanes)
        afterLanes();
      kb.close();
    }
    if (cached)
      kb.close();
  };
  auto indexOf = [&](ArrayRef<SymExpr> shape) -> SmallVector<std::string> {
    if (vector && shape == ArrayRef<SymExpr>(xs))
      return rowIdx;
    if (vector)
      if (std::optional<SmallVector<std::string>> idx = kb.laneView(rowIdx, xs, shape))
        return *idx;
    return kb.unravel(lin, shape);
  };
  // One pass over the row: body(x) for each column this thread owns.
  Value xr = resolve(x);
  bool first = true;
  auto pass = [&](auto &&body) -> LogicalResult {
    openColumns();
    ee.pushScope();
    SmallVector<std::string> idx = indexOf(xs);
    FailureOr<std::string> xv = ee.at(x, idx);
    if (failed(xv))
      return failure();
    if (cached && first) {
      kb.line("xs[" + slot + "] = float(" + *xv + ");");
      ee.overrides[xr] = [slot](ArrayRef<std::string>) -> FailureOr<std::string> {
        return "xs[" + slot + "]";
      };
    }
    first = false;
    body(*xv);
    ee.popScope();
    closeColumns();
    return success();
  };
  std::string mean = "0.0f", rstd, mx, sum;
  if (auto ln = dyn_cast<spd::LayerNormOp>(red)) {
    kb.line("float s0 = 0.0f;");
    if (failed(pass([&](const std::string &v) { kb.line("s0 += float(" + v + ");"); })))
      return failure();
    kb.line(formatv("const float mean = {0}Sum(s0) / {1}.0f;", reduce, cols));
    kb.line("float s1 = 0.0f;");
    if (failed(pass([&](const std::string &v) {
          kb.line("{ const float d = float(" + v + ") - mean; s1 += d * d; }");
        })))
      return failure();
    kb.line(formatv("const float rstd = rsqrtf({0}Sum(s1) / {1}.0f + {2:e9}f);", reduce, cols,
                    ln.getEpsilon().convertToFloat()));
    mean = "mean";
    rstd = "rstd";
  } else if (auto rn = dyn_cast<spd::RmsNormOp>(red)) {
    kb.line("float s1 = 0.0f;");
    if (failed(pass([&](const std::string &v) {
          kb.line("{ const float d = float(" + v + "); s1 += d * d; }");
        })))
      return failure();
    kb.line(formatv("const float rstd = rsqrtf({0}Sum(s1) / {1}.0f + {2:e9}f);", reduce, cols,
                    rn.getEpsilon().convertToFloat()));
    rstd = "rstd";
  } else {
    // Softmax: max, then the sum of exponentials (two passes, as the interpreter).
    kb.line("float m0 = -spdc_inf<float>();");
    if (failed(pass([&](const std::string &v) { kb.line("m0 = spdc_max(m0, float(" + v + "));"); })))
      return failure();
    kb.line("const float mx = " + reduce + "Max(m0);");
    kb.line("float s0 = 0.0f;");
    if (failed(pass([&](const std::string &v) {
          kb.line("s0 += expf(float(" + v + ") - mx);");
        })))
      return failure();
    kb.line("const float sum = " + reduce + "Sum(s0);");
  }
  ee.overrides[result] = [&, red](ArrayRef<std::string> idx) -> FailureOr<std::string> {
    FailureOr<std::string> xv = ee.at(x, idx);
    if (failed(xv))
      return failure();
    std::string e;
    if (isa<spd::SoftmaxOp>(red))
      e = "expf(float(" + *xv + ") - mx) / sum";
    else if (isa<spd::LogSoftmaxOp>(red))
      e = "(float(" + *xv + ") - mx - logf(sum))";
    else
      e = "(float(" + *xv + ") - " + mean + ") * " + rstd;
    auto param = [&](Value p) -> FailureOr<std::string> {
      Dims ps = dims(p);
      SmallVector<std::string> pi;
      for (size_t i = 0; i < ps.size(); ++i) {
        size_t o = idx.size() - ps.size() + i;
        pi.push_back(ps[i].getConstant() == 1 && xs[o].getConstant() != 1 ? std::string("0")
                                                                          : idx[o]);
      }
      return ee.at(p, pi);
    };
    Value scale, bias;
    if (auto ln = dyn_cast<spd::LayerNormOp>(red)) {
      scale = ln.getScale();
      bias = ln.getBias();
    } else if (auto rn = dyn_cast<spd::RmsNormOp>(red)) {
      scale = rn.getScale();
    }
    if (scale) {
      FailureOr<std::string> sv = param(scale);
      if (failed(sv))
        return failure();
      e = "(" + e + ") * float(" + *sv + ")";
    }
    if (bias) {
      FailureOr<std::string> bv = param(bias);
      if (failed(bv))
        return failure();
      e = "(" + e + ") + float(" + *bv + ")";
    }
    // Rounded once to the result type, as the templates do.
    FailureOr<ElementType> rt =
        elementTypeOf(cast<RankedTensorType>(result.getType()).getElementType());
    std::string name = kb.fresh();
    kb.line(formatv("const float {0} = convert<float>(convert<{1}>({2}));", name,
                    cTypeName(*rt), e));
    return name;
  };
  for (auto [v, id] : targets) {
    openColumns();
    ee.pushScope();
    SmallVector<std::string> idx = indexOf(dims(v));
    FailureOr<std::string> e = ee.at(v, idx);
    if (failed(e))
      return failure();
    std::string ctype = cTypeName(buffers[id].type);
    std::string piece = vector ? kb.fresh("piece") : "";
    if (vector) {
      // Filled lane by lane, stored as one piece after the lane loop.
      kb.line(formatv("{0}.v[k] = convert<{1}>({2});", piece, ctype, *e));
    } else {
      kb.line(formatv("{0}[{1}] = convert<{2}>({3});", kb.param(id, true), lin, ctype, *e));
    }
    ee.popScope();
    if (!vector) {
      closeColumns();
      continue;
    }
    kb.preload(formatv("spdc_vec<{0}, {1}> {2};", ctype, lanes, piece).str());
    closeColumns([&] {
      kb.line(formatv("spdc_store_vec({0} + (idx_t)r * {1} + c0, {2});", kb.param(id, true),
                      indexLiteral(cols), piece));
    });
  }
  --kb.depth;
  kb.line("});");
  launchGenerated(kb, l, label);
  for (auto [v, id] : targets)
    valueBufs[v] = {id, buffers[id].type};
  return true;
}

//===----------------------------------------------------------------------===//
// Groups
//===----------------------------------------------------------------------===//

static bool isLibraryOp(Operation *op) {
  return isa<spd::MatMulOp, spd::AttentionOp, spd::LayerNormOp, spd::RmsNormOp, spd::SoftmaxOp,
             spd::LogSoftmaxOp, spd::TopKOp, spd::ScatterNDOp>(op);
}

LogicalResult Generator::processOps(ArrayRef<Operation *> ops, ArrayRef<Value> outputs,
                                    Operation *anchor) {
  std::string label = nodeLabel(anchor);
  if (auto f = dyn_cast<spd::FusionOp>(anchor); f && f.getKind() == "reduction") {
    FailureOr<bool> fused = emitRowFused(ops, outputs, anchor, label);
    if (failed(fused))
      return failure();
    if (*fused)
      return success();
  }
  DenseSet<Operation *> handled;
  for (Operation *op : ops) {
    if (handled.contains(op) || !isLibraryOp(op))
      continue;
    std::string opLabel = anchor == op ? label : nodeLabel(op);
    LogicalResult r = llvm::TypeSwitch<Operation *, LogicalResult>(op)
                          .Case([&](spd::MatMulOp) { return emitMatmul(op, handled, label); })
                          .Case([&](spd::AttentionOp) { return emitAttention(op, label); })
                          .Case<spd::LayerNormOp, spd::RmsNormOp>(
                              [&](Operation *) { return emitNorm(op, label); })
                          .Case<spd::SoftmaxOp, spd::LogSoftmaxOp>(
                              [&](Operation *) { return emitSoftmax(op, label); })
                          .Case([&](spd::TopKOp) { return emitTopK(op, label); })
                          .Case([&](spd::ScatterNDOp) { return emitScatterND(op, label); })
                          .Default([&](Operation *) { return failure(); });
    if (failed(r))
      return failure();
  }
  return materialize(SmallVector<Value>(outputs.begin(), outputs.end()), anchor, label);
}

LogicalResult Generator::emitOutputs(func::FuncOp fn) {
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  DenseSet<int> claimed;
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    auto type = cast<RankedTensorType>(v.getType());
    FailureOr<ElementType> declared = elementTypeOf(type.getElementType());
    if (failed(declared))
      return ret.emitError("spdc codegen: unsupported output type ") << type;
    std::string label = "output " + plan.outputs[i].name;
    FailureOr<Buf> b = bufferOf(v, ret, label);
    if (failed(b))
      return failure();
    LogicalBuffer &lb = buffers[b->id];
    Dims shape = dims(v);
    if (lb.space == bundle::Space::Arena && !claimed.contains(b->id) && b->type == *declared &&
        lb.size == product(shape) * SymExpr::constant(bundle::elementSize(*declared))) {
      lb.space = bundle::Space::Output;
      lb.index = i;
      claimed.insert(b->id);
      continue;
    }
    int out = newBuffer(shape, *declared, label);
    buffers[out].space = bundle::Space::Output;
    buffers[out].index = i;
    if (b->type == *declared) {
      addCopy(b->id, out, planInt(buffers[out].size), label);
    } else {
      kernelPrefix = "output_cast";
      if (failed(emitElementwise({{resolve(v), out}}, ret, label)))
        return failure();
    }
  }
  return success();
}

static std::string inputShapeHint(func::FuncOp fn);

LogicalResult Generator::bindSymbols(func::FuncOp fn) {
  bool dynamic = false;
  fn.walk([&](Operation *op) {
    for (Value r : op->getResults())
      if (auto rt = dyn_cast<RankedTensorType>(r.getType()); rt && !rt.hasStaticShape())
        dynamic = true;
  });
  for (Type t : fn.getArgumentTypes())
    if (auto rt = dyn_cast<RankedTensorType>(t); rt && !rt.hasStaticShape())
      dynamic = true;
  if (!dynamic)
    return success();
  shapes = std::make_unique<SymbolicShapes>(fn);
  // The plan's symbols: the inputs' dynamic dimensions, one per class of equal ones, in order.
  for (BlockArgument arg : fn.getArguments()) {
    auto rt = dyn_cast<RankedTensorType>(arg.getType());
    if (!rt || rt.hasStaticShape())
      continue;
    std::optional<SmallVector<SymExpr>> d = shapes->dims(arg);
    for (size_t i = 0; d && i < d->size(); ++i)
      if (std::optional<unsigned> sym = (*d)[i].getSymbol();
          sym && planSymbol.try_emplace(*sym, plan.symbols.size()).second)
        plan.symbols.push_back(shapes->symbolName(*sym));
  }
  // Every dynamic dimension must be a polynomial in them.
  auto check = [&](Value v, Operation *where) -> LogicalResult {
    auto rt = dyn_cast<RankedTensorType>(v.getType());
    if (!rt || rt.hasStaticShape())
      return success();
    std::optional<SmallVector<SymExpr>> d = shapes->dims(v);
    bool known = d.has_value();
    for (size_t i = 0; known && i < d->size(); ++i)
      (*d)[i].renamed([&](unsigned s) {
        known &= planSymbol.count(s) > 0;
        return s;
      });
    if (known)
      return success();
    return where->emitError("spdc codegen: the dimensions of ")
           << rt << " (" << shapes->dimsString(v)
           << ") are not known in terms of the inputs' dimensions, which code generation "
              "needs; give static shapes with "
           << inputShapeHint(fn);
  };
  WalkResult r = fn.walk([&](Operation *op) {
    for (Value v : op->getResults())
      if (failed(check(v, op)))
        return WalkResult::interrupt();
    for (Region &region : op->getRegions())
      for (Block &b : region)
        for (BlockArgument a : b.getArguments())
          if (failed(check(a, op)))
            return WalkResult::interrupt();
    return WalkResult::advance();
  });
  if (r.wasInterrupted())
    return failure();
  for (BlockArgument a : fn.getArguments())
    if (failed(check(a, fn)))
      return failure();
  return success();
}

/// `--input-shape=x:<x.0>x3 ...` for every input with dynamic dimensions, each named by the
/// symbol the analysis found for it (inputs whose dimensions must agree share the name).
static std::string inputShapeHint(func::FuncOp fn) {
  SymbolicShapes shapes(fn);
  std::string hint;
  for (BlockArgument arg : fn.getArguments()) {
    auto rt = dyn_cast<RankedTensorType>(arg.getType());
    if (!rt || rt.hasStaticShape())
      continue;
    std::string name = "#" + std::to_string(arg.getArgNumber());
    if (auto n = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "onnx.name"))
      name = n.str();
    std::optional<SmallVector<SymExpr>> dims = shapes.dims(arg);
    std::string spec;
    for (auto [i, d] : llvm::enumerate(rt.getShape())) {
      std::string part = "D" + std::to_string(i);
      if (!ShapedType::isDynamic(d))
        part = std::to_string(d);
      else if (dims)
        if (std::optional<unsigned> sym = (*dims)[i].getSymbol())
          part = "<" + shapes.symbolName(*sym) + ">";
      spec += (i ? "x" : "") + part;
    }
    hint += (hint.empty() ? "" : " ") + ("--input-shape=" + name + ":" + spec);
  }
  return hint;
}

LogicalResult Generator::run(func::FuncOp fn) {
  if (failed(bindSymbols(fn)))
    return failure();
  // The weights section grows constant by constant: reserve what the constants may take
  // (stored at most 8 bytes an element, plus alignment) so that it is never reallocated and
  // copied. Pages past what is written are never touched.
  uint64_t weightBound = 0;
  fn.walk([&](spd::ConstantOp c) {
    if (auto t = dyn_cast<ShapedType>(c.getType()); t && t.hasStaticShape())
      weightBound += uint64_t(t.getNumElements()) * 8 + kWeightAlign;
  });
  plan.weights.reserve(weightBound);
  // Unit 0 holds the generated kernels (filled in last); template instantiations follow.
  plan.sources.emplace_back();
  for (auto [i, t] : llvm::enumerate(fn.getArgumentTypes())) {
    auto rt = dyn_cast<RankedTensorType>(t);
    std::string name = "#" + std::to_string(i);
    if (auto n = fn.getArgAttrOfType<StringAttr>(i, "onnx.name"))
      name = n.str();
    if (!rt)
      return fn.emitError("spdc codegen: input '") << name << "' is not a ranked tensor: " << t;
    FailureOr<ElementType> et = elementTypeOf(rt.getElementType());
    if (failed(et))
      return fn.emitError("spdc codegen: input '") << name << "' has unsupported type " << t;
    Dims shape = dims(fn.getArgument(i));
    bundle::TensorInfo info{name, *et, {}};
    for (const SymExpr &d : shape)
      info.shape.push_back(planInt(d));
    plan.inputs.push_back(std::move(info));
    int id = newBuffer(shape, *et, "input " + name);
    buffers[id].space = bundle::Space::Input;
    buffers[id].index = i;
    valueBufs[fn.getArgument(i)] = {id, *et};
  }
  for (auto [i, t] : llvm::enumerate(fn.getResultTypes())) {
    auto rt = dyn_cast<RankedTensorType>(t);
    std::string name = "#" + std::to_string(i);
    if (auto n = fn.getResultAttrOfType<StringAttr>(i, "onnx.name"))
      name = n.str();
    if (!rt)
      return fn.emitError("spdc codegen: output '") << name << "' is not a ranked tensor: " << t;
    FailureOr<ElementType> et = elementTypeOf(rt.getElementType());
    if (failed(et))
      return fn.emitError("spdc codegen: output '") << name << "' has unsupported type " << t;
    bundle::TensorInfo info{name, *et, {}};
    auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    for (const SymExpr &d : dims(ret.getOperand(i)))
      info.shape.push_back(planInt(d));
    plan.outputs.push_back(std::move(info));
  }

  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  for (Value v : ret.getOperands()) {
    graphOutputs.insert(v);
    if (auto f = v.getDefiningOp<spd::FusionOp>()) {
      auto yield = cast<spd::YieldOp>(f.getBody().front().getTerminator());
      graphOutputs.insert(yield.getValues()[cast<OpResult>(v).getResultNumber()]);
    }
  }
  for (Operation &op : fn.getBody().front()) {
    if (isa<spd::ConstantOp, func::ReturnOp>(op))
      continue;
    if (op.use_empty())
      continue;
    if (auto f = dyn_cast<spd::FusionOp>(op)) {
      Block &body = f.getBody().front();
      for (auto [arg, in] : llvm::zip(body.getArguments(), f.getInputs()))
        blockArgs[arg] = in;
      SmallVector<Operation *> ops;
      for (Operation &inner : body.without_terminator())
        ops.push_back(&inner);
      auto yield = cast<spd::YieldOp>(body.getTerminator());
      kernelPrefix = sanitize(f.getKind());
      if (failed(processOps(ops, SmallVector<Value>(yield.getValues()), f)))
        return failure();
      for (auto [res, y] : llvm::zip(f.getResults(), yield.getValues())) {
        Buf b = lookup(y);
        if (b.id < 0 && isShapeArithmetic(resolve(y)))
          continue;
        if (b.id < 0)
          return f.emitError("spdc codegen: region output was not materialized");
        valueBufs[res] = b;
      }
      continue;
    }
    // A transpose read only by matmuls folds into their transA/transB (or is materialized on
    // demand when it cannot).
    if (isa<spd::TransposeOp>(op) &&
        llvm::all_of(op.getUsers(), [](Operation *u) { return isa<spd::MatMulOp>(u); }))
      continue;
    kernelPrefix = sanitize(op.getName().stripDialect());
    if (failed(processOps({&op}, SmallVector<Value>(op.getResults()), &op)))
      return failure();
  }
  if (failed(emitOutputs(fn)))
    return failure();
  addPitchedOutputs();

  // Unit 0, the generated kernels: the common header, the helpers, the kernels.
  std::string src = "// Generated by spdc: one kernel per fusion region or op.\n";
  src += "#include \"spdc/kernels/common.cuh\"\n";
  src += R"cuda(
using spdc::kernels::convert;

template <class T> __device__ __forceinline__ T spdc_inf() { return T(__int_as_float(0x7f800000)); }
template <> __device__ __forceinline__ double spdc_inf<double>() { return __longlong_as_double(0x7ff0000000000000LL); }
template <class T> __device__ __forceinline__ T spdc_nan() { return T(__int_as_float(0x7fffffff)); }
template <class T> __device__ __forceinline__ T spdc_lowest() {
  if constexpr (T(0.5) != T(0)) return -spdc_inf<T>(); else return T(1) << (sizeof(T) * 8 - 1);
}
template <> __device__ __forceinline__ bool spdc_lowest<bool>() { return false; }
template <> __device__ __forceinline__ unsigned char spdc_lowest<unsigned char>() { return 0; }
template <> __device__ __forceinline__ unsigned short spdc_lowest<unsigned short>() { return 0; }
template <> __device__ __forceinline__ unsigned int spdc_lowest<unsigned int>() { return 0; }
template <> __device__ __forceinline__ unsigned long long spdc_lowest<unsigned long long>() { return 0; }
template <class T> __device__ __forceinline__ T spdc_highest() {
  if constexpr (T(0.5) != T(0)) return spdc_inf<T>(); else return T(~spdc_lowest<T>());
}
template <> __device__ __forceinline__ bool spdc_highest<bool>() { return true; }
// NaN propagates, as in the interpreter.
template <class T> __device__ __forceinline__ T spdc_max(T a, T b) { return a != a ? a : (b != b ? b : (a > b ? a : b)); }
template <class T> __device__ __forceinline__ T spdc_min(T a, T b) { return a != a ? a : (b != b ? b : (a < b ? a : b)); }
template <class T> __device__ __forceinline__ T spdc_clamp01(T x) { return x < T(0) ? T(0) : (x > T(1) ? T(1) : x); }
template <class T> __device__ __forceinline__ T spdc_idiv(T a, T b) { return b == T(0) ? T(0) : a / b; }
template <class T> __device__ __forceinline__ T spdc_fmod(T a, T b) {
  if constexpr (T(0.5) != T(0)) return fmod(a, b); else return b == T(0) ? T(0) : a % b;
}
template <class T> __device__ __forceinline__ T spdc_floormod(T a, T b) {
  if constexpr (T(0.5) != T(0)) {
    T r = fmod(a, b);
    return (r != T(0) && ((r < T(0)) != (b < T(0)))) ? r + b : r;
  } else {
    if (b == T(0)) return T(0);
    T r = a % b;
    return (r != T(0) && ((r < T(0)) != (b < T(0)))) ? r + b : r;
  }
}
template <class T> __device__ __forceinline__ T spdc_ipow(T a, long long e) {
  T r = T(1);
  for (; e > 0; --e) r *= a;
  return r;
}
// N consecutive elements from a pointer aligned to min(16, N * sizeof(T)) bytes, in 16-byte
// (or 8- or 4-byte) accesses: the vectorized elementwise kernels' loads.
template <class T, int N> struct alignas(16) spdc_vec { T v[N]; };
template <int N, class T> __device__ __forceinline__ spdc_vec<T, N> spdc_load_vec(const T *p) {
  spdc_vec<T, N> r;
  constexpr int bytes = N * int(sizeof(T));
  if constexpr (bytes % 16 == 0) {
#pragma unroll
    for (int i = 0; i < bytes / 16; ++i)
      reinterpret_cast<uint4 *>(&r)[i] = reinterpret_cast<const uint4 *>(p)[i];
  } else if constexpr (bytes == 8) {
    *reinterpret_cast<uint2 *>(&r) = *reinterpret_cast<const uint2 *>(p);
  } else if constexpr (bytes == 4) {
    *reinterpret_cast<unsigned *>(&r) = *reinterpret_cast<const unsigned *>(p);
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i)
      r.v[i] = p[i];
  }
  return r;
}
template <int N, class T> __device__ __forceinline__ void spdc_store_vec(T *p, const spdc_vec<T, N> &r) {
  constexpr int bytes = N * int(sizeof(T));
  if constexpr (bytes % 16 == 0) {
#pragma unroll
    for (int i = 0; i < bytes / 16; ++i)
      reinterpret_cast<uint4 *>(p)[i] = reinterpret_cast<const uint4 *>(&r)[i];
  } else if constexpr (bytes == 8) {
    *reinterpret_cast<uint2 *>(p) = *reinterpret_cast<const uint2 *>(&r);
  } else if constexpr (bytes == 4) {
    *reinterpret_cast<unsigned *>(p) = *reinterpret_cast<const unsigned *>(&r);
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i)
      p[i] = r.v[i];
  }
}
// Out-of-range and negative indices: negative counts from the end, the rest clamps.
__device__ __forceinline__ long long spdc_index(long long i, long long n) {
  i = i < 0 ? i + n : i;
  return i < 0 ? 0 : (i >= n ? n - 1 : i);
}
template <class T> __device__ __forceinline__ T spdc_saturate(float x) {
  const float lo = float(spdc_lowest<T>()), hi = float(spdc_highest<T>());
  return T(x < lo ? lo : (x > hi ? hi : x));
}

)cuda";
  plan.sources[0] = src + kernelSources;
  compactWeights();
  if (isDynamic()) {
    planMemoryDynamic(buffers, *this);
    stats.symbols = plan.symbols;
    // The slots' sizes, summed (an upper bound of what is live at once).
    SymExpr total = SymExpr::constant(0);
    for (const LogicalBuffer &b : buffers)
      if (b.space == bundle::Space::Arena && b.last >= 0)
        total = total + b.size;
    stats.arenaExpression = planExpr(total).str();
  }
  else
    stats.peakArenaBytes = planMemory(buffers, plan);
  stats.weightBytes = plan.weights.size();
  static const char *typeNames[] = {"f32", "f16", "bf16", "f64", "i64", "i32", "i16",
                                    "i8",  "u8",  "u16",  "u32", "u64", "bool"};
  for (const LogicalBuffer &b : buffers) {
    if (b.space != bundle::Space::Arena || b.last < 0)
      continue;
    std::string shape;
    for (const SymExpr &d : b.shape)
      shape += (shape.empty() ? "" : "x") + d.str();
    std::string offset = b.offset.isDynamic() ? "e" + std::to_string(b.offset.expr)
                                              : std::to_string(b.offset.value);
    std::string bytes = b.size.getConstant() ? std::to_string(b.bytes) : "(" + b.size.str() + ")";
    stats.bufferTable.push_back(formatv("arena+{0} {1} bytes {2}[{3}] steps {4}..{5}: {6}",
                                        offset, bytes,
                                        typeNames[static_cast<uint32_t>(b.type)], shape,
                                        b.first, b.last, b.what)
                                    .str());
  }
  return success();
}

FailureOr<bundle::Plan> spdc::codegen::generatePlan(ModuleOp module, const CodegenOptions &options,
                                                    CodegenStats &stats) {
  if (options.dtype != "f32" && options.dtype != "bf16" && options.dtype != "f16") {
    module.emitError("spdc codegen: unknown dtype '") << options.dtype << "' (f32, bf16 or f16)";
    return failure();
  }
  auto fns = module.getOps<func::FuncOp>();
  if (fns.empty()) {
    module.emitError("spdc codegen: no function to generate");
    return failure();
  }
  Generator gen(options);
  if (failed(gen.run(*fns.begin())))
    return failure();
  stats = gen.stats;
  return std::move(gen.plan);
}
