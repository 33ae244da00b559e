#include "tools/synthetic_model.h"

#include <cstring>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/fp16.h"
#include "base/status_macros.h"
#include "loader/gguf_writer.h"
#include "loader/model_config.h"

namespace ggrt {
namespace {

// xorshift64*: fast enough for a billion weights.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9e3779b97f4a7c15ull + 1) {}
  float Uniform() {  // [-1, 1)
    s_ ^= s_ >> 12, s_ ^= s_ << 25, s_ ^= s_ >> 27;
    return static_cast<float>((s_ * 0x2545f4914f6cdd1dull) >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }

 private:
  uint64_t s_;
};

std::string Tensor(DType dtype, int64_t n, float std_dev, float constant, Rng& rng) {
  const float a = std_dev * 1.7320508f;  // Uniform(-a, a) has this standard deviation.
  std::string out(n * (dtype == DType::kF32 ? 4 : 2), '\0');
  for (int64_t i = 0; i < n; ++i) {
    const float v = constant + (std_dev > 0 ? a * rng.Uniform() : 0.0f);
    if (dtype == DType::kF32) {
      std::memcpy(&out[4 * i], &v, 4);
    } else {
      const uint16_t h = dtype == DType::kF16 ? FloatToFp16(v) : FloatToBf16(v);
      std::memcpy(&out[2 * i], &h, 2);
    }
  }
  return out;
}

// What a synthetic file was written from.
std::string SyntheticId(const SyntheticPreset& p, DType dtype, int64_t n_vocab, uint64_t seed) {
  return absl::StrCat(p.name, " layers=", p.n_layers, " dtype=", DTypeName(dtype), " vocab=", n_vocab,
                      " seed=", seed);
}

absl::StatusOr<int64_t> VocabSize(const GgufFile& vocab) {
  for (const auto& [key, value] : vocab.metadata()) {
    if (key == "tokenizer.ggml.tokens" && std::holds_alternative<GgufArray>(value.data)) {
      return static_cast<int64_t>(std::get<GgufArray>(value.data).size());
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(vocab.path(), " has no tokenizer.ggml.tokens"));
}

}  // namespace

absl::StatusOr<SyntheticPreset> FindSyntheticPreset(absl::string_view name) {
  if (name == "qwen2.5-0.5b") return SyntheticPreset{"qwen2.5-0.5b", 24, 896, 14, 2, 4864, 32768, 1e6f, 1e-6f};
  if (name == "qwen2.5-1.5b") return SyntheticPreset{"qwen2.5-1.5b", 28, 1536, 12, 2, 8960, 32768, 1e6f, 1e-6f};
  return absl::InvalidArgumentError(absl::StrCat("unknown synthetic model '", name,
                                                 "' (qwen2.5-0.5b, qwen2.5-1.5b)"));
}

absl::Status WriteSyntheticModel(const SyntheticPreset& p, DType dtype, const GgufFile& vocab,
                                 const std::string& path, uint64_t seed) {
  RET_CHECK(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16,
            "synthetic weights are f32, f16 or bf16");
  GgufWriter w;
  w.SetString("general.architecture", "qwen2");
  w.SetString("general.name", absl::StrCat("synthetic-", p.name, "-", DTypeName(dtype)));
  w.SetU32("qwen2.block_count", p.n_layers);
  w.SetU32("qwen2.embedding_length", p.n_embd);
  w.SetU32("qwen2.attention.head_count", p.n_heads);
  w.SetU32("qwen2.attention.head_count_kv", p.n_kv_heads);
  w.SetU32("qwen2.feed_forward_length", p.n_ff);
  w.SetU32("qwen2.context_length", p.n_ctx);
  w.SetF32("qwen2.rope.freq_base", p.rope_theta);
  w.SetF32("qwen2.attention.layer_norm_rms_epsilon", p.rms_eps);
  ASSIGN_OR_RETURN(const int64_t n_vocab, VocabSize(vocab));
  for (const auto& [key, value] : vocab.metadata()) {
    if (absl::StartsWith(key, "tokenizer.")) w.Set(key, value);
  }
  w.SetString("ggrt.synthetic", SyntheticId(p, dtype, n_vocab, seed));

  ModelConfig c;
  c.n_layers = p.n_layers, c.n_embd = p.n_embd, c.n_heads = p.n_heads, c.n_kv_heads = p.n_kv_heads;
  c.head_dim = p.n_embd / p.n_heads, c.n_ff = p.n_ff, c.n_vocab = static_cast<int>(n_vocab);
  c.tied_output = true, c.qkv_bias = true;
  Rng rng(seed);
  for (const ExpectedTensor& t : ExpectedTensors(c)) {
    int64_t n = 1;
    for (int64_t d : t.dims) n *= d;
    const bool norm = absl::EndsWith(t.name, "norm.weight");
    const bool bias = absl::EndsWith(t.name, ".bias");
    // Norm weights and biases stay f32, as in published GGUFs.
    const DType type = norm || bias ? DType::kF32 : dtype;
    RETURN_IF_ERROR(w.AddTensor(t.name, type, t.dims, Tensor(type, n, norm ? 0.0f : bias ? 1.0f : 0.02f,
                                                             norm ? 1.0f : 0.0f, rng)));
  }
  return w.WriteFile(path);
}

absl::StatusOr<bool> EnsureSyntheticModel(const SyntheticPreset& preset, DType dtype, const GgufFile& vocab,
                                          const std::string& path, uint64_t seed) {
  ASSIGN_OR_RETURN(const int64_t n_vocab, VocabSize(vocab));
  // Opening checks that every tensor lies inside the file, so a truncated write is not reused.
  if (auto existing = GgufFile::Open(path); existing.ok()) {
    auto id = (*existing)->GetString("ggrt.synthetic");
    if (id.ok() && *id == SyntheticId(preset, dtype, n_vocab, seed)) return false;
  }
  RETURN_IF_ERROR(WriteSyntheticModel(preset, dtype, vocab, path, seed));
  return true;
}

}  // namespace ggrt
