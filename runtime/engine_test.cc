// The batching engine on both backends (CUDA skips without a device): the stories260K reference through the
// engine, each sequence's tokens the same alone and among 63 others (greedy and seeded sampling), waiting
// for pages, cancelling, and the requests it refuses.
#include "runtime/engine.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "runtime/cuda_executor.h"
#include "runtime/model.h"
#include "tests/reference.h"

namespace ggrt {
namespace {

constexpr char kModel[] = "external/shared/models/stories260K-f16.gguf";
// Rows that are whole tensor-core tiles: every product of a CUDA batched step takes the small-batch kernel.
constexpr char kTiledModel[] = "external/shared/models/tiny-qwen2-256/tiny-qwen2-256-f16.gguf";
constexpr char kTiledQ4KM[] = "external/shared/models/tiny-qwen2-256/tiny-qwen2-256-Q4_K_M.gguf";
constexpr char kTiledQ50[] = "external/shared/models/tiny-qwen2-256/tiny-qwen2-256-Q5_0.gguf";

struct Result {
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::kNone;
};

class EngineTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kCuda && !CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  }
  LoadedModel Load(bool greedy, int ctx, int64_t pool, const char* path = kModel, DType kv = DType::kF16) {
    auto m = LoadModel({.path = path, .backend = GetParam(), .ctx_size = ctx, .kv_pool_tokens = pool,
                        .greedy = greedy, .kv_type = kv});
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *std::move(m) : LoadedModel{};
  }
  void ExpectBitIdenticalAloneAndInABatch(const char* model) {
    LoadedModel m = Load(/*greedy=*/false, 128, 65 * 128, model);
    ASSERT_NE(m.executor, nullptr);
    Executor& e = *m.executor;
    std::vector<std::vector<int32_t>> tables;
    for (int s = 0; s < 65; ++s) {
      std::vector<int32_t> pages;
      for (int i = 0; i < 4; ++i) pages.push_back(4 * s + (i + s) % 4);
      tables.push_back(pages);
    }
    // Sequence 0 has a 40-token history; the others 1 to 64 tokens.
    for (int s = 0; s < 65; ++s) {
      std::vector<int32_t> prompt;
      for (int i = 0; i < (s == 0 ? 40 : s); ++i) prompt.push_back((7 * i + 3 * s) % 500);
      ASSERT_TRUE(e.PrefillSequence(prompt, 0, tables[s]).ok());
    }
    auto row = [&](int s) { return SequenceStep{static_cast<int32_t>(11 * s % 500), s == 0 ? 40 : s, tables[s]}; };
    auto alone = e.DecodeBatch({row(0)}, false);
    ASSERT_TRUE(alone.ok()) << alone.status();
    const std::vector<float> alone_logits(alone->logits.begin(), alone->logits.end());
    std::vector<SequenceStep> rows;
    for (int s = 0; s < 65; ++s) rows.push_back(row(s));
    for (size_t n : {2u, 3u, 17u, 64u, 65u}) {
      auto batch = e.DecodeBatch(absl::MakeConstSpan(rows).subspan(0, n), false);
      ASSERT_TRUE(batch.ok()) << batch.status();
      ASSERT_EQ(batch->logits.size(), n * alone_logits.size());
      const std::vector<float> first(batch->logits.begin(), batch->logits.begin() + alone_logits.size());
      EXPECT_EQ(first, alone_logits) << "in a batch of " << n;
    }
  }
  // A batched prefill gives each sequence the logits of its chunk prefilled alone, and the same KV cache (the
  // decode step after it), whatever the padding after its chunk and the company: chunks of 2 to 64 tokens,
  // some after a part of the prompt already in the cache, one whose padding reaches the end of its table.
  void ExpectBatchedPrefillBitIdentical(const char* model, DType kv = DType::kF16) {
    LoadedModel m = Load(/*greedy=*/false, 128, 8 * 128, model, kv);
    ASSERT_NE(m.executor, nullptr);
    Executor& e = *m.executor;
    constexpr int kSeqLen = 64;
    struct Case {
      int before, chunk;  // Tokens prefilled alone first, then the chunk.
    };
    const std::vector<Case> cases = {{0, 64}, {0, 2}, {5, 17}, {32, 63}, {0, 40}, {64, 30}};
    std::vector<std::vector<int32_t>> tables, prompts;
    for (size_t s = 0; s < cases.size(); ++s) {
      std::vector<int32_t> pages, prompt;
      for (int i = 0; i < 4; ++i) pages.push_back(static_cast<int32_t>(4 * s + (i + s) % 4));
      for (int i = 0; i < cases[s].before + cases[s].chunk; ++i) prompt.push_back((7 * i + 3 * s + 1) % 500);
      tables.push_back(pages);
      prompts.push_back(prompt);
    }
    // Each chunk alone at its exact length, all chunks in one batched prefill, or each in a batched prefill
    // of its own (padded to the same rows).
    enum Mode { kExact, kTogether, kEachPadded };
    auto run = [&](Mode mode, std::vector<std::vector<float>>* logits) {
      for (size_t s = 0; s < cases.size(); ++s) {
        if (cases[s].before > 0) {
          ASSERT_TRUE(e.PrefillSequence(absl::MakeConstSpan(prompts[s]).first(cases[s].before), 0, tables[s]).ok());
        }
      }
      auto chunk = [&](size_t s) { return absl::MakeConstSpan(prompts[s]).subspan(cases[s].before); };
      if (mode == kTogether) {
        std::vector<PrefillChunk> chunks;
        for (size_t s = 0; s < cases.size(); ++s) chunks.push_back({chunk(s), cases[s].before, tables[s]});
        auto out = e.PrefillBatch(chunks, kSeqLen);
        ASSERT_TRUE(out.ok()) << out.status();
        const size_t vocab = out->logits.size() / cases.size();
        for (size_t s = 0; s < cases.size(); ++s) {
          logits->emplace_back(out->logits.begin() + s * vocab, out->logits.begin() + (s + 1) * vocab);
        }
      } else if (mode == kEachPadded) {
        for (size_t s = 0; s < cases.size(); ++s) {
          auto out = e.PrefillBatch({{chunk(s), cases[s].before, tables[s]}}, kSeqLen);
          ASSERT_TRUE(out.ok()) << out.status();
          logits->emplace_back(out->logits.begin(), out->logits.end());
        }
      } else {
        for (size_t s = 0; s < cases.size(); ++s) {
          auto out = e.PrefillSequence(chunk(s), cases[s].before, tables[s]);
          ASSERT_TRUE(out.ok()) << out.status();
          logits->emplace_back(out->logits.begin(), out->logits.end());
        }
      }
      std::vector<SequenceStep> rows;
      for (size_t s = 0; s < cases.size(); ++s) {
        rows.push_back({static_cast<int32_t>(11 * s % 500), cases[s].before + cases[s].chunk, tables[s]});
      }
      auto next = e.DecodeBatch(rows, false);
      ASSERT_TRUE(next.ok()) << next.status();
      logits->emplace_back(next->logits.begin(), next->logits.end());
    };
    std::vector<std::vector<float>> alone, together, each;
    run(kExact, &alone);
    run(kTogether, &together);
    run(kEachPadded, &each);
    ASSERT_EQ(alone.size(), together.size());
    ASSERT_EQ(alone.size(), each.size());
    for (size_t i = 0; i < alone.size(); ++i) {
      const std::string what = i < cases.size() ? absl::StrCat("prefill logits of sequence ", i) : "the decode step after";
      EXPECT_EQ(together[i], alone[i]) << what << ", all in one batched prefill";
      EXPECT_EQ(each[i], alone[i]) << what << ", each in a batched prefill of its own";
    }
    // Refused before it runs: a chunk longer than the rows, padding beyond the table, a one-token chunk, two
    // chunks writing the same KV slots.
    const std::vector<int32_t> short_table = {tables[0][0]};
    EXPECT_FALSE(e.PrefillBatch({{prompts[0], 0, tables[0]}, {prompts[1], 0, tables[1]}}, 32).ok());
    EXPECT_FALSE(e.PrefillBatch({{prompts[1], 0, short_table}, {prompts[2], 0, tables[2]}}, 64).ok());
    EXPECT_FALSE(e.PrefillBatch({{absl::MakeConstSpan(prompts[1]).first(1), 0, tables[1]}}, 64).ok());
    const auto shared = e.PrefillBatch({{prompts[1], 0, tables[1]}, {prompts[2], 0, tables[1]}}, 64);
    ASSERT_FALSE(shared.ok());
    EXPECT_NE(shared.status().message().find("sequence 1 of a batched prefill: it writes the KV slot of another"),
              absl::string_view::npos)
        << shared.status();
  }
};

// Steps until idle (at most `max_steps`); each sequence's tokens and finish.
std::map<int64_t, Result> RunAll(Engine& engine, int* max_running = nullptr, int max_steps = 10000) {
  std::map<int64_t, Result> results;
  for (int step = 0; !engine.idle() && step < max_steps; ++step) {
    auto events = engine.Step();
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) break;
    if (max_running != nullptr) *max_running = std::max(*max_running, engine.running());
    for (const SequenceEvent& e : *events) {
      if (e.token >= 0) results[e.id].tokens.push_back(e.token);
      if (e.finish != FinishReason::kNone) results[e.id].finish = e.finish;
    }
  }
  EXPECT_TRUE(engine.idle());
  EXPECT_EQ(engine.pool().used_pages(), 0);  // Every finished sequence gave its pages back.
  return results;
}

// Sequence i of the mixed workload: BOS plus a slice of the reference text, and a budget, both varied.
std::vector<int32_t> Prompt(int i) {
  std::vector<int32_t> p = {1};
  const std::vector<int32_t> ref = ReferenceIds();
  p.insert(p.end(), ref.begin() + i % 5, ref.begin() + i % 5 + (i * 7) % 40);
  return p;
}
int Budget(int i) { return 8 + (i * 13) % 60; }

Result Alone(Executor& executor, const std::vector<int32_t>& prompt, const SequenceOptions& options) {
  auto engine = Engine::Create(executor, {.max_batch = 1, .prefill_chunk = 16, .prefill_budget = 64});
  EXPECT_TRUE(engine.ok()) << engine.status();
  auto id = (*engine)->Add(prompt, options);
  EXPECT_TRUE(id.ok()) << id.status();
  return RunAll(**engine)[*id];
}

TEST_P(EngineTest, GreedySequencesMatchTheReferenceAndTheirSoloRunsAmong63Others) {
  LoadedModel m = Load(/*greedy=*/true, 320, 64 * 320);
  ASSERT_NE(m.executor, nullptr);
  // Chunks and a budget below most prompts: prompts are prefilled over several steps between decode steps,
  // in the same chunks as alone, up to four chunks in one batched prefill (alone: each on its own).
  auto engine = Engine::Create(*m.executor, {.max_batch = 64, .prefill_chunk = 16, .prefill_budget = 64});
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<int64_t> ids;
  auto reference_id = (*engine)->Add({1}, {.max_new_tokens = 256, .stop_at_end_of_generation = false});
  ASSERT_TRUE(reference_id.ok()) << reference_id.status();
  for (int i = 1; i < 64; ++i) {
    auto id = (*engine)->Add(Prompt(i), {.max_new_tokens = Budget(i), .stop_at_end_of_generation = false});
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  int max_running = 0;
  std::map<int64_t, Result> results = RunAll(**engine, &max_running);
  EXPECT_EQ(max_running, 64);
  const EngineCounters& c = (*engine)->counters();
  EXPECT_LT(c.prefill_runs, c.prefill_chunks / 2) << "few batched prefills";
  EXPECT_EQ(results[*reference_id].tokens, ReferenceIds(256));
  EXPECT_EQ(results[*reference_id].finish, FinishReason::kLength);
  for (int i = 1; i < 64; ++i) {
    const Result solo = Alone(*m.executor, Prompt(i), {.max_new_tokens = Budget(i), .stop_at_end_of_generation = false});
    EXPECT_EQ(results[ids[i - 1]].tokens, solo.tokens) << "sequence " << i;
    EXPECT_EQ(results[ids[i - 1]].tokens.size(), static_cast<size_t>(Budget(i)));
  }
}

// The logits of a sequence's step are bit-identical alone (the smallest bucket) and as row 0 of 64 other
// sequences at other positions: no kernel of a batched step mixes rows or sizes its sums by the batch.
// F16 weights, and block formats (llama-quantize's Q4_K_M and Q5_0 of the same model: the products decode
// their blocks on the way to the tensor cores).
TEST_P(EngineTest, LogitsAreBitIdenticalAloneAndInABatch) {
  for (const char* model : {kTiledModel, kTiledQ4KM, kTiledQ50}) {
    SCOPED_TRACE(model);
    ExpectBitIdenticalAloneAndInABatch(model);
  }
}

TEST_P(EngineTest, BatchedPrefillIsBitIdenticalToPrefillingAlone) {
  for (const char* model : {kModel, kTiledModel, kTiledQ4KM}) {
    SCOPED_TRACE(model);
    ExpectBatchedPrefillBitIdentical(model);
  }
  // An f32 cache: attention on the CUDA cores (flash attention reads f16 caches only).
  SCOPED_TRACE("f32 KV cache");
  ExpectBatchedPrefillBitIdentical(kTiledModel, DType::kF32);
}

// A budget beyond what one batched prefill takes (Executor::PrefillBatch's rows) splits the step's chunks over
// several runs instead of failing.
TEST_P(EngineTest, ABudgetLargerThanOneBatchedPrefillTakesSeveralRuns) {
  LoadedModel m = Load(/*greedy=*/true, 320, 40 * 320);
  ASSERT_NE(m.executor, nullptr);
  auto engine = Engine::Create(*m.executor, {.max_batch = 40, .prefill_chunk = 512, .prefill_budget = 1 << 20});
  ASSERT_TRUE(engine.ok()) << engine.status();
  for (int i = 0; i < 40; ++i) {
    std::vector<int32_t> prompt(130);
    for (int j = 0; j < 130; ++j) prompt[j] = (5 * j + i) % 500;
    ASSERT_TRUE((*engine)->Add(prompt, {.max_new_tokens = 2}).ok());
  }
  std::map<int64_t, Result> results = RunAll(**engine);
  EXPECT_EQ(results.size(), 40u);
  const EngineCounters& c = (*engine)->counters();
  EXPECT_EQ(c.prefill_chunks, 40);
  EXPECT_GE(c.prefill_runs, 2);  // 40 x 192 padded rows; at most 4096 a run.
}

TEST_P(EngineTest, SeededSamplingIsTheSameAloneAndInABatch) {
  LoadedModel m = Load(/*greedy=*/false, 128, 64 * 128);
  ASSERT_NE(m.executor, nullptr);
  auto engine = Engine::Create(*m.executor, {.max_batch = 64, .prefill_chunk = 16, .prefill_budget = 32});
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto options = [](int i) {
    SequenceOptions o{.max_new_tokens = Budget(i), .stop_at_end_of_generation = false};
    if (i % 2 == 1) {  // Every other sequence samples, each with its own seed and settings.
      o.sampler = {.temperature = 0.7f + 0.05f * (i % 5), .top_k = 20 + i, .top_p = 0.9f, .min_p = 0.02f,
                   .repeat_penalty = i % 3 == 0 ? 1.1f : 1.0f, .repeat_last_n = 16, .seed = 1000u + i};
    }
    return o;
  };
  std::vector<int64_t> ids;
  for (int i = 0; i < 64; ++i) {
    auto id = (*engine)->Add(Prompt(i), options(i));
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  std::map<int64_t, Result> results = RunAll(**engine);
  for (int i = 0; i < 64; i += 3) {  // A third of them alone, both kinds.
    EXPECT_EQ(results[ids[i]].tokens, Alone(*m.executor, Prompt(i), options(i)).tokens) << "sequence " << i;
  }
  // Different seeds give different texts: the sampling is not greedy in disguise.
  EXPECT_NE(results[ids[1]].tokens, Alone(*m.executor, Prompt(1), options(3)).tokens);
}

// Steps started ahead (the device moves tokens, positions and sampler windows on by itself) give the same
// tokens as steps uploaded one by one: greedy and sampled sequences with repetition penalties, finishing at
// different steps (each finish changes the rows and discards a step that ran ahead).
TEST_P(EngineTest, RunningAheadChangesNoToken) {
  LoadedModel m = Load(/*greedy=*/false, 128, 8 * 128);
  ASSERT_NE(m.executor, nullptr);
  std::map<int64_t, Result> runs[2];
  for (bool ahead : {false, true}) {
    auto engine = Engine::Create(*m.executor, {.max_batch = 8, .prefill_chunk = 16, .prefill_budget = 64,
                                               .run_ahead = ahead});
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (int i = 0; i < 8; ++i) {
      SequenceOptions o{.max_new_tokens = 20 + 9 * i, .stop_at_end_of_generation = false};
      if (i % 2 == 1) {
        o.sampler = {.temperature = 0.9f, .top_k = 30, .top_p = 0.95f, .repeat_penalty = 1.3f, .repeat_last_n = 8,
                     .seed = 7u + i};
      }
      ASSERT_TRUE((*engine)->Add(Prompt(i + 3), o).ok());
    }
    runs[ahead] = RunAll(**engine);
  }
  if (auto* cuda = dynamic_cast<CudaExecutor*>(m.executor.get()); cuda != nullptr) {
    EXPECT_GT(cuda->batch_steps_ahead_used(), 40) << "the steps did not run ahead";
  }
  ASSERT_EQ(runs[0].size(), 8u);
  for (const auto& [id, result] : runs[0]) {
    EXPECT_EQ(runs[1][id].tokens, result.tokens) << "sequence " << id;
  }
}

TEST_P(EngineTest, SequencesWaitForPagesAndCancellingFreesThemAtOnce) {
  // A pool of 4 pages (128 positions); each sequence below reserves 2 (1 + 39 positions).
  LoadedModel m = Load(/*greedy=*/true, 64, 128);
  ASSERT_NE(m.executor, nullptr);
  auto engine = Engine::Create(*m.executor, {.max_batch = 8});
  ASSERT_TRUE(engine.ok()) << engine.status();
  Engine& e = **engine;
  const SequenceOptions options{.max_new_tokens = 40, .stop_at_end_of_generation = false};
  auto a = e.Add({1}, options), b = e.Add({1}, options), c = e.Add({1}, options);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  auto first = e.Step();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(e.running(), 2);
  EXPECT_EQ(e.waiting(), 1);
  EXPECT_EQ(e.pool().free_pages(), 0);
  ASSERT_TRUE(e.Cancel(*a).ok());
  EXPECT_EQ(e.pool().free_pages(), 2);
  EXPECT_EQ(e.Cancel(*a).code(), absl::StatusCode::kNotFound);
  std::map<int64_t, Result> results = RunAll(e);
  std::vector<int32_t> b_tokens;
  for (const SequenceEvent& event : *first) {
    EXPECT_NE(event.id, *c);  // It waited.
    if (event.id == *b) b_tokens.push_back(event.token);
  }
  b_tokens.insert(b_tokens.end(), results[*b].tokens.begin(), results[*b].tokens.end());
  EXPECT_EQ(b_tokens, ReferenceIds(40));
  EXPECT_EQ(results[*c].tokens, ReferenceIds(40));  // Admitted when a's pages came back.
  EXPECT_EQ(results[*c].finish, FinishReason::kLength);
}

TEST_P(EngineTest, FirstTokensGoToTheSinkBeforeTheDecode) {
  LoadedModel m = Load(/*greedy=*/true, 64, 256);
  ASSERT_NE(m.executor, nullptr);
  auto engine = Engine::Create(*m.executor, {.max_batch = 8});
  ASSERT_TRUE(engine.ok()) << engine.status();
  Engine& e = **engine;
  const SequenceOptions options{.max_new_tokens = 20, .stop_at_end_of_generation = false};
  auto a = e.Add({1}, options);
  ASSERT_TRUE(a.ok());
  std::map<int64_t, std::vector<int32_t>> tokens;
  auto take = [&](absl::Span<const SequenceEvent> events) {
    for (const SequenceEvent& event : events) tokens[event.id].push_back(event.token);
  };
  auto first = e.Step();  // a's prompt, then its first decode: two tokens.
  ASSERT_TRUE(first.ok()) << first.status();
  take(*first);
  auto b = e.Add({1}, options), c = e.Add({1}, {.max_new_tokens = 1, .stop_at_end_of_generation = false});
  ASSERT_TRUE(b.ok() && c.ok());
  const int64_t decodes = e.counters().decode_steps;
  std::vector<SequenceEvent> early;
  auto step = e.Step([&](absl::Span<const SequenceEvent> events) {
    EXPECT_EQ(e.counters().decode_steps, decodes);  // Before the step's decode ran.
    early.assign(events.begin(), events.end());
  });
  ASSERT_TRUE(step.ok()) << step.status();
  ASSERT_EQ(early.size(), 2u);  // b's and c's first tokens; c is done with it.
  EXPECT_EQ(early[0].id, *b);
  EXPECT_EQ(early[0].finish, FinishReason::kNone);
  EXPECT_EQ(early[1].id, *c);
  EXPECT_EQ(early[1].token, ReferenceIds(1)[0]);
  EXPECT_EQ(early[1].finish, FinishReason::kLength);
  EXPECT_EQ(e.counters().decode_steps, decodes + 1);
  take(early);
  int a_events = 0, b_events = 0;
  for (const SequenceEvent& event : *step) {
    EXPECT_NE(event.id, *c);  // Finished at its prefill: not decoded.
    a_events += event.id == *a, b_events += event.id == *b;
  }
  EXPECT_EQ(a_events, 1);
  EXPECT_EQ(b_events, 1);  // Its second token: it joined the decode of the same step.
  take(*step);
  for (const auto& [id, result] : RunAll(e)) {
    tokens[id].insert(tokens[id].end(), result.tokens.begin(), result.tokens.end());
  }
  EXPECT_EQ(tokens[*a], ReferenceIds(20));
  EXPECT_EQ(tokens[*b], ReferenceIds(20));
  EXPECT_EQ(tokens[*c], ReferenceIds(1));
}

TEST_P(EngineTest, RefusesWhatItCannotServe) {
  LoadedModel m = Load(/*greedy=*/true, 64, 128);
  ASSERT_NE(m.executor, nullptr);
  auto engine = Engine::Create(*m.executor, {});
  ASSERT_TRUE(engine.ok()) << engine.status();
  Engine& e = **engine;
  EXPECT_EQ(e.Add({}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Add(std::vector<int32_t>(64, 1), {}).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(e.Add({1}, {.max_new_tokens = 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Add({1}, {.sampler = {.temperature = 0.8f}}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(e.Add({9999}, {}).status().code(), absl::StatusCode::kOk);  // Checked when it runs:
  auto step = e.Step();
  EXPECT_FALSE(step.ok());
  EXPECT_NE(step.status().message().find("outside the vocabulary"), std::string::npos) << step.status();
  EXPECT_FALSE(Engine::Create(*m.executor, {.max_batch = 0}).ok());
  EXPECT_FALSE(Engine::Create(*m.executor, {.max_batch = kMaxBatch + 1}).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, EngineTest, ::testing::Values(Backend::kCpu, Backend::kCuda),
                         [](const auto& info) { return info.param == Backend::kCpu ? "cpu" : "cuda"; });

}  // namespace
}  // namespace ggrt
