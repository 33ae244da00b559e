#include "graph/lower_model.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ops/kv_pages.h"

namespace ggrt {
namespace {

// Param of the GGUF tensor `name`: shape is the GGUF dims reversed ([out, in] for weights).
absl::StatusOr<Value*> Weight(Graph& g, const GgufFile& f, const std::string& name) {
  if (Value* v = g.FindValue(name)) return v;
  ASSIGN_OR_RETURN(const GgufTensorInfo* t, f.GetTensor(name));
  TensorType type{t->dtype, std::vector<int64_t>(t->dims.rbegin(), t->dims.rend())};
  return g.AddParam(name, std::move(type));
}

}  // namespace

absl::StatusOr<Graph> LowerModel(const ModelConfig& c, const GgufFile& f, const LowerOptions& options) {
  const int64_t s = options.seq_len;
  const int64_t ctx = options.ctx_size > 0 ? options.ctx_size : c.n_ctx;
  RET_CHECK(s >= 1 && s <= ctx, "sequence length ", s, " must be between 1 and the context size ", ctx);
  RET_CHECK(!(options.greedy && options.all_logits), "a graph outputs either the greedy token or all logits");
  RET_CHECK(options.batch >= 1, "a batch of ", options.batch, " sequences");
  RET_CHECK((options.batch == 1 && !options.spans) || !options.all_logits,
            "all the logits come from one sequence's prefill");
  RET_CHECK(!options.spans || s > 1, "a batched prefill has more than one row per sequence");
  RET_CHECK(!c.fused_qkv || f.FindTensor(LayerTensorName(0, "attn_qkv.weight.q")) != nullptr,
            "the fused matrices' views are not registered (AddFusedTensorViews)");
  const int64_t b = options.batch;
  const bool decode = s == 1;
  const bool batched_prefill = !decode && (b > 1 || options.spans);
  Graph g(decode ? (b == 1 ? "decode" : absl::StrCat("decode_b", b))
                 : batched_prefill ? absl::StrCat("prefill_", s, "_b", b) : absl::StrCat("prefill_", s));

  ASSIGN_OR_RETURN(Value * tokens, g.AddInput("tokens", {DType::kI32, {s * b}}));
  RET_CHECK(options.kv_type == DType::kF16 || options.kv_type == DType::kF32, "the KV cache is f16 or f32, not ",
            DTypeName(options.kv_type));
  const int64_t pages = KvPages(ctx);
  const int64_t pool_pages = options.kv_pool_pages > 0 ? options.kv_pool_pages : pages;
  RET_CHECK(pool_pages >= pages, "a KV pool of ", pool_pages, " pages cannot hold one sequence's ", pages);
  std::vector<int64_t> pos_shape = {1 + pages};
  if (decode || batched_prefill) pos_shape.insert(pos_shape.begin(), b);  // The batch axis: a record per sequence.
  ASSIGN_OR_RETURN(Value * pos, g.AddInput("pos", {DType::kI32, pos_shape}));
  Value* last = nullptr;  // A batched prefill's spans end in padding: the row of each that predicts.
  if (batched_prefill) {
    ASSIGN_OR_RETURN(last, g.AddInput("last", {DType::kI32, {b}}));
  }
  auto w = [&](const std::string& name) { return Weight(g, f, name); };
  auto node = [&](OpKind op, const std::string& name, std::vector<Value*> operands,
                  Attrs attrs = {}) -> absl::StatusOr<Value*> {
    ASSIGN_OR_RETURN(Node * n, g.AddNode(op, {name}, std::move(operands), std::move(attrs)));
    return n->results[0];
  };
  const RmsNormAttrs norm{c.rms_eps};
  const RopeAttrs rope{c.rope_theta, c.rope_dims, c.head_dim, c.rope_neox, c.rope_freq_scale};
  // Operands every rope node takes after its input: the position and Llama 3's frequency divisors.
  std::vector<Value*> rope_operands = {pos};
  if (c.rope_freq_factors) rope_operands.push_back(*w("rope_freqs.weight"));

  ASSIGN_OR_RETURN(Value * embd_table, w("token_embd.weight"));
  Attrs embd_attrs;
  if (c.embd_scale != 1.0f) embd_attrs = EmbeddingAttrs{c.embd_scale};
  ASSIGN_OR_RETURN(Value * x, node(OpKind::kEmbedding, "inp_embd", {tokens, embd_table}, embd_attrs));  // [S, E]

  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    const TensorType pool{options.kv_type, {pool_pages * kKvPageSize, c.kv_dim()}};
    ASSIGN_OR_RETURN(Value * k_cache, g.AddState(p + "k_cache", pool));
    ASSIGN_OR_RETURN(Value * v_cache, g.AddState(p + "v_cache", pool));

    ASSIGN_OR_RETURN(Value * h, node(OpKind::kRmsNorm, p + "attn_norm", {x, *w(p + "attn_norm.weight")}, norm));
    // Projections: q [S, H*D], k and v [S, KV*D], plus the biases where the model has them. A fused
    // attn_qkv (Phi-3) is read through its row views, so the projections look the same to every pass.
    auto project = [&](const char* which) -> absl::StatusOr<Value*> {
      const std::string base = absl::StrCat(p, "attn_", which);
      const std::string weight = c.fused_qkv ? absl::StrCat(p, "attn_qkv.weight.", which) : base + ".weight";
      ASSIGN_OR_RETURN(Value * y, node(OpKind::kMatmul, base, {h, *w(weight)}));
      if (!c.qkv_bias) return y;
      return node(OpKind::kAdd, base + "_bias", {y, *w(base + ".bias")});
    };
    ASSIGN_OR_RETURN(Value * q, project("q"));
    ASSIGN_OR_RETURN(Value * k, project("k"));
    ASSIGN_OR_RETURN(Value * v, project("v"));
    if (c.qk_norm) {  // Each head normalised on its own before RoPE.
      ASSIGN_OR_RETURN(q, node(OpKind::kRmsNorm, p + "attn_q_norm", {q, *w(p + "attn_q_norm.weight")}, norm));
      ASSIGN_OR_RETURN(k, node(OpKind::kRmsNorm, p + "attn_k_norm", {k, *w(p + "attn_k_norm.weight")}, norm));
    }
    auto rotate = [&](Value* in, const std::string& name) {
      std::vector<Value*> operands = {in};
      operands.insert(operands.end(), rope_operands.begin(), rope_operands.end());
      return node(OpKind::kRope, name, std::move(operands), rope);
    };
    ASSIGN_OR_RETURN(q, rotate(q, p + "attn_q_rope"));
    ASSIGN_OR_RETURN(k, rotate(k, p + "attn_k_rope"));
    ASSIGN_OR_RETURN(Value * k_written, node(OpKind::kKvWrite, p + "k_cache_write", {k_cache, k, pos}));
    ASSIGN_OR_RETURN(Value * v_written, node(OpKind::kKvWrite, p + "v_cache_write", {v_cache, v, pos}));
    const AttentionAttrs attn{c.n_heads, c.n_kv_heads, c.head_dim, c.attn_scale, c.attn_softcap,
                              c.SlidingLayer(l) ? c.sliding_window : 0};
    ASSIGN_OR_RETURN(Value * a, node(OpKind::kAttention, p + "attn", {q, k_written, v_written, pos}, attn));
    ASSIGN_OR_RETURN(Value * o, node(OpKind::kMatmul, p + "attn_out", {a, *w(p + "attn_output.weight")}));
    if (c.post_norms) {
      ASSIGN_OR_RETURN(o, node(OpKind::kRmsNorm, p + "attn_post_norm",
                               {o, *w(p + "post_attention_norm.weight")}, norm));
    }
    ASSIGN_OR_RETURN(x, node(OpKind::kAdd, p + "attn_residual", {x, o}));

    ASSIGN_OR_RETURN(h, node(OpKind::kRmsNorm, p + "ffn_norm", {x, *w(p + "ffn_norm.weight")}, norm));
    const std::string gate_w = c.fused_qkv ? p + "ffn_up.weight.gate" : p + "ffn_gate.weight";
    const std::string up_w = c.fused_qkv ? p + "ffn_up.weight.up" : p + "ffn_up.weight";
    ASSIGN_OR_RETURN(Value * gate, node(OpKind::kMatmul, p + "ffn_gate", {h, *w(gate_w)}));
    ASSIGN_OR_RETURN(Value * up, node(OpKind::kMatmul, p + "ffn_up", {h, *w(up_w)}));
    ASSIGN_OR_RETURN(Value * act, c.ffn_act == FfnActivation::kGeluTanh
                                      ? node(OpKind::kGeglu, p + "ffn_geglu", {gate, up})
                                      : node(OpKind::kSwiglu, p + "ffn_swiglu", {gate, up}));
    ASSIGN_OR_RETURN(Value * down, node(OpKind::kMatmul, p + "ffn_down", {act, *w(p + "ffn_down.weight")}));
    if (c.post_norms) {
      ASSIGN_OR_RETURN(down, node(OpKind::kRmsNorm, p + "ffn_post_norm", {down, *w(p + "post_ffw_norm.weight")},
                                  norm));
    }
    ASSIGN_OR_RETURN(x, node(OpKind::kAdd, p + "ffn_residual", {x, down}));
  }

  if (batched_prefill) {
    ASSIGN_OR_RETURN(x, node(OpKind::kLastRow, "last_row", {x, last}));
  } else if (s > 1 && !options.all_logits) {
    ASSIGN_OR_RETURN(x, node(OpKind::kLastRow, "last_row", {x}));  // Only the last position predicts.
  }
  ASSIGN_OR_RETURN(Value * out_norm, node(OpKind::kRmsNorm, "output_norm", {x, *w("output_norm.weight")}, norm));
  ASSIGN_OR_RETURN(Value * out_w, w(c.tied_output ? "token_embd.weight" : "output.weight"));
  ASSIGN_OR_RETURN(Value * logits, node(OpKind::kMatmul, "logits", {out_norm, out_w}));
  if (c.final_softcap > 0) {
    ASSIGN_OR_RETURN(logits, node(OpKind::kSoftcap, "logits_softcap", {logits}, SoftcapAttrs{c.final_softcap}));
  }
  if (options.greedy) {
    ASSIGN_OR_RETURN(Value * token, node(OpKind::kArgmax, "token", {logits}));
    RETURN_IF_ERROR(g.AddOutput(token));
  } else {
    RETURN_IF_ERROR(g.AddOutput(logits));
  }
  return g;
}

}  // namespace ggrt
