//===- MemoryPlan.cpp - arena offsets from liveness -----------------------===//
//
// Every arena buffer lives from the first to the last step that touches it (views share their
// source's buffer, so a view's readers extend its life). Buffers are placed in order of their
// first step at the best-fitting gap among the buffers still live (smallest gap that holds it,
// else the end), kArenaAlign-aligned. A buffer freed at step s is reusable from step s + 1, so
// a kernel never writes over what it reads.
//
//===----------------------------------------------------------------------===//

#include "CodegenImpl.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>

using namespace spdc;
using namespace spdc::codegen::detail;

static uint64_t alignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/// The arena buffers some step uses, in order of their first step.
static std::vector<int> arenaOrder(const std::vector<LogicalBuffer> &buffers) {
  std::vector<int> order;
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].space == bundle::Space::Arena && buffers[i].last >= 0)
      order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return buffers[a].first < buffers[b].first; });
  return order;
}

uint64_t spdc::codegen::detail::planMemory(std::vector<LogicalBuffer> &buffers,
                                           bundle::Plan &plan) {
  std::vector<int> order = arenaOrder(buffers);
  struct Live {
    uint64_t offset, size;
    int last;
  };
  std::vector<Live> live;
  uint64_t peak = 0;
  for (int id : order) {
    LogicalBuffer &b = buffers[id];
    live.erase(std::remove_if(live.begin(), live.end(),
                              [&](const Live &l) { return l.last < b.first; }),
               live.end());
    std::sort(live.begin(), live.end(),
              [](const Live &x, const Live &y) { return x.offset < y.offset; });
    uint64_t size = alignUp(std::max<uint64_t>(b.bytes, 1), kArenaAlign);
    uint64_t best = UINT64_MAX, bestGap = UINT64_MAX, cursor = 0;
    for (const Live &l : live) {
      if (l.offset >= cursor && l.offset - cursor >= size && l.offset - cursor < bestGap) {
        best = cursor;
        bestGap = l.offset - cursor;
      }
      cursor = std::max(cursor, l.offset + l.size);
    }
    if (best == UINT64_MAX)
      best = cursor;
    b.offset = best;
    live.push_back({best, size, b.last});
    peak = std::max(peak, best + size);
  }
  plan.arenaBytes = peak;
  rewriteBufferRefs(buffers, plan, nullptr);
  return peak;
}

void spdc::codegen::detail::rewriteBufferRefs(std::vector<LogicalBuffer> &buffers,
                                              bundle::Plan &plan, Generator *gen) {
  auto fix = [&](bundle::BufferRef &r) {
    const LogicalBuffer &b = buffers[r.index];
    int64_t delta = r.offset;
    r.space = b.space;
    r.index = b.index;
    if (b.space != bundle::Space::Arena && b.space != bundle::Space::Weights)
      r.offset = 0;
    else if (!b.offset.isDynamic())
      r.offset = b.offset.value + delta;
    else if (delta == 0)
      r.offset = b.offset;
    else
      r.offset = gen->planInt({{bundle::ExprOp::Code::Ref, b.offset.expr},
                               {bundle::ExprOp::Code::Const, delta},
                               {bundle::ExprOp::Code::Add, 0}});
  };
  for (bundle::Launch &l : plan.launches)
    for (auto *list : {&l.args, &l.specialArgs})
      for (bundle::KernelArg &a : *list)
        if (a.refersToBuffer())
          fix(a.buffer);
  for (bundle::Gemm &g : plan.gemms) {
    fix(g.a);
    fix(g.b);
    fix(g.c);
    fix(g.d);
    fix(g.bias);
  }
  for (bundle::Copy &c : plan.copies) {
    fix(c.src);
    fix(c.dst);
  }
  for (bundle::PitchedOutput &po : plan.pitchedOutputs)
    fix(po.padded);
}

void spdc::codegen::detail::planMemoryDynamic(std::vector<LogicalBuffer> &buffers,
                                              Generator &gen) {
  using Code = bundle::ExprOp::Code;
  std::vector<int> order = arenaOrder(buffers);
  // Sizes are only known at bind time, so buffers whose lives do not overlap share a slot as
  // large as the largest of them; a buffer prefers a free slot that already holds its size.
  struct Slot {
    std::vector<SymExpr> sizes;
    int last;
  };
  std::vector<Slot> slots;
  std::vector<size_t> slotOf(buffers.size(), 0);
  for (int id : order) {
    LogicalBuffer &b = buffers[id];
    int pick = -1;
    for (size_t s = 0; s < slots.size(); ++s) {
      if (slots[s].last >= b.first)
        continue;
      bool same = llvm::is_contained(slots[s].sizes, b.size);
      if (pick < 0 || same)
        pick = s;
      if (same)
        break;
    }
    if (pick < 0) {
      pick = slots.size();
      slots.push_back({{}, -1});
    }
    if (!llvm::is_contained(slots[pick].sizes, b.size))
      slots[pick].sizes.push_back(b.size);
    slots[pick].last = b.last;
    slotOf[id] = pick;
  }
  // Offsets: running sums of the slots' sizes, each rounded up to kArenaAlign.
  std::vector<bundle::Int> offsets;
  bundle::Int end = 0;
  for (const Slot &slot : slots) {
    offsets.push_back(end);
    std::vector<bundle::ExprOp> ops;
    if (end.isDynamic())
      ops.push_back({Code::Ref, end.expr});
    else
      ops.push_back({Code::Const, end.value});
    for (size_t i = 0; i < slot.sizes.size(); ++i) {
      gen.appendProgram(slot.sizes[i], ops);
      if (i)
        ops.push_back({Code::Max, 0});
    }
    ops.insert(ops.end(), {{Code::Const, 1},
                           {Code::Max, 0},
                           {Code::Const, int64_t(kArenaAlign)},
                           {Code::CeilDiv, 0},
                           {Code::Const, int64_t(kArenaAlign)},
                           {Code::Mul, 0},
                           {Code::Add, 0}});
    end = gen.planInt(std::move(ops));
  }
  for (int id : order)
    buffers[id].offset = offsets[slotOf[id]];
  gen.plan.arenaBytes = end;
  rewriteBufferRefs(buffers, gen.plan, &gen);
}
