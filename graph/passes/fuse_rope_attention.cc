#include "graph/passes/fuse_rope_attention.h"

#include "base/status_macros.h"
#include "graph/passes/pattern.h"

namespace ggrt {

absl::StatusOr<bool> FuseRopeAttentionPass::Run(Graph& g) {
  bool changed = false;
  const std::vector<Node*> nodes = g.nodes();
  for (Node* attn : nodes) {
    // One token per sequence (a decode step of any batch): a prefill's rows need each other's keys.
    if (attn->op != OpKind::kAttention || PosSpan(*attn->operands[3], attn->operands[0]->type.shape[0]) != 1) {
      continue;
    }
    Node* rope = ProducedBy(attn->operands[0], OpKind::kFusedBiasRope);
    if (rope == nullptr || attn->operands[1] != rope->results[1] || attn->operands[2] != rope->results[2] ||
        attn->operands[3] != rope->operands[3]) {
      continue;
    }
    bool single_use = true;
    for (const Value* r : rope->results) single_use &= HasSingleUse(g, r);
    if (!single_use) continue;
    const RopeAttentionAttrs attrs{std::get<RopeAttrs>(rope->attrs), std::get<AttentionAttrs>(attn->attrs)};
    if (attrs.rope.head_dim != attrs.attention.head_dim) continue;
    RETURN_IF_ERROR(g.ReplaceNodes({rope, attn}, {attn->results[0], rope->results[1], rope->results[2]},
                                   OpKind::kFusedRopeAttention, rope->operands, attrs)
                        .status());
    changed = true;
  }
  return changed;
}

}  // namespace ggrt
