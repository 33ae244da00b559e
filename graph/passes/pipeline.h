// Runs passes in order. The graph is verified before the first pass and after every pass that changed it;
// an error reads "after pass 'NAME': ...". An optional hook sees the graph before and after each pass (the
// IR dump of dump_graph --dump-each).
#ifndef GGRT_GRAPH_PASSES_PIPELINE_H_
#define GGRT_GRAPH_PASSES_PIPELINE_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "graph/passes/pass.h"

namespace ggrt {

class PassPipeline {
 public:
  // Called with (pass name, "before" or "after", graph).
  using DumpHook = std::function<void(absl::string_view, absl::string_view, const Graph&)>;

  void Add(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  void set_dump_hook(DumpHook hook) { dump_ = std::move(hook); }
  std::vector<std::string> names() const;

  absl::Status Run(Graph& graph) const;

 private:
  std::vector<std::unique_ptr<Pass>> passes_;
  DumpHook dump_;
};

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_PIPELINE_H_
