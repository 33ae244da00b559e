#include "loader/model_config.h"

#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/quote.h"
#include "base/status_macros.h"
#include "loader/dequantize.h"

namespace ggrt {
namespace {

absl::StatusOr<int> PositiveInt(const GgufFile& f, const std::string& key) {
  ASSIGN_OR_RETURN(const int64_t v, f.GetInteger(key));
  if (v <= 0 || v > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": metadata key '", key, "' = ", v,
                                                   " is out of range"));
  }
  return static_cast<int>(v);
}

absl::StatusOr<int> OptionalPositiveInt(const GgufFile& f, const std::string& key, int fallback) {
  if (!f.Has(key)) return fallback;
  return PositiveInt(f, key);
}

// A float in (0, max]: NaN, infinities, zero and negatives are errors naming the key.
absl::StatusOr<float> OptionalPositiveFloat(const GgufFile& f, const std::string& key, float fallback,
                                            double max) {
  if (!f.Has(key)) return fallback;
  ASSIGN_OR_RETURN(const double v, f.GetFloat(key));
  if (!(v > 0 && v <= max)) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": metadata key ", Quote(key), " = ", v,
                                                   " must be a positive number of at most ", max));
  }
  return static_cast<float>(v);
}

absl::Status CheckTensor(const GgufFile& f, const ExpectedTensor& want) {
  ASSIGN_OR_RETURN(const GgufTensorInfo* t, f.GetTensor(want.name));
  const bool float_type = t->dtype == DType::kF32 || t->dtype == DType::kF16 || t->dtype == DType::kBF16;
  if (want.matrix ? !CanDequantize(t->dtype) : !float_type) {
    return absl::UnimplementedError(absl::StrCat(
        f.path(), ": tensor ", Quote(want.name), " has type ", DTypeName(t->dtype), "; ",
        want.matrix ? "weight matrices must be f32, f16, bf16 or q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, "
                      "q5_k, q6_k, q8_k"
                    : "norm weights and biases must be f32, f16 or bf16"));
  }
  if (t->dims != want.dims) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": tensor ", Quote(want.name), " has shape [",
                                                   absl::StrJoin(t->dims, ", "), "], expected [",
                                                   absl::StrJoin(want.dims, ", "), "]"));
  }
  return absl::OkStatus();
}

// What distinguishes a family, read by ModelConfigFromGguf; the lowering reads the resulting config.
struct Family {
  absl::string_view name;
  Arch arch;
  bool neox;
  bool qk_norm;
  bool fused_qkv;
  bool gemma;            // Embedding scale, GeGLU, post-norms, soft-capping, alternating sliding window.
  int sliding_period;    // 0: a sliding_window key is refused.
  int tensors_per_layer;  // Bounds block_count by the file's tensors before anything is sized by it.
};

constexpr Family kFamilies[] = {
    // name     arch           neox   qk_norm fused  gemma  sliding tensors
    {"llama", Arch::kLlama, false, false, false, false, 0, 9},
    {"qwen2", Arch::kQwen2, true, false, false, false, 0, 9},
    {"qwen3", Arch::kQwen3, true, true, false, false, 0, 11},
    {"phi3", Arch::kPhi3, true, false, true, false, 1, 6},
    {"gemma2", Arch::kGemma2, true, false, false, true, 2, 11},
};

}  // namespace

std::string LayerTensorName(int layer, const char* suffix) { return absl::StrCat("blk.", layer, ".", suffix); }

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  const int64_t e = c.n_embd, q = c.q_dim(), kv = c.kv_dim(), ff = c.n_ff, v = c.n_vocab;
  std::vector<ExpectedTensor> out = {{"token_embd.weight", {e, v}}, {"output_norm.weight", {e}, false}};
  if (!c.tied_output) out.push_back({"output.weight", {e, v}});
  if (c.rope_freq_factors) out.push_back({"rope_freqs.weight", {c.rope_dims / 2}, false});
  for (int l = 0; l < c.n_layers; ++l) {
    out.push_back({LayerTensorName(l, "attn_norm.weight"), {e}, false});
    if (c.fused_qkv) {
      out.push_back({LayerTensorName(l, "attn_qkv.weight"), {e, q + 2 * kv}});
    } else {
      out.push_back({LayerTensorName(l, "attn_q.weight"), {e, q}});
      out.push_back({LayerTensorName(l, "attn_k.weight"), {e, kv}});
      out.push_back({LayerTensorName(l, "attn_v.weight"), {e, kv}});
    }
    if (c.qk_norm) {
      out.push_back({LayerTensorName(l, "attn_q_norm.weight"), {c.head_dim}, false});
      out.push_back({LayerTensorName(l, "attn_k_norm.weight"), {c.head_dim}, false});
    }
    if (c.qkv_bias) {
      out.push_back({LayerTensorName(l, "attn_q.bias"), {q}, false});
      out.push_back({LayerTensorName(l, "attn_k.bias"), {kv}, false});
      out.push_back({LayerTensorName(l, "attn_v.bias"), {kv}, false});
    }
    out.push_back({LayerTensorName(l, "attn_output.weight"), {q, e}});
    if (c.post_norms) out.push_back({LayerTensorName(l, "post_attention_norm.weight"), {e}, false});
    out.push_back({LayerTensorName(l, "ffn_norm.weight"), {e}, false});
    if (c.fused_qkv) {
      out.push_back({LayerTensorName(l, "ffn_up.weight"), {e, 2 * ff}});
    } else {
      out.push_back({LayerTensorName(l, "ffn_gate.weight"), {e, ff}});
      out.push_back({LayerTensorName(l, "ffn_up.weight"), {e, ff}});
    }
    out.push_back({LayerTensorName(l, "ffn_down.weight"), {ff, e}});
    if (c.post_norms) out.push_back({LayerTensorName(l, "post_ffw_norm.weight"), {e}, false});
  }
  return out;
}

absl::Status AddFusedTensorViews(const ModelConfig& c, GgufFile& f) {
  if (!c.fused_qkv) return absl::OkStatus();
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string qkv = LayerTensorName(l, "attn_qkv.weight"), up = LayerTensorName(l, "ffn_up.weight");
    RETURN_IF_ERROR(f.AddRowView(qkv + ".q", qkv, 0, c.q_dim()));
    RETURN_IF_ERROR(f.AddRowView(qkv + ".k", qkv, c.q_dim(), c.kv_dim()));
    RETURN_IF_ERROR(f.AddRowView(qkv + ".v", qkv, c.q_dim() + c.kv_dim(), c.kv_dim()));
    RETURN_IF_ERROR(f.AddRowView(up + ".gate", up, 0, c.n_ff));
    RETURN_IF_ERROR(f.AddRowView(up + ".up", up, c.n_ff, c.n_ff));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& f) {
  ModelConfig c;
  ASSIGN_OR_RETURN(c.arch_name, f.GetString("general.architecture"));
  const Family* family = nullptr;
  for (const Family& candidate : kFamilies) {
    if (candidate.name == c.arch_name) family = &candidate;
  }
  if (family == nullptr) {
    return absl::UnimplementedError(absl::StrCat(f.path(), ": unsupported architecture '", c.arch_name,
                                                 "' (general.architecture); supported: llama, qwen2, qwen3, phi3, "
                                                 "gemma2"));
  }
  c.arch = family->arch;
  c.rope_neox = family->neox;
  c.qk_norm = family->qk_norm;
  c.fused_qkv = family->fused_qkv;
  const std::string p = c.arch_name + ".";
  ASSIGN_OR_RETURN(c.n_layers, PositiveInt(f, p + "block_count"));
  // Bound the layer count by the tensors before anything is sized by it.
  if (static_cast<uint64_t>(c.n_layers) > f.tensors().size() / family->tensors_per_layer) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": metadata key '", p, "block_count' = ", c.n_layers,
                                                   " needs at least ", family->tensors_per_layer,
                                                   " tensors per layer; the file has ", f.tensors().size()));
  }
  ASSIGN_OR_RETURN(c.n_embd, PositiveInt(f, p + "embedding_length"));
  ASSIGN_OR_RETURN(c.n_heads, PositiveInt(f, p + "attention.head_count"));
  ASSIGN_OR_RETURN(c.n_kv_heads, OptionalPositiveInt(f, p + "attention.head_count_kv", c.n_heads));
  ASSIGN_OR_RETURN(c.n_ff, PositiveInt(f, p + "feed_forward_length"));
  ASSIGN_OR_RETURN(c.n_ctx, PositiveInt(f, p + "context_length"));
  if (c.n_embd % c.n_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": embedding_length ", c.n_embd,
                                                   " is not a multiple of head_count ", c.n_heads));
  }
  ASSIGN_OR_RETURN(c.head_dim, OptionalPositiveInt(f, p + "attention.key_length", c.n_embd / c.n_heads));
  constexpr int kMaxHeadDim = 1024;
  constexpr int64_t kMaxProjection = int64_t{1} << 24;
  if (c.head_dim > kMaxHeadDim) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": metadata key '", p, "attention.key_length' = ",
                                                   c.head_dim, " is larger than ", kMaxHeadDim));
  }
  if (f.Has(p + "attention.value_length")) {
    ASSIGN_OR_RETURN(const int value_length, PositiveInt(f, p + "attention.value_length"));
    if (value_length != c.head_dim) {
      return absl::UnimplementedError(absl::StrCat(f.path(), ": metadata key '", p, "attention.value_length' = ",
                                                   value_length, " differs from the key length ", c.head_dim,
                                                   "; ggrt needs them equal"));
    }
  }
  if (int64_t{c.n_heads} * c.head_dim > kMaxProjection) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": head_count ", c.n_heads, " x key_length ",
                                                   c.head_dim, " is larger than ", kMaxProjection));
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": head_count ", c.n_heads,
                                                   " is not a multiple of head_count_kv ", c.n_kv_heads));
  }
  ASSIGN_OR_RETURN(c.rope_dims, OptionalPositiveInt(f, p + "rope.dimension_count", c.head_dim));
  if (c.rope_dims > c.head_dim || c.rope_dims % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": rope.dimension_count ", c.rope_dims,
                                                   " must be even and at most the head size ", c.head_dim));
  }
  // RoPE scaling: linear (rope.scaling.type, or the older rope.scale_linear) and Llama 3's per-pair divisors
  // (rope_freqs.weight, which llama.cpp's converter writes instead of keys). Anything else is refused.
  std::string scaling = "none";
  if (f.Has(p + "rope.scaling.type")) {
    ASSIGN_OR_RETURN(scaling, f.GetString(p + "rope.scaling.type"));
    if (scaling != "none" && scaling != "linear") {
      return absl::UnimplementedError(absl::StrCat(f.path(), ": metadata key '", p, "rope.scaling.type' = ",
                                                   Quote(scaling), " is not supported (none, linear)"));
    }
  }
  if (scaling == "linear" || f.Has(p + "rope.scale_linear")) {
    const std::string key = p + (scaling == "linear" ? "rope.scaling.factor" : "rope.scale_linear");
    RET_CHECK(f.Has(key), f.path(), ": linear RoPE scaling needs metadata key ", Quote(key));
    ASSIGN_OR_RETURN(const float factor, OptionalPositiveFloat(f, key, 1.0f, 1e6));
    c.rope_freq_scale = 1.0f / factor;
  }
  for (const char* key : {"rope.scaling.attn_factor", "rope.scaling.yarn_log_multiplier"}) {
    if (f.Has(p + key)) {
      return absl::UnimplementedError(absl::StrCat(f.path(), ": metadata key '", p, key,
                                                   "' asks for a RoPE scaling ggrt does not implement"));
    }
  }
  c.rope_freq_factors = f.FindTensor("rope_freqs.weight") != nullptr;

  // Features only some families have: read where the family has them, refused (named) everywhere else.
  auto family_only = [&](const char* key, bool allowed) -> absl::Status {
    if (allowed || !f.Has(p + key)) return absl::OkStatus();
    return absl::UnimplementedError(absl::StrCat(f.path(), ": metadata key '", p, key, "' asks for a feature ",
                                                 c.arch_name, " models do not have in ggrt"));
  };
  RETURN_IF_ERROR(family_only("attention.sliding_window", family->sliding_period > 0));
  RETURN_IF_ERROR(family_only("attn_logit_softcapping", family->gemma));
  RETURN_IF_ERROR(family_only("final_logit_softcapping", family->gemma));
  RETURN_IF_ERROR(family_only("expert_count", false));
  if (family->sliding_period > 0) {
    ASSIGN_OR_RETURN(c.sliding_window, OptionalPositiveInt(f, p + "attention.sliding_window", 0));
    c.sliding_period = family->sliding_period;
  }
  if (family->gemma) {
    ASSIGN_OR_RETURN(c.attn_softcap, OptionalPositiveFloat(f, p + "attn_logit_softcapping", 0.0f, 1e30));
    ASSIGN_OR_RETURN(c.final_softcap, OptionalPositiveFloat(f, p + "final_logit_softcapping", 0.0f, 1e30));
    c.ffn_act = FfnActivation::kGeluTanh;
    c.post_norms = true;
    c.embd_scale = std::sqrt(static_cast<float>(c.n_embd));
  }
  // Gemma 2 27B (46 layers) scales q by 1/sqrt(E / heads) rather than 1/sqrt(head_dim), as llama.cpp does.
  const bool gemma2_27b = c.arch == Arch::kGemma2 && c.n_layers == 46;
  c.attn_scale = static_cast<float>(1.0 / std::sqrt(gemma2_27b ? static_cast<double>(c.n_embd) / c.n_heads
                                                                  : static_cast<double>(c.head_dim)));
  ASSIGN_OR_RETURN(c.rope_theta, OptionalPositiveFloat(f, p + "rope.freq_base", 10000.0f, 1e30));
  ASSIGN_OR_RETURN(c.rms_eps, OptionalPositiveFloat(f, p + "attention.layer_norm_rms_epsilon", 1e-5f, 1.0));

  ASSIGN_OR_RETURN(const GgufTensorInfo* embd, f.GetTensor("token_embd.weight"));
  if (embd->dims.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": tensor 'token_embd.weight' must be 2-D"));
  }
  if (embd->dims[1] > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": tensor 'token_embd.weight' has ", embd->dims[1],
                                                   " rows, more than a vocabulary can have"));
  }
  c.n_vocab = static_cast<int>(embd->dims[1]);
  c.tied_output = f.FindTensor("output.weight") == nullptr;
  // Biases where the file has them (Qwen2 always; some Llama-architecture models).
  c.qkv_bias = family->arch != Arch::kQwen3 && !c.fused_qkv && family->arch != Arch::kGemma2 &&
               f.FindTensor(LayerTensorName(0, "attn_q.bias")) != nullptr;

  const std::vector<ExpectedTensor> expected = ExpectedTensors(c);
  absl::flat_hash_set<absl::string_view> used;
  for (const ExpectedTensor& want : expected) {
    RETURN_IF_ERROR(CheckTensor(f, want));
    used.insert(want.name);
  }
  for (const GgufTensorInfo& t : f.tensors()) {
    if (!used.contains(t.name)) {
      return absl::UnimplementedError(absl::StrCat(f.path(), ": tensor ", Quote(t.name), " is not used by a ",
                                                   c.n_layers, "-layer ", c.arch_name, " model (", p,
                                                   "block_count); ggrt refuses files with tensors it would ignore"));
    }
  }
  return c;
}

}  // namespace ggrt
