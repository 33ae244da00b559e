// Random-weight GGUF models of real shapes (Qwen2.5-0.5B/1.5B) for benchmarking, written with ggrt's own
// GGUF writer and carrying a real vocabulary, so speed can be measured without the real weights.
#ifndef GGRT_TOOLS_SYNTHETIC_MODEL_H_
#define GGRT_TOOLS_SYNTHETIC_MODEL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "loader/dtype.h"
#include "loader/gguf_file.h"

namespace ggrt {

struct SyntheticPreset {
  std::string name;
  int n_layers, n_embd, n_heads, n_kv_heads, n_ff, n_ctx;
  float rope_theta, rms_eps;
};

// "qwen2.5-0.5b" or "qwen2.5-1.5b".
absl::StatusOr<SyntheticPreset> FindSyntheticPreset(absl::string_view name);

// Writes a qwen2 model (tied output, QKV biases) whose tokenizer metadata is copied from `vocab`.
// Weights are uniform with standard deviation 0.02, biases with 1, norms are 1. The file records what it
// was written from (`ggrt.synthetic`).
absl::Status WriteSyntheticModel(const SyntheticPreset& preset, DType dtype, const GgufFile& vocab,
                                 const std::string& path, uint64_t seed);

// Writes the model unless `path` already holds a complete one written from the same preset, dtype,
// vocabulary size and seed (a 1 GB model takes seconds to write). True when it wrote.
absl::StatusOr<bool> EnsureSyntheticModel(const SyntheticPreset& preset, DType dtype, const GgufFile& vocab,
                                          const std::string& path, uint64_t seed);

}  // namespace ggrt

#endif  // GGRT_TOOLS_SYNTHETIC_MODEL_H_
