// fuse-output-argmax: argmax(x w^T) for greedy decoding becomes fused_output_argmax, which keeps a running
// maximum instead of materialising all V logits. Not fused when the logits are also an output or have
// another user.
#ifndef GGRT_GRAPH_PASSES_FUSE_OUTPUT_ARGMAX_H_
#define GGRT_GRAPH_PASSES_FUSE_OUTPUT_ARGMAX_H_

#include "graph/passes/pass.h"

namespace ggrt {

class FuseOutputArgmaxPass : public Pass {
 public:
  absl::string_view name() const override { return "fuse-output-argmax"; }
  absl::StatusOr<bool> Run(Graph& graph) override;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_FUSE_OUTPUT_ARGMAX_H_
