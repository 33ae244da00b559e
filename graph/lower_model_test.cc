#include "graph/lower_model.h"

#include <cmath>

#include "gtest/gtest.h"
#include "loader/gguf_corpus.h"
#include "graph/parser.h"
#include "graph/printer.h"
#include "graph/verifier.h"
#include "ops/kv_pages.h"

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

// A tiny model of `family` (TinyFamilySpec); `bytes` must outlive the result.
Loaded LoadFamily(const std::string& family, std::string* bytes) {
  auto spec = TinyFamilySpec(family);
  EXPECT_TRUE(spec.ok()) << spec.status();
  *bytes = TinyModelGguf(*spec);
  auto f = GgufFile::Parse(*bytes, family);
  EXPECT_TRUE(f.ok()) << f.status();
  auto c = ModelConfigFromGguf(**f);
  EXPECT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(AddFusedTensorViews(*c, **f).ok());
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
  // The page pool: f16 by default, whole pages of kKvPageSize; %pos carries the block table after the position,
  // one record per sequence: the decode step has the batch axis, B = 1 here.
  EXPECT_EQ(g->FindValue("blk.4.k_cache")->type, (TensorType{DType::kF16, {64, 32}}));
  EXPECT_EQ(g->FindValue("pos")->type, (TensorType{DType::kI32, {1, 1 + 64 / kKvPageSize}}));
  auto f32 = LowerModel(m.config, *m.file, {.seq_len = 1, .ctx_size = 40, .kv_type = DType::kF32});
  ASSERT_TRUE(f32.ok()) << f32.status();
  EXPECT_EQ(f32->FindValue("blk.4.k_cache")->type, (TensorType{DType::kF32, {64, 32}}));  // 40 -> 2 pages.
  EXPECT_FALSE(LowerModel(m.config, *m.file, {.kv_type = DType::kQ8_0}).ok());
  const std::string text = PrintGraph(*g);
  EXPECT_NE(text.find("%blk.0.attn_q_rope = rope[theta=10000, dims=8, head_dim=8, neox=false]"
                      "(%blk.0.attn_q, %pos) : f32[1,64]"),
            std::string::npos);
  auto parsed = ParseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(PrintGraph(*parsed), text);
}

TEST(LowerModelTest, BatchedDecodeStepHasARecordPerSequenceAndASharedPool) {
  Loaded m = Load("stories260K-qwen2.gguf");
  auto g = LowerModel(m.config, *m.file, {.batch = 16, .ctx_size = 64, .kv_pool_pages = 40, .greedy = true});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(VerifyGraph(*g).ok()) << VerifyGraph(*g);
  EXPECT_EQ(g->name(), "decode_b16");
  EXPECT_EQ(g->FindValue("tokens")->type, (TensorType{DType::kI32, {16}}));
  EXPECT_EQ(g->FindValue("pos")->type, (TensorType{DType::kI32, {16, 1 + 64 / kKvPageSize}}));
  EXPECT_EQ(g->FindValue("blk.0.v_cache")->type, (TensorType{DType::kF16, {40 * kKvPageSize, 32}}));
  EXPECT_EQ(g->FindValue("blk.0.attn_q")->type, (TensorType{DType::kF32, {16, 64}}));
  EXPECT_EQ(g->outputs()[0]->type, (TensorType{DType::kI32, {16}}));  // A token per sequence.
  auto parsed = ParseGraph(PrintGraph(*g));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  // All the logits belong to one sequence's prefill, and a pool smaller than one sequence's context is refused.
  auto bad = LowerModel(m.config, *m.file, {.seq_len = 4, .batch = 2, .ctx_size = 64, .all_logits = true});
  EXPECT_NE(bad.status().message().find("one sequence"), std::string::npos) << bad.status();
  bad = LowerModel(m.config, *m.file, {.ctx_size = 64, .kv_pool_pages = 1});
  EXPECT_NE(bad.status().message().find("cannot hold"), std::string::npos) << bad.status();
}

// A batched prefill: S rows of each of B sequences, a record per sequence, and the row of each that predicts.
TEST(LowerModelTest, BatchedPrefillHasSpansARecordPerSequenceAndTheirLastRows) {
  Loaded m = Load("stories260K-qwen2.gguf");
  auto g = LowerModel(m.config, *m.file, {.seq_len = 8, .batch = 3, .ctx_size = 64});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(VerifyGraph(*g).ok()) << VerifyGraph(*g);
  EXPECT_EQ(g->name(), "prefill_8_b3");
  EXPECT_EQ(g->FindValue("tokens")->type, (TensorType{DType::kI32, {24}}));
  EXPECT_EQ(g->FindValue("pos")->type, (TensorType{DType::kI32, {3, 1 + 64 / kKvPageSize}}));
  EXPECT_EQ(g->FindValue("last")->type, (TensorType{DType::kI32, {3}}));
  EXPECT_EQ(g->FindValue("blk.0.attn_q")->type, (TensorType{DType::kF32, {24, 64}}));
  EXPECT_EQ(g->FindValue("last_row")->type, (TensorType{DType::kF32, {3, 64}}));
  EXPECT_EQ(g->outputs()[0]->type, (TensorType{DType::kF32, {3, 512}}));  // Logits per sequence.
  const std::string text = PrintGraph(*g);
  EXPECT_NE(text.find("%last_row = last_row(%blk.4.ffn_residual, %last) : f32[3,64]"), std::string::npos) << text;
  auto parsed = ParseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(PrintGraph(*parsed), text);
  // One sequence in spans: padded like the others, unlike prefill_8.
  auto one = LowerModel(m.config, *m.file, {.seq_len = 8, .batch = 1, .spans = true, .ctx_size = 64});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->name(), "prefill_8_b1");
  EXPECT_EQ(one->FindValue("pos")->type, (TensorType{DType::kI32, {1, 1 + 64 / kKvPageSize}}));
  EXPECT_EQ(one->FindValue("last")->type, (TensorType{DType::kI32, {1}}));
  EXPECT_FALSE(LowerModel(m.config, *m.file, {.seq_len = 1, .spans = true, .ctx_size = 64}).ok());
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

// What each family adds to the lowering, and that its IR prints and parses back unchanged.
TEST(LowerModelTest, FamiliesLowerTheirFeaturesAndRoundTrip) {
  for (const std::string family : {"llama3", "llama-linear", "qwen3", "phi3", "gemma2"}) {
    std::string bytes;
    Loaded m = LoadFamily(family, &bytes);
    for (int seq_len : {1, 5}) {
      auto g = LowerModel(m.config, *m.file, {.seq_len = seq_len});
      ASSERT_TRUE(g.ok()) << family << ": " << g.status();
      ASSERT_TRUE(VerifyGraph(*g).ok()) << family;
      const std::string text = PrintGraph(*g);
      auto parsed = ParseGraph(text);
      ASSERT_TRUE(parsed.ok()) << family << ": " << parsed.status();
      EXPECT_EQ(PrintGraph(*parsed), text) << family;
      const Node* rope = g->FindValue("blk.0.attn_q_rope")->producer;
      const auto& attn = std::get<AttentionAttrs>(g->FindValue("blk.0.attn")->producer->attrs);
      const auto& attn1 = std::get<AttentionAttrs>(g->FindValue("blk.1.attn")->producer->attrs);
      if (family == "llama3") {
        ASSERT_NE(RopeFreqFactors(*rope), nullptr);
        EXPECT_EQ(RopeFreqFactors(*rope)->name, "rope_freqs.weight");
      } else {
        EXPECT_EQ(RopeFreqFactors(*rope), nullptr) << family;
      }
      EXPECT_EQ(std::get<RopeAttrs>(rope->attrs).freq_scale, family == "llama-linear" ? 0.25f : 1.0f);
      // Qwen3 normalises each 32-wide head of q and k before RoPE.
      EXPECT_EQ(rope->operands[0]->name, family == "qwen3" ? "blk.0.attn_q_norm" : "blk.0.attn_q") << family;
      if (family == "qwen3") {
        EXPECT_EQ(rope->operands[0]->producer->operands[1]->type.shape, std::vector<int64_t>{32});
      }
      // Phi-3's fused matrices are read through row views.
      EXPECT_EQ(g->FindValue("blk.0.attn_k")->producer->operands[1]->name,
                family == "phi3" ? "blk.0.attn_qkv.weight.k" : "blk.0.attn_k.weight");
      EXPECT_EQ(g->FindValue("blk.0.ffn_gate")->producer->operands[1]->name,
                family == "phi3" ? "blk.0.ffn_up.weight.gate" : "blk.0.ffn_gate.weight");
      // Sliding windows: every Phi-3 layer, Gemma 2's even layers.
      EXPECT_EQ(attn.window, family == "phi3" || family == "gemma2" ? 12 : 0) << family;
      EXPECT_EQ(attn1.window, family == "phi3" ? 12 : 0) << family;
      const bool gemma = family == "gemma2";
      EXPECT_EQ(attn.softcap, gemma ? 50.0f : 0.0f);
      EXPECT_EQ(g->FindValue("logits_softcap") != nullptr, gemma);
      EXPECT_EQ(g->FindValue("blk.0.ffn_geglu") != nullptr, gemma);
      EXPECT_EQ(g->FindValue("blk.0.attn_post_norm") != nullptr, gemma);
      EXPECT_EQ(g->FindValue("blk.0.ffn_post_norm") != nullptr, gemma);
      EXPECT_EQ(attn.scale, gemma || family == "qwen3" ? 1.0f / std::sqrt(32.0f) : 0.25f);
      const Attrs& embd = g->FindValue("inp_embd")->producer->attrs;
      EXPECT_EQ(std::holds_alternative<EmbeddingAttrs>(embd), gemma);
      if (gemma) {
        EXPECT_EQ(std::get<EmbeddingAttrs>(embd).scale, 8.0f);
      }
    }
  }
}

TEST(LowerModelTest, FusedViewsMustBeRegistered) {
  auto spec = TinyFamilySpec("phi3");
  ASSERT_TRUE(spec.ok());
  const std::string bytes = TinyModelGguf(*spec);
  auto f = GgufFile::Parse(bytes, "phi3");
  ASSERT_TRUE(f.ok());
  auto c = ModelConfigFromGguf(**f);
  ASSERT_TRUE(c.ok()) << c.status();
  auto g = LowerModel(*c, **f, {});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("AddFusedTensorViews"), std::string::npos) << g.status();
}

TEST(LowerModelTest, SequenceLongerThanContextIsAnError) {
  Loaded m = Load("stories260K.gguf");
  auto g = LowerModel(m.config, *m.file, {.seq_len = 65, .ctx_size = 64});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("context size 64"), std::string::npos);
}

}  // namespace
}  // namespace ggrt
