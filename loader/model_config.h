// Model hyper-parameters read from GGUF metadata (`llama` and `qwen2`), and the check that every tensor the
// architecture needs is present with the right shape.
#ifndef GGRT_LOADER_MODEL_CONFIG_H_
#define GGRT_LOADER_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/gguf_file.h"

namespace ggrt {

enum class Arch { kLlama, kQwen2 };

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

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
};

// Reads and validates the config. Errors name the file and the key or tensor at fault. Every tensor the
// architecture reads must be present with its shape and a type ggrt computes with, and every tensor in the
// file must be one it reads (a block_count below the file's layers, say, is an error rather than a model
// silently missing a layer).
absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& file);

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
