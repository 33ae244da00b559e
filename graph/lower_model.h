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
  int batch = 1;            // Sequences per run: a decode step's batch-size bucket, or a batched prefill's.
  bool spans = false;       // A batched prefill (implied by seq_len > 1 with batch > 1), even of one sequence.
  int ctx_size = 0;         // Positions one sequence may use; 0 takes the model's context length.
  int kv_pool_pages = 0;    // Pages in the KV pool shared by all sequences; 0: one sequence's context.
  bool greedy = false;      // Output the argmax token id instead of the logits.
  bool all_logits = false;  // Output the logits of every position ([S, V]; perplexity) instead of the last.
  DType kv_type = DType::kF16;  // KV-cache element type: f16 or f32.
};

// A prefill ("prefill_S"): inputs %tokens i32[S] and %pos i32[1 + pages], the position of the first token, then
// the sequence's block table (ops/kv_pages.h), pages = ceil(ctx / kKvPageSize). Output: %logits f32[1,V] of the
// last position, or %token i32[1] when greedy, or %logits f32[S,V] of every position with all_logits.
// A decode step ("decode", or "decode_bB" for B > 1): %tokens i32[B] and %pos i32[B, 1 + pages], a record per
// sequence; output %logits f32[B,V] or %token i32[B].
// A batched prefill ("prefill_S_bB", S > 1 and B > 1, or B >= 1 with spans): %tokens i32[B * S], S positions
// of each sequence in turn from its record's position in %pos i32[B, 1 + pages], and %last i32[B], the row of
// each sequence's S whose logits are output (%logits f32[B,V] or %token i32[B]). Rows after it pad the span:
// they are computed and their keys and values written at the positions that follow, which the sequence's table
// must hold.
// States: %blk.N.k_cache and %blk.N.v_cache, the page pools kv_type[kv_pool_pages * kKvPageSize,
// n_kv_heads * head_dim].
absl::StatusOr<Graph> LowerModel(const ModelConfig& config, const GgufFile& weights, const LowerOptions& options);

}  // namespace ggrt

#endif  // GGRT_GRAPH_LOWER_MODEL_H_
