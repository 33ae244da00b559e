#include "tools/synthetic_model.h"

#include "gtest/gtest.h"
#include "loader/load_tokenizer.h"
#include "loader/model_config.h"

namespace ggrt {
namespace {

TEST(SyntheticModelTest, WritesALoadableQwen2OfTheRequestedShape) {
  auto vocab = GgufFile::Open("external/shared/models/qwen2.5-vocab.gguf");
  ASSERT_TRUE(vocab.ok());
  // A two-layer shrink of the 0.5B preset keeps the test small; the shapes follow the same code.
  auto preset = FindSyntheticPreset("qwen2.5-0.5b");
  ASSERT_TRUE(preset.ok());
  preset->n_layers = 2;
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/s.gguf";
  ASSERT_TRUE(WriteSyntheticModel(*preset, DType::kBF16, **vocab, path, 1).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  auto c = ModelConfigFromGguf(**f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->n_embd, 896);
  EXPECT_EQ(c->n_kv_heads, 2);
  EXPECT_EQ(c->n_vocab, 151936);
  EXPECT_TRUE(c->tied_output);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_EQ((*f)->FindTensor("blk.1.ffn_down.weight")->dtype, DType::kBF16);
  EXPECT_EQ((*f)->FindTensor("blk.1.attn_q.bias")->dtype, DType::kF32);
  EXPECT_TRUE(LoadTokenizer(**f).ok());
  EXPECT_FALSE(FindSyntheticPreset("qwen9").ok());
}

}  // namespace
}  // namespace ggrt
