// fuse-matmul-residual: a residual add of a projection, r + a w^T, becomes fused_matmul_residual: the
// kernel adds r in its epilogue instead of writing the product and launching an add. Not fused for a bias
// add (b is 1-D) or when the product has another user.
#ifndef GGRT_GRAPH_PASSES_FUSE_MATMUL_RESIDUAL_H_
#define GGRT_GRAPH_PASSES_FUSE_MATMUL_RESIDUAL_H_

#include "graph/passes/pass.h"

namespace ggrt {

class FuseMatmulResidualPass : public Pass {
 public:
  absl::string_view name() const override { return "fuse-matmul-residual"; }
  absl::StatusOr<bool> Run(Graph& graph) override;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_FUSE_MATMUL_RESIDUAL_H_
