#include "tools/synthetic_model.h"

#include <unistd.h>

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

TEST(SyntheticModelTest, EnsureReusesOnlyAnIdenticalCompleteFile) {
  auto vocab = GgufFile::Open("external/shared/models/qwen2.5-vocab.gguf");
  ASSERT_TRUE(vocab.ok());
  auto preset = FindSyntheticPreset("qwen2.5-0.5b");
  ASSERT_TRUE(preset.ok());
  preset->n_layers = 1;
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/e.gguf";
  auto ensure = [&](DType dtype, uint64_t seed) {
    auto written = EnsureSyntheticModel(*preset, dtype, **vocab, path, seed);
    EXPECT_TRUE(written.ok()) << written.status();
    return written.ok() && *written;
  };
  EXPECT_TRUE(ensure(DType::kF16, 1));   // No file yet.
  EXPECT_FALSE(ensure(DType::kF16, 1));  // The same model: reused.
  EXPECT_TRUE(ensure(DType::kF16, 2));   // Another seed.
  EXPECT_TRUE(ensure(DType::kBF16, 2));  // Another dtype.
  EXPECT_FALSE(ensure(DType::kBF16, 2));
  // A truncated file (an interrupted write) is written again.
  ASSERT_EQ(truncate(path.c_str(), 1 << 20), 0);
  EXPECT_TRUE(ensure(DType::kBF16, 2));
  EXPECT_FALSE(ensure(DType::kBF16, 2));
}

}  // namespace
}  // namespace ggrt
