// fuse-bias-rope: the Q/K/V bias adds, both RoPEs and both KV-cache writes feeding one attention node become
// one fused_bias_rope node (one kernel that reads q, k and v once, rotates, and writes the caches).
//   q' = rope(q + bq), k_cache[pos..] = rope(k + bk), v_cache[pos..] = v + bv
// Biases are optional (llama has none) but must be all present or all absent. Nothing fuses when an
// intermediate (a biased or rotated value) has another user, or the two RoPEs differ.
#ifndef GGRT_GRAPH_PASSES_FUSE_BIAS_ROPE_H_
#define GGRT_GRAPH_PASSES_FUSE_BIAS_ROPE_H_

#include "graph/passes/pass.h"

namespace ggrt {

class FuseBiasRopePass : public Pass {
 public:
  absl::string_view name() const override { return "fuse-bias-rope"; }
  absl::StatusOr<bool> Run(Graph& graph) override;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_FUSE_BIAS_ROPE_H_
