#include "graph/passes/pipeline.h"

#include "absl/strings/str_cat.h"
#include "graph/verifier.h"

namespace ggrt {

std::vector<std::string> PassPipeline::names() const {
  std::vector<std::string> out;
  for (const auto& p : passes_) out.emplace_back(p->name());
  return out;
}

absl::Status PassPipeline::Run(Graph& graph) const {
  if (absl::Status s = VerifyGraph(graph); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("before the first pass: ", s.message()));
  }
  for (const auto& pass : passes_) {
    if (dump_) dump_(pass->name(), "before", graph);
    absl::StatusOr<bool> changed = pass->Run(graph);
    if (!changed.ok()) {
      return absl::Status(changed.status().code(),
                          absl::StrCat("in pass '", pass->name(), "': ", changed.status().message()));
    }
    if (*changed) {
      if (absl::Status s = VerifyGraph(graph); !s.ok()) {
        return absl::InternalError(absl::StrCat("after pass '", pass->name(), "': ", s.message()));
      }
    }
    if (dump_) dump_(pass->name(), "after", graph);
  }
  return absl::OkStatus();
}

}  // namespace ggrt
