// Model hyper-parameters read from GGUF metadata, and the check that every tensor the architecture needs is
// present with the right shape. Families (GGUF general.architecture as llama.cpp writes it):
//   llama   Llama 2/3.x, Mistral: GQA, optional Llama 3 rope_freqs.weight or linear RoPE scaling, optional
//           tied output (3.2 1B/3B) and QKV biases.
//   qwen2   NeoX RoPE, QKV biases.
//   qwen3   NeoX RoPE, per-head RMSNorm of q and k before RoPE (attn_q_norm, attn_k_norm), no biases.
//   phi3    NeoX RoPE, fused attn_qkv and gate-up (ffn_up = [gate; up]) matrices, sliding window on every layer.
//   gemma2  NeoX RoPE, embedding scaled by sqrt(E), GeGLU, norms after attention and FFN as well as before,
//           attention and final-logit soft-capping, sliding window on even layers.
#ifndef GGRT_LOADER_MODEL_CONFIG_H_
#define GGRT_LOADER_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/gguf_file.h"

namespace ggrt {

enum class Arch { kLlama, kQwen2, kQwen3, kPhi3, kGemma2 };

enum class FfnActivation { kSilu, kGeluTanh };

// The largest context (KV-cache positions) any flag or file may ask for.
constexpr int kMaxContext = 1 << 24;

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string arch_name;
  int n_layers = 0;
  int n_embd = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int n_ff = 0;
  int n_ctx = 0;  // Context length the model was trained for.
  int n_vocab = 0;
  float rope_theta = 10000.0f;
  int rope_dims = 0;       // Rotated dimensions per head (<= head_dim).
  bool rope_neox = false;  // NeoX layout rotates (i, i + dims/2) pairs; the normal one (2i, 2i+1).
  float rms_eps = 1e-5f;
  bool tied_output = false;  // No output.weight: the embedding is reused.
  bool qkv_bias = false;
  float attn_scale = 0.0f;  // Applied to q.k.

  // Family features (all off for Llama 2).
  float rope_freq_scale = 1.0f;    // Linear RoPE scaling: 1 / rope.scaling.factor.
  bool rope_freq_factors = false;  // rope_freqs.weight divides each pair's frequency (Llama 3).
  bool qk_norm = false;            // Per-head RMSNorm of q and k (Qwen3).
  bool fused_qkv = false;          // attn_qkv and a [gate; up] ffn_up (Phi-3), split by AddFusedTensorViews.
  FfnActivation ffn_act = FfnActivation::kSilu;
  float embd_scale = 1.0f;       // Embedding rows are multiplied by it (Gemma: sqrt(E)).
  bool post_norms = false;       // RMSNorm of the attention and FFN outputs before the residual adds (Gemma 2).
  float attn_softcap = 0.0f;     // > 0: attention scores soft-capped (Gemma 2).
  float final_softcap = 0.0f;    // > 0: logits soft-capped (Gemma 2).
  int sliding_window = 0;        // > 0: sliding layers see the last `sliding_window` positions.
  int sliding_period = 0;        // Layer l slides when l % sliding_period == 0 (1: every layer).

  bool SlidingLayer(int layer) const { return sliding_window > 0 && layer % sliding_period == 0; }

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
};

// Reads and validates the config. Errors name the file and the key or tensor at fault. Every tensor the
// architecture reads must be present with its shape and a type ggrt computes with, and every tensor in the
// file must be one it reads (a block_count below the file's layers, say, is an error rather than a model
// silently missing a layer).
absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& file);

// Registers the per-projection views of fused matrices (AddRowView) that the lowering names: for Phi-3,
// blk.N.attn_qkv.weight.{q,k,v} and blk.N.ffn_up.weight.{gate,up}. A no-op for other families.
absl::Status AddFusedTensorViews(const ModelConfig& config, GgufFile& file);

// "blk.<layer>.<suffix>", the GGUF tensor naming convention.
std::string LayerTensorName(int layer, const char* suffix);

// Every tensor the model reads with its expected GGUF dims (dims[0] = row length).
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> dims;
  bool matrix = true;  // A projection (any computable type); otherwise a norm or bias (f32, f16 or bf16).
};
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

}  // namespace ggrt

#endif  // GGRT_LOADER_MODEL_CONFIG_H_
