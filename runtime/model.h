// Opens a GGUF model for generation: config, tokenizer, and an executor whose graphs are lowered and
// optimised on demand with the chosen passes.
#ifndef GGRT_RUNTIME_MODEL_H_
#define GGRT_RUNTIME_MODEL_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "graph/lower_model.h"
#include "graph/passes/registry.h"
#include "loader/gguf_file.h"
#include "loader/model_config.h"
#include "loader/tokenizer.h"
#include "runtime/executor.h"
#include "runtime/sampler.h"

namespace ggrt {

enum class Backend { kCpu, kCuda, kAuto };
absl::StatusOr<Backend> BackendFromName(absl::string_view name);

// The most a default context (the model's context_length) is given before --ctx-size asks for more.
constexpr int kDefaultMaxContext = 32768;

struct ModelOptions {
  std::string path;
  Backend backend = Backend::kCpu;
  // 0: the model's context length, at most kDefaultMaxContext and capped to what memory holds. A size the
  // memory cannot hold next to the weights is an error that says how much it needs.
  int ctx_size = 0;
  // Positions in the KV page pool that all sequences share (batched decode); 0: one sequence's context. At
  // least the context.
  int64_t kv_pool_tokens = 0;
  PipelineSelection passes;
  bool greedy = false;     // Graphs end in argmax (only the token leaves the executor).
  bool all_logits = false; // Prefill returns the logits of every position ([S, V]), for perplexity.
  DType kv_type = DType::kF16;  // KV-cache element type (--cache-type): f16 or f32.
  // Sampling settings for non-greedy runs: on CUDA they are applied on the device when the temperature is
  // above 0 and the penalty window is at most cuda::kMaxRepeatWindow tokens; otherwise on the host.
  std::optional<SamplerOptions> sampler;
  bool cuda_graph = true;  // CUDA: capture the decode step once and replay it.
};

struct LoadedModel {
  std::unique_ptr<GgufFile> file;
  ModelConfig config;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Executor> executor;
  int ctx_size = 0;
  std::string note;  // Anything the user should know (e.g. the context was capped).
};

absl::StatusOr<LoadedModel> LoadModel(const ModelOptions& options);

// The graph factory LoadModel gives executors: lower `config` for a sequence length and batch (`lower` gives
// the rest of the options), then run the passes.
GraphFactory MakeGraphFactory(const GgufFile& file, const ModelConfig& config, const LowerOptions& lower,
                              const PipelineSelection& passes);

// Bytes the backend holds for the weights: the tensors as stored on CUDA, dequantized to f32 on the CPU.
int64_t ResidentWeightBytes(const GgufFile& file, Backend backend);

// Bytes of the KV cache for `ctx` positions (whole pages) of `kv_type` on `backend` (the CPU reference keeps
// an f16 cache's values in f32).
int64_t KvCacheBytes(const ModelConfig& config, int64_t ctx, DType kv_type, Backend backend);

}  // namespace ggrt

#endif  // GGRT_RUNTIME_MODEL_H_
