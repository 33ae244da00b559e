// Every supported family (a tiny random model of each, tools/tiny_model) gives the same greedy tokens under
// every pass selection as unfused, on the CPU; and on CUDA (skipped without a device) its prefill and
// decode logits follow the CPU's, position by position, with the CPU's own tokens fed back.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/cuda_executor.h"
#include "runtime/model.h"
#include "runtime/session.h"

namespace ggrt {
namespace {

class FamilyTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string Path() const { return "tests/tiny-" + GetParam() + ".gguf"; }

  // Greedy tokens of `passes` on the CPU after a fixed prompt; long enough to slide past the windows (12).
  std::vector<int32_t> Greedy(const PipelineSelection& passes, bool greedy_graph) {
    auto m = LoadModel({.path = Path(), .ctx_size = 96, .passes = passes, .greedy = greedy_graph});
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return {};
    std::vector<int32_t> got;
    GenerateStats stats;
    EXPECT_TRUE(Generate(*m->executor, *m->tokenizer, Prompt(), {.n_predict = 40, .sampler = {.temperature = 0.0f},
                                                                  .stop_at_end_of_generation = false},
                         [&](int32_t t) { got.push_back(t); }, &stats)
                    .ok());
    return got;
  }
  static std::vector<int32_t> Prompt() { return {1, 300 - 7, 70, 71, 200, 5, 299, 150, 151}; }
};

TEST_P(FamilyTest, EveryPassSelectionGivesTheUnfusedTokens) {
  const std::vector<int32_t> ref = Greedy({.use_default = false}, false);
  ASSERT_EQ(ref.size(), 40u);
  // Not a constant stream: the model must be sensitive enough for the comparison to mean something.
  EXPECT_GT(std::count(ref.begin(), ref.end(), ref[5]), 0);
  EXPECT_LT(std::count(ref.begin(), ref.end(), ref[5]), 30) << "degenerate model";
  std::vector<PipelineSelection> selections = {{}};
  for (const std::string& pass : DefaultPassNames()) selections.push_back({.passes = {pass}, .use_default = false});
  for (const PipelineSelection& sel : selections) {
    for (bool greedy_graph : {true, false}) {
      EXPECT_EQ(Greedy(sel, greedy_graph), ref)
          << GetParam() << " with passes: " << (sel.use_default ? "default" : sel.passes[0])
          << (greedy_graph ? " (argmax in graph)" : "");
    }
  }
}

// Largest |a - b| over the largest |b|, and whether the top tokens agree unless b's top two are within
// `tie` of each other.
struct LogitCompare {
  double max_rel = 0;
  bool top_agrees = true;
};
LogitCompare Compare(absl::Span<const float> a, absl::Span<const float> b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  const size_t top_a = std::max_element(a.begin(), a.end()) - a.begin();
  std::vector<float> sorted(b.begin(), b.end());
  std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
  const size_t top_b = std::max_element(b.begin(), b.end()) - b.begin();
  const bool near_tie = sorted[0] - sorted[1] < 1e-3 * scale;
  return {diff / scale, top_a == top_b || near_tie};
}

TEST_P(FamilyTest, CudaLogitsFollowTheCpu) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  // The CPU's tokens after the prompt, then every position's logits on both backends (teacher forcing).
  std::vector<int32_t> tokens = Prompt();
  const std::vector<int32_t> generated = Greedy({.use_default = false}, false);
  tokens.insert(tokens.end(), generated.begin(), generated.end());
  auto cpu = LoadModel({.path = Path(), .backend = Backend::kCpu, .ctx_size = 96, .all_logits = true});
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto cpu_out = cpu->executor->Prefill(tokens, 0);
  ASSERT_TRUE(cpu_out.ok()) << cpu_out.status();
  const std::vector<float> ref(cpu_out->logits.begin(), cpu_out->logits.end());
  const size_t vocab = ref.size() / tokens.size();

  // Prefill of everything on CUDA (all logits).
  auto gpu = LoadModel({.path = Path(), .backend = Backend::kCuda, .ctx_size = 96, .all_logits = true});
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  auto gpu_out = gpu->executor->Prefill(tokens, 0);
  ASSERT_TRUE(gpu_out.ok()) << gpu_out.status();
  for (size_t s = 0; s < tokens.size(); ++s) {
    const LogitCompare c = Compare(gpu_out->logits.subspan(s * vocab, vocab), absl::MakeSpan(ref).subspan(s * vocab, vocab));
    // The prefill products take F16 activations (cuBLASLt), and these random models amplify the rounding.
    EXPECT_LT(c.max_rel, 5e-2) << GetParam() << " prefill position " << s;
    EXPECT_TRUE(c.top_agrees) << GetParam() << " prefill position " << s;
  }

  // The prompt as a prefill, then one decode step per token (the captured decode graph, fused kernels).
  auto step = LoadModel({.path = Path(), .backend = Backend::kCuda, .ctx_size = 96});
  ASSERT_TRUE(step.ok()) << step.status();
  const size_t prompt = Prompt().size();
  auto out = step->executor->Prefill(absl::MakeSpan(tokens).subspan(0, prompt), 0);
  ASSERT_TRUE(out.ok()) << out.status();
  for (size_t s = prompt - 1; s + 1 < tokens.size(); ++s) {
    if (s >= prompt) {
      out = step->executor->Decode(tokens[s], static_cast<int>(s));
      ASSERT_TRUE(out.ok()) << out.status();
    }
    const LogitCompare c = Compare(out->logits, absl::MakeSpan(ref).subspan(s * vocab, vocab));
    // Decode reads the K/V the F16 prefill wrote: the same bound.
    EXPECT_LT(c.max_rel, 5e-2) << GetParam() << " decode position " << s;
    EXPECT_TRUE(c.top_agrees) << GetParam() << " decode position " << s;
  }
}

// A prompt longer than one prefill chunk: the CUDA logits (flash-attention prefill over f16 pages, chunk by
// chunk) follow the CPU's; and a 32k-token prompt takes no more activation or scratch memory than a 4k one.
TEST(LongPromptTest, ChunkedPrefillFollowsTheCpuAndStaysBounded) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  const std::string path = "tests/tiny-qwen2.gguf";
  std::mt19937 rng(9);
  std::uniform_int_distribution<int32_t> id(3, 299);
  std::vector<int32_t> prompt(2600);
  for (int32_t& t : prompt) t = id(rng);
  auto cpu = LoadModel({.path = path, .backend = Backend::kCpu, .ctx_size = 2700});
  auto gpu = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = 2700});
  ASSERT_TRUE(cpu.ok() && gpu.ok()) << cpu.status() << gpu.status();
  auto want = PrefillInChunks(*cpu->executor, prompt, 0, kDefaultPrefillChunk);
  ASSERT_TRUE(want.ok()) << want.status();
  std::vector<float> ref(want->logits.begin(), want->logits.end());
  auto got = PrefillInChunks(*gpu->executor, prompt, 0, kDefaultPrefillChunk);
  ASSERT_TRUE(got.ok()) << got.status();
  for (int step = 0; step < 8; ++step) {
    const LogitCompare c = Compare(got->logits, ref);
    EXPECT_LT(c.max_rel, 5e-2) << "step " << step;
    EXPECT_TRUE(c.top_agrees) << "step " << step;
    const int32_t next = static_cast<int32_t>(std::max_element(ref.begin(), ref.end()) - ref.begin());
    const int pos = static_cast<int>(prompt.size()) + step;
    want = cpu->executor->Decode(next, pos);
    got = gpu->executor->Decode(next, pos);
    ASSERT_TRUE(want.ok() && got.ok());
    ref.assign(want->logits.begin(), want->logits.end());
  }

  auto big = LoadModel({.path = path, .backend = Backend::kCuda, .ctx_size = 32768});
  ASSERT_TRUE(big.ok()) << big.status();
  auto& cuda = static_cast<CudaExecutor&>(*big->executor);
  std::vector<int32_t> tokens(15 * kDefaultPrefillChunk);  // Whole chunks: the same graph as for 4k.
  for (int32_t& t : tokens) t = id(rng);
  ASSERT_TRUE(PrefillInChunks(cuda, absl::MakeSpan(tokens).subspan(0, 4096), 0, kDefaultPrefillChunk).ok());
  const CudaMemoryStats after_4k = cuda.memory();
  ASSERT_TRUE(PrefillInChunks(cuda, tokens, 0, kDefaultPrefillChunk).ok());
  EXPECT_EQ(cuda.memory().activations, after_4k.activations);
  EXPECT_EQ(cuda.memory().scratch, after_4k.scratch);
  EXPECT_LT(after_4k.activations + after_4k.scratch, int64_t{256} << 20);
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyTest,
                         ::testing::Values("qwen2", "llama3", "llama-linear", "qwen3", "phi3", "gemma2"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace ggrt
