#include "graph/passes/fuse_qkv.h"

#include "base/status_macros.h"
#include "loader/dtype.h"

namespace ggrt {
namespace {

// Projections of one dtype join, and so do those of block formats (the backends take a product's block
// formats weight by weight); a float weight never joins another dtype, whose input would need two
// conversions in a prefill.
bool Joinable(DType a, DType b) { return a == b || (IsQuantized(a) && IsQuantized(b)); }

}  // namespace

absl::StatusOr<bool> FuseQkvPass::Run(Graph& g) {
  bool changed = false;
  std::vector<Value*> activations;
  for (Node* n : g.nodes()) {
    if (n->op == OpKind::kMatmul) activations.push_back(n->operands[0]);
  }
  for (Value* x : activations) {
    std::vector<Node*> group;
    for (Node* user : x->users) {
      if (user->op == OpKind::kMatmul && user->operands[0] == x &&
          std::find(group.begin(), group.end(), user) == group.end() &&
          (group.empty() || Joinable(user->operands[1]->type.dtype, group[0]->operands[1]->type.dtype))) {
        group.push_back(user);
      }
    }
    if (group.size() < 2) continue;
    // Keep the projections in program order, so the results read q, k, v.
    std::sort(group.begin(), group.end(), [](Node* a, Node* b) { return a->id < b->id; });
    std::vector<Value*> operands = {x}, replaced;
    for (Node* mm : group) {
      operands.push_back(mm->operands[1]);
      replaced.push_back(mm->results[0]);
    }
    RETURN_IF_ERROR(g.ReplaceNodes(group, replaced, OpKind::kMultiMatmul, operands).status());
    changed = true;
  }
  return changed;
}

}  // namespace ggrt
