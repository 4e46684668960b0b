//===- Interpreter.cpp - CPU reference executor of spd IR -----------------===//
//
// Walks a function's body in order, keeping one tensor per SSA value and dropping each after
// its last use. Kernels come from one table keyed by op TypeID; after each kernel the result
// shapes and element types are checked against the op's declared types.
//
//===----------------------------------------------------------------------===//

#include "spdc/Interpreter/Interpreter.h"
#include "KernelUtils.h"
#include "Kernels.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/DenseMap.h"

#include <cstring>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace spdc {

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

/// "node "Gather_3"" for a NameLoc (the importer's ONNX node name), "at file:line:col" for a
/// file location, or "" when the location says nothing useful.
static std::string describeLocation(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc)) {
    std::string s = "node \"" + name.getName().str() + "\"";
    std::string child = describeLocation(name.getChildLoc());
    if (!child.empty() && child.rfind("at ", 0) == 0)
      s += " " + child;
    return s;
  }
  if (auto file = dyn_cast<FileLineColLoc>(loc)) {
    StringRef name = file.getFilename().strref();
    return ("at " + (name.empty() ? StringRef("line ") : name) + (name.empty() ? "" : ":") +
            llvm::Twine(file.getLine()) + ":" + llvm::Twine(file.getColumn()))
        .str();
  }
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location sub : fused.getLocations()) {
      std::string s = describeLocation(sub);
      if (!s.empty())
        return s;
    }
    return "";
  }
  if (auto callSite = dyn_cast<CallSiteLoc>(loc))
    return describeLocation(callSite.getCallee());
  return "";
}

Error opError(Operation *op, const llvm::Twine &message) {
  std::string where = describeLocation(op->getLoc());
  std::string text = op->getName().getStringRef().str();
  if (!where.empty())
    text += " (" + where + ")";
  text += ": " + message.str();
  return llvm::createStringError(llvm::inconvertibleErrorCode(), text);
}

Expected<DType> resultDType(Operation *op, unsigned i) {
  if (i >= op->getNumResults())
    return opError(op, "has no result #" + llvm::Twine(i));
  Expected<DType> t = dtypeFromType(getElementTypeOrSelf(op->getResult(i).getType()));
  if (!t)
    return opError(op, llvm::toString(t.takeError()));
  return t;
}

//===----------------------------------------------------------------------===//
// Types and attributes
//===----------------------------------------------------------------------===//

Expected<DType> dtypeFromType(Type type) {
  type = getElementTypeOrSelf(type);
  if (type.isF32())
    return DType::F32;
  if (type.isF64())
    return DType::F64;
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  if (auto it = dyn_cast<IntegerType>(type)) {
    unsigned w = it.getWidth();
    if (w == 1 && !it.isUnsigned())
      return DType::Bool;
    if (it.isUnsigned()) {
      switch (w) {
      case 8:
        return DType::U8;
      case 16:
        return DType::U16;
      case 32:
        return DType::U32;
      case 64:
        return DType::U64;
      }
    } else {
      switch (w) {
      case 8:
        return DType::I8;
      case 16:
        return DType::I16;
      case 32:
        return DType::I32;
      case 64:
        return DType::I64;
      }
    }
  }
  std::string name;
  llvm::raw_string_ostream os(name);
  type.print(os);
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "element type " + name + " is not supported by the interpreter");
}

Type typeFromDType(MLIRContext *ctx, DType dtype) {
  Builder b(ctx);
  switch (dtype) {
  case DType::F32:
    return b.getF32Type();
  case DType::F64:
    return b.getF64Type();
  case DType::F16:
    return b.getF16Type();
  case DType::BF16:
    return b.getBF16Type();
  case DType::I8:
    return b.getIntegerType(8);
  case DType::I16:
    return b.getIntegerType(16);
  case DType::I32:
    return b.getIntegerType(32);
  case DType::I64:
    return b.getIntegerType(64);
  case DType::U8:
    return b.getIntegerType(8, /*isSigned=*/false);
  case DType::U16:
    return b.getIntegerType(16, /*isSigned=*/false);
  case DType::U32:
    return b.getIntegerType(32, /*isSigned=*/false);
  case DType::U64:
    return b.getIntegerType(64, /*isSigned=*/false);
  case DType::Bool:
    return b.getI1Type();
  }
  return b.getF32Type();
}

static bool isAligned(const void *p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

Expected<Tensor> tensorFromAttr(ElementsAttr attr) {
  auto type = dyn_cast<RankedTensorType>(attr.getType());
  if (!type || !type.hasStaticShape())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "constant must have a static ranked tensor type");
  Expected<DType> dtype = dtypeFromType(type.getElementType());
  if (!dtype)
    return dtype.takeError();
  ArrayRef<int64_t> shape = type.getShape();
  size_t elemSize = dtypeSize(*dtype);
  int64_t n = type.getNumElements();

  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (isa<DenseStringElementsAttr>(dense))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "string constants are not supported");
    // i1 is bit-packed in MLIR's storage; unpack to one byte per element.
    if (*dtype == DType::Bool) {
      Expected<Tensor> t = Tensor::allocate(DType::Bool, shape);
      if (!t)
        return t.takeError();
      uint8_t *out = t->mutableData<uint8_t>();
      if (dense.isSplat()) {
        std::memset(out, dense.getSplatValue<bool>() ? 1 : 0, n);
      } else {
        int64_t i = 0;
        for (bool v : dense.getValues<bool>())
          out[i++] = v ? 1 : 0;
      }
      return t;
    }
    ArrayRef<char> raw = dense.getRawData();
    if (dense.isSplat()) {
      if (raw.size() < elemSize)
        return llvm::createStringError(llvm::inconvertibleErrorCode(), "malformed splat constant");
      Expected<Tensor> t = Tensor::allocate(*dtype, shape);
      if (!t)
        return t.takeError();
      char *out = static_cast<char *>(t->mutableRaw());
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(out + i * elemSize, raw.data(), elemSize);
      return t;
    }
    if (raw.size() != n * elemSize)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "constant holds %zu bytes, expected %zu", raw.size(),
                                     static_cast<size_t>(n * elemSize));
    // The attribute's storage lives as long as the MLIRContext: view it.
    if (isAligned(raw.data(), elemSize))
      return Tensor::view(*dtype, shape, raw.data(), nullptr);
    Expected<Tensor> t = Tensor::allocate(*dtype, shape);
    if (!t)
      return t.takeError();
    std::memcpy(t->mutableRaw(), raw.data(), raw.size());
    return t;
  }

  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    DenseResourceElementsHandle handle = resource.getRawHandle();
    AsmResourceBlob *blob = handle.getBlob();
    if (!blob)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "resource '" + handle.getKey() +
                                         "' has no data (was it elided?)");
    ArrayRef<char> raw = blob->getData();
    if (raw.size() != n * elemSize)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "resource '" + handle.getKey() + "' holds " +
                                         llvm::Twine(raw.size()) + " bytes, its type " +
                                         llvm::Twine(n) + " elements of " + llvm::Twine(elemSize));
    // i1 blobs hold a byte per element; normalize them to 0 / 1 as the kernels expect.
    if (*dtype == DType::Bool) {
      Expected<Tensor> t = Tensor::allocate(DType::Bool, shape);
      if (!t)
        return t.takeError();
      uint8_t *out = t->mutableData<uint8_t>();
      for (int64_t i = 0; i < n; ++i)
        out[i] = raw[i] != 0;
      return t;
    }
    // The blob is owned by the context's resource manager and stays valid while the context
    // lives and the resource is not replaced; viewing it avoids copying weights.
    if (isAligned(raw.data(), elemSize))
      return Tensor::view(*dtype, shape, raw.data(), nullptr);
    Expected<Tensor> t = Tensor::allocate(*dtype, shape);
    if (!t)
      return t.takeError();
    std::memcpy(t->mutableRaw(), raw.data(), raw.size());
    return t;
  }
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "unsupported constant attribute kind");
}

ElementsAttr attrFromTensor(MLIRContext *ctx, const Tensor &t) {
  auto type = RankedTensorType::get(t.shape(), typeFromDType(ctx, t.dtype()));
  if (t.dtype() == DType::Bool) {
    llvm::SmallVector<bool> values(t.numElements());
    for (int64_t i = 0, e = t.numElements(); i < e; ++i)
      values[i] = t.data<uint8_t>()[i] != 0;
    return DenseElementsAttr::get(type, values);
  }
  ArrayRef<char> raw(static_cast<const char *>(t.raw()), t.byteSize());
  return DenseElementsAttr::getFromRawBuffer(type, raw);
}

//===----------------------------------------------------------------------===//
// Execution
//===----------------------------------------------------------------------===//

static Error constantKernel(Operation *op, ArrayRef<Tensor>, std::vector<Tensor> &results) {
  auto constant = cast<spd::ConstantOp>(op);
  Expected<Tensor> t = tensorFromAttr(constant.getValue());
  if (!t)
    return opError(op, llvm::toString(t.takeError()));
  results.push_back(std::move(*t));
  return Error::success();
}

static Error fusionKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results);

static const KernelTable &kernelTable() {
  static const KernelTable table = [] {
    KernelTable t;
    t.add<spd::ConstantOp>(constantKernel);
    t.add<spd::FusionOp>(fusionKernel);
    registerElementwiseKernels(t);
    registerReductionKernels(t);
    registerNormalizationKernels(t);
    registerContractionKernels(t);
    registerMovementKernels(t);
    registerQuantizationKernels(t);
    registerActivationKernels(t);
    registerRopeKernels(t);
    registerAttentionKernels(t);
    return t;
  }();
  return table;
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += "x";
    s += ShapedType::isDynamic(d) ? "?" : std::to_string(d);
  }
  return s;
}

/// Checks that `t` fits `type`: element type, rank and every static dimension.
static Error checkAgainstType(Operation *op, const Tensor &t, Type type, const llvm::Twine &what) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return opError(op, what + " has a type that is not a ranked tensor");
  Expected<DType> dtype = dtypeFromType(ranked.getElementType());
  if (!dtype)
    return opError(op, what + ": " + llvm::toString(dtype.takeError()));
  bool ok = *dtype == t.dtype() && ranked.getRank() == t.rank();
  for (int64_t i = 0; ok && i < t.rank(); ++i)
    ok = ranked.isDynamicDim(i) || ranked.getDimSize(i) == t.dim(i);
  if (!ok)
    return opError(op, what + " is " + t.typeString() + " but its type is " + dtypeName(*dtype) +
                           "[" + shapeString(ranked.getShape()) + "]");
  if (!t.valid())
    return opError(op, what + " has no data");
  return Error::success();
}

/// Runs the kernel of `op` and checks its results against the op's result types.
static Expected<std::vector<Tensor>> execute(Operation *op, ArrayRef<Tensor> operands) {
  if (operands.size() != op->getNumOperands())
    return opError(op, "expects " + llvm::Twine(op->getNumOperands()) + " operands, got " +
                           llvm::Twine(operands.size()));
  KernelFn kernel = kernelTable().lookup(op);
  if (!kernel)
    return opError(op, "the interpreter has no kernel for this op");
  std::vector<Tensor> results;
  results.reserve(op->getNumResults());
  if (Error e = kernel(op, operands, results))
    return std::move(e);
  if (results.size() != op->getNumResults())
    return opError(op, "kernel produced " + llvm::Twine(results.size()) + " results, the op has " +
                           llvm::Twine(op->getNumResults()));
  for (auto [i, t] : llvm::enumerate(results))
    if (Error e = checkAgainstType(op, t, op->getResult(i).getType(), "result #" + llvm::Twine(i)))
      return std::move(e);
  return results;
}

Expected<std::vector<Tensor>> evaluateOp(Operation *op, ArrayRef<Tensor> operands) {
  return execute(op, operands);
}

/// True when `t`'s data lies inside one of `ranges` (constant storage owned by the context).
static bool aliasesAny(const Tensor &t, ArrayRef<std::pair<const char *, size_t>> ranges) {
  const char *p = static_cast<const char *>(t.raw());
  for (auto [begin, size] : ranges)
    if (p >= begin && p < begin + std::max<size_t>(size, 1))
      return true;
  return false;
}

/// Runs the ops of `body` in order with `args` bound to its arguments and returns the tensors
/// its terminator (func.return or spd.yield) reads. Shared by functions and fusion regions.
static Expected<std::vector<Tensor>> runBlock(Block &body, ArrayRef<Tensor> args) {
  if (args.size() != body.getNumArguments())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "block expects " + llvm::Twine(body.getNumArguments()) +
                                       " arguments, got " + llvm::Twine(args.size()));
  llvm::DenseMap<Value, Tensor> values;
  for (auto [arg, in] : llvm::zip_equal(body.getArguments(), args))
    values[arg] = in;

  // Index of the last op using each value, so intermediates are freed as soon as possible.
  llvm::DenseMap<Value, unsigned> lastUse;
  for (auto [index, op] : llvm::enumerate(body))
    for (Value v : op.getOperands())
      lastUse[v] = index;

  llvm::SmallVector<std::pair<const char *, size_t>> constantRanges;
  std::vector<Tensor> operands;
  for (auto [here, op] : llvm::enumerate(body)) {
    if (op.hasTrait<OpTrait::IsTerminator>()) {
      if (!isa<func::ReturnOp, spd::YieldOp>(op))
        return opError(&op, "the interpreter runs blocks ending in func.return or spd.yield");
      std::vector<Tensor> results;
      for (auto [i, v] : llvm::enumerate(op.getOperands())) {
        auto it = values.find(v);
        if (it == values.end())
          return opError(&op, "returned value #" + llvm::Twine(i) + " is not defined in the block");
        Tensor t = it->second;
        // A returned constant (or a view of one) points into the context's storage; copy it
        // so the results outlive the module.
        if (!constantRanges.empty() && t.numElements() > 0 && aliasesAny(t, constantRanges)) {
          Expected<Tensor> copy = Tensor::allocate(t.dtype(), t.shape());
          if (!copy)
            return copy.takeError();
          std::memcpy(copy->mutableRaw(), t.raw(), t.byteSize());
          t = std::move(*copy);
        }
        results.push_back(std::move(t));
      }
      return results;
    }
    operands.clear();
    for (auto [i, v] : llvm::enumerate(op.getOperands())) {
      auto it = values.find(v);
      if (it == values.end())
        return opError(&op, "operand #" + llvm::Twine(i) +
                                " has no value (is it defined outside the block?)");
      operands.push_back(it->second);
    }
    Expected<std::vector<Tensor>> results = execute(&op, operands);
    if (!results)
      return results.takeError();
    bool isConstant = isa<spd::ConstantOp>(op);
    for (auto [v, t] : llvm::zip_equal(op.getResults(), *results)) {
      if (isConstant)
        constantRanges.push_back({static_cast<const char *>(t.raw()), t.byteSize()});
      if (lastUse.count(v))
        values[v] = std::move(t);
    }
    for (Value v : op.getOperands())
      if (lastUse.lookup(v) == here && !isa<BlockArgument>(v))
        values.erase(v);
  }
  return llvm::createStringError(llvm::inconvertibleErrorCode(), "block has no terminator");
}

/// spd.fusion runs its body as written: the operands bound to the block arguments, the
/// yielded tensors as results.
static Error fusionKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto fusion = cast<spd::FusionOp>(op);
  Expected<std::vector<Tensor>> out = runBlock(fusion.getBody().front(), operands);
  if (!out)
    return opError(op, llvm::toString(out.takeError()));
  results = std::move(*out);
  return Error::success();
}

Expected<std::vector<Tensor>> runFunction(func::FuncOp func, ArrayRef<Tensor> inputs) {
  auto fail = [&](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "@" + func.getSymName() + ": " + message);
  };
  if (func.isExternal())
    return fail("function has no body");
  if (!func.getBody().hasOneBlock())
    return fail("functions with more than one block are not supported");
  FunctionType fnType = func.getFunctionType();
  if (inputs.size() != fnType.getNumInputs())
    return fail("expects " + llvm::Twine(fnType.getNumInputs()) + " inputs, got " +
                llvm::Twine(inputs.size()));

  Block &body = func.getBody().front();
  for (auto [i, arg] : llvm::enumerate(body.getArguments())) {
    const Tensor &in = inputs[i];
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type)
      return fail("argument #" + llvm::Twine(i) + " is not a ranked tensor");
    Expected<DType> dtype = dtypeFromType(type.getElementType());
    if (!dtype)
      return fail("argument #" + llvm::Twine(i) + ": " + llvm::toString(dtype.takeError()));
    std::string expected = dtypeName(*dtype).str() + "[" + shapeString(type.getShape()) + "]";
    if (in.dtype() != *dtype)
      return fail("input #" + llvm::Twine(i) + " is " + in.typeString() +
                  ", expected element type " + dtypeName(*dtype) + " (" + expected + ")");
    if (in.rank() != type.getRank())
      return fail("input #" + llvm::Twine(i) + " is " + in.typeString() + ", expected rank " +
                  llvm::Twine(type.getRank()) + " (" + expected + ")");
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (!type.isDynamicDim(d) && type.getDimSize(d) != in.dim(d))
        return fail("input #" + llvm::Twine(i) + " is " + in.typeString() + ", dimension " +
                    llvm::Twine(d) + " must be " + llvm::Twine(type.getDimSize(d)) + " (" +
                    expected + ")");
    if (!in.valid())
      return fail("input #" + llvm::Twine(i) + " has no data");
    // Kernels read i1 elements as C++ bool, for which any byte but 0 and 1 is undefined.
    if (in.dtype() == DType::Bool) {
      const uint8_t *bytes = in.data<uint8_t>();
      for (int64_t k = 0, n = in.numElements(); k < n; ++k)
        if (bytes[k] > 1)
          return fail("input #" + llvm::Twine(i) + " is i1 but element " + llvm::Twine(k) +
                      " holds the byte " + llvm::Twine(unsigned(bytes[k])) + " (must be 0 or 1)");
    }
  }
  if (!isa<func::ReturnOp>(body.getTerminator()))
    return fail("function body does not end with func.return");
  return runBlock(body, inputs);
}

} // namespace spdc
