#include "graph/passes/dce.h"

#include <algorithm>

#include "base/status_macros.h"

namespace ggrt {
namespace {

bool WritesState(const Node* n) {
  for (size_t i = 0; i < n->results.size(); ++i) {
    if (AliasedOperand(n->op, static_cast<int>(i)) >= 0) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<bool> DcePass::Run(Graph& g) {
  bool changed = false;
  // Reverse order: removing a node can make its producers dead in the same sweep.
  std::vector<Node*> nodes = g.nodes();
  std::reverse(nodes.begin(), nodes.end());
  for (Node* n : nodes) {
    if (WritesState(n)) continue;
    const bool dead = std::all_of(n->results.begin(), n->results.end(), [&](const Value* r) {
      return r->users.empty() && std::find(g.outputs().begin(), g.outputs().end(), r) == g.outputs().end();
    });
    if (!dead) continue;
    RETURN_IF_ERROR(g.RemoveNode(n));
    changed = true;
  }
  return changed;
}

}  // namespace ggrt
