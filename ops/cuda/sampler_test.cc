#include "ops/cuda/sampler.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "ops/cpu/test_util.h"
#include "ops/cuda/test_util.h"

namespace ggrt::cuda {
namespace {

// Draws one token per position 0..draws-1 (each position keys a fresh random number).
std::vector<int32_t> Draw(const std::vector<float>& logits, const SamplerConfig& config, int draws) {
  const int n = static_cast<int>(logits.size());
  DeviceBuffer dl(logits), dc(sizeof(SamplerConfig)), dpos(sizeof(int32_t)), token(sizeof(int32_t)),
      scratch(SampleScratchBytes(n)), input(std::vector<int32_t>{0}), history(std::vector<int32_t>(draws, 0));
  EXPECT_EQ(cudaMemcpy(dc.get(), &config, sizeof(config), cudaMemcpyHostToDevice), cudaSuccess);
  std::vector<int32_t> out;
  for (int32_t pos = 0; pos < draws; ++pos) {
    EXPECT_EQ(cudaMemcpy(dpos.get(), &pos, 4, cudaMemcpyHostToDevice), cudaSuccess);
    token.Poison();
    EXPECT_EQ(LaunchSample({dl.as<float>(), n, static_cast<SamplerConfig*>(dc.get()), dpos.as<int32_t>(),
                            token.as<int32_t>(), scratch.get(), input.as<int32_t>(), 1, history.as<int32_t>()},
                           nullptr),
              cudaSuccess);
    out.push_back(token.Download<int32_t>()[0]);
  }
  return out;
}

TEST(SamplerTest, FiltersRestrictTheDrawLikeTheHostSampler) {
  SKIP_WITHOUT_GPU();
  const std::vector<float> logits = {5.0f, 4.9f, 4.8f, 0.0f, -3.0f};
  auto set_of = [](const std::vector<int32_t>& v) { return std::set<int32_t>(v.begin(), v.end()); };
  EXPECT_EQ(set_of(Draw(logits, {1.0f, 2, 1.0f, 0.0f, 1}, 300)), (std::set<int32_t>{0, 1}));
  EXPECT_EQ(set_of(Draw(logits, {1.0f, 0, 0.5f, 0.0f, 1}, 300)), (std::set<int32_t>{0, 1}));
  EXPECT_EQ(set_of(Draw(logits, {1.0f, 0, 1.0f, 0.5f, 1}, 300)), (std::set<int32_t>{0, 1, 2}));
  EXPECT_EQ(set_of(Draw(logits, {5.0f, 1, 1.0f, 0.0f, 1}, 50)), (std::set<int32_t>{0}));  // top-k 1 = argmax.
}

TEST(SamplerTest, FrequenciesFollowTheSoftmaxAndSeedsReproduce) {
  SKIP_WITHOUT_GPU();
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  const SamplerConfig config{1.0f, 0, 1.0f, 0.0f, 42};
  const std::vector<int32_t> a = Draw(logits, config, 3000);
  EXPECT_EQ(a, Draw(logits, config, 3000));
  EXPECT_NE(a, Draw(logits, {1.0f, 0, 1.0f, 0.0f, 43}, 3000));
  std::map<int32_t, int> counts;
  for (int32_t t : a) ++counts[t];
  EXPECT_NEAR(counts[0] / 3000.0, 0.5, 0.04);
  EXPECT_NEAR(counts[1] / 3000.0, 0.3, 0.04);
  EXPECT_NEAR(counts[2] / 3000.0, 0.2, 0.04);
}

TEST(SamplerTest, LargeVocabularyTopKStaysInTheTopK) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(9);
  auto logits = cpu::RandomVector(151936, rng, 3.0f);
  std::vector<float> sorted = logits;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  for (int top_k : {1, 40, 0}) {
    const int k = top_k > 0 ? top_k : kMaxSampleCandidates;
    for (int32_t t : Draw(logits, {1.5f, top_k, 1.0f, 0.0f, 5}, 40)) {
      ASSERT_GE(logits[t], sorted[k - 1]) << "top_k " << top_k;
    }
  }
  // With top-k 1 the draw is the argmax.
  const int32_t argmax = std::max_element(logits.begin(), logits.end()) - logits.begin();
  EXPECT_EQ(Draw(logits, {0.7f, 1, 1.0f, 0.0f, 5}, 1)[0], argmax);
}

// The host-side chain the kernel implements, with the kernel's own uniform number: top-k, top-p and min-p
// on the temperature-1 probabilities, then the draw at the temperature.
int32_t ReferenceDraw(const std::vector<float>& logits, const SamplerConfig& c, int32_t pos) {
  std::vector<int32_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  const int k = std::min<int>(logits.size(), c.top_k > 0 ? std::min(c.top_k, kMaxSampleCandidates)
                                                        : kMaxSampleCandidates);
  const float top = logits[order[0]];
  // Differences in float, then double, as the kernel computes them.
  auto diff = [&](int i) { return static_cast<double>(logits[order[i]] - top); };
  double total = 0;
  for (int i = 0; i < k; ++i) total += std::exp(diff(i));
  int keep = k;
  if (c.top_p < 1.0f) {
    double cumulative = 0;
    int n = 0;
    while (n < k) {
      cumulative += std::exp(diff(n++)) / total;
      if (cumulative >= c.top_p) break;
    }
    keep = std::max(n, 1);
  }
  if (c.min_p > 0.0f) {
    int n = 1;
    while (n < keep && std::exp(diff(n)) >= c.min_p) ++n;
    keep = n;
  }
  double weights = 0;
  for (int i = 0; i < keep; ++i) weights += std::exp(diff(i) / c.temperature);
  const double u = SampleUniform(c.seed, pos) * weights;
  double cumulative = 0;
  for (int i = 0; i < keep; ++i) {
    cumulative += std::exp(diff(i) / c.temperature);
    if (u < cumulative) return order[i];
  }
  return order[keep - 1];
}

TEST(SamplerTest, LargeVocabularyDrawsMatchTheReferenceChainExactly) {
  SKIP_WITHOUT_GPU();
  // Distinct logits (a shuffled ramp) so that the top-k set is unambiguous.
  const int n = 151936;
  std::mt19937 rng(21);
  std::vector<float> logits(n);
  for (int i = 0; i < n; ++i) logits[i] = (i - n / 2) * 4e-5f;
  std::shuffle(logits.begin(), logits.end(), rng);
  const SamplerConfig configs[] = {{0.8f, 40, 0.95f, 0.05f, 3}, {1.0f, 0, 1.0f, 0.0f, 4}, {1.3f, 1000, 0.9f, 0.0f, 5},
                                   {0.5f, 7, 1.0f, 0.0f, 6}};
  for (const SamplerConfig& c : configs) {
    const std::vector<int32_t> got = Draw(logits, c, 64);
    for (int32_t pos = 0; pos < 64; ++pos) {
      ASSERT_EQ(got[pos], ReferenceDraw(logits, c, pos))
          << "top_k " << c.top_k << " top_p " << c.top_p << " pos " << pos;
    }
  }
}

// Many candidates tied at the k-th value: 39 positive logits, each in a stage-1 slice of its own, among
// 151936 zeros, at top-k 40. Which zero is the 40th candidate is not defined; top-p and min-p cut it, so the
// draws are, and they must follow the reference.
TEST(SamplerTest, ManyCandidatesTiedAtTheKthValueStillDrawTheReferenceChain) {
  SKIP_WITHOUT_GPU();
  const int n = 151936;
  std::vector<float> logits(n, 0.0f);
  for (int i = 0; i < 39; ++i) logits[3 * 1024 * i + 517] = 10.0f + 0.05f * i;
  const SamplerConfig configs[] = {{0.8f, 40, 0.95f, 0.0f, 7}, {1.2f, 40, 1.0f, 0.05f, 8}};
  for (const SamplerConfig& c : configs) {
    const std::vector<int32_t> got = Draw(logits, c, 64);
    for (int32_t pos = 0; pos < 64; ++pos) {
      ASSERT_EQ(got[pos], ReferenceDraw(logits, c, pos)) << "top_p " << c.top_p << " pos " << pos;
    }
  }
}

TEST(SamplerTest, RepetitionPenaltyMatchesTheHostRule) {
  SKIP_WITHOUT_GPU();
  const int n = 151936;
  std::mt19937 rng(22);
  std::vector<float> logits(n);
  for (int i = 0; i < n; ++i) logits[i] = (i - n / 2) * 4e-5f;  // Distinct, both signs near the top.
  std::shuffle(logits.begin(), logits.end(), rng);
  std::vector<int32_t> by_logit(n);
  for (int i = 0; i < n; ++i) by_logit[i] = i;
  std::sort(by_logit.begin(), by_logit.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  // History of 200 positions drawn (with repeats) from the 30 most likely tokens and a few negative ones,
  // so the penalty reorders the top of the distribution.
  std::vector<int32_t> history(260);
  for (int32_t& t : history) t = rng() % 4 ? by_logit[rng() % 30] : by_logit[n - 1 - rng() % 5];
  const SamplerConfig c{0.9f, 40, 0.95f, 0.02f, 8, 1.3f, 64};
  // A decode step (1 token consumed at position 200) and a prefill (5 tokens at positions 195..199).
  for (auto [pos, seq_len] : {std::pair{200, 1}, std::pair{195, 5}}) {
    const std::vector<int32_t> consumed(history.begin() + pos, history.begin() + pos + seq_len);
    // The host rule: every distinct token among the last 64 positions (through the consumed ones), once.
    std::vector<float> penalised = logits;
    const int end = pos + seq_len;
    std::set<int32_t> window(history.begin() + end - 64, history.begin() + end);
    for (int32_t t : window) penalised[t] = penalised[t] > 0 ? penalised[t] / 1.3f : penalised[t] * 1.3f;
    DeviceBuffer dl(logits), dc(sizeof(SamplerConfig)), dpos(std::vector<int32_t>{pos}), token(sizeof(int32_t)),
        scratch(SampleScratchBytes(n)), input(consumed);
    std::vector<int32_t> device_history(history.size(), -1);
    std::copy(history.begin(), history.begin() + pos, device_history.begin());  // Only earlier positions.
    DeviceBuffer dh(device_history);
    for (uint64_t seed = 0; seed < 40; ++seed) {
      SamplerConfig cs = c;
      cs.seed = seed;
      ASSERT_EQ(cudaMemcpy(dc.get(), &cs, sizeof(cs), cudaMemcpyHostToDevice), cudaSuccess);
      ASSERT_EQ(LaunchSample({dl.as<float>(), n, static_cast<SamplerConfig*>(dc.get()), dpos.as<int32_t>(),
                              token.as<int32_t>(), scratch.get(), input.as<int32_t>(), seq_len, dh.as<int32_t>()},
                             nullptr),
                cudaSuccess);
      ASSERT_EQ(token.Download<int32_t>()[0], ReferenceDraw(penalised, cs, pos)) << "pos " << pos << " seed " << seed;
    }
    // The consumed tokens are now in the history.
    const auto got = dh.Download<int32_t>();
    for (int i = 0; i < seq_len; ++i) EXPECT_EQ(got[pos + i], consumed[i]);
  }
}

// A batched step's rows: each row draws from its own logits with its own settings, keyed by its own position
// and penalised by its own window, exactly as the lone sampler draws that row; padding rows are left alone.
TEST(SamplerTest, BatchedRowsDrawAsTheLoneSamplerDoes) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(71);
  const int n = 3000, rows = 6, stride = 3;  // A %pos record per row: position, then two table entries.
  const std::vector<int> positions = {0, 17, 5, 900, 33, -1};
  const auto logits = cpu::RandomVector(static_cast<size_t>(rows) * n, rng, 3.0f);
  std::vector<SamplerConfig> configs = {
      {1.0f, 1, 1.0f, 0.0f, 9},                     // Greedy: the top-1 draw.
      {0.8f, 40, 0.95f, 0.05f, 1234},
      {1.3f, 0, 1.0f, 0.0f, 77},
      {0.7f, 5, 1.0f, 0.0f, 5, 1.5f, 4},            // With the repetition penalty over a 4-token window.
      {1.0f, 1, 1.0f, 0.0f, 3, 2.0f, 8},            // Greedy with the penalty.
      {0.9f, 40, 0.9f, 0.0f, 1}};
  std::vector<int32_t> records(rows * stride, 0), windows(rows * kBatchRepeatWindow, 0), lens(rows, 0);
  for (int r = 0; r < rows; ++r) {
    records[r * stride] = positions[r];
    lens[r] = std::min(positions[r] + 1, 8);
    for (int w = 0; w < std::max(lens[r], 0); ++w) {
      // Recent tokens: the row's largest logits, so the penalty changes the outcome.
      windows[r * kBatchRepeatWindow + (positions[r] + 1 - lens[r] + w) % kBatchRepeatWindow] = static_cast<int32_t>(
          std::max_element(logits.begin() + r * n, logits.begin() + (r + 1) * n) - (logits.begin() + r * n)) + w;
    }
  }
  DeviceBuffer dl(logits), dc(configs.size() * sizeof(SamplerConfig)), dpos(records), dw(windows), dlens(lens),
      tokens(std::vector<int32_t>(rows, -7)), scratch(SampleScratchBytes(n) * rows);
  ASSERT_EQ(cudaMemcpy(dc.get(), configs.data(), configs.size() * sizeof(SamplerConfig), cudaMemcpyHostToDevice),
            cudaSuccess);
  SampleParams p{dl.as<float>(), n, static_cast<SamplerConfig*>(dc.get()), dpos.as<int32_t>(), tokens.as<int32_t>(),
                 scratch.get(), nullptr, 1, nullptr};
  p.rows = rows;
  p.pos_stride = stride;
  p.windows = dw.as<int32_t>();
  p.window_lens = dlens.as<int32_t>();
  ASSERT_EQ(LaunchSample(p, nullptr), cudaSuccess);
  const auto got = tokens.Download<int32_t>();
  EXPECT_EQ(got[rows - 1], -7) << "the padding row was written";
  for (int r = 0; r + 1 < rows; ++r) {
    // The lone sampler on the same row: logits, settings, position key; its history holds the window, the
    // consumed token being the window's last.
    const std::vector<float> row(logits.begin() + r * n, logits.begin() + (r + 1) * n);
    std::vector<int32_t> history(positions[r] + 1, -1);
    for (int w = 0; w < lens[r]; ++w) {
      const int q = positions[r] + 1 - lens[r] + w;
      history[q] = windows[r * kBatchRepeatWindow + q % kBatchRepeatWindow];
    }
    DeviceBuffer l1(row), c1(sizeof(SamplerConfig)), p1(std::vector<int32_t>{positions[r]}), t1(sizeof(int32_t)),
        s1(SampleScratchBytes(n)), in1(std::vector<int32_t>{history.back()}), h1(history);
    SamplerConfig c = configs[r];
    c.repeat_last_n = std::min(c.repeat_last_n, lens[r]);  // The lone window looks back no further.
    ASSERT_EQ(cudaMemcpy(c1.get(), &c, sizeof(c), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(LaunchSample({l1.as<float>(), n, static_cast<SamplerConfig*>(c1.get()), p1.as<int32_t>(),
                            t1.as<int32_t>(), s1.get(), in1.as<int32_t>(), 1, h1.as<int32_t>()},
                           nullptr),
              cudaSuccess);
    EXPECT_EQ(got[r], t1.Download<int32_t>()[0]) << "row " << r;
  }
  // Row 0 is greedy without a penalty: the argmax.
  EXPECT_EQ(got[0], std::max_element(logits.begin(), logits.begin() + n) - logits.begin());
}

TEST(SamplerTest, PhiloxIsDeterministicAndSpread) {
  // Random123's known answer for Philox4x32-10 with counter and key zero: first word 0x6627e8d5.
  EXPECT_EQ(SampleUniform(0, 0), (0x6627e8d5u >> 8) / 16777216.0f);
  EXPECT_EQ(SampleUniform(1, 2), SampleUniform(1, 2));
  EXPECT_NE(SampleUniform(1, 2), SampleUniform(1, 3));
  EXPECT_NE(SampleUniform(1, 2), SampleUniform(2, 2));
  double mean = 0;
  for (uint32_t i = 0; i < 100000; ++i) mean += SampleUniform(7, i) / 100000;
  EXPECT_NEAR(mean, 0.5, 0.005);  // 5 standard errors.
}

}  // namespace
}  // namespace ggrt::cuda
