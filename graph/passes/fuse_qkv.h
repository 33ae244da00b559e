// fuse-qkv: matmuls that read the same activation with weights of the same dtype, or all of GGUF block formats
// (Q, K and V of a layer; a Q4_K_M file mixes Q4_K and Q6_K there), become one multi_matmul, so the
// activation is read once and one kernel launch covers all projections. It runs after fuse-gate-up-swiglu;
// with that pass disabled it fuses gate and up the same way, which is equally valid. A lone matmul, or a float
// weight beside another dtype, stay as they are.
#ifndef GGRT_GRAPH_PASSES_FUSE_QKV_H_
#define GGRT_GRAPH_PASSES_FUSE_QKV_H_

#include "graph/passes/pass.h"

namespace ggrt {

class FuseQkvPass : public Pass {
 public:
  absl::string_view name() const override { return "fuse-qkv"; }
  absl::StatusOr<bool> Run(Graph& graph) override;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_FUSE_QKV_H_
