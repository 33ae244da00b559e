#include "graph/passes/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "graph/passes/dce.h"
#include "graph/passes/fuse_bias_rope.h"
#include "graph/passes/fuse_gate_up_swiglu.h"
#include "graph/passes/fuse_matmul_residual.h"
#include "graph/passes/fuse_norm_matmul.h"
#include "graph/passes/fuse_output_argmax.h"
#include "graph/passes/fuse_qkv.h"
#include "graph/passes/fuse_residual_rmsnorm.h"
#include "graph/passes/fuse_rope_attention.h"

namespace ggrt {

const std::vector<std::string>& DefaultPassNames() {
  static const auto* names = new std::vector<std::string>{
      "fuse-bias-rope",        "fuse-rope-attention", "fuse-gate-up-swiglu", "fuse-qkv",
      "fuse-matmul-residual",  "fuse-residual-rmsnorm", "fuse-norm-matmul",  "fuse-output-argmax", "dce"};
  return *names;
}

absl::StatusOr<std::unique_ptr<Pass>> CreatePass(absl::string_view name) {
  if (name == "fuse-bias-rope") return std::make_unique<FuseBiasRopePass>();
  if (name == "fuse-gate-up-swiglu") return std::make_unique<FuseGateUpSwigluPass>();
  if (name == "fuse-qkv") return std::make_unique<FuseQkvPass>();
  if (name == "fuse-residual-rmsnorm") return std::make_unique<FuseResidualRmsNormPass>();
  if (name == "fuse-output-argmax") return std::make_unique<FuseOutputArgmaxPass>();
  if (name == "fuse-matmul-residual") return std::make_unique<FuseMatmulResidualPass>();
  if (name == "fuse-norm-matmul") return std::make_unique<FuseNormMatmulPass>();
  if (name == "fuse-rope-attention") return std::make_unique<FuseRopeAttentionPass>();
  if (name == "dce") return std::make_unique<DcePass>();
  return absl::InvalidArgumentError(absl::StrCat("unknown pass '", name, "'; passes: ",
                                                 absl::StrJoin(DefaultPassNames(), ", ")));
}

std::vector<std::string> SplitPassList(absl::string_view list) {
  std::vector<std::string> names;
  for (absl::string_view n : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    names.emplace_back(absl::StripAsciiWhitespace(n));
  }
  return names;
}

absl::StatusOr<PassPipeline> BuildPipeline(const PipelineSelection& selection) {
  std::vector<std::string> names = selection.use_default ? DefaultPassNames() : selection.passes;
  for (const std::string& d : selection.disabled) {
    RETURN_IF_ERROR(CreatePass(d).status());  // A typo in --disable-passes is an error, not a no-op.
    names.erase(std::remove(names.begin(), names.end(), d), names.end());
  }
  PassPipeline pipeline;
  for (const std::string& n : names) {
    ASSIGN_OR_RETURN(std::unique_ptr<Pass> pass, CreatePass(n));
    pipeline.Add(std::move(pass));
  }
  return pipeline;
}

}  // namespace ggrt
