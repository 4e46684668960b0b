//===- PlanTestSupport.h - building plans in the runtime tests --*- C++ -*-===//

#ifndef SPDC_TEST_RUNTIME_PLANTESTSUPPORT_H
#define SPDC_TEST_RUNTIME_PLANTESTSUPPORT_H

#include "bundle/Plan.h"

#include <initializer_list>

namespace spdc::bundle::test {

/// A buffer argument.
inline KernelArg bufferArg(BufferRef buffer) {
  KernelArg a;
  a.buffer = buffer;
  return a;
}

/// A 64-bit integer argument.
inline KernelArg i64Arg(Int value) {
  KernelArg a;
  a.kind = KernelArg::Kind::I64;
  a.i64 = value;
  return a;
}

/// A tensor-map argument over `buffer`: dims innermost first, byte strides of dims 1 and up,
/// the box (elements; the rest 1) and the swizzle (bytes).
inline KernelArg tensorMapArg(BufferRef buffer, ElementType type, std::initializer_list<Int> dims,
                              std::initializer_list<Int> strides,
                              std::initializer_list<uint32_t> box, uint32_t swizzle = 128) {
  KernelArg a;
  a.kind = KernelArg::Kind::TensorMap;
  a.buffer = buffer;
  a.map.type = type;
  a.map.rank = uint32_t(dims.size());
  uint32_t i = 0;
  for (const Int &d : dims)
    a.map.dims[i++] = d;
  i = 0;
  for (const Int &s : strides)
    a.map.strides[i++] = s;
  i = 0;
  for (uint32_t b : box)
    a.map.box[i++] = b;
  a.map.swizzle = swizzle;
  return a;
}

/// One instruction of an expression program.
inline ExprOp op(ExprOp::Code code, int64_t operand = 0) {
  ExprOp o;
  o.code = code;
  o.operand = operand;
  return o;
}

} // namespace spdc::bundle::test

#endif // SPDC_TEST_RUNTIME_PLANTESTSUPPORT_H
