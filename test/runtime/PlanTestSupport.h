//===- PlanTestSupport.h - building plans in the runtime tests --*- C++ -*-===//

#ifndef SPDC_TEST_RUNTIME_PLANTESTSUPPORT_H
#define SPDC_TEST_RUNTIME_PLANTESTSUPPORT_H

#include "bundle/Plan.h"

namespace spdc::bundle::test {

/// One instruction of an expression program.
inline ExprOp op(ExprOp::Code code, int64_t operand = 0) {
  ExprOp o;
  o.code = code;
  o.operand = operand;
  return o;
}

} // namespace spdc::bundle::test

#endif // SPDC_TEST_RUNTIME_PLANTESTSUPPORT_H
