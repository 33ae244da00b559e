// dce: removes nodes whose results nothing uses and that are not outputs. Nodes that write a state in place
// (the KV cache) are kept whatever their users: the write matters to later runs.
#ifndef GGRT_GRAPH_PASSES_DCE_H_
#define GGRT_GRAPH_PASSES_DCE_H_

#include "graph/passes/pass.h"

namespace ggrt {

class DcePass : public Pass {
 public:
  absl::string_view name() const override { return "dce"; }
  absl::StatusOr<bool> Run(Graph& graph) override;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_DCE_H_
