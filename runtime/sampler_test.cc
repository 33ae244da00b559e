#include "runtime/sampler.h"

#include <map>
#include <set>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

TEST(SamplerTest, GreedyTakesTheMaximum) {
  Sampler s({.temperature = 0.0f});
  const std::vector<float> logits = {0.1f, 3.0f, -1.0f, 2.9f};
  EXPECT_EQ(s.Sample(logits), 1);
  // The first of equal maxima, with or without a penalty (a penalty of 1 skips the candidate list).
  const std::vector<float> ties = {-2.0f, 5.0f, 1.0f, 5.0f, 5.0f};
  EXPECT_EQ(s.Sample(ties), 1);
  Sampler penalised({.temperature = 0.0f, .repeat_penalty = 1.5f});
  EXPECT_EQ(penalised.Sample(ties), 1);
  penalised.Accept(1);
  EXPECT_EQ(penalised.Sample(ties), 3);  // 5 / 1.5 for the recent token.
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDiffers) {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[i] = static_cast<float>(i % 7) * 0.3f;
  auto run = [&](uint64_t seed) {
    Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.Sample(logits));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(SamplerTest, TopKTopPAndMinPRestrictTheDraw) {
  const std::vector<float> logits = {5.0f, 4.9f, 4.8f, 0.0f, -3.0f};
  std::map<std::string, std::set<int32_t>> seen;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Sampler k2({.temperature = 1.0f, .top_k = 2, .top_p = 1.0f, .min_p = 0.0f, .seed = seed});
    seen["k2"].insert(k2.Sample(logits));
    Sampler p({.temperature = 1.0f, .top_k = 0, .top_p = 0.5f, .min_p = 0.0f, .seed = seed});
    seen["p"].insert(p.Sample(logits));
    Sampler m({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.5f, .seed = seed});
    seen["m"].insert(m.Sample(logits));
  }
  EXPECT_EQ(seen["k2"], (std::set<int32_t>{0, 1}));
  EXPECT_EQ(seen["p"], (std::set<int32_t>{0, 1}));  // p0 ~ 0.35: two tokens reach 0.5.
  EXPECT_EQ(seen["m"], (std::set<int32_t>{0, 1, 2}));
}

TEST(SamplerTest, RepetitionPenaltyDemotesRecentTokens) {
  Sampler s({.temperature = 0.0f, .repeat_penalty = 2.0f});
  const std::vector<float> logits = {2.0f, 1.5f, -1.0f};
  EXPECT_EQ(s.Sample(logits), 0);
  s.Accept(0);
  s.Accept(0);
  EXPECT_EQ(s.Sample(logits), 1);  // 2.0 / 2 = 1.0 < 1.5
}

}  // namespace
}  // namespace ggrt
