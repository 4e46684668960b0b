//===- Importer.cpp - ONNX ModelProto to spd --------------------------------===//
//
// Loads the model (binary protobuf or the ONNX textual syntax), inlines model-local functions,
// checks the graph (unsupported ops, dangling inputs, cycles), sorts the nodes and hands each to
// its converter. Weights become spd.constant ops: small ones dense, large ones dense_resource
// blobs viewing the parsed model's bytes or the mmapped external data, never copied.
//
//===----------------------------------------------------------------------===//

#include "spdc/Frontend/ONNX/Importer.h"
#include "ImportContext.h"
#include "TextParser.h"
#include "TensorConversion.h"

#include "spdc/Interpreter/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"


#include <map>
#include <queue>

using namespace mlir;
using namespace spdc::onnx_import;

namespace {

/// Opsets of the default domain the converters handle: 22 is the newest whose changes the
/// converters know. The node tests go down to opset 1 (Not, Softplus, Softsign) and 6 (Elu,
/// Selu, HardSigmoid), whose semantics are today's; what did change before opset 7 (binary ops'
/// `broadcast` attribute) is refused node by node in `convertNode`.
constexpr int64_t kMinOpset = 1;
constexpr int64_t kMaxOpset = 22;
/// Results larger than this are not folded at import (1M elements: shape arithmetic and small
/// masks fold, weight-sized computations stay in the graph).
constexpr int64_t kMaxFoldElements = int64_t(1) << 20;
/// Boolean results fold up to this size (16M elements, one byte each): the causal and padding
/// masks that exporters build from Range / LessOrEqual / And chains for sequences up to 4096
/// (or batches of them), which attention recognition reads as constants.
constexpr int64_t kMaxFoldMaskElements = int64_t(1) << 24;
/// Model-local functions may call each other; deeper nesting is taken as recursion.
constexpr int kMaxFunctionNesting = 16;

bool isDefaultDomain(llvm::StringRef domain) { return domain.empty() || domain == "ai.onnx"; }

std::string qualifiedOpName(const onnx::NodeProto &node) {
  if (isDefaultDomain(node.domain()))
    return node.op_type();
  return node.domain() + "::" + node.op_type();
}

/// Whether `buffer` holds the ONNX textual syntax: after whitespace and `#` / `//` comments it
/// starts with `<` (the model header) or `ir_version`.
bool looksLikeText(llvm::StringRef buffer) {
  while (true) {
    buffer = buffer.ltrim();
    if (buffer.starts_with("#") || buffer.starts_with("//")) {
      buffer = buffer.drop_until([](char c) { return c == '\n'; });
      continue;
    }
    break;
  }
  return buffer.starts_with("<") || buffer.starts_with("ir_version");
}

/// A resource key made of identifier characters (the printer writes keys bare).
std::string blobKey(llvm::StringRef name) {
  std::string key = name.empty() ? std::string("constant") : name.str();
  for (char &c : key)
    if (!llvm::isAlnum(c) && c != '_' && c != '.')
      c = '_';
  if (llvm::isDigit(key[0]))
    key.insert(key.begin(), '_');
  return key;
}

/// Node names in the textual syntax (`[name] y = Op(x)`, ONNX 1.15 and later) are unknown to
/// the system's older parser: they are blanked out before parsing (keeping columns) and
/// returned keyed by the node's first output, to be put back by `restoreNodeNames`.
llvm::StringMap<std::string> takeNodeNames(std::string &text) {
  llvm::StringMap<std::string> names;
  auto isNameChar = [](char c) {
    return llvm::isAlnum(c) || c == '_' || c == '.' || c == '/' || c == '-' || c == ':';
  };
  size_t lineStart = 0;
  while (lineStart < text.size()) {
    size_t lineEnd = text.find('\n', lineStart);
    if (lineEnd == std::string::npos)
      lineEnd = text.size();
    size_t i = lineStart;
    while (i < lineEnd && (llvm::isSpace(text[i]) || text[i] == '{'))
      ++i;
    if (i < lineEnd && text[i] == '[') {
      size_t nameBegin = i + 1, nameEnd = nameBegin;
      while (nameEnd < lineEnd && isNameChar(text[nameEnd]))
        ++nameEnd;
      size_t eq = text.find('=', nameEnd);
      if (nameEnd > nameBegin && nameEnd < lineEnd && text[nameEnd] == ']' && eq < lineEnd) {
        llvm::StringRef outputs = llvm::StringRef(text).slice(nameEnd + 1, eq);
        std::string first = outputs.split(',').first.trim().str();
        if (!first.empty() && llvm::all_of(first, isNameChar)) {
          names[first] = text.substr(nameBegin, nameEnd - nameBegin);
          std::fill(text.begin() + i, text.begin() + nameEnd + 1, ' ');
        }
      }
    }
    lineStart = lineEnd + 1;
  }
  return names;
}

void restoreNodeNames(onnx::ModelProto &model, const llvm::StringMap<std::string> &names) {
  auto restore = [&](google::protobuf::RepeatedPtrField<onnx::NodeProto> &nodes) {
    for (onnx::NodeProto &node : nodes) {
      if (!node.name().empty() || node.output_size() == 0)
        continue;
      auto it = names.find(node.output(0));
      if (it != names.end())
        node.set_name(it->second);
    }
  };
  restore(*model.mutable_graph()->mutable_node());
  for (onnx::FunctionProto &fn : *model.mutable_functions())
    restore(*fn.mutable_node());
}

//===----------------------------------------------------------------------===//
// Model-local functions
//===----------------------------------------------------------------------===//

/// Replaces every call of a model-local function by the function's body, with formal inputs,
/// outputs and referenced attributes substituted and internal values renamed apart.
LogicalResult inlineFunctions(onnx::ModelProto &model, Location fileLoc) {
  if (model.functions_size() == 0)
    return success();
  std::map<std::pair<std::string, std::string>, const onnx::FunctionProto *> functions;
  for (const onnx::FunctionProto &fn : model.functions())
    functions[{isDefaultDomain(fn.domain()) ? "" : fn.domain(), fn.name()}] = &fn;
  auto lookup = [&](const onnx::NodeProto &node) -> const onnx::FunctionProto * {
    auto it = functions.find(
        {isDefaultDomain(node.domain()) ? "" : node.domain(), node.op_type()});
    return it == functions.end() ? nullptr : it->second;
  };

  int64_t callCounter = 0;
  for (int depth = 0; depth <= kMaxFunctionNesting; ++depth) {
    onnx::GraphProto *graph = model.mutable_graph();
    bool changed = false;
    google::protobuf::RepeatedPtrField<onnx::NodeProto> expanded;
    for (onnx::NodeProto &call : *graph->mutable_node()) {
      const onnx::FunctionProto *fn = lookup(call);
      if (!fn) {
        *expanded.Add() = std::move(call);
        continue;
      }
      changed = true;
      std::string callName =
          call.name().empty() ? fn->name() + "_" + std::to_string(callCounter) : call.name();
      std::string prefix = callName + "/" + std::to_string(callCounter++) + "/";
      llvm::StringMap<std::string> rename;
      for (int i = 0; i < fn->input_size(); ++i)
        rename[fn->input(i)] = i < call.input_size() ? call.input(i) : std::string();
      for (int i = 0; i < fn->output_size(); ++i)
        rename[fn->output(i)] = i < call.output_size() ? call.output(i) : prefix + fn->output(i);
      auto mapName = [&](const std::string &name) -> std::string {
        if (name.empty())
          return name;
        auto it = rename.find(name);
        return it != rename.end() ? it->second : prefix + name;
      };
      for (const onnx::NodeProto &body : fn->node()) {
        onnx::NodeProto *node = expanded.Add();
        *node = body;
        node->set_name(callName + "/" + (body.name().empty() ? body.op_type() : body.name()));
        for (std::string &in : *node->mutable_input())
          in = mapName(in);
        for (std::string &out : *node->mutable_output())
          out = mapName(out);
        google::protobuf::RepeatedPtrField<onnx::AttributeProto> attrs;
        for (const onnx::AttributeProto &a : body.attribute()) {
          if (a.ref_attr_name().empty()) {
            *attrs.Add() = a;
            continue;
          }
          // A referenced attribute the call does not set is left out: the op's default applies.
          if (const onnx::AttributeProto *actual = ImportContext::attr(call, a.ref_attr_name())) {
            onnx::AttributeProto *copy = attrs.Add();
            *copy = *actual;
            copy->set_name(a.name());
          }
        }
        node->mutable_attribute()->Swap(&attrs);
      }
    }
    graph->mutable_node()->Swap(&expanded);
    if (!changed)
      return success();
  }
  return emitError(fileLoc) << "model-local functions nest more than " << kMaxFunctionNesting
                            << " levels deep (recursive functions are not supported)";
}

//===----------------------------------------------------------------------===//
// The graph importer
//===----------------------------------------------------------------------===//

class GraphImporter final : public ImportContext {
public:
  GraphImporter(MLIRContext *ctx, int64_t opset, std::shared_ptr<onnx::ModelProto> model,
                llvm::StringRef fileName, llvm::StringRef baseDir,
                const spdc::OnnxImportOptions &options)
      : ImportContext(ctx, opset), model(std::move(model)), fileName(fileName.str()),
        fileLoc(FileLineColLoc::get(ctx, fileName, 0, 0)), options(options),
        external(baseDir.str()) {}

  OwningOpRef<ModuleOp> run();

  //===--- ImportContext ---------------------------------------------------===//

  Value input(const onnx::NodeProto &node, int i) override {
    if (i < 0 || i >= node.input_size() || node.input(i).empty())
      return {};
    return values.lookup(node.input(i));
  }
  void setOutput(const onnx::NodeProto &node, int i, Value value) override {
    if (i >= 0 && i < node.output_size() && !node.output(i).empty())
      values[node.output(i)] = value;
  }
  Location loc(const onnx::NodeProto &node) override {
    auto it = nodeInfo.find(&node);
    return it != nodeInfo.end() ? it->second.loc : fileLoc;
  }
  LogicalResult error(const onnx::NodeProto &node, const llvm::Twine &message) override {
    emitError(loc(node)) << "node '" << displayName(node) << "' (" << node.op_type()
                         << "): " << message;
    return failure();
  }

  std::optional<spdc::Tensor> constant(Value v) override;
  std::optional<llvm::SmallVector<int64_t>> partialInts(Value v) override;
  void setPartialInts(Value v, llvm::ArrayRef<int64_t> ints) override {
    if (v)
      partial[v] = llvm::SmallVector<int64_t>(ints);
  }
  Value constantFromTensor(Location loc, const spdc::Tensor &t) override;
  FailureOr<Value> constantFromProto(const onnx::NodeProto &node,
                                     const onnx::TensorProto &proto) override;
  /// The tensor `proto` holds, viewed when it is an attribute of the node being converted.
  llvm::Expected<spdc::Tensor> tensorFromProto(const onnx::TensorProto &proto);
  llvm::SmallVector<Value> fold(Operation *op) override;

private:
  struct NodeInfo {
    std::string name;
    Location loc;
  };

  std::string displayName(const onnx::NodeProto &node) {
    auto it = nodeInfo.find(&node);
    if (it != nodeInfo.end())
      return it->second.name;
    return node.name().empty() ? node.op_type() : node.name();
  }

  FailureOr<Type> inputType(const onnx::ValueInfoProto &info);
  LogicalResult checkSupported(llvm::ArrayRef<const onnx::NodeProto *> nodes);
  FailureOr<std::vector<const onnx::NodeProto *>>
  sortNodes(llvm::ArrayRef<const onnx::NodeProto *> nodes, const llvm::StringSet<> &defined);
  LogicalResult convertNode(const onnx::NodeProto &node, Block *body);
  void propagatePartialInts(Operation *op);

  std::shared_ptr<onnx::ModelProto> model;
  std::string fileName;
  Location fileLoc;
  const spdc::OnnxImportOptions &options;
  ExternalDataFiles external;

  llvm::StringMap<Value> values;
  llvm::DenseMap<Value, llvm::SmallVector<int64_t>> partial;
  llvm::DenseMap<const onnx::NodeProto *, NodeInfo> nodeInfo;
  const onnx::NodeProto *currentNode = nullptr;
};

FailureOr<Type> GraphImporter::inputType(const onnx::ValueInfoProto &info) {
  Location loc = NameLoc::get(StringAttr::get(context(), info.name()), fileLoc);
  const std::string &name = info.name();
  if (!info.type().has_tensor_type())
    return emitError(loc) << "graph input '" << name
                          << "' is not a tensor (sequences, maps and optionals are not supported)";
  const onnx::TypeProto::Tensor &tt = info.type().tensor_type();
  Type elementType = elementTypeFromOnnx(context(), tt.elem_type());
  if (!elementType)
    return emitError(loc) << "graph input '" << name << "' has unsupported element type "
                          << onnxDataTypeName(tt.elem_type());
  auto fixed = options.inputShapes.find(name);
  std::optional<llvm::SmallVector<int64_t>> modelShape;
  if (tt.has_shape()) {
    modelShape.emplace();
    for (const onnx::TensorShapeProto::Dimension &d : tt.shape().dim()) {
      if (d.has_dim_value() && d.dim_value() < 0)
        return emitError(loc) << "graph input '" << name << "' has negative dimension "
                              << d.dim_value();
      modelShape->push_back(d.has_dim_value() ? d.dim_value() : ShapedType::kDynamic);
    }
  }
  llvm::SmallVector<int64_t> shape;
  if (fixed != options.inputShapes.end()) {
    if (modelShape && modelShape->size() != fixed->second.size())
      return emitError(loc) << "the shape given for input '" << name << "' has rank "
                            << fixed->second.size() << ", the model's input has rank "
                            << modelShape->size();
    for (auto [i, d] : llvm::enumerate(fixed->second)) {
      int64_t dim = d < 0 ? ShapedType::kDynamic : d;
      if (d < -1 && !ShapedType::isDynamic(d))
        return emitError(loc) << "the shape given for input '" << name
                              << "' has negative dimension " << d;
      if (modelShape && !ShapedType::isDynamic((*modelShape)[i]) && !ShapedType::isDynamic(dim) &&
          (*modelShape)[i] != dim)
        return emitError(loc) << "the shape given for input '" << name << "' sets dimension "
                              << i << " to " << dim << ", the model fixes it to "
                              << (*modelShape)[i];
      shape.push_back(dim);
    }
  } else if (modelShape) {
    shape = *modelShape;
  } else {
    return emitError(loc) << "graph input '" << name
                          << "' has no shape (unknown rank); give it with --input-shape";
  }
  llvm::SmallVector<int64_t> staticDims;
  for (int64_t d : shape)
    staticDims.push_back(ShapedType::isDynamic(d) ? 1 : d);
  if (!checkedNumElements(staticDims))
    return emitError(loc) << "graph input '" << name << "' has more than 2^40 elements";
  return Type(RankedTensorType::get(shape, elementType));
}

LogicalResult GraphImporter::checkSupported(llvm::ArrayRef<const onnx::NodeProto *> nodes) {
  const ConverterTable &table = ConverterTable::get();
  struct Unsupported {
    int64_t count = 0;
    std::string example;
  };
  llvm::MapVector<std::string, Unsupported, std::map<std::string, unsigned>> unsupported;
  for (const onnx::NodeProto *node : nodes) {
    if (isDefaultDomain(node->domain()) && table.contains(node->op_type()))
      continue;
    Unsupported &u = unsupported[qualifiedOpName(*node)];
    if (u.count++ == 0)
      u.example = displayName(*node);
  }
  if (unsupported.empty())
    return success();
  InFlightDiagnostic diag = emitError(fileLoc)
                            << "unsupported ops in " << llvm::sys::path::filename(fileName)
                            << ": ";
  bool first = true;
  for (auto &[op, u] : unsupported) {
    if (!first)
      diag << ", ";
    first = false;
    diag << op << " (" << u.count << (u.count == 1 ? " node" : " nodes") << ", e.g. '"
         << u.example << "')";
  }
  return failure();
}

FailureOr<std::vector<const onnx::NodeProto *>>
GraphImporter::sortNodes(llvm::ArrayRef<const onnx::NodeProto *> nodes,
                         const llvm::StringSet<> &defined) {
  size_t n = nodes.size();
  llvm::StringMap<size_t> producer;
  for (size_t i = 0; i < n; ++i) {
    for (const std::string &out : nodes[i]->output()) {
      if (out.empty())
        continue;
      if (defined.contains(out))
        return error(*nodes[i], "output '" + out +
                                    "' redefines a graph input or initializer of that name");
      auto [it, inserted] = producer.try_emplace(out, i);
      if (!inserted)
        return error(*nodes[i], "output '" + out + "' is also produced by node '" +
                                    displayName(*nodes[it->second]) + "'");
    }
  }
  std::vector<llvm::SmallVector<size_t, 4>> users(n);
  std::vector<size_t> pending(n, 0);
  for (size_t i = 0; i < n; ++i) {
    llvm::SmallDenseSet<size_t, 4> preds;
    for (const std::string &in : nodes[i]->input()) {
      if (in.empty())
        continue;
      auto it = producer.find(in);
      if (it != producer.end()) {
        if (preds.insert(it->second).second) {
          users[it->second].push_back(i);
          ++pending[i];
        }
      } else if (!defined.contains(in)) {
        return error(*nodes[i], "input '" + in +
                                    "' names no value (no graph input, initializer or node "
                                    "output has that name)");
      }
    }
  }
  // Kahn's algorithm, taking the lowest index first so sorted models keep their order.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < n; ++i)
    if (pending[i] == 0)
      ready.push(i);
  std::vector<const onnx::NodeProto *> order;
  std::vector<bool> done(n, false);
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(nodes[i]);
    done[i] = true;
    for (size_t u : users[i])
      if (--pending[u] == 0)
        ready.push(u);
  }
  if (order.size() == n)
    return order;
  // Walk unfinished producers back from a blocked node until one repeats: it lies on a cycle.
  size_t cur = 0;
  while (done[cur])
    ++cur;
  std::vector<bool> seen(n, false);
  while (!seen[cur]) {
    seen[cur] = true;
    for (const std::string &in : nodes[cur]->input()) {
      auto it = in.empty() ? producer.end() : producer.find(in);
      if (it != producer.end() && !done[it->second]) {
        cur = it->second;
        break;
      }
    }
  }
  emitError(loc(*nodes[cur])) << "the graph has a cycle through node '"
                              << displayName(*nodes[cur]) << "' (" << nodes[cur]->op_type()
                              << ")";
  return failure();
}

std::optional<spdc::Tensor> GraphImporter::constant(Value v) {
  auto op = v ? v.getDefiningOp<spdc::spd::ConstantOp>() : nullptr;
  if (!op)
    return std::nullopt;
  llvm::Expected<spdc::Tensor> t = spdc::tensorFromAttr(op.getValue());
  if (!t) {
    llvm::consumeError(t.takeError());
    return std::nullopt;
  }
  return *t;
}

std::optional<llvm::SmallVector<int64_t>> GraphImporter::partialInts(Value v) {
  if (!v)
    return std::nullopt;
  auto it = partial.find(v);
  if (it != partial.end())
    return it->second;
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.getElementType().isInteger() || type.getRank() > 1)
    return std::nullopt;
  if (std::optional<llvm::SmallVector<int64_t>> ints = constantInts(v))
    return ints;
  if (auto shape = v.getDefiningOp<spdc::spd::ShapeOp>()) {
    llvm::ArrayRef<int64_t> dims = tensorType(shape.getInput()).getShape();
    if (shape.getStart() >= 0 && shape.getEnd() <= static_cast<int64_t>(dims.size()) &&
        shape.getStart() <= shape.getEnd())
      return llvm::SmallVector<int64_t>(
          dims.slice(shape.getStart(), shape.getEnd() - shape.getStart()));
  }
  // The length alone is known: every entry unknown. Long vectors are not shapes.
  constexpr int64_t kMaxShapeLength = 1024;
  if (type.getRank() == 0)
    return llvm::SmallVector<int64_t>{kUnknown};
  if (!type.isDynamicDim(0) && type.getDimSize(0) <= kMaxShapeLength)
    return llvm::SmallVector<int64_t>(type.getDimSize(0), kUnknown);
  return std::nullopt;
}

Value GraphImporter::constantFromTensor(Location loc, const spdc::Tensor &t) {
  auto type = RankedTensorType::get(t.shape(), spdc::typeFromDType(context(), t.dtype()));
  ElementsAttr attr;
  if (t.numElements() <= std::max<int64_t>(options.maxInlineElements, 0)) {
    attr = spdc::attrFromTensor(context(), t);
  } else {
    std::string name = "constant";
    if (auto nameLoc = dyn_cast<NameLoc>(loc))
      name = nameLoc.getName().str();
    // The blob views the tensor's bytes; the deleter's copy of `t` keeps them alive.
    AsmResourceBlob blob(llvm::ArrayRef<char>(static_cast<const char *>(t.raw()), t.byteSize()),
                         spdc::dtypeSize(t.dtype()),
                         [keep = t](void *, size_t, size_t) mutable { keep = spdc::Tensor(); },
                         /*dataIsMutable=*/false);
    attr = DenseResourceElementsAttr::get(type, blobKey(name), std::move(blob));
  }
  return spdc::spd::ConstantOp::create(builder_, loc, type, attr);
}

llvm::Expected<spdc::Tensor> GraphImporter::tensorFromProto(const onnx::TensorProto &proto) {
  // Zero copy only when `proto` is provably inside the model (an attribute of the node being
  // converted); anything else is copied so the tensor never dangles.
  std::shared_ptr<const void> owner;
  if (currentNode)
    for (const onnx::AttributeProto &a : currentNode->attribute())
      if (a.has_t() && &a.t() == &proto)
        owner = std::shared_ptr<const void>(model, &proto);
  if (owner)
    return spdc::onnx_import::tensorFromProto(proto, owner, &external);
  auto copy = std::make_shared<onnx::TensorProto>(proto);
  return spdc::onnx_import::tensorFromProto(*copy, copy, &external);
}

FailureOr<Value> GraphImporter::constantFromProto(const onnx::NodeProto &node,
                                                  const onnx::TensorProto &proto) {
  llvm::Expected<spdc::Tensor> t = tensorFromProto(proto);
  if (!t)
    return error(node, llvm::toString(t.takeError()));
  return constantFromTensor(loc(node), *t);
}

void GraphImporter::propagatePartialInts(Operation *op) {
  if (op->getNumResults() != 1)
    return;
  Value result = op->getResult(0);
  auto type = dyn_cast<RankedTensorType>(result.getType());
  if (!type || !type.getElementType().isInteger() || type.getRank() > 1)
    return;
  if (auto cast = dyn_cast<spdc::spd::CastOp>(op)) {
    if (tensorType(cast.getInput()).getElementType().isInteger())
      if (auto in = partial.find(cast.getInput()); in != partial.end())
        setPartialInts(result, llvm::SmallVector<int64_t>(in->second));
    return;
  }
  if (!isa<spdc::spd::AddOp, spdc::spd::SubOp, spdc::spd::MulOp, spdc::spd::DivOp,
           spdc::spd::MaxOp, spdc::spd::MinOp>(op))
    return;
  std::optional<llvm::SmallVector<int64_t>> a = partialInts(op->getOperand(0));
  std::optional<llvm::SmallVector<int64_t>> b = partialInts(op->getOperand(1));
  if (!a || !b)
    return;
  size_t n = std::max(a->size(), b->size());
  if ((a->size() != n && a->size() != 1) || (b->size() != n && b->size() != 1))
    return;
  llvm::SmallVector<int64_t> out(n, kUnknown);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = (*a)[a->size() == 1 ? 0 : i], y = (*b)[b->size() == 1 ? 0 : i];
    if (x == kUnknown || y == kUnknown)
      continue;
    if (isa<spdc::spd::AddOp>(op))
      out[i] = x + y;
    else if (isa<spdc::spd::SubOp>(op))
      out[i] = x - y;
    else if (isa<spdc::spd::MulOp>(op))
      out[i] = x * y;
    else if (isa<spdc::spd::DivOp>(op))
      out[i] = y == 0 ? kUnknown : x / y;
    else if (isa<spdc::spd::MaxOp>(op))
      out[i] = std::max(x, y);
    else
      out[i] = std::min(x, y);
  }
  setPartialInts(result, out);
}

llvm::SmallVector<Value> GraphImporter::fold(Operation *op) {
  llvm::SmallVector<Value> results(op->getResults());
  if (isa<spdc::spd::ConstantOp>(op))
    return results;
  bool foldable = options.foldConstants && op->getNumOperands() > 0 && op->getNumRegions() == 0;
  llvm::SmallVector<spdc::Tensor> operands;
  for (Value v : op->getOperands()) {
    if (!foldable)
      break;
    std::optional<spdc::Tensor> t = constant(v);
    foldable = t.has_value();
    if (t)
      operands.push_back(std::move(*t));
  }
  for (Value r : results) {
    auto t = dyn_cast<RankedTensorType>(r.getType());
    foldable = foldable && t && t.hasStaticShape() &&
               t.getNumElements() <= (t.getElementType().isInteger(1) ? kMaxFoldMaskElements
                                                                       : kMaxFoldElements);
  }
  if (foldable) {
    // The interpreter only runs valid ops; an invalid one is reported when its node is
    // verified, so this check stays silent.
    bool valid;
    {
      ScopedDiagnosticHandler silence(context(), [](Diagnostic &) { return success(); });
      valid = succeeded(verify(op));
    }
    llvm::Expected<std::vector<spdc::Tensor>> evaluated =
        valid ? spdc::evaluateOp(op, operands)
              : llvm::Expected<std::vector<spdc::Tensor>>(llvm::createStringError("invalid"));
    if (!evaluated) {
      // Left for run time, where the interpreter reports the problem with real inputs.
      llvm::consumeError(evaluated.takeError());
    } else if (evaluated->size() == results.size() &&
               llvm::all_of(llvm::zip(*evaluated, results), [&](auto pair) {
                 auto [t, r] = pair;
                 auto type = tensorType(r);
                 return t.shape() == type.getShape() &&
                        spdc::typeFromDType(context(), t.dtype()) == type.getElementType();
               })) {
      llvm::SmallVector<Value> folded;
      for (const spdc::Tensor &t : *evaluated)
        folded.push_back(constantFromTensor(op->getLoc(), t));
      for (Value r : results)
        partial.erase(r);
      op->replaceAllUsesWith(folded);
      op->erase();
      return folded;
    }
  }
  // The ops' own folders know more than the interpreter can from constants alone (the shape
  // of a static tensor, a cast to the same type).
  SmallVector<OpFoldResult> hookResults;
  if (options.foldConstants && succeeded(op->fold(hookResults)) &&
      hookResults.size() == results.size() &&
      llvm::none_of(hookResults, [&](OpFoldResult r) {
        auto v = dyn_cast<Value>(r);
        return v && v.getDefiningOp() == op;
      })) {
    llvm::SmallVector<Value> folded;
    llvm::SmallVector<Operation *> created;
    for (auto [r, old] : llvm::zip(hookResults, results)) {
      if (auto v = dyn_cast<Value>(r)) {
        if (v.getType() != old.getType())
          break;
        folded.push_back(v);
        continue;
      }
      auto attr = dyn_cast<ElementsAttr>(cast<Attribute>(r));
      if (!attr || attr.getType() != old.getType())
        break;
      auto c = spdc::spd::ConstantOp::create(builder_, op->getLoc(), old.getType(), attr);
      created.push_back(c);
      folded.push_back(c);
    }
    if (folded.size() == results.size()) {
      for (Value r : results)
        partial.erase(r);
      op->replaceAllUsesWith(folded);
      op->erase();
      return folded;
    }
    for (Operation *c : created)
      c->erase();
  }
  propagatePartialInts(op);
  return results;
}

LogicalResult GraphImporter::convertNode(const onnx::NodeProto &node, Block *body) {
  builder_.setInsertionPointToEnd(body);
  Operation *before = body->empty() ? nullptr : &body->back();
  currentNode = &node;
  std::string where = "in ONNX node '" + displayName(node) + "' (" + node.op_type() + ")";
  // Verifier messages name only the op: add the node they came from.
  ScopedDiagnosticHandler addNode(context(), [&](Diagnostic &diag) {
    if (diag.getSeverity() == DiagnosticSeverity::Error &&
        !llvm::StringRef(diag.str()).contains("node '"))
      diag.attachNote() << where;
    return failure();
  });
  // Before opset 7 binary ops broadcast only with `broadcast = 1` and an `axis`, a rule of
  // their own that the converters do not implement.
  if (opset() < 7 && attrInt(node, "broadcast", 0) != 0)
    return error(node, "legacy broadcasting (attribute 'broadcast', opset " +
                           llvm::Twine(opset()) + ") is not supported");
  ConverterFn fn = ConverterTable::get().lookup(node.op_type());
  if (!fn || failed(fn(node, *this)))
    return failure();
  currentNode = nullptr;
  for (int i = 0; i < node.output_size(); ++i)
    if (!node.output(i).empty() && !values.lookup(node.output(i)))
      return error(node, "output " + llvm::Twine(i) + " ('" + node.output(i) +
                             "') is not supported by the converter");
  for (auto it = before ? std::next(before->getIterator()) : body->begin(); it != body->end();
       ++it)
    if (failed(verify(&*it)))
      return failure();
  return success();
}

OwningOpRef<ModuleOp> GraphImporter::run() {
  MLIRContext *ctx = context();
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  const onnx::GraphProto &graph = model->graph();
  if (graph.sparse_initializer_size() > 0) {
    emitError(fileLoc) << "sparse initializers are not supported";
    return {};
  }

  // Graph inputs that are not initializers become the function's arguments.
  llvm::StringSet<> initNames, defined;
  for (const onnx::TensorProto &init : graph.initializer()) {
    initNames.insert(init.name());
    defined.insert(init.name());
  }
  llvm::SmallVector<const onnx::ValueInfoProto *> args;
  llvm::StringSet<> argNames;
  for (const onnx::ValueInfoProto &in : graph.input()) {
    if (in.name().empty()) {
      emitError(fileLoc) << "a graph input has no name";
      return {};
    }
    if (initNames.contains(in.name()) || !argNames.insert(in.name()).second)
      continue;
    if (options.boundInputs.contains(in.name())) {
      defined.insert(in.name());
      continue;
    }
    args.push_back(&in);
    defined.insert(in.name());
  }
  for (const auto &entry : options.inputShapes) {
    if (!argNames.contains(entry.getKey())) {
      InFlightDiagnostic diag = emitError(fileLoc)
                                << "--input-shape names '" << entry.getKey()
                                << "', which is not an input of the model; inputs are:";
      for (const onnx::ValueInfoProto *in : args)
        diag << " '" << in->name() << "'";
      return {};
    }
  }
  llvm::SmallVector<Type> argTypes;
  for (const onnx::ValueInfoProto *in : args) {
    FailureOr<Type> type = inputType(*in);
    if (failed(type))
      return {};
    argTypes.push_back(*type);
  }

  builder_.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(builder_, fileLoc, "main", FunctionType::get(ctx, argTypes, {}));
  Block *body = func.addEntryBlock();
  for (auto [i, in] : llvm::enumerate(args)) {
    values[in->name()] = body->getArgument(i);
    func.setArgAttr(i, "onnx.name", builder_.getStringAttr(in->name()));
  }

  // Initializers: views of the model's bytes or of the mmapped external data.
  builder_.setInsertionPointToEnd(body);
  for (const auto &bound : options.boundInputs)
    if (argNames.contains(bound.getKey()) && !initNames.contains(bound.getKey()))
      values[bound.getKey()] = constantFromTensor(
          NameLoc::get(StringAttr::get(ctx, bound.getKey()), fileLoc), bound.getValue());
  for (const onnx::TensorProto &init : graph.initializer()) {
    Location loc = NameLoc::get(StringAttr::get(ctx, init.name()), fileLoc);
    llvm::Expected<spdc::Tensor> t = spdc::onnx_import::tensorFromProto(
        init, std::shared_ptr<const void>(model, &init), &external);
    if (!t) {
      emitError(loc) << "initializer " << llvm::toString(t.takeError()) << " (in " << fileName
                     << ")";
      return {};
    }
    values[init.name()] = constantFromTensor(loc, *t);
  }

  // Nodes: named and located first, so every later message can name them.
  llvm::SmallVector<const onnx::NodeProto *> nodes;
  for (const onnx::NodeProto &node : graph.node()) {
    size_t index = nodes.size();
    std::string name =
        node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
    Location loc = NameLoc::get(StringAttr::get(ctx, name + " (" + node.op_type() + ")"),
                                FileLineColLoc::get(ctx, fileName, index + 1, 0));
    nodeInfo.try_emplace(&node, NodeInfo{name, loc});
    nodes.push_back(&node);
  }
  if (failed(checkSupported(nodes)))
    return {};
  FailureOr<std::vector<const onnx::NodeProto *>> order = sortNodes(nodes, defined);
  if (failed(order))
    return {};
  for (const onnx::NodeProto *node : *order)
    if (failed(convertNode(*node, body)))
      return {};

  // Results: the types of the values computed (they may be more precise than declared).
  llvm::SmallVector<Value> results;
  for (const onnx::ValueInfoProto &out : graph.output()) {
    Value v = values.lookup(out.name());
    if (!v) {
      emitError(NameLoc::get(StringAttr::get(ctx, out.name()), fileLoc))
          << "graph output '" << out.name() << "' is not produced by any node";
      return {};
    }
    results.push_back(v);
  }
  builder_.setInsertionPointToEnd(body);
  func::ReturnOp::create(builder_, fileLoc, results);
  // Constants whose users were folded away, and nodes nothing reads.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(*body)))
    if (isOpTriviallyDead(&op))
      op.erase();
  func.setType(FunctionType::get(ctx, argTypes, ValueRange(results).getTypes()));
  for (auto [i, out] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "onnx.name", builder_.getStringAttr(out.name()));
  if (failed(verify(*module)))
    return {};
  return module;
}

} // namespace

OwningOpRef<ModuleOp> spdc::importOnnxBuffer(llvm::StringRef buffer, llvm::StringRef fileName,
                                             llvm::StringRef baseDir, MLIRContext &ctx,
                                             const OnnxImportOptions &options) {
  ctx.loadDialect<spd::SpdDialect, func::FuncDialect>();
  Location fileLoc = FileLineColLoc::get(&ctx, fileName, 0, 0);
  auto model = std::make_shared<onnx::ModelProto>();
  if (fileName.ends_with(".onnxtxt") || looksLikeText(buffer)) {
    std::string text = buffer.str();
    llvm::StringMap<std::string> nodeNames = takeNodeNames(text);
    if (std::string error = parseOnnxText(*model, text); !error.empty()) {
      emitError(fileLoc) << "cannot parse '" << fileName << "' as ONNX text: " << error;
      return {};
    }
    restoreNodeNames(*model, nodeNames);
  } else {
    if (buffer.empty()) {
      emitError(fileLoc) << "'" << fileName << "' is empty, not an ONNX model";
      return {};
    }
    if (buffer.size() > static_cast<size_t>(INT_MAX) ||
        !model->ParseFromArray(buffer.data(), static_cast<int>(buffer.size()))) {
      emitError(fileLoc) << "'" << fileName
                         << "' is not a valid ONNX model: protobuf parsing failed (truncated "
                            "or corrupt file?)";
      return {};
    }
  }
  if (!model->has_graph()) {
    emitError(fileLoc) << "'" << fileName << "' is not a valid ONNX model: it holds no graph";
    return {};
  }

  int64_t opset = -1;
  for (const onnx::OperatorSetIdProto &id : model->opset_import())
    if (isDefaultDomain(id.domain()))
      opset = id.version();
  if (opset < 0) {
    // Only a graph without default-domain nodes may omit the opset; its other ops are then
    // reported as unsupported, all at once.
    if (llvm::any_of(model->graph().node(),
                     [](const onnx::NodeProto &n) { return isDefaultDomain(n.domain()); })) {
      emitError(fileLoc) << "'" << fileName << "' imports no opset of the default ONNX domain";
      return {};
    }
    opset = kMaxOpset;
  }
  if (opset < kMinOpset || opset > kMaxOpset) {
    emitError(fileLoc) << "'" << fileName << "' uses ONNX opset " << opset
                       << "; supported opsets are " << kMinOpset << " to " << kMaxOpset;
    return {};
  }
  if (failed(inlineFunctions(*model, fileLoc)))
    return {};
  GraphImporter importer(&ctx, opset, std::move(model), fileName, baseDir, options);
  return importer.run();
}

OwningOpRef<ModuleOp> spdc::importOnnxFile(llvm::StringRef path, MLIRContext &ctx,
                                           const OnnxImportOptions &options) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buf =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf) {
    emitError(FileLineColLoc::get(&ctx, path, 0, 0))
        << "cannot read '" << path << "': " << buf.getError().message();
    return {};
  }
  llvm::StringRef dir = llvm::sys::path::parent_path(path);
  return importOnnxBuffer((*buf)->getBuffer(), path, dir.empty() ? "." : dir, ctx, options);
}
