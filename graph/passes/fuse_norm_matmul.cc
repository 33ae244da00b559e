#include "graph/passes/fuse_norm_matmul.h"

#include <algorithm>

#include "base/status_macros.h"
#include "graph/passes/pattern.h"

namespace ggrt {
namespace {

bool Foldable(const Graph& g, const Value* h) {
  if (h->users.empty() || std::find(g.outputs().begin(), g.outputs().end(), h) != g.outputs().end()) return false;
  if (h->users.size() == 1 && h->users[0]->op == OpKind::kMatmul) return false;  // The output projection.
  for (const Node* u : h->users) {
    if (u->op != OpKind::kMultiMatmul && u->op != OpKind::kMatmul && u->op != OpKind::kFusedGateUpSwiglu) return false;
    for (size_t i = 1; i < u->operands.size(); ++i) {
      if (u->operands[i] == h) return false;  // Used as a weight: not an activation.
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<bool> FuseNormMatmulPass::Run(Graph& g) {
  bool changed = false;
  const std::vector<Node*> nodes = g.nodes();
  for (Node* norm : nodes) {
    if (!IsRowNorm(norm) || !Foldable(g, norm->results[0])) continue;
    Value* h = norm->results[0];
    const std::vector<Node*> users(h->users.begin(), h->users.end());
    for (Node* u : users) {
      std::vector<Value*> operands = {norm->operands[0], norm->operands[1]};
      operands.insert(operands.end(), u->operands.begin() + 1, u->operands.end());
      const OpKind fused =
          u->op == OpKind::kFusedGateUpSwiglu ? OpKind::kFusedNormGateUpSwiglu : OpKind::kFusedNormMatmul;
      RETURN_IF_ERROR(g.ReplaceNodes({u}, u->results, fused, operands, norm->attrs).status());
    }
    RETURN_IF_ERROR(g.RemoveNode(norm));
    changed = true;
  }
  return changed;
}

}  // namespace ggrt
