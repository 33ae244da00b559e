#include "graph/memory_plan.h"

#include <algorithm>

#include "base/status_macros.h"

namespace ggrt {
namespace {

struct Interval {
  const Value* value;
  int first;  // Index of the producing node.
  int last;   // Index of the last node that reads it (inclusive), or the end for outputs.
  int64_t bytes;
  int64_t offset = -1;
};

}  // namespace

const Value* BufferOwner(const Value* v) {
  while (v->kind == ValueKind::kResult) {
    const int operand = AliasedOperand(v->producer->op, v->result_index);
    if (operand < 0) break;
    v = v->producer->operands[operand];
  }
  return v;
}

absl::StatusOr<MemoryPlan> PlanMemory(const Graph& g, int64_t alignment) {
  absl::flat_hash_map<const Node*, int> index;
  for (size_t i = 0; i < g.nodes().size(); ++i) index[g.nodes()[i]] = static_cast<int>(i);
  const int end = static_cast<int>(g.nodes().size());

  std::vector<Interval> intervals;
  for (const Node* n : g.nodes()) {
    for (const Value* r : n->results) {
      if (BufferOwner(r) != r) continue;
      Interval iv{r, index[n], index[n], (r->type.bytes() + alignment - 1) / alignment * alignment};
      for (const Node* user : r->users) iv.last = std::max(iv.last, index[user]);
      if (std::find(g.outputs().begin(), g.outputs().end(), r) != g.outputs().end()) iv.last = end;
      intervals.push_back(iv);
    }
  }
  // Largest first, then earliest: the usual greedy order for offset assignment.
  std::vector<Interval*> order;
  for (Interval& iv : intervals) order.push_back(&iv);
  std::sort(order.begin(), order.end(), [](const Interval* a, const Interval* b) {
    return a->bytes != b->bytes ? a->bytes > b->bytes : a->first < b->first;
  });
  MemoryPlan plan;
  std::vector<const Interval*> placed;
  for (Interval* iv : order) {
    // Address ranges already taken by values alive at the same time, sorted by offset.
    std::vector<const Interval*> conflicts;
    for (const Interval* p : placed) {
      if (p->first <= iv->last && iv->first <= p->last) conflicts.push_back(p);
    }
    std::sort(conflicts.begin(), conflicts.end(),
              [](const Interval* a, const Interval* b) { return a->offset < b->offset; });
    int64_t offset = 0;
    for (const Interval* c : conflicts) {
      if (offset + iv->bytes <= c->offset) break;
      offset = std::max(offset, c->offset + c->bytes);
    }
    iv->offset = offset;
    placed.push_back(iv);
    plan.offsets[iv->value] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + iv->bytes);
    plan.unshared_bytes += iv->bytes;
  }
  return plan;
}

}  // namespace ggrt
