#include "graph/passes/pipeline.h"

#include "gtest/gtest.h"
#include "graph/lower_model.h"
#include "graph/passes/registry.h"
#include "graph/printer.h"

namespace ggrt {
namespace {

Graph LowerStories(const std::string& file, bool greedy) {
  auto f = GgufFile::Open("external/shared/models/" + file);
  EXPECT_TRUE(f.ok()) << f.status();
  auto c = ModelConfigFromGguf(**f);
  EXPECT_TRUE(c.ok()) << c.status();
  auto g = LowerModel(*c, **f, {.seq_len = 1, .ctx_size = 32, .greedy = greedy});
  EXPECT_TRUE(g.ok()) << g.status();
  return std::move(*g);
}

int Count(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node* node : g.nodes()) n += node->op == op;
  return n;
}

TEST(PipelineTest, DefaultPipelineFusesEveryLayer) {
  Graph g = LowerStories("stories260K-qwen2.gguf", /*greedy=*/true);
  auto pipeline = BuildPipeline({});
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE(pipeline->Run(g).ok());
  EXPECT_EQ(Count(g, OpKind::kFusedRopeAttention), 5);     // bias + RoPE + cache write + attention.
  EXPECT_EQ(Count(g, OpKind::kFusedNormMatmul), 5);        // attn_norm + QKV.
  EXPECT_EQ(Count(g, OpKind::kFusedNormGateUpSwiglu), 5);  // ffn_norm + gate/up + SwiGLU.
  EXPECT_EQ(Count(g, OpKind::kFusedMatmulResidual), 10);   // attn_output and ffn_down with their residuals.
  EXPECT_EQ(Count(g, OpKind::kRmsNorm), 1);                // output_norm, before the vocabulary projection.
  EXPECT_EQ(Count(g, OpKind::kFusedOutputArgmax), 1);
  EXPECT_EQ(Count(g, OpKind::kFusedResidualRmsNorm), 0);
  EXPECT_EQ(Count(g, OpKind::kAdd), 0);
  EXPECT_EQ(Count(g, OpKind::kMatmul), 0);
  // embedding; per layer norm+qkv, rope+attention, attn_out+residual, norm+gate_up, down+residual;
  // output_norm and the fused argmax.
  EXPECT_EQ(g.nodes().size(), 1u + 5 * 5 + 2);
}

TEST(PipelineTest, WithoutMatmulResidualTheResidualNormsFuseInstead) {
  Graph g = LowerStories("stories260K-qwen2.gguf", /*greedy=*/true);
  auto pipeline = BuildPipeline({.disabled = {"fuse-matmul-residual"}});
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE(pipeline->Run(g).ok());
  // Every norm but the first follows a residual add: 4 attn_norms, 5 ffn_norms and output_norm.
  EXPECT_EQ(Count(g, OpKind::kFusedResidualRmsNorm), 10);
  EXPECT_EQ(Count(g, OpKind::kFusedNormMatmul), 1);  // Only layer 0's attn_norm stands alone.
}

TEST(PipelineTest, DisableByNameAndExplicitLists) {
  Graph g = LowerStories("stories260K.gguf", /*greedy=*/true);
  auto pipeline = BuildPipeline({.disabled = {"fuse-qkv", "fuse-output-argmax"}});
  ASSERT_TRUE(pipeline.ok());
  EXPECT_EQ(pipeline->names(), (std::vector<std::string>{"fuse-bias-rope", "fuse-rope-attention",
                                                          "fuse-gate-up-swiglu", "fuse-matmul-residual",
                                                          "fuse-residual-rmsnorm", "fuse-norm-matmul", "dce"}));
  ASSERT_TRUE(pipeline->Run(g).ok());
  EXPECT_EQ(Count(g, OpKind::kMultiMatmul), 0);
  EXPECT_EQ(Count(g, OpKind::kArgmax), 1);

  auto only = BuildPipeline({.passes = {"dce"}, .use_default = false});
  ASSERT_TRUE(only.ok());
  EXPECT_EQ(only->names(), std::vector<std::string>{"dce"});
  EXPECT_EQ(SplitPassList("fuse-qkv, dce"), (std::vector<std::string>{"fuse-qkv", "dce"}));

  auto typo = BuildPipeline({.disabled = {"fuse-qvk"}});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("unknown pass 'fuse-qvk'"), std::string::npos);
}

// Breaks the graph on purpose: changes a result's recorded shape.
class BreakerPass : public Pass {
 public:
  absl::string_view name() const override { return "breaker"; }
  absl::StatusOr<bool> Run(Graph& g) override {
    g.nodes()[0]->results[0]->type.shape[1] += 1;
    return true;
  }
};

TEST(PipelineTest, VerifierNamesTheBreakingPassAndDumpsSeeEachPass) {
  Graph g = LowerStories("stories260K.gguf", /*greedy=*/false);
  PassPipeline pipeline;
  ASSERT_TRUE(CreatePass("dce").ok());
  pipeline.Add(*CreatePass("dce"));
  pipeline.Add(std::make_unique<BreakerPass>());
  std::vector<std::string> dumps;
  pipeline.set_dump_hook([&](absl::string_view pass, absl::string_view when, const Graph& graph) {
    dumps.push_back(std::string(pass) + ":" + std::string(when));
    EXPECT_FALSE(PrintGraph(graph).empty());
  });
  const absl::Status s = pipeline.Run(g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("after pass 'breaker': node '%inp_embd'"), std::string::npos) << s;
  EXPECT_EQ(dumps, (std::vector<std::string>{"dce:before", "dce:after", "breaker:before"}));
}

}  // namespace
}  // namespace ggrt

namespace ggrt {
namespace {

std::string SelectionError(bool no_fuse, std::optional<std::string> passes, std::optional<std::string> disabled) {
  return std::string(PassSelectionFromFlags(no_fuse, passes, disabled).status().message());
}

TEST(PassSelectionTest, CommandLineChoicesAreCheckedAgainstTheRegistry) {
  EXPECT_TRUE(PassSelectionFromFlags(false, std::nullopt, std::nullopt)->use_default);
  EXPECT_FALSE(PassSelectionFromFlags(true, std::nullopt, std::nullopt)->use_default);
  auto chosen = PassSelectionFromFlags(false, "fuse-qkv, dce", std::nullopt);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen->passes, (std::vector<std::string>{"fuse-qkv", "dce"}));
  EXPECT_NE(SelectionError(false, "", std::nullopt).find("--passes needs at least one pass name"),
            std::string::npos);
  EXPECT_NE(SelectionError(false, std::nullopt, " , ").find("--disable-passes needs at least one"),
            std::string::npos);
  EXPECT_NE(SelectionError(false, "dce", "dce").find("both chosen by --passes and disabled"), std::string::npos);
  EXPECT_NE(SelectionError(true, "dce", std::nullopt).find("cannot be combined with --passes"), std::string::npos);
  EXPECT_NE(SelectionError(false, "fuse-everything", std::nullopt).find("--passes: unknown pass 'fuse-everything'"),
            std::string::npos);
}

}  // namespace
}  // namespace ggrt
