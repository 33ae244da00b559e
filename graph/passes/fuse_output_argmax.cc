#include "graph/passes/fuse_output_argmax.h"

#include "base/status_macros.h"
#include "graph/passes/pattern.h"

namespace ggrt {

absl::StatusOr<bool> FuseOutputArgmaxPass::Run(Graph& g) {
  bool changed = false;
  const std::vector<Node*> nodes = g.nodes();
  for (Node* argmax : nodes) {
    // The fused kernel picks one row's token; a batched step's argmax stays a product and a row-wise argmax.
    if (argmax->op != OpKind::kArgmax || argmax->operands[0]->type.shape[0] != 1) continue;
    Node* mm = ProducedBy(argmax->operands[0], OpKind::kMatmul);
    if (mm == nullptr || !HasSingleUse(g, mm->results[0])) continue;
    RETURN_IF_ERROR(g.ReplaceNodes({mm, argmax}, {argmax->results[0]}, OpKind::kFusedOutputArgmax,
                                   {mm->operands[0], mm->operands[1]})
                        .status());
    changed = true;
  }
  return changed;
}

}  // namespace ggrt
