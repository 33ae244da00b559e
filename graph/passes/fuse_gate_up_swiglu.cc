#include "graph/passes/fuse_gate_up_swiglu.h"

#include "base/status_macros.h"
#include "graph/passes/pattern.h"

namespace ggrt {

absl::StatusOr<bool> FuseGateUpSwigluPass::Run(Graph& g) {
  bool changed = false;
  const std::vector<Node*> nodes = g.nodes();
  for (Node* act : nodes) {
    if (act->op != OpKind::kSwiglu) continue;
    Node* gate = ProducedBy(act->operands[0], OpKind::kMatmul);
    Node* up = ProducedBy(act->operands[1], OpKind::kMatmul);
    if (gate == nullptr || up == nullptr || gate == up || gate->operands[0] != up->operands[0]) continue;
    if (!HasSingleUse(g, gate->results[0]) || !HasSingleUse(g, up->results[0])) continue;
    if (gate->operands[1]->type.dtype != up->operands[1]->type.dtype) continue;
    RETURN_IF_ERROR(g.ReplaceNodes({gate, up, act}, {act->results[0]}, OpKind::kFusedGateUpSwiglu,
                                   {gate->operands[0], gate->operands[1], up->operands[1]})
                        .status());
    changed = true;
  }
  return changed;
}

}  // namespace ggrt
