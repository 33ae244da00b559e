// fuse-gate-up-swiglu: swiglu(x w_gate^T, x w_up^T) becomes one fused_gate_up_swiglu: each output element
// needs one row of each weight, so the kernel computes both dot products and the activation without
// writing gate or up. Not fused when gate or up has another user, or the two read different activations.
#ifndef GGRT_GRAPH_PASSES_FUSE_GATE_UP_SWIGLU_H_
#define GGRT_GRAPH_PASSES_FUSE_GATE_UP_SWIGLU_H_

#include "graph/passes/pass.h"

namespace ggrt {

class FuseGateUpSwigluPass : public Pass {
 public:
  absl::string_view name() const override { return "fuse-gate-up-swiglu"; }
  absl::StatusOr<bool> Run(Graph& graph) override;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_FUSE_GATE_UP_SWIGLU_H_
