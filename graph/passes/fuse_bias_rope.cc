#include "graph/passes/fuse_bias_rope.h"

#include "base/status_macros.h"
#include "graph/passes/pattern.h"

namespace ggrt {
namespace {

// `v` = add(x, bias) used once: returns {x, bias}; otherwise {v, nullptr}.
std::pair<Value*, Value*> StripBias(const Graph& g, Value* v, std::vector<Node*>* nodes) {
  Node* add = ProducedBy(v, OpKind::kAdd);
  if (add == nullptr || !IsBias(add->operands[1]) || !HasSingleUse(g, v)) return {v, nullptr};
  nodes->push_back(add);
  return {add->operands[0], add->operands[1]};
}

struct Match {
  std::vector<Node*> nodes;
  std::vector<Value*> replaced;
  std::vector<Value*> operands;
  RopeAttrs rope;
};

bool MatchAttention(const Graph& g, Node* attn, Match* m) {
  Value* pos = attn->operands[3];
  Node* rope_q = ProducedBy(attn->operands[0], OpKind::kRope);
  Node* write_k = ProducedBy(attn->operands[1], OpKind::kKvWrite);
  Node* write_v = ProducedBy(attn->operands[2], OpKind::kKvWrite);
  if (rope_q == nullptr || write_k == nullptr || write_v == nullptr) return false;
  if (!HasSingleUse(g, rope_q->results[0]) || !HasSingleUse(g, write_k->results[0]) ||
      !HasSingleUse(g, write_v->results[0])) {
    return false;
  }
  Node* rope_k = ProducedBy(write_k->operands[1], OpKind::kRope);
  if (rope_k == nullptr || !HasSingleUse(g, rope_k->results[0])) return false;
  if (rope_q->operands[1] != pos || rope_k->operands[1] != pos || write_k->operands[2] != pos ||
      write_v->operands[2] != pos) {
    return false;
  }
  if (std::get<RopeAttrs>(rope_q->attrs) != std::get<RopeAttrs>(rope_k->attrs)) return false;
  const Value* factors = RopeFreqFactors(*rope_q);
  if (RopeFreqFactors(*rope_k) != factors) return false;

  m->nodes = {rope_q, rope_k, write_k, write_v};
  auto [q, bq] = StripBias(g, rope_q->operands[0], &m->nodes);
  auto [k, bk] = StripBias(g, rope_k->operands[0], &m->nodes);
  auto [v, bv] = StripBias(g, write_v->operands[1], &m->nodes);
  const int biases = (bq != nullptr) + (bk != nullptr) + (bv != nullptr);
  if (biases != 0 && biases != 3) return false;
  m->replaced = {rope_q->results[0], write_k->results[0], write_v->results[0]};
  m->operands = {q, k, v, pos, write_k->operands[0], write_v->operands[0]};
  if (biases == 3) m->operands.insert(m->operands.end(), {bq, bk, bv});
  if (factors != nullptr) m->operands.push_back(const_cast<Value*>(factors));
  m->rope = std::get<RopeAttrs>(rope_q->attrs);
  return true;
}

}  // namespace

absl::StatusOr<bool> FuseBiasRopePass::Run(Graph& g) {
  bool changed = false;
  const std::vector<Node*> nodes = g.nodes();
  for (Node* n : nodes) {
    if (n->op != OpKind::kAttention) continue;
    Match m;
    if (!MatchAttention(g, n, &m)) continue;
    RETURN_IF_ERROR(g.ReplaceNodes(m.nodes, m.replaced, OpKind::kFusedBiasRope, m.operands, m.rope).status());
    changed = true;
  }
  return changed;
}

}  // namespace ggrt
