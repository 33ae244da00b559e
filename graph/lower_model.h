// Lowers a llama/qwen2 model into the unfused op graph. Passes then fuse it; executors run it.
#ifndef GGRT_GRAPH_LOWER_MODEL_H_
#define GGRT_GRAPH_LOWER_MODEL_H_

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "loader/gguf_file.h"
#include "loader/model_config.h"

namespace ggrt {

struct LowerOptions {
  int seq_len = 1;          // Token positions per run: 1 is the decode step, N a prefill.
  int ctx_size = 0;         // KV-cache rows; 0 takes the model's context length.
  bool greedy = false;      // Output the argmax token id instead of the logits.
  bool all_logits = false;  // Output the logits of every position ([S, V]; perplexity) instead of the last.
};

// Inputs: %tokens i32[S] and %pos i32[1] (position of the first token). States: %blk.N.k_cache and
// %blk.N.v_cache, f32[ctx, n_kv_heads * head_dim]. Output: %logits f32[1,V] of the last position, or
// %token i32[1] when greedy, or %logits f32[S,V] of every position with all_logits.
absl::StatusOr<Graph> LowerModel(const ModelConfig& config, const GgufFile& weights, const LowerOptions& options);

}  // namespace ggrt

#endif  // GGRT_GRAPH_LOWER_MODEL_H_
