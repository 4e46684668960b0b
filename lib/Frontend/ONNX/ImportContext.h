//===- ImportContext.h - what an ONNX op converter sees --------*- C++ -*-===//
//
// The interface between the importer's graph walk (Importer.cpp) and the converters in Ops/.
// A converter reads one NodeProto, builds spd ops at the node's location, and binds the node's
// outputs. It never asserts on model input: anything it cannot handle becomes `ctx.error(...)`.
//
//===----------------------------------------------------------------------===//

#ifndef SPDC_LIB_FRONTEND_ONNX_IMPORTCONTEXT_H
#define SPDC_LIB_FRONTEND_ONNX_IMPORTCONTEXT_H

#include "spdc/Dialect/Spd/SpdOps.h"
#include "spdc/Interpreter/Tensor.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

#include <onnx/onnx_pb.h>

#include <optional>

namespace spdc::onnx_import {

/// Unknown entry of a partially known integer vector (a shape being computed).
constexpr int64_t kUnknown = mlir::ShapedType::kDynamic;

class ImportContext {
public:
  virtual ~ImportContext() = default;

  mlir::OpBuilder &builder() { return builder_; }
  mlir::MLIRContext *context() { return builder_.getContext(); }
  /// Opset of the default ONNX domain the model imports.
  int64_t opset() const { return opset_; }

  //===--- Node inputs, outputs and location ---------------------------------===//

  /// Input `i` of `node`, or a null Value when the input is absent or its name is empty.
  virtual mlir::Value input(const onnx::NodeProto &node, int i) = 0;
  /// Binds output `i` of `node`. The value's type must already be as precise as known.
  virtual void setOutput(const onnx::NodeProto &node, int i, mlir::Value value) = 0;
  /// Whether output `i` exists and is used (named, non-empty).
  bool hasOutput(const onnx::NodeProto &node, int i) const {
    return i < node.output_size() && !node.output(i).empty();
  }
  /// The node's location: its name and op type inside the model file.
  virtual mlir::Location loc(const onnx::NodeProto &node) = 0;

  /// Emits an error at the node ("node 'Gather_3' (Gather): <message>") and returns failure.
  virtual mlir::LogicalResult error(const onnx::NodeProto &node, const llvm::Twine &message) = 0;

  //===--- Attributes ----------------------------------------------------------===//

  static const onnx::AttributeProto *attr(const onnx::NodeProto &node, llvm::StringRef name);
  static int64_t attrInt(const onnx::NodeProto &node, llvm::StringRef name, int64_t dflt);
  static float attrFloat(const onnx::NodeProto &node, llvm::StringRef name, float dflt);
  static std::string attrString(const onnx::NodeProto &node, llvm::StringRef name,
                                llvm::StringRef dflt);
  static std::optional<llvm::SmallVector<int64_t>> attrInts(const onnx::NodeProto &node,
                                                            llvm::StringRef name);

  //===--- Constants and partially known values --------------------------------===//

  /// The value of `v` when it is a constant (a `spd.constant`), viewed without copying.
  virtual std::optional<Tensor> constant(mlir::Value v) = 0;
  /// The elements of a constant integer tensor of any rank (axes, pads, shapes...).
  std::optional<llvm::SmallVector<int64_t>> constantInts(mlir::Value v);
  /// The elements of a 0-D or 1-D integer value as far as they are known at import: a shape
  /// computed from `spd.shape` of a tensor with dynamic dims has `kUnknown` where the dim is
  /// dynamic. None when nothing is known (not even the length).
  virtual std::optional<llvm::SmallVector<int64_t>> partialInts(mlir::Value v) = 0;
  /// Records what is known of an integer vector `v` the converter built.
  virtual void setPartialInts(mlir::Value v, llvm::ArrayRef<int64_t> values) = 0;

  /// A constant built from a tensor (dense when small, dense_resource otherwise).
  virtual mlir::Value constantFromTensor(mlir::Location loc, const Tensor &t) = 0;
  /// A constant holding `proto` (a `value` attribute of a Constant node, say), at the node's
  /// location. Data the model holds is viewed, not copied. Emits an error naming the node and
  /// returns failure for unsupported data types or inconsistent sizes.
  virtual mlir::FailureOr<mlir::Value> constantFromProto(const onnx::NodeProto &node,
                                                         const onnx::TensorProto &proto) = 0;
  /// 1-D i64 constant.
  mlir::Value constI64(mlir::Location loc, llvm::ArrayRef<int64_t> values);
  /// 0-D constant of `elementType` holding `value` (converted).
  mlir::Value constScalar(mlir::Location loc, mlir::Type elementType, double value);

  /// Folds `op` when all its operands are constants and its results are small: the interpreter
  /// evaluates it and the results become constants. Returns the (possibly replaced) results.
  /// Converters call this for every op they build (`create` below does it for them).
  virtual llvm::SmallVector<mlir::Value> fold(mlir::Operation *op) = 0;

  /// Builds an op and folds it when possible; returns its first result.
  template <typename OpT, typename... Args>
  mlir::Value create(mlir::Location loc, Args &&...args) {
    auto op = OpT::create(builder_, loc, std::forward<Args>(args)...);
    return fold(op.getOperation()).front();
  }

protected:
  ImportContext(mlir::MLIRContext *ctx, int64_t opset) : builder_(ctx), opset_(opset) {}

  mlir::OpBuilder builder_;
  int64_t opset_;
};

/// Converts one node. Returns failure after emitting an error through `ctx.error`.
using ConverterFn = mlir::LogicalResult (*)(const onnx::NodeProto &node, ImportContext &ctx);

/// Op type → converter, for the default ONNX domain. A converter handles every opset from 13 to
/// 21 (and older ones where the node tests use them), reading `ctx.opset()` where attributes moved
/// to inputs.
class ConverterTable {
public:
  void add(llvm::StringRef opType, ConverterFn fn) { table[opType] = fn; }
  ConverterFn lookup(llvm::StringRef opType) const { return table.lookup(opType); }
  bool contains(llvm::StringRef opType) const { return table.contains(opType); }

  /// The table with every converter registered.
  static const ConverterTable &get();

private:
  llvm::StringMap<ConverterFn> table;
};

// One family per file in Ops/.
void registerElementwiseConverters(ConverterTable &table);
void registerMathConverters(ConverterTable &table);
void registerNNConverters(ConverterTable &table);
void registerReductionConverters(ConverterTable &table);
void registerTensorConverters(ConverterTable &table);
void registerShapeConverters(ConverterTable &table);
void registerQuantizationConverters(ConverterTable &table);

//===--- Shape helpers shared by converters (ShapeHelper.cpp) ------------------===//

/// numpy broadcast of two shapes; dynamic dims stay dynamic unless the other is a static
/// non-1. Fails when two static dims differ and neither is 1.
mlir::FailureOr<llvm::SmallVector<int64_t>> broadcastShapes(llvm::ArrayRef<int64_t> a,
                                                            llvm::ArrayRef<int64_t> b);
/// Normalizes a possibly negative axis against `rank`; failure when out of range.
mlir::FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank);
/// The ranked tensor type of `v`.
inline mlir::RankedTensorType tensorType(mlir::Value v) {
  return mlir::cast<mlir::RankedTensorType>(v.getType());
}

/// An ONNX TensorProto data type as an MLIR element type; null for unsupported ones.
mlir::Type elementTypeFromOnnx(mlir::MLIRContext *ctx, int32_t onnxDataType);

} // namespace spdc::onnx_import

#endif // SPDC_LIB_FRONTEND_ONNX_IMPORTCONTEXT_H
