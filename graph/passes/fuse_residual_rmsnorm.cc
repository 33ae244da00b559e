#include "graph/passes/fuse_residual_rmsnorm.h"

#include "base/status_macros.h"
#include "graph/passes/pattern.h"

namespace ggrt {

absl::StatusOr<bool> FuseResidualRmsNormPass::Run(Graph& g) {
  bool changed = false;
  const std::vector<Node*> nodes = g.nodes();
  for (Node* norm : nodes) {
    if (!IsRowNorm(norm)) continue;
    Node* add = ProducedBy(norm->operands[0], OpKind::kAdd);
    if (add == nullptr || add->operands[1]->type != add->operands[0]->type) continue;
    RETURN_IF_ERROR(g.ReplaceNodes({add, norm}, {add->results[0], norm->results[0]},
                                   OpKind::kFusedResidualRmsNorm,
                                   {add->operands[0], add->operands[1], norm->operands[1]}, norm->attrs)
                        .status());
    changed = true;
  }
  return changed;
}

}  // namespace ggrt
