// Test helper: a valid small GGUF image and a corpus of corrupted variants, each with the text its error
// must contain. Used by gguf_file_test and as the seed corpus of the fuzzer.
#ifndef GGRT_LOADER_GGUF_CORPUS_H_
#define GGRT_LOADER_GGUF_CORPUS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/dtype.h"
#include "loader/gguf_writer.h"

namespace ggrt {

struct CorruptGguf {
  std::string name;
  std::string bytes;
  std::string expected_error;  // Substring of the error message.
};

// A valid file: metadata of every value type (nested arrays included) and two tensors.
std::string ValidTestGguf();

std::vector<CorruptGguf> CorruptGgufCorpus();

// A small complete model (random weights, a 300-token SentencePiece vocabulary with byte tokens) that the
// tools load and run, with knobs to break it one way at a time.
struct TinyModelSpec {
  std::string arch = "llama";
  int layers = 2, embd = 32, heads = 4, kv_heads = 2, ff = 64, ctx = 128;
  int head_dim = 0;         // 0: embd / heads; otherwise written as attention.key_length and value_length.
  int vocab = 300;          // <unk>, <s>, </s>, the 256 byte tokens when `byte_tokens`, then pieces.
  bool byte_tokens = true;
  bool qkv_bias = false, tied_output = false;
  DType matrix_type = DType::kF16;
  DType vector_type = DType::kF32;  // Norms and biases.
  float matrix_mean = 1.0f;         // Weights are normal around it (sd 0.5); norms and biases around 1.
  int extra_layers = 0;             // Tensors of layers past block_count.
  // Family features; the arch brings its own tensors (qwen3's q/k norms, phi3's fused matrices, gemma2's
  // post-norms).
  bool rope_freqs = false;          // rope_freqs.weight, divisors 1..8 as Llama 3's.
  float rope_linear_factor = 0.0f;  // > 0: rope.scaling.type = linear with this factor.
  int sliding_window = 0;
  float attn_softcap = 0.0f, final_softcap = 0.0f;
  std::function<void(GgufWriter&)> mutate;  // Runs last: metadata changes, extra tensors.
};
std::string TinyModelGguf(const TinyModelSpec& spec = {});

// A tiny model of each supported family with its distinguishing features switched on: "qwen2" (biases, tied,
// head_dim 64 for the CUDA flash-attention prefill, a 32k context), "llama3" (rope_freqs,
// tied output), "llama-linear" (linear RoPE scaling), "qwen3", "phi3" (fused matrices, sliding window) and
// "gemma2" (soft-capping, sliding window, head_dim != embd / heads, untied). For golden IR, pass equivalence and
// CPU/CUDA agreement tests.
absl::StatusOr<TinyModelSpec> TinyFamilySpec(absl::string_view family);

// A tiny model whose KV cache is wide (one layer, 4 KV heads of 1024: 32 KiB a token), so a context of
// kMaxContext needs 512 GiB: for tests that the KV budget is checked before anything is allocated.
TinyModelSpec WideKvModelSpec();

// Whole model files crafted to break the loader, the config or the tokenizer, each with the text its error
// must contain ("" for files that must load: runaway sizes that are to be bounded, not refused).
std::vector<CorruptGguf> HostileModelCorpus();

// Small seeds for fuzzing model loading: ValidTestGguf, the corrupt corpus, and two models of about 2 KB
// (llama and qwen2 with biases and tied output) that configure and load their vocabularies.
std::vector<std::string> FuzzSeeds();

}  // namespace ggrt

#endif  // GGRT_LOADER_GGUF_CORPUS_H_
