#include "graph/graph.h"

#include "gtest/gtest.h"
#include "graph/parser.h"
#include "graph/printer.h"
#include "graph/verifier.h"

namespace ggrt {
namespace {

TEST(GraphTest, AddNodeInfersTypesAndRejectsMismatches) {
  Graph g("t");
  Value* x = *g.AddInput("x", {DType::kF32, {2, 8}});
  Value* w = *g.AddParam("w", {DType::kF16, {4, 8}});
  auto mm = g.AddNode(OpKind::kMatmul, {"y"}, {x, w});
  ASSERT_TRUE(mm.ok()) << mm.status();
  EXPECT_EQ((*mm)->results[0]->type, (TensorType{DType::kF32, {2, 4}}));
  Value* bad = *g.AddParam("bad", {DType::kF16, {4, 7}});
  auto err = g.AddNode(OpKind::kMatmul, {"z"}, {x, bad});
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.status().message().find("node '%z': matmul: weight must be [N,8]"), std::string::npos)
      << err.status();
  EXPECT_FALSE(g.AddNode(OpKind::kMatmul, {"y"}, {x, w}).ok());  // Duplicate name.
  EXPECT_FALSE(g.AddNode(OpKind::kRmsNorm, {"n"}, {x, *g.AddParam("nw", {DType::kF32, {8}})}).ok())
      << "rms_norm without attributes must be rejected";
}

TEST(GraphTest, ReplaceNodesTakesOverNamesAndUses) {
  auto g = ParseGraph(R"(graph t {
  input %x : f32[1,8]
  input %r : f32[1,8]
  param %w : f32[8]
  %sum = add(%x, %r) : f32[1,8]
  %norm = rms_norm[eps=1e-06](%sum, %w) : f32[1,8]
  %out = add(%sum, %norm) : f32[1,8]
  output %out
})");
  ASSERT_TRUE(g.ok()) << g.status();
  Node* add = g->nodes()[0];
  Node* norm = g->nodes()[1];
  auto fused = g->ReplaceNodes({add, norm}, {add->results[0], norm->results[0]}, OpKind::kFusedResidualRmsNorm,
                               {g->FindValue("x"), g->FindValue("r"), g->FindValue("w")}, RmsNormAttrs{1e-6f});
  ASSERT_TRUE(fused.ok()) << fused.status();
  EXPECT_TRUE(VerifyGraph(*g).ok());
  EXPECT_EQ(PrintGraph(*g), R"(graph t {
  input %x : f32[1,8]
  input %r : f32[1,8]
  param %w : f32[8]
  %sum, %norm = fused_residual_rms_norm[eps=9.99999997e-07](%x, %r, %w) : f32[1,8], f32[1,8]
  %out = add(%sum, %norm) : f32[1,8]
  output %out
}
)");
}

TEST(GraphTest, RemoveNodeRefusesLiveResults) {
  auto g = ParseGraph(R"(graph t {
  input %x : f32[1,8]
  %a = add(%x, %x) : f32[1,8]
  %b = add(%a, %x) : f32[1,8]
  output %b
})");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->RemoveNode(g->nodes()[0]).ok());
  EXPECT_FALSE(g->RemoveNode(g->nodes()[1]).ok());  // An output.
}

TEST(VerifierTest, CatchesBrokenGraphs) {
  {
    Graph g("no_output");
    Value* x = *g.AddInput("x", {DType::kF32, {1, 4}});
    ASSERT_TRUE(g.AddNode(OpKind::kAdd, {"y"}, {x, x}).ok());
    const absl::Status s = VerifyGraph(g);
    EXPECT_NE(s.message().find("has no output"), std::string::npos) << s;
  }
  {
    // kv_write must write a state, not an ordinary value.
    Graph g("not_state");
    Value* cache = *g.AddInput("cache", {DType::kF32, {8, 4}});
    Value* x = *g.AddInput("x", {DType::kF32, {1, 4}});
    Value* pos = *g.AddInput("pos", {DType::kI32, {1}});
    Node* n = *g.AddNode(OpKind::kKvWrite, {"w"}, {cache, x, pos});
    ASSERT_TRUE(g.AddOutput(n->results[0]).ok());
    const absl::Status s = VerifyGraph(g);
    EXPECT_NE(s.message().find("not a state"), std::string::npos) << s;
  }
  {
    // A result whose recorded type disagrees with the shape rules.
    Graph g("bad_type");
    Value* x = *g.AddInput("x", {DType::kF32, {1, 4}});
    Node* n = *g.AddNode(OpKind::kAdd, {"y"}, {x, x});
    n->results[0]->type.shape = {1, 5};
    ASSERT_TRUE(g.AddOutput(n->results[0]).ok());
    const absl::Status s = VerifyGraph(g);
    EXPECT_NE(s.message().find("%y is f32[1,5], expected f32[1,4]"), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace ggrt
