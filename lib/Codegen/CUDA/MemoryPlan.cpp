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

#include <algorithm>

using namespace spdc;
using namespace spdc::codegen::detail;

static uint64_t alignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

uint64_t spdc::codegen::detail::planMemory(std::vector<LogicalBuffer> &buffers,
                                           bundle::Plan &plan) {
  std::vector<int> order;
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].space == bundle::Space::Arena && buffers[i].last >= 0)
      order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return buffers[a].first < buffers[b].first; });
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

  auto fix = [&](bundle::BufferRef &r) {
    const LogicalBuffer &b = buffers[r.index];
    uint64_t delta = r.offset;
    r.space = b.space;
    r.index = b.index;
    r.offset = (b.space == bundle::Space::Arena || b.space == bundle::Space::Weights)
                   ? b.offset + delta
                   : 0;
  };
  for (bundle::Launch &l : plan.launches)
    for (bundle::KernelArg &a : l.args)
      if (a.kind == bundle::KernelArg::Kind::Buffer)
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
  return peak;
}
