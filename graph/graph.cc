#include "graph/graph.h"

#include <algorithm>
#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "ops/kv_pages.h"

namespace ggrt {
namespace {

bool IsFloat(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

std::string Describe(const Value* v) { return absl::StrCat("%", v->name, " : ", TypeToString(v->type)); }

// Shape checks read as sentences: Expect(cond, "what is wrong").
#define EXPECT_SHAPE(cond, ...) RET_CHECK(cond, OpName(op), ": ", __VA_ARGS__)

}  // namespace

int QkvBiasOperand(const Node& n) {
  if (n.op != OpKind::kFusedBiasRope && n.op != OpKind::kFusedRopeAttention) return -1;
  return n.operands.size() >= 9 ? 6 : -1;
}

const Value* RopeFreqFactors(const Node& n) {
  switch (n.op) {
    case OpKind::kRope: return n.operands.size() == 3 ? n.operands[2] : nullptr;
    case OpKind::kFusedBiasRope:
    case OpKind::kFusedRopeAttention: return n.operands.size() % 3 == 1 ? n.operands.back() : nullptr;
    default: return nullptr;
  }
}

int64_t TensorType::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorType::bytes() const {
  if (dtype == DType::kI32) return 4 * elements();
  if (shape.empty()) return RowBytes(dtype, 1);
  return elements() / shape.back() * RowBytes(dtype, shape.back());
}

std::string TypeToString(const TensorType& t) {
  return absl::StrCat(DTypeName(t.dtype), "[", absl::StrJoin(t.shape, ","), "]");
}

absl::StatusOr<std::vector<TensorType>> InferResultTypes(OpKind op, absl::Span<const Value* const> operands,
                                                         const Attrs& attrs) {
  const int want = OpOperandCount(op);
  if (want >= 0) {
    EXPECT_SHAPE(static_cast<int>(operands.size()) == want, "takes ", want, " operands, got ", operands.size());
  }
  for (const Value* v : operands) RET_CHECK(v != nullptr, OpName(op), ": null operand");
  auto t = [&](int i) -> const TensorType& { return operands[i]->type; };
  auto is_matrix_f32 = [&](int i) { return t(i).dtype == DType::kF32 && t(i).shape.size() == 2; };
  // The position, optionally followed by a block table (ops/kv_pages.h): one record for a sequence whose
  // `rows` rows are consecutive positions, or one record per equal span of the rows (a batched step).
  auto is_pos = [&](int i, int64_t rows) {
    const TensorType& p = t(i);
    if (p.dtype != DType::kI32 || p.shape.empty() || p.shape.back() < 1) return false;
    return p.shape.size() == 1 || (p.shape.size() == 2 && p.shape[0] >= 1 && rows % p.shape[0] == 0);
  };
  // A KV-cache page pool: f16 or f32 rows, whole pages, at least as many as one block table addresses.
  auto is_cache = [&](int i, int pos) {
    const int64_t pages = t(pos).shape.back() - 1;
    return t(i).shape.size() == 2 && (t(i).dtype == DType::kF32 || t(i).dtype == DType::kF16) &&
           (pages == 0 || (t(i).shape[0] % kKvPageSize == 0 && pages * kKvPageSize <= t(i).shape[0]));
  };
  auto is_weight = [&](int i) { return t(i).shape.size() == 2 && t(i).dtype != DType::kI32; };
  auto f32 = [](std::vector<int64_t> shape) { return TensorType{DType::kF32, std::move(shape)}; };
  auto check_freq_factors = [&](int i, const RopeAttrs& a) -> absl::Status {
    EXPECT_SHAPE(t(i).dtype == DType::kF32 && t(i).shape == std::vector<int64_t>{a.dims / 2},
                 "frequency factors must be f32[", a.dims / 2, "], got ", Describe(operands[i]));
    return absl::OkStatus();
  };

  switch (op) {
    case OpKind::kEmbedding: {
      EXPECT_SHAPE(t(0).dtype == DType::kI32 && t(0).shape.size() == 1, "ids must be i32[S], got ",
                   Describe(operands[0]));
      EXPECT_SHAPE(is_weight(1), "table must be [V,E], got ", Describe(operands[1]));
      EXPECT_SHAPE(std::holds_alternative<std::monostate>(attrs) || std::holds_alternative<EmbeddingAttrs>(attrs),
                   "takes embedding attributes or none");
      return std::vector<TensorType>{f32({t(0).shape[0], t(1).shape[1]})};
    }
    case OpKind::kRmsNorm: {
      EXPECT_SHAPE(is_matrix_f32(0), "x must be f32[S,E], got ", Describe(operands[0]));
      EXPECT_SHAPE(IsFloat(t(1).dtype) && t(1).shape.size() == 1 && t(1).shape[0] > 0 &&
                       t(0).shape[1] % t(1).shape[0] == 0,
                   "weight must be [", t(0).shape[1], "] or [D] for D-wide heads, got ", Describe(operands[1]));
      EXPECT_SHAPE(std::holds_alternative<RmsNormAttrs>(attrs), "needs rms_norm attributes");
      return std::vector<TensorType>{t(0)};
    }
    case OpKind::kMatmul: {
      EXPECT_SHAPE(is_matrix_f32(0), "x must be f32[S,K], got ", Describe(operands[0]));
      EXPECT_SHAPE(is_weight(1) && t(1).shape[1] == t(0).shape[1], "weight must be [N,", t(0).shape[1],
                   "], got ", Describe(operands[1]));
      return std::vector<TensorType>{f32({t(0).shape[0], t(1).shape[0]})};
    }
    case OpKind::kAdd: {
      EXPECT_SHAPE(is_matrix_f32(0), "a must be f32[S,N], got ", Describe(operands[0]));
      const bool bias = IsFloat(t(1).dtype) && t(1).shape == std::vector<int64_t>{t(0).shape[1]};
      EXPECT_SHAPE(bias || t(1) == t(0), "b must match a or be a [", t(0).shape[1], "] bias, got ",
                   Describe(operands[1]));
      return std::vector<TensorType>{t(0)};
    }
    case OpKind::kRope: {
      const auto* a = std::get_if<RopeAttrs>(&attrs);
      EXPECT_SHAPE(a != nullptr, "needs rope attributes");
      EXPECT_SHAPE(a->head_dim > 0 && a->dims > 0 && a->dims <= a->head_dim && a->dims % 2 == 0,
                   "bad rope dims ", a->dims, " for head_dim ", a->head_dim);
      EXPECT_SHAPE(is_matrix_f32(0) && t(0).shape[1] % a->head_dim == 0, "x must be f32[S,n*", a->head_dim,
                   "], got ", Describe(operands[0]));
      EXPECT_SHAPE(operands.size() == 2 || operands.size() == 3, "takes x, pos and optional frequency factors");
      EXPECT_SHAPE(is_pos(1, t(0).shape[0]), "pos must be i32[1 + pages] or i32[S, 1 + pages], got ",
                   Describe(operands[1]));
      if (operands.size() == 3) RETURN_IF_ERROR(check_freq_factors(2, *a));
      return std::vector<TensorType>{t(0)};
    }
    case OpKind::kKvWrite: {
      EXPECT_SHAPE(is_matrix_f32(1) && is_pos(2, t(1).shape[0]),
                   "pos must be i32[1 + pages] or i32[S, 1 + pages], got ", Describe(operands[2]));
      EXPECT_SHAPE(is_cache(0, 2) && is_matrix_f32(1) && t(0).shape[1] == t(1).shape[1] &&
                       t(1).shape[0] <= t(0).shape[0],
                   "x ", Describe(operands[1]), " does not fit cache ", Describe(operands[0]), " with ",
                   Describe(operands[2]));
      return std::vector<TensorType>{t(0)};
    }
    case OpKind::kAttention: {
      const auto* a = std::get_if<AttentionAttrs>(&attrs);
      EXPECT_SHAPE(a != nullptr && a->heads > 0 && a->kv_heads > 0 && a->heads % a->kv_heads == 0,
                   "needs attention attributes with heads a multiple of kv_heads");
      EXPECT_SHAPE(is_matrix_f32(0) && t(0).shape[1] == a->heads * a->head_dim, "q must be f32[S,",
                   a->heads * a->head_dim, "], got ", Describe(operands[0]));
      EXPECT_SHAPE(is_pos(3, t(0).shape[0]), "pos must be i32[1 + pages] or i32[S, 1 + pages], got ",
                   Describe(operands[3]));
      for (int i : {1, 2}) {
        EXPECT_SHAPE(is_cache(i, 3) && t(i).shape[1] == a->kv_heads * a->head_dim, "cache must be f16 or f32[C,",
                     a->kv_heads * a->head_dim, "] paged as ", Describe(operands[3]), ", got ", Describe(operands[i]));
      }
      EXPECT_SHAPE(t(1) == t(2), "k and v caches differ");
      EXPECT_SHAPE(a->softcap >= 0 && a->window >= 0, "softcap and window must not be negative");
      return std::vector<TensorType>{t(0)};
    }
    case OpKind::kSwiglu:
    case OpKind::kGeglu: {
      EXPECT_SHAPE(is_matrix_f32(0) && t(0) == t(1), "gate and up must be equal f32 matrices, got ",
                   Describe(operands[0]), " and ", Describe(operands[1]));
      return std::vector<TensorType>{t(0)};
    }
    case OpKind::kSoftcap: {
      const auto* a = std::get_if<SoftcapAttrs>(&attrs);
      EXPECT_SHAPE(a != nullptr && a->cap > 0, "needs a positive cap");
      EXPECT_SHAPE(is_matrix_f32(0), "x must be an f32 matrix, got ", Describe(operands[0]));
      return std::vector<TensorType>{t(0)};
    }
    case OpKind::kLastRow: {
      EXPECT_SHAPE(is_matrix_f32(0), "x must be f32[S,E], got ", Describe(operands[0]));
      if (operands.size() == 1) return std::vector<TensorType>{f32({1, t(0).shape[1]})};
      EXPECT_SHAPE(operands.size() == 2 && t(1).dtype == DType::kI32 && t(1).shape.size() == 1 &&
                       t(1).shape[0] >= 1 && t(0).shape[0] % t(1).shape[0] == 0,
                   "takes x and optionally i32[B] (B dividing the rows), got ", operands.size(), " operands");
      return std::vector<TensorType>{f32({t(1).shape[0], t(0).shape[1]})};
    }
    case OpKind::kArgmax: {
      EXPECT_SHAPE(is_matrix_f32(0), "logits must be f32[R,V], got ", Describe(operands[0]));
      return std::vector<TensorType>{TensorType{DType::kI32, {t(0).shape[0]}}};
    }
    case OpKind::kFusedResidualRmsNorm: {
      EXPECT_SHAPE(is_matrix_f32(0) && t(1) == t(0), "x and r must be equal f32 matrices, got ",
                   Describe(operands[0]), " and ", Describe(operands[1]));
      EXPECT_SHAPE(IsFloat(t(2).dtype) && t(2).shape == std::vector<int64_t>{t(0).shape[1]},
                   "weight must be [", t(0).shape[1], "], got ", Describe(operands[2]));
      EXPECT_SHAPE(std::holds_alternative<RmsNormAttrs>(attrs), "needs rms_norm attributes");
      return std::vector<TensorType>{t(0), t(0)};
    }
    case OpKind::kFusedRopeAttention: {
      const auto* a = std::get_if<RopeAttentionAttrs>(&attrs);
      EXPECT_SHAPE(a != nullptr && a->rope.head_dim == a->attention.head_dim, "needs rope_attention attributes");
      EXPECT_SHAPE(t(0).shape.size() == 2 && PosSpan(*operands[3], t(0).shape[0]) == 1,
                   "handles one token per sequence; q is ", Describe(operands[0]), " with pos ", Describe(operands[3]));
      ASSIGN_OR_RETURN(std::vector<TensorType> rope,
                       InferResultTypes(OpKind::kFusedBiasRope, operands, a->rope));
      // The attention sees the rotated q and the caches; its pos is the same operand.
      const AttentionAttrs& at = a->attention;
      EXPECT_SHAPE(at.heads > 0 && at.kv_heads > 0 && at.heads % at.kv_heads == 0 &&
                       t(0).shape[1] == at.heads * at.head_dim && t(1).shape[1] == at.kv_heads * at.head_dim,
                   "q ", Describe(operands[0]), " and k ", Describe(operands[1]), " do not match ", at.heads,
                   " and ", at.kv_heads, " heads of ", at.head_dim);
      return rope;
    }
    case OpKind::kFusedBiasRope: {
      EXPECT_SHAPE(operands.size() == 6 || operands.size() == 7 || operands.size() == 9 || operands.size() == 10,
                   "takes 6 operands, 3 optional biases and optional frequency factors; got ", operands.size());
      const auto* a = std::get_if<RopeAttrs>(&attrs);
      EXPECT_SHAPE(a != nullptr && a->head_dim > 0 && a->dims <= a->head_dim, "needs rope attributes");
      for (int i : {0, 1, 2}) {
        EXPECT_SHAPE(is_matrix_f32(i) && t(i).shape[0] == t(0).shape[0] && t(i).shape[1] % a->head_dim == 0,
                     "q, k, v must be f32[S,n*", a->head_dim, "], got ", Describe(operands[i]));
      }
      EXPECT_SHAPE(is_pos(3, t(0).shape[0]), "pos must be i32[1 + pages] or i32[S, 1 + pages], got ",
                   Describe(operands[3]));
      for (int i : {1, 2}) {
        EXPECT_SHAPE(is_cache(i + 3, 3) && t(i + 3).shape[1] == t(i).shape[1],
                     "cache ", Describe(operands[i + 3]), " does not fit ", Describe(operands[i]));
      }
      if (operands.size() % 3 == 1) RETURN_IF_ERROR(check_freq_factors(operands.size() - 1, *a));
      if (operands.size() >= 9) {
        for (int i : {0, 1, 2}) {
          EXPECT_SHAPE(IsFloat(t(i + 6).dtype) && t(i + 6).shape == std::vector<int64_t>{t(i).shape[1]},
                       "bias ", Describe(operands[i + 6]), " does not fit ", Describe(operands[i]));
        }
      }
      return std::vector<TensorType>{t(0), t(4), t(5)};
    }
    case OpKind::kMultiMatmul: {
      EXPECT_SHAPE(operands.size() >= 3, "takes x and at least two weights");
      EXPECT_SHAPE(is_matrix_f32(0), "x must be f32[S,K], got ", Describe(operands[0]));
      std::vector<TensorType> out;
      for (size_t i = 1; i < operands.size(); ++i) {
        EXPECT_SHAPE(is_weight(i) && t(i).shape[1] == t(0).shape[1], "weight must be [N,", t(0).shape[1],
                     "], got ", Describe(operands[i]));
        out.push_back(f32({t(0).shape[0], t(i).shape[0]}));
      }
      return out;
    }
    case OpKind::kFusedGateUpSwiglu: {
      EXPECT_SHAPE(is_matrix_f32(0), "x must be f32[S,K], got ", Describe(operands[0]));
      EXPECT_SHAPE(is_weight(1) && t(1).shape[1] == t(0).shape[1] && t(2).shape == t(1).shape,
                   "gate and up weights must be equal [F,", t(0).shape[1], "], got ", Describe(operands[1]),
                   " and ", Describe(operands[2]));
      return std::vector<TensorType>{f32({t(0).shape[0], t(1).shape[0]})};
    }
    case OpKind::kFusedNormMatmul:
    case OpKind::kFusedNormGateUpSwiglu: {
      EXPECT_SHAPE(operands.size() >= 3, "takes x, the norm weight and at least one weight");
      EXPECT_SHAPE(std::holds_alternative<RmsNormAttrs>(attrs), "needs rms_norm attributes");
      EXPECT_SHAPE(is_matrix_f32(0), "x must be f32[S,K], got ", Describe(operands[0]));
      EXPECT_SHAPE(IsFloat(t(1).dtype) && t(1).shape == std::vector<int64_t>{t(0).shape[1]},
                   "norm weight must be [", t(0).shape[1], "], got ", Describe(operands[1]));
      std::vector<TensorType> out;
      for (size_t i = 2; i < operands.size(); ++i) {
        // One dtype, or block formats of any mix (a Q4_K_M layer's q, k and v); gate and up always one.
        const bool dtype_ok = t(i).dtype == t(2).dtype || (op == OpKind::kFusedNormMatmul &&
                                                            IsQuantized(t(i).dtype) && IsQuantized(t(2).dtype));
        EXPECT_SHAPE(is_weight(i) && t(i).shape[1] == t(0).shape[1] && dtype_ok, "weights must be [N,",
                     t(0).shape[1], "] of one dtype (or all of block formats), got ", Describe(operands[i]));
        out.push_back(f32({t(0).shape[0], t(i).shape[0]}));
      }
      if (op == OpKind::kFusedNormGateUpSwiglu) {
        EXPECT_SHAPE(t(2).shape == t(3).shape, "gate and up weights differ: ", Describe(operands[2]), " and ",
                     Describe(operands[3]));
        out.resize(1);
      }
      return out;
    }
    case OpKind::kFusedMatmulResidual: {
      EXPECT_SHAPE(is_matrix_f32(0), "a must be f32[S,K], got ", Describe(operands[0]));
      EXPECT_SHAPE(is_weight(1) && t(1).shape[1] == t(0).shape[1], "weight must be [N,", t(0).shape[1], "], got ",
                   Describe(operands[1]));
      const TensorType y = f32({t(0).shape[0], t(1).shape[0]});
      EXPECT_SHAPE(t(2) == y, "residual must be ", TypeToString(y), ", got ", Describe(operands[2]));
      return std::vector<TensorType>{y};
    }
    case OpKind::kFusedOutputArgmax: {
      EXPECT_SHAPE(is_matrix_f32(0) && t(0).shape[0] == 1, "x must be f32[1,E], got ", Describe(operands[0]));
      EXPECT_SHAPE(is_weight(1) && t(1).shape[1] == t(0).shape[1], "weight must be [V,", t(0).shape[1],
                   "], got ", Describe(operands[1]));
      return std::vector<TensorType>{TensorType{DType::kI32, {1}}};
    }
  }
  return absl::InternalError("unhandled op");
}

absl::StatusOr<Value*> Graph::NewValue(absl::string_view name, ValueKind kind, TensorType type) {
  RET_CHECK(!name.empty(), "value without a name");
  RET_CHECK(!by_name_.contains(name), "duplicate value name '%", name, "'");
  auto v = std::make_unique<Value>();
  v->id = static_cast<int>(values_.size());
  v->name = std::string(name);
  v->kind = kind;
  v->type = std::move(type);
  Value* raw = v.get();
  values_.push_back(std::move(v));
  by_name_[raw->name] = raw;
  return raw;
}

absl::StatusOr<Value*> Graph::AddInput(absl::string_view name, TensorType type) {
  ASSIGN_OR_RETURN(Value * v, NewValue(name, ValueKind::kInput, std::move(type)));
  inputs_.push_back(v);
  return v;
}

absl::StatusOr<Value*> Graph::AddParam(absl::string_view name, TensorType type) {
  ASSIGN_OR_RETURN(Value * v, NewValue(name, ValueKind::kParam, std::move(type)));
  params_.push_back(v);
  return v;
}

absl::StatusOr<Value*> Graph::AddState(absl::string_view name, TensorType type) {
  ASSIGN_OR_RETURN(Value * v, NewValue(name, ValueKind::kState, std::move(type)));
  states_.push_back(v);
  return v;
}

absl::StatusOr<Node*> Graph::AddNode(OpKind op, std::vector<std::string> result_names,
                                     std::vector<Value*> operands, Attrs attrs) {
  std::vector<const Value*> const_operands(operands.begin(), operands.end());
  auto types = InferResultTypes(op, const_operands, attrs);
  if (!types.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node '%", result_names.empty() ? "?" : result_names[0], "': ", types.status().message()));
  }
  RET_CHECK(types->size() == result_names.size(), OpName(op), " yields ", types->size(), " results, ",
            result_names.size(), " names given");
  auto node = std::make_unique<Node>();
  node->id = next_node_id_++;
  node->op = op;
  node->operands = std::move(operands);
  node->attrs = std::move(attrs);
  for (size_t i = 0; i < types->size(); ++i) {
    ASSIGN_OR_RETURN(Value * r, NewValue(result_names[i], ValueKind::kResult, (*types)[i]));
    r->producer = node.get();
    r->result_index = static_cast<int>(i);
    node->results.push_back(r);
  }
  for (Value* v : node->operands) v->users.push_back(node.get());
  Node* raw = node.get();
  node_storage_.push_back(std::move(node));
  order_.push_back(raw);
  return raw;
}

absl::Status Graph::AddOutput(Value* v) {
  RET_CHECK(v != nullptr, "null output");
  outputs_.push_back(v);
  return absl::OkStatus();
}

void Graph::ReplaceAllUses(Value* from, Value* to) {
  for (Node* user : from->users) {
    for (Value*& operand : user->operands) {
      if (operand == from) operand = to;
    }
  }
  // Each use is one entry, and every entry moves.
  to->users.insert(to->users.end(), from->users.begin(), from->users.end());
  from->users.clear();
  for (Value*& out : outputs_) {
    if (out == from) out = to;
  }
}

absl::Status Graph::RemoveNode(Node* node) {
  for (Value* r : node->results) {
    RET_CHECK(r->users.empty(), "cannot remove '%", node->name(), "': %", r->name, " still has users");
    RET_CHECK(std::find(outputs_.begin(), outputs_.end(), r) == outputs_.end(), "cannot remove '%",
              node->name(), "': %", r->name, " is an output");
  }
  for (Value* operand : node->operands) {
    auto it = std::find(operand->users.begin(), operand->users.end(), node);
    if (it != operand->users.end()) operand->users.erase(it);
  }
  for (Value* r : node->results) {
    by_name_.erase(r->name);
    r->producer = nullptr;
  }
  order_.erase(std::find(order_.begin(), order_.end(), node));
  return absl::OkStatus();
}

absl::StatusOr<Node*> Graph::ReplaceNodes(absl::Span<Node* const> old_nodes, absl::Span<Value* const> replaced,
                                          OpKind op, std::vector<Value*> operands, Attrs attrs) {
  std::vector<std::string> names;
  for (Value* v : replaced) {
    names.push_back(v->name);
    by_name_.erase(v->name);  // The new results take these names.
    v->name += ".replaced";
  }
  ASSIGN_OR_RETURN(Node * fused, AddNode(op, names, std::move(operands), std::move(attrs)));
  for (size_t i = 0; i < replaced.size(); ++i) {
    RET_CHECK(fused->results[i]->type == replaced[i]->type, OpName(op), " result ", i, " is ",
              TypeToString(fused->results[i]->type), " but replaces ", TypeToString(replaced[i]->type));
    ReplaceAllUses(replaced[i], fused->results[i]);
  }
  // Later nodes first, so that each one's users among `old_nodes` are already gone.
  std::vector<Node*> doomed(old_nodes.begin(), old_nodes.end());
  auto position = [&](Node* n) { return std::find(order_.begin(), order_.end(), n) - order_.begin(); };
  std::sort(doomed.begin(), doomed.end(), [&](Node* a, Node* b) { return position(a) > position(b); });
  for (Node* n : doomed) RETURN_IF_ERROR(RemoveNode(n));
  RETURN_IF_ERROR(Sort());
  return fused;
}

absl::Status Graph::Sort() {
  absl::flat_hash_map<const Node*, int> position, pending;
  for (size_t i = 0; i < order_.size(); ++i) position[order_[i]] = static_cast<int>(i);
  for (Node* n : order_) {
    int deps = 0;
    for (Value* v : n->operands) {
      if (v->producer != nullptr) ++deps;
    }
    pending[n] = deps;
  }
  // Ready nodes in their current order: the result is the current order wherever it is already valid.
  auto later = [&](Node* a, Node* b) { return position[a] > position[b]; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(later)> ready(later);
  for (Node* n : order_) {
    if (pending[n] == 0) ready.push(n);
  }
  std::vector<Node*> sorted;
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    sorted.push_back(n);
    for (Value* r : n->results) {
      for (Node* user : r->users) {
        if (--pending[user] == 0) ready.push(user);
      }
    }
  }
  RET_CHECK(sorted.size() == order_.size(), "graph '", name_, "' has a cycle");
  order_ = std::move(sorted);
  return absl::OkStatus();
}

Value* Graph::FindValue(absl::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<Value*> Graph::values() const {
  std::vector<Value*> out;
  for (const auto& v : values_) {
    if (v->kind != ValueKind::kResult || v->producer != nullptr) out.push_back(v.get());
  }
  return out;
}

}  // namespace ggrt
