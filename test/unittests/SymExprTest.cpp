//===- SymExprTest.cpp - polynomials of dynamic dimensions ------------------===//

#include "spdc/Analysis/SymbolicShapes.h"

#include <gtest/gtest.h>

using spdc::SymExpr;

namespace {

SymExpr c(int64_t v) { return SymExpr::constant(v); }
SymExpr s(unsigned i) { return SymExpr::symbol(i); }

TEST(SymExpr, CanonicalFormAndPrinting) {
  EXPECT_EQ(c(0).str(), "0");
  EXPECT_EQ(c(768).str(), "768");
  EXPECT_EQ(s(1).str(), "s1");
  // Terms of equal polynomials compare equal whatever the order they were built in.
  EXPECT_EQ(s(0) * s(1) * c(12) + c(4), c(4) + s(1) * c(12) * s(0));
  EXPECT_EQ((s(0) * s(1) * c(12) + c(4)).str(), "12*s0*s1 + 4");
  EXPECT_EQ((c(0) - s(2)).str(), "-s2");
  EXPECT_EQ((s(0) - s(0)).getConstant(), 0);
  EXPECT_EQ((s(0) * s(0)).str(), "s0*s0");
  EXPECT_EQ(s(3).getSymbol(), 3u);
  EXPECT_FALSE((s(3) * c(2)).getSymbol().has_value());
  EXPECT_FALSE(s(3).getConstant().has_value());
}

TEST(SymExpr, ExactDivision) {
  // Reshape's -1: the element count over the known dimensions.
  SymExpr total = s(0) * s(1) * c(768);
  std::optional<SymExpr> q = total.divideExactly(s(0) * s(1) * c(12));
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(*q, c(64));
  EXPECT_EQ(total.divideExactly(c(768)), s(0) * s(1));
  EXPECT_FALSE(total.divideExactly(c(5)).has_value());       // 768 / 5
  EXPECT_FALSE(total.divideExactly(s(2)).has_value());       // no s2 factor
  EXPECT_FALSE((s(0) + c(1)).divideExactly(s(0)).has_value()); // 1 / s0
  EXPECT_FALSE(total.divideExactly(s(0) + s(1)).has_value()); // not a monomial
  // Range's length: (limit - start) / delta.
  EXPECT_EQ((s(1) - c(0)).divideExactly(c(1)), s(1));
}

TEST(SymExpr, Renaming) {
  SymExpr e = s(2) * s(3) + s(1);
  EXPECT_EQ(e.renamed([](unsigned v) { return v == 3 ? 1u : v; }), s(2) * s(1) + s(1));
}

} // namespace
