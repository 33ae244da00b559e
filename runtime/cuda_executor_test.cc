// The CUDA backend end to end: the same greedy tokens as the CPU backend and the shared reference, with and
// without the captured decode graph, fused and unfused; prefill agrees with step-by-step decoding.
#include "runtime/cuda_executor.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "loader/gguf_corpus.h"
#include "loader/gguf_file.h"
#include "loader/quantize.h"
#include "tests/reference.h"
#include "runtime/model.h"
#include "runtime/session.h"

namespace ggrt {
namespace {

std::vector<int32_t> GenerateIds(LoadedModel& m, const std::vector<int32_t>& prompt, int n, float temperature = 0.0f) {
  std::vector<int32_t> out;
  GenerateStats stats;
  const absl::Status s = Generate(*m.executor, *m.tokenizer, prompt,
                                  {.n_predict = n, .sampler = {.temperature = temperature, .seed = 7}},
                                  [&](int32_t t) { out.push_back(t); }, &stats);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(CudaExecutorTest, GreedyMatchesTheReferenceOnEveryModelAndSetting) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  const std::vector<int32_t> ref = ReferenceIds();
  for (const char* model : {"stories260K.gguf", "stories260K-f16.gguf", "stories260K-qwen2.gguf"}) {
    for (bool fused : {true, false}) {
      for (bool graph : {true, false}) {
        ModelOptions o{.path = std::string("external/shared/models/") + model, .backend = Backend::kCuda,
                       .ctx_size = 512, .greedy = true, .cuda_graph = graph};
        o.passes.use_default = fused;
        auto m = LoadModel(o);
        ASSERT_TRUE(m.ok()) << m.status();
        const std::vector<int32_t> got = GenerateIds(*m, {1}, 256);
        EXPECT_EQ(got, std::vector<int32_t>(ref.begin(), ref.begin() + 256))
            << model << (fused ? " fused" : " unfused") << (graph ? " graph" : " no graph");
        if (graph) {
          EXPECT_GT(static_cast<CudaExecutor&>(*m->executor).decode_graph_nodes(), 10u);
        }
      }
    }
  }
}

TEST(CudaExecutorTest, PrefillThenDecodeMatchesCpu) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  const std::vector<int32_t> ref = ReferenceIds();
  std::vector<int32_t> prompt = {1};
  prompt.insert(prompt.end(), ref.begin(), ref.begin() + 40);
  // F16 weights take the cuBLASLt path with converted inputs; F32 ones the plain one.
  for (auto [model, greedy_graph] : {std::pair{"stories260K-qwen2.gguf", true}, {"stories260K-qwen2.gguf", false},
                                     {"stories260K-f16.gguf", true}}) {
    const std::string path = std::string("external/shared/models/") + model;
    auto gpu = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = 256, .greedy = greedy_graph});
    auto cpu = LoadModel({.path = path, .backend = Backend::kCpu, .ctx_size = 256, .greedy = greedy_graph});
    ASSERT_TRUE(gpu.ok() && cpu.ok());
    // Greedy continuation after a 41-token prefill is the reference's continuation.
    const std::vector<int32_t> got = GenerateIds(*gpu, prompt, 100);
    EXPECT_EQ(got, std::vector<int32_t>(ref.begin() + 40, ref.begin() + 140)) << model;
    EXPECT_EQ(got, GenerateIds(*cpu, prompt, 100)) << model;
  }
}

// Every llama-quantize fixture on the GPU, weights in their block formats: the CPU's greedy tokens from BOS
// (the decode GEMVs), and after a prompt (the prefill products on decoded f16 tiles) logits close to the
// CPU's.
TEST(CudaExecutorTest, QuantizedFixturesMatchCpu) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  const std::vector<int32_t> prompt = {1, 403, 261, 378, 263, 280, 417, 266, 281, 453, 298, 260, 289, 350, 260, 284};
  for (const char* type :
       {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"}) {
    const std::string path = std::string("external/shared/models/tiny-qwen2-256/tiny-qwen2-256-") + type + ".gguf";
    auto gpu = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = 128, .greedy = true});
    auto cpu = LoadModel({.path = path, .backend = Backend::kCpu, .ctx_size = 128, .greedy = true});
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    EXPECT_EQ(GenerateIds(*gpu, {1}, 32), GenerateIds(*cpu, {1}, 32)) << type;

    auto gpu_logits = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = 128});
    auto cpu_logits = LoadModel({.path = path, .backend = Backend::kCpu, .ctx_size = 128});
    ASSERT_TRUE(gpu_logits.ok() && cpu_logits.ok());
    auto g = gpu_logits->executor->Prefill(prompt, 0);
    auto c = cpu_logits->executor->Prefill(prompt, 0);
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_EQ(g->logits.size(), c->logits.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < c->logits.size(); ++i) {
      num += (g->logits[i] - c->logits[i]) * (g->logits[i] - c->logits[i]);
      den += c->logits[i] * c->logits[i];
    }
    // The prefill products round activations to f16 for cuBLASLt.
    EXPECT_LT(std::sqrt(num / den), 5e-3) << type << " prefill logits";
  }
}

// Q8_0 matrices in ggrt's row layout (ops/cuda/q8_0_rows.h) must give the CPU's greedy tokens and logits
// close to the CPU's: the embedding, the greedy step's output argmax, the lone step's logits (the final norm
// folded in), the layer kernel's long-row products and prefill's dequantized products read them (the batched
// steps' products: small_batch_gemm_test, bit for bit the blocks').
void ExpectQ8_0RowLayoutMatchesCpu(const std::string& path, const std::vector<int32_t>& prompt) {
  auto gpu = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = 128, .greedy = true});
  auto cpu = LoadModel({.path = path, .backend = Backend::kCpu, .ctx_size = 128, .greedy = true});
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(GenerateIds(*gpu, {1}, 32), GenerateIds(*cpu, {1}, 32));
  EXPECT_EQ(GenerateIds(*gpu, prompt, 32), GenerateIds(*cpu, prompt, 32));

  auto gpu_logits = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = 128});
  auto cpu_logits = LoadModel({.path = path, .backend = Backend::kCpu, .ctx_size = 128});
  ASSERT_TRUE(gpu_logits.ok() && cpu_logits.ok());
  auto relative = [](absl::Span<const float> a, absl::Span<const float> b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < b.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    return std::sqrt(num / den);
  };
  auto g = gpu_logits->executor->Prefill(prompt, 0);
  auto c = cpu_logits->executor->Prefill(prompt, 0);
  ASSERT_TRUE(g.ok() && c.ok());
  ASSERT_EQ(g->logits.size(), c->logits.size());
  EXPECT_LT(relative(g->logits, c->logits), 5e-3) << "prefill logits";  // f16 activations for cuBLASLt.
  // Lone decode steps' logits from position 0 on fresh models: after the prefill above the cache would hold
  // keys and values from f16 activations, ~3e-4 of the logits apart. These random models amplify the
  // summation order's rounding with each position (H200: 1.2e-4 at position 3 on tiny-qwen2-256); a
  // misplaced chunk or scale moves the logits by O(1).
  auto gpu_steps = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = 128});
  auto cpu_steps = LoadModel({.path = path, .backend = Backend::kCpu, .ctx_size = 128});
  ASSERT_TRUE(gpu_steps.ok() && cpu_steps.ok());
  for (int pos = 0; pos < 4; ++pos) {
    auto gd = gpu_steps->executor->Decode(prompt[pos], pos);
    auto cd = cpu_steps->executor->Decode(prompt[pos], pos);
    ASSERT_TRUE(gd.ok() && cd.ok());
    EXPECT_LT(relative(gd->logits, cd->logits), 1e-3) << "decode logits at position " << pos;
  }
}

// The fixture's vocabulary (token_embd and output, [512, 256]) takes the row layout; its FFN of 768 is too
// short for the layer rule.
TEST(CudaExecutorTest, Q8_0VocabularyInRowLayoutMatchesCpu) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  ExpectQ8_0RowLayoutMatchesCpu("external/shared/models/tiny-qwen2-256/tiny-qwen2-256-Q8_0.gguf",
                                {1, 403, 261, 378, 263, 280, 417, 266, 281, 453, 298, 260, 289, 350, 260, 284});
}

// An FFN of 1536: ffn_down ([128, 1536]) has rows past kQ8_0RowsMaxK and takes the row layout's layer kernel
// (with the residual fused), as Qwen2.5-0.5B's [896, 4864] does.
TEST(CudaExecutorTest, Q8_0LongRowsInRowLayoutMatchCpu) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  auto spec = TinyFamilySpec("qwen2");
  ASSERT_TRUE(spec.ok()) << spec.status();
  spec->ff = 1536;
  const std::string f16 = WriteTestFile("q8_0_long_rows_f16.gguf", TinyModelGguf(*spec));
  const std::string q8_0 = absl::StrCat(::testing::TempDir(), "/q8_0_long_rows_q8_0.gguf");
  auto file = GgufFile::Open(f16);
  ASSERT_TRUE(file.ok()) << file.status();
  const absl::Status quantized = QuantizeModel(**file, QuantMix::kQ8_0, q8_0);
  ASSERT_TRUE(quantized.ok()) << quantized;
  ExpectQ8_0RowLayoutMatchesCpu(q8_0, {1, 203, 261, 78, 263, 280, 17, 266, 281, 53, 298, 260, 289, 150, 260, 284});
}

TEST(CudaExecutorTest, CapturedPrefillGivesTheSameResultAsLaunchedPrefill) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  const std::vector<int32_t> ref = ReferenceIds();
  const std::vector<int32_t> prompt(ref.begin(), ref.begin() + 30);
  for (const char* model : {"stories260K-qwen2.gguf", "stories260K-f16.gguf"}) {
    auto m = LoadModel({.path = std::string("external/shared/models/") + model, .backend = Backend::kCuda,
                        .ctx_size = 256, .greedy = true});
    ASSERT_TRUE(m.ok()) << m.status();
    auto& cuda = static_cast<CudaExecutor&>(*m->executor);
    auto eager = cuda.Prefill(prompt, 0);
    ASSERT_TRUE(eager.ok()) << eager.status();
    cuda.set_capture_prefill(true);
    // Run 1 is eager (warm-up), run 2 captures and replays, run 3 replays.
    for (int run = 0; run < 3; ++run) {
      auto got = cuda.Prefill(prompt, 0);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->token, eager->token) << model << " run " << run;
    }
    // The captured graph reads the position from device memory: a later position replays correctly too.
    cuda.set_capture_prefill(false);
    auto eager_later = cuda.Prefill(prompt, 30);
    cuda.set_capture_prefill(true);
    auto captured_later = cuda.Prefill(prompt, 30);
    ASSERT_TRUE(eager_later.ok() && captured_later.ok());
    EXPECT_EQ(captured_later->token, eager_later->token) << model;
  }
}

TEST(CudaExecutorTest, DeviceSamplingIsSeededAndTopKOneIsGreedy) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  const std::string path = "external/shared/models/stories260K.gguf";
  auto load = [&](SamplerOptions s, bool graph) {
    auto m = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = 300, .sampler = s, .cuda_graph = graph});
    EXPECT_TRUE(m.ok()) << m.status();
    return std::move(*m);
  };
  auto run = [&](LoadedModel& m, const SamplerOptions& s, int n) {
    std::vector<int32_t> out;
    GenerateStats stats;
    EXPECT_TRUE(Generate(*m.executor, *m.tokenizer, {1}, {.n_predict = n, .sampler = s},
                         [&](int32_t t) { out.push_back(t); }, &stats)
                    .ok());
    return out;
  };
  // top-k 1 leaves only the argmax, whatever the temperature: the greedy reference.
  const SamplerOptions top1{.temperature = 0.9f, .top_k = 1, .seed = 3};
  for (bool graph : {true, false}) {
    LoadedModel m = load(top1, graph);
    const std::vector<int32_t> ref = ReferenceIds(256);
    EXPECT_EQ(run(m, top1, 256), ref) << (graph ? "graph" : "no graph");
  }
  const SamplerOptions s{.temperature = 0.9f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .seed = 11};
  LoadedModel a = load(s, true), b = load(s, false);
  const std::vector<int32_t> first = run(a, s, 128);
  EXPECT_EQ(first, run(b, s, 128)) << "graph and eager steps draw the same tokens";
  EXPECT_NE(first, ReferenceIds(128)) << "temperature 0.9 with top-k 40 should leave the greedy path";
  // With a repetition penalty (applied on the device from the token history) the draws are seeded too.
  const SamplerOptions penalty{.temperature = 0.9f, .repeat_penalty = 1.1f, .seed = 5};
  LoadedModel c = load(penalty, true), d = load(penalty, true);
  EXPECT_EQ(run(c, penalty, 64), run(d, penalty, 64));
}

TEST(CudaExecutorTest, ErrorsAreStatuses) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  auto m = LoadModel({.path = "external/shared/models/stories260K.gguf", .backend = Backend::kCuda, .ctx_size = 16});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->executor->Decode(1, 16).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE(m->executor->Decode(99999, 0).ok());
  std::vector<int32_t> long_prompt(17, 1);
  EXPECT_EQ(m->executor->Prefill(long_prompt, 0).status().code(), absl::StatusCode::kOutOfRange);
  // A context beyond any flag's range is refused before anything is sized by it.
  auto too_long = LoadModel({.path = "external/shared/models/stories260K.gguf", .backend = Backend::kCuda,
                             .ctx_size = 1 << 30});
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument) << too_long.status();
  // A KV cache beyond the card's memory (32 KiB a token: 512 GiB) is an out-of-memory Status, checked
  // before anything is allocated.
  const std::string path = WriteTestFile("wide_kv.gguf", TinyModelGguf(WideKvModelSpec()));
  auto huge = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = kMaxContext});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  EXPECT_NE(huge.status().message().find("of free GPU memory"), std::string::npos) << huge.status();
}

}  // namespace
}  // namespace ggrt
