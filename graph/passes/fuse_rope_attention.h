// fuse-rope-attention: for one token (the decode step), fused_bias_rope and the attention that reads its
// three results become one fused_rope_attention: each attention block rotates its own q head, and the
// current position's k and v go to the cache from the same kernel, which saves a latency-bound launch per
// layer. Not fused for several tokens (a prefill: rows would read each other's new cache rows) or when a
// result of fused_bias_rope has another user.
#ifndef GGRT_GRAPH_PASSES_FUSE_ROPE_ATTENTION_H_
#define GGRT_GRAPH_PASSES_FUSE_ROPE_ATTENTION_H_

#include "graph/passes/pass.h"

namespace ggrt {

class FuseRopeAttentionPass : public Pass {
 public:
  absl::string_view name() const override { return "fuse-rope-attention"; }
  absl::StatusOr<bool> Run(Graph& graph) override;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_FUSE_ROPE_ATTENTION_H_
