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

absl::StatusOr<PipelineSelection> PassSelectionFromFlags(bool no_fuse, const std::optional<std::string>& passes,
                                                         const std::optional<std::string>& disabled) {
  if (no_fuse && (passes || disabled)) {
    return absl::InvalidArgumentError(absl::StrCat("--no-fuse runs no passes; it cannot be combined with ",
                                                   passes ? "--passes" : "--disable-passes"));
  }
  PipelineSelection selection;
  if (no_fuse) selection.use_default = false;
  auto names = [](const char* flag, const std::string& list) -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> out = SplitPassList(list);
    if (out.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " needs at least one pass name (passes: ", absl::StrJoin(DefaultPassNames(), ", "),
                       "; --no-fuse runs none)"));
    }
    for (const std::string& n : out) {
      if (absl::Status s = CreatePass(n).status(); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(flag, ": ", s.message()));
      }
    }
    return out;
  };
  if (passes) {
    ASSIGN_OR_RETURN(selection.passes, names("--passes", *passes));
    selection.use_default = false;
  }
  if (disabled) {
    ASSIGN_OR_RETURN(selection.disabled, names("--disable-passes", *disabled));
    for (const std::string& d : selection.disabled) {
      if (std::find(selection.passes.begin(), selection.passes.end(), d) != selection.passes.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pass '", d, "' is both chosen by --passes and disabled by --disable-passes"));
      }
    }
  }
  return selection;
}

}  // namespace ggrt
