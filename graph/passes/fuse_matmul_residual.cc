#include "graph/passes/fuse_matmul_residual.h"

#include "base/status_macros.h"
#include "graph/passes/pattern.h"

namespace ggrt {

absl::StatusOr<bool> FuseMatmulResidualPass::Run(Graph& g) {
  bool changed = false;
  const std::vector<Node*> nodes = g.nodes();
  for (Node* add : nodes) {
    if (add->op != OpKind::kAdd || add->operands[0]->type != add->operands[1]->type) continue;
    // Either operand may be the projection; the other is the residual.
    for (int side : {1, 0}) {
      Node* mm = ProducedBy(add->operands[side], OpKind::kMatmul);
      if (mm == nullptr || !HasSingleUse(g, mm->results[0])) continue;
      RETURN_IF_ERROR(g.ReplaceNodes({mm, add}, {add->results[0]}, OpKind::kFusedMatmulResidual,
                                     {mm->operands[0], mm->operands[1], add->operands[1 - side]})
                          .status());
      changed = true;
      break;
    }
  }
  return changed;
}

}  // namespace ggrt
