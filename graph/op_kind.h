// Every op of the IR, listed once. Enum, names, arity, fused-ness and aliasing all come from this list, so
// adding an op is one line here plus its shape rule (graph.cc) and its kernels.
//
// Shapes are row-major [rows, cols]; S is the number of rows the graph processes: N consecutive positions of
// one sequence for a prefill (pos i32[1 + pages]), or equal spans of rows of B sequences for a batched step
// (pos i32[B, 1 + pages], a first position and block table per sequence): one token each in a decode step,
// S positions each in a batched prefill. Weights are [out, in], i.e. GGUF dims reversed.
#ifndef GGRT_GRAPH_OP_KIND_H_
#define GGRT_GRAPH_OP_KIND_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ggrt {

// V(enum, name, operands (-1: variadic), results (-1: one per weight operand), fused)
//   embedding(ids i32[S], table [V,E]) -> f32[S,E]            optionally scaled (EmbeddingAttrs)
//   rms_norm(x [S,E], w [E] | [D]) -> [S,E]                    a [D] weight normalises each D-wide head
//                                                                on its own (Qwen3's q and k norms)
//   matmul(x [S,K], w [N,K]) -> [S,N]
//   add(a [S,N], b [S,N] | [N]) -> [S,N]                      residual add, or bias add when b is [N]
//   rope(x [S,n*D], pos [, freq_factors [dims/2]]) -> [S,n*D]  each row rotated for its position
//   kv_write(cache [C,M], x [S,M], pos) -> cache               each row written at its position, in place
//   attention(q [S,H*D], k_cache, v_cache, pos) -> [S,H*D]     causal GQA: each row over its sequence's
//                                                                positions up to its own
//   swiglu(gate [S,F], up [S,F]) -> silu(gate) * up
//   geglu(gate [S,F], up [S,F]) -> gelu(gate) * up             gelu with the tanh approximation
//   softcap(x [S,N]) -> cap * tanh(x / cap)                      Gemma 2's final logit soft-capping
//   last_row(x [S,E]) -> [1,E]
//   last_row(x [B*S,E], last i32[B]) -> [B,E]               row last[b] of each sequence's span (a batched
//                                                                prefill: the spans end in padding)
//   argmax(logits [R,V]) -> i32[R]                             per row
//   fused_residual_rms_norm(x, r, w) -> (x + r, rms_norm(x + r, w))
//   fused_bias_rope(q, k, v, pos, k_cache, v_cache [, bq, bk, bv] [, freq_factors])
//                   -> (rope(q + bq), k_cache, v_cache)
//                   with rope(k + bk) and v + bv written to the caches
//   multi_matmul(x, w_1..w_n) -> (x w_1^T, ..., x w_n^T)       one pass over x for several projections
//   fused_gate_up_swiglu(x, w_gate, w_up) -> swiglu(x w_gate^T, x w_up^T)
//   fused_output_argmax(x [1,E], w [V,E]) -> i32[1]            argmax of x w^T without storing the logits
//   fused_norm_matmul(x, g, w_1..w_n) -> (rms_norm(x, g) w_i^T)  normalisation folded into the projections
//   fused_norm_gate_up_swiglu(x, g, w_gate, w_up) -> fused_gate_up_swiglu(rms_norm(x, g), ...)
//   fused_matmul_residual(a, w, r) -> r + a w^T                  residual add folded into the projection
//   fused_rope_attention(q, k, v, pos, k_cache, v_cache [, bq, bk, bv] [, freq_factors])
//                   -> (attention(rope(q + bq), ...),
//                   k_cache, v_cache): fused_bias_rope and attention in one, for one token (decode)
#define GGRT_OP_LIST(V)                                             \
  V(kEmbedding, "embedding", 2, 1, false)                           \
  V(kRmsNorm, "rms_norm", 2, 1, false)                              \
  V(kMatmul, "matmul", 2, 1, false)                                 \
  V(kAdd, "add", 2, 1, false)                                       \
  V(kRope, "rope", -1, 1, false)                                    \
  V(kKvWrite, "kv_write", 3, 1, false)                              \
  V(kAttention, "attention", 4, 1, false)                           \
  V(kSwiglu, "swiglu", 2, 1, false)                                 \
  V(kGeglu, "geglu", 2, 1, false)                                   \
  V(kSoftcap, "softcap", 1, 1, false)                               \
  V(kLastRow, "last_row", -1, 1, false)                             \
  V(kArgmax, "argmax", 1, 1, false)                                 \
  V(kFusedResidualRmsNorm, "fused_residual_rms_norm", 3, 2, true)   \
  V(kFusedBiasRope, "fused_bias_rope", -1, 3, true)                 \
  V(kMultiMatmul, "multi_matmul", -1, -1, true)                     \
  V(kFusedGateUpSwiglu, "fused_gate_up_swiglu", 3, 1, true)         \
  V(kFusedOutputArgmax, "fused_output_argmax", 2, 1, true)         \
  V(kFusedNormMatmul, "fused_norm_matmul", -1, -1, true)            \
  V(kFusedNormGateUpSwiglu, "fused_norm_gate_up_swiglu", 4, 1, true) \
  V(kFusedMatmulResidual, "fused_matmul_residual", 3, 1, true)     \
  V(kFusedRopeAttention, "fused_rope_attention", -1, 3, true)

enum class OpKind {
#define GGRT_OP_ENUM(e, name, operands, results, fused) e,
  GGRT_OP_LIST(GGRT_OP_ENUM)
#undef GGRT_OP_ENUM
};

absl::string_view OpName(OpKind op);
absl::StatusOr<OpKind> OpKindFromName(absl::string_view name);
bool IsFused(OpKind op);
// Fixed operand count, or -1 when the op takes a variable number.
int OpOperandCount(OpKind op);

// The operand whose buffer result `result` shares (the op updates that state in place), or -1.
int AliasedOperand(OpKind op, int result);

}  // namespace ggrt

#endif  // GGRT_GRAPH_OP_KIND_H_
