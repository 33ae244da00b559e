// fuse-norm-matmul: an RMSNorm whose every user is a multi_matmul or fused_gate_up_swiglu (reading it as
// their activation) is folded into those users as fused_norm_matmul / fused_norm_gate_up_swiglu. In a
// decode GEMV the norm's scale is one scalar per row, computed by each warp beside its weight loads, so the
// norm costs no kernel launch. The output projection (a plain matmul over the vocabulary) is left alone:
// recomputing the norm in every one of its blocks would cost more than the launch it saves. Not fused when
// the normalised value has any other user.
#ifndef GGRT_GRAPH_PASSES_FUSE_NORM_MATMUL_H_
#define GGRT_GRAPH_PASSES_FUSE_NORM_MATMUL_H_

#include "graph/passes/pass.h"

namespace ggrt {

class FuseNormMatmulPass : public Pass {
 public:
  absl::string_view name() const override { return "fuse-norm-matmul"; }
  absl::StatusOr<bool> Run(Graph& graph) override;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_FUSE_NORM_MATMUL_H_
