#include "graph/lower_model.h"

#include "gtest/gtest.h"
#include "graph/parser.h"
#include "graph/printer.h"
#include "graph/verifier.h"

namespace ggrt {
namespace {

struct Loaded {
  std::unique_ptr<GgufFile> file;
  ModelConfig config;
};

Loaded Load(const std::string& name) {
  auto f = GgufFile::Open("external/shared/models/" + name);
  EXPECT_TRUE(f.ok()) << f.status();
  auto c = ModelConfigFromGguf(**f);
  EXPECT_TRUE(c.ok()) << c.status();
  return {std::move(*f), *c};
}

int Count(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node* node : g.nodes()) n += node->op == op;
  return n;
}

TEST(LowerModelTest, LlamaDecodeStep) {
  Loaded m = Load("stories260K.gguf");
  auto g = LowerModel(m.config, *m.file, {.seq_len = 1, .ctx_size = 64, .greedy = true});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(VerifyGraph(*g).ok()) << VerifyGraph(*g);
  EXPECT_EQ(g->name(), "decode");
  EXPECT_EQ(Count(*g, OpKind::kMatmul), 5 * 7 + 1);
  EXPECT_EQ(Count(*g, OpKind::kAdd), 5 * 2);  // Residuals only: llama has no QKV bias.
  EXPECT_EQ(Count(*g, OpKind::kLastRow), 0);
  EXPECT_EQ(g->outputs()[0]->name, "token");
  EXPECT_EQ(g->FindValue("blk.4.k_cache")->type, (TensorType{DType::kF32, {64, 32}}));
  const std::string text = PrintGraph(*g);
  EXPECT_NE(text.find("%blk.0.attn_q_rope = rope[theta=10000, dims=8, head_dim=8, neox=false]"
                      "(%blk.0.attn_q, %pos) : f32[1,64]"),
            std::string::npos);
  auto parsed = ParseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(PrintGraph(*parsed), text);
}

TEST(LowerModelTest, Qwen2PrefillHasBiasesTiedOutputAndLastRow) {
  Loaded m = Load("stories260K-qwen2.gguf");
  auto g = LowerModel(m.config, *m.file, {.seq_len = 7});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(VerifyGraph(*g).ok()) << VerifyGraph(*g);
  EXPECT_EQ(g->name(), "prefill_7");
  EXPECT_EQ(Count(*g, OpKind::kAdd), 5 * 5);
  EXPECT_EQ(Count(*g, OpKind::kLastRow), 1);
  EXPECT_EQ(g->outputs()[0]->name, "logits");
  EXPECT_EQ(g->outputs()[0]->type, (TensorType{DType::kF32, {1, 512}}));
  EXPECT_EQ(g->FindValue("logits")->producer->operands[1]->name, "token_embd.weight");
  EXPECT_NE(PrintGraph(*g).find("neox=true"), std::string::npos);
}

TEST(LowerModelTest, SequenceLongerThanContextIsAnError) {
  Loaded m = Load("stories260K.gguf");
  auto g = LowerModel(m.config, *m.file, {.seq_len = 65, .ctx_size = 64});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("context size 64"), std::string::npos);
}

}  // namespace
}  // namespace ggrt
