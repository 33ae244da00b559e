#include "loader/model_config.h"

#include <cmath>

#include "gtest/gtest.h"
#include "loader/gguf_corpus.h"
#include "loader/gguf_writer.h"

namespace ggrt {
namespace {

// A tiny config written with every tensor the architecture needs, optionally broken by `mutate`.
std::string TinyModel(const std::string& arch, bool bias, bool tied,
                      const std::function<void(GgufWriter&)>& mutate = nullptr, int extra_layers = 0,
                      DType matrix_type = DType::kF32, DType vector_type = DType::kF32) {
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
  c.n_layers = 2 + extra_layers, c.n_embd = 16, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 4, c.n_ff = 24,
  c.n_vocab = 10, c.qkv_bias = bias, c.tied_output = tied;
  for (const ExpectedTensor& t : ExpectedTensors(c)) {
    int64_t n = 1;
    for (int64_t d : t.dims) n *= d;
    const DType type = t.matrix ? matrix_type : vector_type;
    (void)w.AddTensor(t.name, type, t.dims, std::string(n * BlockBytes(type) / BlockElements(type), '\0'));
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

absl::Status LoadError(const std::string& bytes) {
  auto f = GgufFile::Parse(bytes, "tiny.gguf");
  if (!f.ok()) return f.status();
  return ModelConfigFromGguf(**f).status();
}

void ExpectError(const std::string& bytes, const std::string& text) {
  const absl::Status s = LoadError(bytes);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(text), std::string::npos) << s;
}

TEST(ModelConfigTest, LayerCountBeyondTheTensorsIsRefusedBeforeSizingAnything) {
  ExpectError(TinyModel("llama", false, false, [](GgufWriter& w) { w.SetU32("llama.block_count", 1u << 29); }),
              "'llama.block_count' = 536870912 needs at least 9 tensors per layer");
}

TEST(ModelConfigTest, TensorsOfLayersBeyondTheBlockCountAreRefused) {
  ExpectError(TinyModel("qwen2", true, true, nullptr, /*extra_layers=*/1),
              "tensor 'blk.2.attn_norm.weight' is not used by a 2-layer qwen2 model");
}

TEST(ModelConfigTest, HugeKeyLengthIsRefusedWithoutOverflow) {
  ExpectError(TinyModel("llama", false, false,
                        [](GgufWriter& w) { w.SetU32("llama.attention.key_length", (1u << 29) + 8); }),
              "'llama.attention.key_length' = 536870920 is larger than 1024");
}

TEST(ModelConfigTest, BadEpsilonAndRopeBaseAreRefused) {
  for (float bad : {-1e-5f, 0.0f, std::nanf(""), INFINITY}) {
    ExpectError(TinyModel("llama", false, false,
                          [&](GgufWriter& w) { w.SetF32("llama.attention.layer_norm_rms_epsilon", bad); }),
                "'llama.attention.layer_norm_rms_epsilon'");
    ExpectError(TinyModel("llama", false, false, [&](GgufWriter& w) { w.SetF32("llama.rope.freq_base", bad); }),
                "'llama.rope.freq_base'");
  }
}

TEST(ModelConfigTest, UnsupportedFeaturesAreRefusedByKey) {
  ExpectError(TinyModel("llama", false, false,
                        [](GgufWriter& w) { w.SetString("llama.rope.scaling.type", "yarn"); }),
              "'llama.rope.scaling.type' = 'yarn' is not supported");
  ExpectError(TinyModel("llama", false, false,
                        [](GgufWriter& w) { w.SetU32("llama.attention.sliding_window", 4096); }),
              "'llama.attention.sliding_window'");
  ExpectError(TinyModel("qwen2", true, true,
                        [](GgufWriter& w) { w.SetF32("qwen2.attn_logit_softcapping", 50.0f); }),
              "'qwen2.attn_logit_softcapping' asks for a feature qwen2 models do not have");
  ExpectError(TinyModel("llama", false, false,
                        [](GgufWriter& w) { w.SetF32("llama.rope.scaling.attn_factor", 1.1f); }),
              "'llama.rope.scaling.attn_factor'");
  ExpectError(TinyModel("llama", false, false,
                        [](GgufWriter& w) { w.SetString("llama.rope.scaling.type", "linear"); }),
              "linear RoPE scaling needs metadata key 'llama.rope.scaling.factor'");
  // A file with Llama 3's frequency divisors of the wrong length.
  ExpectError(TinyModel("llama", false, false,
                        [](GgufWriter& w) {
                          (void)w.AddTensor("rope_freqs.weight", DType::kF32, {3}, std::string(12, '\0'));
                        }),
              "tensor 'rope_freqs.weight' has shape [3], expected [2]");
}

// The families' features as read from their files (tiny models of each, see TinyFamilySpec).
TEST(ModelConfigTest, FamilyFeatures) {
  auto config = [](const std::string& family) {
    auto spec = TinyFamilySpec(family);
    EXPECT_TRUE(spec.ok());
    static std::string bytes;  // Outlives the parsed file's use below.
    bytes = TinyModelGguf(*spec);
    auto f = GgufFile::Parse(bytes, family);
    EXPECT_TRUE(f.ok()) << f.status();
    auto c = ModelConfigFromGguf(**f);
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  };
  const ModelConfig llama3 = config("llama3");
  EXPECT_TRUE(llama3.rope_freq_factors);
  EXPECT_TRUE(llama3.tied_output);
  EXPECT_EQ(config("llama-linear").rope_freq_scale, 0.25f);
  const ModelConfig qwen3 = config("qwen3");
  EXPECT_EQ(qwen3.arch, Arch::kQwen3);
  EXPECT_TRUE(qwen3.qk_norm && qwen3.rope_neox && !qwen3.qkv_bias);
  EXPECT_EQ(qwen3.head_dim, 32);
  const ModelConfig phi3 = config("phi3");
  EXPECT_TRUE(phi3.fused_qkv);
  EXPECT_TRUE(phi3.SlidingLayer(0) && phi3.SlidingLayer(1));
  const ModelConfig gemma2 = config("gemma2");
  EXPECT_EQ(gemma2.ffn_act, FfnActivation::kGeluTanh);
  EXPECT_TRUE(gemma2.post_norms);
  EXPECT_EQ(gemma2.embd_scale, 8.0f);
  EXPECT_EQ(gemma2.attn_softcap, 50.0f);
  EXPECT_EQ(gemma2.final_softcap, 30.0f);
  EXPECT_TRUE(gemma2.SlidingLayer(0) && !gemma2.SlidingLayer(1) && gemma2.SlidingLayer(2));
  EXPECT_EQ(gemma2.attn_scale, 1.0f / std::sqrt(32.0f));
}

TEST(ModelConfigTest, TensorTypesAreCheckedByRole) {
  ExpectError(TinyModel("llama", false, false, nullptr, 0, DType::kF32, DType::kI32),
              "tensor 'output_norm.weight' has type i32; norm weights and biases must be f32, f16 or bf16");
  ExpectError(TinyModel("llama", false, false, nullptr, 0, DType::kI8, DType::kF32),
              "tensor 'token_embd.weight' has type i8; weight matrices must be");
  EXPECT_TRUE(LoadError(TinyModel("llama", false, false, nullptr, 0, DType::kF16, DType::kBF16)).ok());
}

}  // namespace
}  // namespace ggrt
