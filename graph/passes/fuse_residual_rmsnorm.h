// fuse-residual-rmsnorm: a residual add followed by the RMSNorm of its sum becomes one
// fused_residual_rms_norm yielding both the sum (the residual stream goes on) and the normalised rows. It
// matches across layer boundaries too (ffn residual of layer l + attn_norm of layer l+1; the last one with
// output_norm). A bias add (b is 1-D) is not a residual and does not fuse.
#ifndef GGRT_GRAPH_PASSES_FUSE_RESIDUAL_RMSNORM_H_
#define GGRT_GRAPH_PASSES_FUSE_RESIDUAL_RMSNORM_H_

#include "graph/passes/pass.h"

namespace ggrt {

class FuseResidualRmsNormPass : public Pass {
 public:
  absl::string_view name() const override { return "fuse-residual-rmsnorm"; }
  absl::StatusOr<bool> Run(Graph& graph) override;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_FUSE_RESIDUAL_RMSNORM_H_
