#include "loader/model_config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

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

absl::StatusOr<float> OptionalFloat(const GgufFile& f, const std::string& key, float fallback) {
  if (!f.Has(key)) return fallback;
  ASSIGN_OR_RETURN(const double v, f.GetFloat(key));
  return static_cast<float>(v);
}

}  // namespace

std::string LayerTensorName(int layer, const char* suffix) { return absl::StrCat("blk.", layer, ".", suffix); }

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  const int64_t e = c.n_embd, q = c.q_dim(), kv = c.kv_dim(), ff = c.n_ff, v = c.n_vocab;
  std::vector<ExpectedTensor> out = {{"token_embd.weight", {e, v}}, {"output_norm.weight", {e}}};
  if (!c.tied_output) out.push_back({"output.weight", {e, v}});
  for (int l = 0; l < c.n_layers; ++l) {
    out.push_back({LayerTensorName(l, "attn_norm.weight"), {e}});
    out.push_back({LayerTensorName(l, "attn_q.weight"), {e, q}});
    out.push_back({LayerTensorName(l, "attn_k.weight"), {e, kv}});
    out.push_back({LayerTensorName(l, "attn_v.weight"), {e, kv}});
    if (c.qkv_bias) {
      out.push_back({LayerTensorName(l, "attn_q.bias"), {q}});
      out.push_back({LayerTensorName(l, "attn_k.bias"), {kv}});
      out.push_back({LayerTensorName(l, "attn_v.bias"), {kv}});
    }
    out.push_back({LayerTensorName(l, "attn_output.weight"), {q, e}});
    out.push_back({LayerTensorName(l, "ffn_norm.weight"), {e}});
    out.push_back({LayerTensorName(l, "ffn_gate.weight"), {e, ff}});
    out.push_back({LayerTensorName(l, "ffn_up.weight"), {e, ff}});
    out.push_back({LayerTensorName(l, "ffn_down.weight"), {ff, e}});
  }
  return out;
}

absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& f) {
  ModelConfig c;
  ASSIGN_OR_RETURN(c.arch_name, f.GetString("general.architecture"));
  if (c.arch_name == "llama") {
    c.arch = Arch::kLlama;
  } else if (c.arch_name == "qwen2") {
    c.arch = Arch::kQwen2;
    c.rope_neox = true;
  } else {
    return absl::UnimplementedError(absl::StrCat(f.path(), ": unsupported architecture '", c.arch_name,
                                                 "' (general.architecture); supported: llama, qwen2"));
  }
  const std::string p = c.arch_name + ".";
  ASSIGN_OR_RETURN(c.n_layers, PositiveInt(f, p + "block_count"));
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
  if (c.n_heads % c.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": head_count ", c.n_heads,
                                                   " is not a multiple of head_count_kv ", c.n_kv_heads));
  }
  ASSIGN_OR_RETURN(c.rope_dims, OptionalPositiveInt(f, p + "rope.dimension_count", c.head_dim));
  if (c.rope_dims > c.head_dim || c.rope_dims % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": rope.dimension_count ", c.rope_dims,
                                                   " must be even and at most the head size ", c.head_dim));
  }
  ASSIGN_OR_RETURN(c.rope_theta, OptionalFloat(f, p + "rope.freq_base", 10000.0f));
  ASSIGN_OR_RETURN(c.rms_eps, OptionalFloat(f, p + "attention.layer_norm_rms_epsilon", 1e-5f));

  ASSIGN_OR_RETURN(const GgufTensorInfo* embd, f.GetTensor("token_embd.weight"));
  if (embd->dims.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": tensor 'token_embd.weight' must be 2-D"));
  }
  c.n_vocab = static_cast<int>(embd->dims[1]);
  c.tied_output = f.FindTensor("output.weight") == nullptr;
  c.qkv_bias = f.FindTensor(LayerTensorName(0, "attn_q.bias")) != nullptr;

  for (const ExpectedTensor& want : ExpectedTensors(c)) {
    ASSIGN_OR_RETURN(const GgufTensorInfo* t, f.GetTensor(want.name));
    if (t->dims != want.dims) {
      return absl::InvalidArgumentError(absl::StrCat(
          f.path(), ": tensor '", want.name, "' has shape [", absl::StrJoin(t->dims, ", "), "], expected [",
          absl::StrJoin(want.dims, ", "), "]"));
    }
  }
  return c;
}

}  // namespace ggrt
