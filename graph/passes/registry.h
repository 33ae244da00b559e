// Passes by name, the default order, and pipelines built from a selection.
#ifndef GGRT_GRAPH_PASSES_REGISTRY_H_
#define GGRT_GRAPH_PASSES_REGISTRY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/passes/pipeline.h"

namespace ggrt {

// fuse-bias-rope, fuse-rope-attention, fuse-gate-up-swiglu, fuse-qkv, fuse-matmul-residual, fuse-residual-rmsnorm,
// fuse-norm-matmul, fuse-output-argmax, dce. With fuse-matmul-residual first, the residual adds live in the
// projections' epilogues, so fuse-residual-rmsnorm finds nothing left and the norms fold into the next projections
// instead; disabling fuse-matmul-residual brings the add+norm fusion back.
const std::vector<std::string>& DefaultPassNames();

absl::StatusOr<std::unique_ptr<Pass>> CreatePass(absl::string_view name);

struct PipelineSelection {
  // Passes to run in this order; empty means the default list.
  std::vector<std::string> passes;
  bool use_default = true;
  // Names taken out of the list (every name must exist).
  std::vector<std::string> disabled;
};

// Parses "a,b,c" into a list of names (empty string: no names).
std::vector<std::string> SplitPassList(absl::string_view list);

absl::StatusOr<PassPipeline> BuildPipeline(const PipelineSelection& selection);

// The selection a command line asks for with --no-fuse, --passes a,b and --disable-passes a,b (nullopt:
// flag absent). Every name must be a pass; an empty list, --no-fuse beside a list, and a pass both chosen
// and disabled are errors that name the flags.
absl::StatusOr<PipelineSelection> PassSelectionFromFlags(bool no_fuse, const std::optional<std::string>& passes,
                                                         const std::optional<std::string>& disabled);

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_REGISTRY_H_
