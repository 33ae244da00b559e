#include "loader/model_config.h"

#include "gtest/gtest.h"
#include "loader/gguf_writer.h"

namespace ggrt {
namespace {

// A tiny config written with every tensor the architecture needs, optionally broken by `mutate`.
std::string TinyModel(const std::string& arch, bool bias, bool tied,
                      const std::function<void(GgufWriter&)>& mutate = nullptr) {
  GgufWriter w;
  w.SetString("general.architecture", arch);
  w.SetU32(arch + ".block_count", 2);
  w.SetU32(arch + ".embedding_length", 16);
  w.SetU32(arch + ".attention.head_count", 4);
  w.SetU32(arch + ".attention.head_count_kv", 2);
  w.SetU32(arch + ".feed_forward_length", 24);
  w.SetU32(arch + ".context_length", 64);
  w.SetF32(arch + ".rope.freq_base", 1e6f);
  ModelConfig c;
  c.n_layers = 2, c.n_embd = 16, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 4, c.n_ff = 24,
  c.n_vocab = 10, c.qkv_bias = bias, c.tied_output = tied;
  for (const ExpectedTensor& t : ExpectedTensors(c)) {
    int64_t n = 1;
    for (int64_t d : t.dims) n *= d;
    (void)w.AddTensor(t.name, DType::kF32, t.dims, std::string(4 * n, '\0'));
  }
  if (mutate) mutate(w);
  return w.Serialize();
}

TEST(ModelConfigTest, Qwen2WithBiasAndTiedOutput) {
  const std::string bytes = TinyModel("qwen2", true, true);
  auto f = GgufFile::Parse(bytes, "tiny.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  auto c = ModelConfigFromGguf(**f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->arch, Arch::kQwen2);
  EXPECT_TRUE(c->rope_neox);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_TRUE(c->tied_output);
  EXPECT_EQ(c->head_dim, 4);
  EXPECT_EQ(c->rope_dims, 4);
  EXPECT_EQ(c->kv_dim(), 8);
  EXPECT_EQ(c->n_vocab, 10);
  EXPECT_EQ(c->rope_theta, 1e6f);
  EXPECT_EQ(c->rms_eps, 1e-5f);
}

TEST(ModelConfigTest, LlamaUntied) {
  const std::string bytes = TinyModel("llama", false, false);
  auto f = GgufFile::Parse(bytes, "tiny.gguf");
  auto c = ModelConfigFromGguf(**f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->rope_neox);
  EXPECT_FALSE(c->tied_output);
  EXPECT_FALSE(c->qkv_bias);
}

TEST(ModelConfigTest, UnknownArchitectureIsAnError) {
  const std::string bytes = TinyModel("mamba", false, false);
  auto c = ModelConfigFromGguf(**GgufFile::Parse(bytes, "tiny.gguf"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unsupported architecture 'mamba'"), std::string::npos);
}

TEST(ModelConfigTest, MissingKeyNamesIt) {
  const std::string bytes = TinyModel("llama", false, false, [](GgufWriter& w) {
    w.SetString("llama.block_count", "two");
  });
  auto c = ModelConfigFromGguf(**GgufFile::Parse(bytes, "tiny.gguf"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'llama.block_count' has type string"), std::string::npos)
      << c.status();
}

TEST(ModelConfigTest, MisShapedTensorNamesIt) {
  const std::string bytes = TinyModel("llama", false, false, [](GgufWriter& w) {
    w.SetU32("llama.feed_forward_length", 32);
  });
  auto c = ModelConfigFromGguf(**GgufFile::Parse(bytes, "tiny.gguf"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("tensor 'blk.0.ffn_gate.weight' has shape [16, 24], expected [16, 32]"),
            std::string::npos)
      << c.status();
}

TEST(ModelConfigTest, MissingTensorNamesIt) {
  const std::string bytes = TinyModel("qwen2", false, false, [](GgufWriter& w) {
    (void)w.AddTensor("blk.0.attn_q.bias", DType::kF32, {16}, std::string(64, '\0'));
  });
  auto c = ModelConfigFromGguf(**GgufFile::Parse(bytes, "tiny.gguf"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("tensor 'blk.0.attn_k.bias' not found"), std::string::npos)
      << c.status();
}

}  // namespace
}  // namespace ggrt
