// The op-graph IR: values with a dtype and a static shape, nodes with an op, operands, results and typed
// attributes, kept in a topological program order.
//
// Values are graph inputs (token ids, position), parameters (weights, bound to a GGUF tensor of the same
// name), states (the KV cache, which outlives a run) or node results. A result may alias a state operand
// (kv_write updates the cache in place and yields it, so readers of the cache depend on the write).
#ifndef GGRT_GRAPH_GRAPH_H_
#define GGRT_GRAPH_GRAPH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "graph/op_kind.h"
#include "loader/dtype.h"

namespace ggrt {

struct RmsNormAttrs {
  float eps = 1e-5f;
  bool operator==(const RmsNormAttrs&) const = default;
};

struct RopeAttrs {
  float theta = 10000.0f;
  int dims = 0;      // Rotated dimensions of each head (the rest pass through).
  int head_dim = 0;
  bool neox = false;  // Pairs (i, i + dims/2) instead of (2i, 2i + 1).
  // Linear RoPE scaling: every angle is multiplied by it (1 / rope.scaling.factor). Per-pair divisors of the
  // frequencies (Llama 3's rope_freqs.weight) come as an extra operand instead; see RopeFreqFactors.
  float freq_scale = 1.0f;
  bool operator==(const RopeAttrs&) const = default;
};

struct AttentionAttrs {
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  float scale = 0.0f;  // Applied to q.k; usually 1/sqrt(head_dim).
  float softcap = 0.0f;  // > 0: scores become softcap * tanh(score / softcap) (Gemma 2).
  int window = 0;        // > 0: row at position p sees only positions p - window + 1 .. p (sliding window).
  bool operator==(const AttentionAttrs&) const = default;
};

// fused_rope_attention carries both (head_dim is in each and must agree).
struct RopeAttentionAttrs {
  RopeAttrs rope;
  AttentionAttrs attention;
  bool operator==(const RopeAttentionAttrs&) const = default;
};

// embedding: rows multiplied by `scale` (Gemma scales by sqrt(E)); absent means 1.
struct EmbeddingAttrs {
  float scale = 1.0f;
  bool operator==(const EmbeddingAttrs&) const = default;
};

// softcap: x -> cap * tanh(x / cap).
struct SoftcapAttrs {
  float cap = 0.0f;
  bool operator==(const SoftcapAttrs&) const = default;
};

using Attrs = std::variant<std::monostate, RmsNormAttrs, RopeAttrs, AttentionAttrs, RopeAttentionAttrs,
                           EmbeddingAttrs, SoftcapAttrs>;

struct TensorType {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  bool operator==(const TensorType&) const = default;
  int64_t elements() const;
  int64_t bytes() const;
};
std::string TypeToString(const TensorType& t);  // "f32[1,64]"

enum class ValueKind { kInput, kParam, kState, kResult };

struct Node;

struct Value {
  int id = 0;
  std::string name;
  ValueKind kind = ValueKind::kResult;
  TensorType type;
  Node* producer = nullptr;  // For results.
  int result_index = 0;
  std::vector<Node*> users;  // One entry per use (a node using a value twice appears twice).
};

// The executors' view of a matrix value: rows (first dimension) and columns (second).
inline int Rows(const Value* v) { return static_cast<int>(v->type.shape[0]); }
inline int Cols(const Value* v) { return static_cast<int>(v->type.shape[1]); }

struct Node {
  int id = 0;
  OpKind op;
  std::vector<Value*> operands;
  std::vector<Value*> results;
  Attrs attrs;
  // A node is named after its first result, e.g. "blk.3.attn_norm".
  const std::string& name() const { return results[0]->name; }
};

// The types of an op's results, or an error naming what does not fit. The single source of shape rules,
// used when nodes are added and by the verifier.
absl::StatusOr<std::vector<TensorType>> InferResultTypes(OpKind op, absl::Span<const Value* const> operands,
                                                         const Attrs& attrs);

// Operand layout of rope, fused_bias_rope and fused_rope_attention: after their fixed operands come the
// optional q, k, v biases (fused ops only) and then the optional per-pair frequency divisors f32[dims/2].
// The first bias operand, or -1.
int QkvBiasOperand(const Node& n);
// The frequency divisors, or nullptr.
const Value* RopeFreqFactors(const Node& n);

// A prefill's %pos is i32[1 + pages]: one sequence, whose rows are consecutive positions from the first. A
// batched graph's is i32[B, 1 + pages]: B sequences, each with its own record of first position and block
// table (ops/kv_pages.h RowPosition), and the rows in B equal spans, one per sequence: one row each in a
// decode step (B = 1 is the smallest bucket), S consecutive positions each in a batched prefill.
inline bool IsBatchedPos(const Value& pos) { return pos.type.shape.size() == 2; }
// Pages of the block table each record of a %pos carries after the position; 0 when it holds only the
// position (hand-written graphs), which means the pages in order.
inline int64_t BlockTablePages(const Value& pos) { return pos.type.shape.back() - 1; }
// Ints from one record to the next in a batched %pos; 0 for a prefill's.
inline int PosStride(const Value& pos) { return IsBatchedPos(pos) ? static_cast<int>(pos.type.shape[1]) : 0; }
// Rows of each sequence among `rows` rows that use `pos`: 1 in a decode step.
inline int64_t PosSpan(const Value& pos, int64_t rows) { return IsBatchedPos(pos) ? rows / pos.type.shape[0] : rows; }

class Graph {
 public:
  explicit Graph(std::string name) : name_(std::move(name)) {}
  Graph(Graph&&) = default;
  Graph& operator=(Graph&&) = default;

  const std::string& name() const { return name_; }

  absl::StatusOr<Value*> AddInput(absl::string_view name, TensorType type);
  absl::StatusOr<Value*> AddParam(absl::string_view name, TensorType type);
  absl::StatusOr<Value*> AddState(absl::string_view name, TensorType type);
  // Appends a node; result types come from InferResultTypes. `result_names` has one name per result.
  absl::StatusOr<Node*> AddNode(OpKind op, std::vector<std::string> result_names, std::vector<Value*> operands,
                                Attrs attrs = {});
  absl::Status AddOutput(Value* v);

  // The fusion primitive: adds one `op` node over `operands` whose results take the place (uses and names) of
  // `replaced`, then removes `old_nodes`, which must have no other users left, and re-sorts. Result types
  // must equal the replaced values' types.
  absl::StatusOr<Node*> ReplaceNodes(absl::Span<Node* const> old_nodes, absl::Span<Value* const> replaced,
                                     OpKind op, std::vector<Value*> operands, Attrs attrs = {});

  // Rewrites every use of `from` (operands and outputs) to `to`.
  void ReplaceAllUses(Value* from, Value* to);
  // Removes a node whose results have no users and are not outputs.
  absl::Status RemoveNode(Node* node);
  // Reorders nodes topologically, keeping the current order wherever dependencies allow. Passes call it
  // after inserting nodes out of place.
  absl::Status Sort();

  const std::vector<Node*>& nodes() const { return order_; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& params() const { return params_; }
  const std::vector<Value*>& states() const { return states_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  Value* FindValue(absl::string_view name) const;
  // Values in creation order (inputs, params, states and results).
  std::vector<Value*> values() const;

 private:
  absl::StatusOr<Value*> NewValue(absl::string_view name, ValueKind kind, TensorType type);

  std::string name_;
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Node>> node_storage_;
  std::vector<Node*> order_;
  std::vector<Value*> inputs_, params_, states_, outputs_;
  absl::flat_hash_map<std::string, Value*> by_name_;
  int next_node_id_ = 0;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_GRAPH_H_
