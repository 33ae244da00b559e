// Lowers a model of any supported family into the unfused op graph. Passes then fuse it; executors run it.
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
  DType kv_type = DType::kF16;  // KV-cache element type: f16 or f32.
};

// Inputs: %tokens i32[S] and %pos i32[1 + pages]: the position of the first token, then the sequence's block
// table (ops/kv_pages.h). States: %blk.N.k_cache and %blk.N.v_cache, the page pools
// kv_type[pages * kKvPageSize, n_kv_heads * head_dim] with pages = ceil(ctx / kKvPageSize). Output: %logits f32[1,V] of the last position, or
// %token i32[1] when greedy, or %logits f32[S,V] of every position with all_logits.
absl::StatusOr<Graph> LowerModel(const ModelConfig& config, const GgufFile& weights, const LowerOptions& options);

}  // namespace ggrt

#endif  // GGRT_GRAPH_LOWER_MODEL_H_
