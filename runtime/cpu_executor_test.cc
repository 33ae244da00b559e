// End-to-end on the CPU executor: the greedy continuation of stories260K from BOS.
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "loader/gguf_corpus.h"
#include "tests/reference.h"
#include "runtime/model.h"
#include "runtime/session.h"

namespace ggrt {
namespace {

std::vector<int32_t> Greedy(const ModelOptions& options, int n) {
  auto m = LoadModel(options);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return {};
  std::vector<int32_t> out;
  GenerateStats stats;
  const absl::Status s = Generate(*m->executor, *m->tokenizer, {m->tokenizer->bos_id()},
                                  {.n_predict = n, .sampler = {.temperature = 0.0f}},
                                  [&](int32_t t) { out.push_back(t); }, &stats);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

// A context whose KV cache exceeds host memory is refused with the sizes, before anything is allocated; the
// default context of the same file is capped with a note instead.
TEST(CpuExecutorTest, KvCacheBeyondMemoryIsAnErrorAndTheDefaultIsCapped) {
  const std::string path = WriteTestFile("wide_kv.gguf", TinyModelGguf(WideKvModelSpec()));
  auto huge = LoadModel({.path = path, .backend = Backend::kCpu, .ctx_size = kMaxContext});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  EXPECT_NE(huge.status().message().find("a KV cache of 16777216 tokens (512.00 GiB)"), std::string::npos)
      << huge.status();
  TinyModelSpec long_context = WideKvModelSpec();
  long_context.ctx = 1 << 30;
  auto capped = LoadModel({.path = WriteTestFile("wide_kv_long.gguf", TinyModelGguf(long_context)),
                           .backend = Backend::kCpu});
  ASSERT_TRUE(capped.ok()) << capped.status();
  EXPECT_LE(capped->ctx_size, kDefaultMaxContext);
  EXPECT_NE(capped->note.find("of the model's 1073741824 tokens"), std::string::npos) << capped->note;
}

TEST(CpuExecutorTest, PrefillMatchesDecodeStepByStep) {
  const std::vector<int32_t> ref = ReferenceIds();
  ASSERT_GE(ref.size(), 256u);
  for (bool fused : {false, true}) {
    ModelOptions o{.path = "external/shared/models/stories260K-qwen2.gguf", .ctx_size = 64};
    o.passes.use_default = fused;
    auto m = LoadModel(o);
    ASSERT_TRUE(m.ok()) << m.status();
    // Prefill 10 reference tokens at once; then compare the logits with a fresh decode-by-decode run.
    std::vector<int32_t> prompt = {1};
    prompt.insert(prompt.end(), ref.begin(), ref.begin() + 9);
    auto pre = m->executor->Prefill(prompt, 0);
    ASSERT_TRUE(pre.ok()) << pre.status();
    std::vector<float> prefill_logits(pre->logits.begin(), pre->logits.end());
    auto m2 = LoadModel(o);
    ASSERT_TRUE(m2.ok());
    StepOutput last;
    for (int i = 0; i < 10; ++i) {
      auto step = m2->executor->Decode(prompt[i], i);
      ASSERT_TRUE(step.ok()) << step.status();
      last = *step;
    }
    ASSERT_EQ(last.logits.size(), prefill_logits.size());
    for (size_t i = 0; i < prefill_logits.size(); ++i) {
      EXPECT_NEAR(last.logits[i], prefill_logits[i], 1e-4f * (1 + std::abs(prefill_logits[i])));
    }
  }
}

TEST(CpuExecutorTest, ContextOverflowIsAnError) {
  auto m = LoadModel({.path = "external/shared/models/stories260K.gguf", .ctx_size = 8});
  ASSERT_TRUE(m.ok()) << m.status();
  auto out = m->executor->Decode(1, 8);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("do not fit the context of 8"), std::string::npos) << out.status();
  GenerateStats stats;
  const absl::Status s = Generate(*m->executor, *m->tokenizer, std::vector<int32_t>(8, 1), {}, [](int32_t) {},
                                  &stats);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  auto bad_token = m->executor->Decode(100000, 0);
  EXPECT_NE(bad_token.status().message().find("outside the vocabulary"), std::string::npos);
}

TEST(CpuExecutorTest, GreedyFromBosMatchesTheReference) {
  const std::vector<int32_t> ref = ReferenceIds();
  ModelOptions o{.path = "external/shared/models/stories260K.gguf", .ctx_size = 512, .greedy = true};
  const std::vector<int32_t> got = Greedy(o, 256);
  ASSERT_EQ(got.size(), 256u);
  EXPECT_EQ(got, std::vector<int32_t>(ref.begin(), ref.begin() + 256));
}

// Chunked prefill is the same computation: any chunk size gives the logits of one pass, and the cache it
// leaves serves the next decode step the same way (f16 and f32 caches alike).
TEST(CpuExecutorTest, ChunkedPrefillEqualsOnePass) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < 100; ++i) prompt.push_back(1 + (i * 37) % 500);
  for (DType kv : {DType::kF16, DType::kF32}) {
    std::vector<std::vector<float>> results;
    for (int chunk : {1000, 33, 7, 1}) {
      auto m = LoadModel({.path = "external/shared/models/stories260K.gguf", .ctx_size = 128, .kv_type = kv});
      ASSERT_TRUE(m.ok()) << m.status();
      auto out = PrefillInChunks(*m->executor, prompt, 0, chunk);
      ASSERT_TRUE(out.ok()) << out.status();
      std::vector<float> logits(out->logits.begin(), out->logits.end());
      auto next = m->executor->Decode(42, static_cast<int>(prompt.size()));
      ASSERT_TRUE(next.ok()) << next.status();
      logits.insert(logits.end(), next->logits.begin(), next->logits.end());
      results.push_back(std::move(logits));
    }
    for (size_t i = 1; i < results.size(); ++i) EXPECT_EQ(results[i], results[0]) << "chunking " << i;
  }
  auto m = LoadModel({.path = "external/shared/models/stories260K.gguf", .ctx_size = 128});
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(PrefillInChunks(*m->executor, prompt, 0, 0).ok());
  EXPECT_FALSE(PrefillInChunks(*m->executor, {}, 0, 16).ok());
}

// A batched step's rows are checked before anything runs: each names its row and what is wrong.
TEST(CpuExecutorTest, BatchedStepRefusesBadRows) {
  auto m = LoadModel({.path = "external/shared/models/stories260K.gguf", .ctx_size = 64, .kv_pool_tokens = 256});
  ASSERT_TRUE(m.ok()) << m.status();
  Executor& e = *m->executor;
  EXPECT_EQ(e.kv_pool_pages(), 8);
  EXPECT_EQ(e.max_sequence_pages(), 2);
  const std::vector<int32_t> a = {0, 1}, b = {2, 3}, outside = {8}, long_table = {4, 5, 6};
  auto expect_error = [&](std::vector<SequenceStep> rows, const std::string& text) {
    auto out = e.DecodeBatch(rows, false);
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.status().message().find(text), std::string::npos) << out.status();
  };
  expect_error({}, "a decode step of 0 sequences");
  expect_error({{1, 0, a}, {1, 0, a}}, "row 1: it writes the KV slot of another sequence");
  expect_error({{1, 0, a}, {1, 3, outside}}, "row 1: block table names page 8 of a KV pool of 8");
  expect_error({{1, 40, {a.data(), 1}}}, "a block table of 1 pages for positions up to 40");
  expect_error({{1, 0, long_table}}, "at most 2 pages");
  expect_error({{1, 64, a}}, "do not fit the context of 64");
  expect_error({{1, 0, a}, {600, 0, b}}, "row 1: token id 600 is outside the vocabulary");
  // Three rows run in the bucket of four; the padding row changes nothing.
  auto three = e.DecodeBatch({{1, 0, a}, {1, 0, b}, {1, 0, std::vector<int32_t>{7}}}, false);
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->logits.size(), 3u * 512);
  for (int r = 1; r < 3; ++r) {
    for (int v = 0; v < 512; ++v) EXPECT_EQ(three->logits[r * 512 + v], three->logits[v]);
  }
}

}  // namespace
}  // namespace ggrt
