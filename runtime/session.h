// The generation loop: prefill the prompt, then decode token by token, sampling on the host unless the
// graph already picked the token (greedy), and streaming each token to a callback.
#ifndef GGRT_RUNTIME_SESSION_H_
#define GGRT_RUNTIME_SESSION_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "loader/tokenizer.h"
#include "runtime/executor.h"
#include "runtime/sampler.h"

namespace ggrt {

// Prompts longer than this are prefilled chunk by chunk, so activations and scratch are bounded by the chunk
// rather than the prompt (the KV cache holds the earlier chunks).
constexpr int kDefaultPrefillChunk = 2048;

// Runs `tokens` at positions pos.. through the executor in chunks of at most `chunk` tokens (a chunk of one
// token is a decode step); returns the output of the last chunk.
absl::StatusOr<StepOutput> PrefillInChunks(Executor& executor, absl::Span<const int32_t> tokens, int pos, int chunk);

struct GenerateOptions {
  int n_predict = 128;  // < 0: until end of generation or a full context.
  SamplerOptions sampler;
  bool stop_at_end_of_generation = true;
  int prefill_chunk = kDefaultPrefillChunk;
  // When set, sees the logits each generated token is picked from (graphs that return logits only).
  std::function<void(absl::Span<const float>)> on_logits;
};

struct GenerateStats {
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;  // From the first decode step to the last.
};

// Runs prompt -> tokens. `on_token` sees each generated id as soon as it is known.
absl::Status Generate(Executor& executor, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                      const GenerateOptions& options, const std::function<void(int32_t)>& on_token,
                      GenerateStats* stats);

}  // namespace ggrt

#endif  // GGRT_RUNTIME_SESSION_H_
