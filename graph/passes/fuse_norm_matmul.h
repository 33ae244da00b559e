// fuse-norm-matmul: an RMSNorm whose every user is a projection (multi_matmul, fused_gate_up_swiglu, or a
// plain matmul beside another projection of the same norm) reading it as its activation is folded into those
// users as fused_norm_matmul / fused_norm_gate_up_swiglu. In a decode GEMV the norm's scale is one scalar per
// row, computed by each block beside its weight loads, so the norm costs no kernel launch. A plain matmul is
// what fuse-qkv leaves of a projection whose weight type differs from its siblings' (a Q4_K_M file of
// Qwen2.5-0.5B: q and k in Q5_0, v in Q8_0); each fused product then computes the norm itself. The output
// projection (the one plain matmul after the final norm) is left alone: recomputing the norm in every one of
// its blocks would cost more than the launch it saves. Not fused when the normalised value has any other user.
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
