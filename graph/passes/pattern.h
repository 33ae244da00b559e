// Small matching helpers shared by the fusion passes.
#ifndef GGRT_GRAPH_PASSES_PATTERN_H_
#define GGRT_GRAPH_PASSES_PATTERN_H_

#include <algorithm>

#include "graph/graph.h"

namespace ggrt {

// The node producing `v` if it is an `op` node, else nullptr.
inline Node* ProducedBy(const Value* v, OpKind op) {
  return v != nullptr && v->producer != nullptr && v->producer->op == op ? v->producer : nullptr;
}

// Whether `v` is used exactly once (by one operand of one node) and is not a graph output; fusing away such
// an intermediate cannot change anything else.
inline bool HasSingleUse(const Graph& g, const Value* v) {
  return v->users.size() == 1 && std::find(g.outputs().begin(), g.outputs().end(), v) == g.outputs().end();
}

// Whether `v` is a bias: a 1-D parameter.
inline bool IsBias(const Value* v) { return v->kind == ValueKind::kParam && v->type.shape.size() == 1; }

// Whether `n` is an rms_norm over whole rows (not the per-head form whose weight is one head wide).
inline bool IsRowNorm(const Node* n) {
  return n->op == OpKind::kRmsNorm && n->operands[1]->type.shape[0] == n->operands[0]->type.shape[1];
}

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_PATTERN_H_
