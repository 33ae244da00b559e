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

}  // namespace

std::string LayerTensorName(int layer, const char* suffix) { return absl::StrCat("blk.", layer, ".", suffix); }

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  const int64_t e = c.n_embd, q = c.q_dim(), kv = c.kv_dim(), ff = c.n_ff, v = c.n_vocab;
  std::vector<ExpectedTensor> out = {{"token_embd.weight", {e, v}}, {"output_norm.weight", {e}, false}};
  if (!c.tied_output) out.push_back({"output.weight", {e, v}});
  for (int l = 0; l < c.n_layers; ++l) {
    out.push_back({LayerTensorName(l, "attn_norm.weight"), {e}, false});
    out.push_back({LayerTensorName(l, "attn_q.weight"), {e, q}});
    out.push_back({LayerTensorName(l, "attn_k.weight"), {e, kv}});
    out.push_back({LayerTensorName(l, "attn_v.weight"), {e, kv}});
    if (c.qkv_bias) {
      out.push_back({LayerTensorName(l, "attn_q.bias"), {q}, false});
      out.push_back({LayerTensorName(l, "attn_k.bias"), {kv}, false});
      out.push_back({LayerTensorName(l, "attn_v.bias"), {kv}, false});
    }
    out.push_back({LayerTensorName(l, "attn_output.weight"), {q, e}});
    out.push_back({LayerTensorName(l, "ffn_norm.weight"), {e}, false});
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
  // Bound the layer count by the tensors before anything is sized by it.
  constexpr int kTensorsPerLayer = 9;  // Two norms, four attention and three FFN projections.
  if (static_cast<uint64_t>(c.n_layers) > f.tensors().size() / kTensorsPerLayer) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": metadata key '", p, "block_count' = ", c.n_layers,
                                                   " needs at least ", kTensorsPerLayer,
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
  // Features a file can ask for that ggrt does not implement yet: refused, never ignored.
  if (f.Has(p + "rope.scaling.type")) {
    ASSIGN_OR_RETURN(const std::string type, f.GetString(p + "rope.scaling.type"));
    if (type != "none") {
      return absl::UnimplementedError(absl::StrCat(f.path(), ": metadata key '", p, "rope.scaling.type' = ",
                                                   Quote(type), " is not supported (only none)"));
    }
  }
  for (const char* key : {"attention.sliding_window", "attn_logit_softcapping", "final_logit_softcapping",
                          "expert_count"}) {
    if (f.Has(p + key)) {
      return absl::UnimplementedError(absl::StrCat(f.path(), ": metadata key '", p, key, "' asks for a feature ",
                                                   c.arch_name, " models do not have in ggrt"));
    }
  }
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
  c.qkv_bias = f.FindTensor(LayerTensorName(0, "attn_q.bias")) != nullptr;

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
