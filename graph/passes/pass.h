// A graph transformation. Run returns whether it changed the graph; the pipeline verifies the graph after
// every pass that did.
#ifndef GGRT_GRAPH_PASSES_PASS_H_
#define GGRT_GRAPH_PASSES_PASS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/graph.h"

namespace ggrt {

class Pass {
 public:
  virtual ~Pass() = default;
  virtual absl::string_view name() const = 0;
  virtual absl::StatusOr<bool> Run(Graph& graph) = 0;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_PASS_H_
