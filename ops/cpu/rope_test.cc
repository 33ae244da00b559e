#include "ops/cpu/rope.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/test_util.h"
#include "ops/kv_pages.h"

namespace ggrt::cpu {
namespace {

TEST(RopeTest, PositionZeroIsIdentityAndPairsRotate) {
  std::vector<float> x = {1, 0, 0, 1, 5, 6};  // One head of 6 dims, 4 rotated.
  const RopeParams p{10000.0f, 4, 6, false};
  std::vector<float> y = x;
  Rope(p, y.data(), 1, 1, 0);
  EXPECT_EQ(y, x);
  Rope(p, y.data(), 1, 1, 3);
  // Pair 0 (dims 0,1) turns by 3 rad; pair 1 (dims 2,3) by 3 * 10000^(-1/2); dims 4,5 pass through.
  EXPECT_NEAR(y[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(y[1], std::sin(3.0), 1e-6);
  EXPECT_NEAR(y[2], -std::sin(0.03), 1e-6);
  EXPECT_NEAR(y[3], std::cos(0.03), 1e-6);
  EXPECT_EQ(y[4], 5);
  EXPECT_EQ(y[5], 6);
}

TEST(RopeTest, FrequencyScaleAndFactorsDivideTheAngle) {
  // Pair 0 at position 3 with freq_scale 0.5 turns by 1.5 rad; pair 1 with factor 4 by 3 * 0.01 * 0.5 / 4.
  const float factors[] = {1.0f, 4.0f};
  const RopeParams p{10000.0f, 4, 4, false, 0.5f, factors};
  std::vector<float> y = {1, 0, 1, 0};
  Rope(p, y.data(), 1, 1, 3);
  EXPECT_NEAR(y[0], std::cos(1.5), 1e-6);
  EXPECT_NEAR(y[1], std::sin(1.5), 1e-6);
  EXPECT_NEAR(y[2], std::cos(0.00375), 1e-6);
  EXPECT_NEAR(y[3], std::sin(0.00375), 1e-6);
}

TEST(RopeTest, NeoxIsNormalRopeOnPermutedDims) {
  std::mt19937 rng(4);
  const int d = 8, heads = 3;
  auto x = RandomVector(2 * heads * d, rng);
  // NeoX pairs (i, i+4) are normal pairs (2i, 2i+1) after interleaving the two halves of each head.
  std::vector<float> interleaved(x.size());
  for (int r = 0; r < 2 * heads; ++r) {
    for (int i = 0; i < d / 2; ++i) {
      interleaved[r * d + 2 * i] = x[r * d + i];
      interleaved[r * d + 2 * i + 1] = x[r * d + i + d / 2];
    }
  }
  Rope({1e6f, d, d, true}, x.data(), 2, heads, 7);
  Rope({1e6f, d, d, false}, interleaved.data(), 2, heads, 7);
  for (int r = 0; r < 2 * heads; ++r) {
    for (int i = 0; i < d / 2; ++i) {
      EXPECT_EQ(x[r * d + i], interleaved[r * d + 2 * i]);
      EXPECT_EQ(x[r * d + i + d / 2], interleaved[r * d + 2 * i + 1]);
    }
  }
}

TEST(RopeTest, FusedBiasRopeKvMatchesUnfused) {
  std::mt19937 rng(5);
  const int rows = 3, hq = 4, hkv = 2, d = 8, ctx = 16, pos = 5;
  const RopeParams rope{10000.0f, d, d, true};
  auto q = RandomVector(rows * hq * d, rng), k = RandomVector(rows * hkv * d, rng),
       v = RandomVector(rows * hkv * d, rng);
  auto bq = RandomVector(hq * d, rng, 30), bk = RandomVector(hkv * d, rng, 30), bv = RandomVector(hkv * d, rng);
  std::vector<float> q_out(q.size()), kc(ctx * hkv * d, -1), vc(ctx * hkv * d, -1);
  BiasRopeKv({rope, rows, hq, hkv, pos, nullptr, false}, q.data(), k.data(), v.data(), bq.data(), bk.data(), bv.data(),
             q_out.data(), kc.data(), vc.data());
  std::vector<float> rq(q.size()), rk(k.size()), rv(v.size()), rkc(kc.size(), -1), rvc(vc.size(), -1);
  AddBias(q.data(), bq.data(), rows, hq * d, rq.data());
  AddBias(k.data(), bk.data(), rows, hkv * d, rk.data());
  AddBias(v.data(), bv.data(), rows, hkv * d, rv.data());
  Rope(rope, rq.data(), rows, hq, pos);
  Rope(rope, rk.data(), rows, hkv, pos);
  KvWrite(rk.data(), rows, hkv * d, pos, nullptr, false, rkc.data());
  KvWrite(rv.data(), rows, hkv * d, pos, nullptr, false, rvc.data());
  EXPECT_EQ(q_out, rq);
  EXPECT_EQ(kc, rkc);
  EXPECT_EQ(vc, rvc);
  EXPECT_EQ(kc[(pos - 1) * hkv * d], -1) << "rows before pos are untouched";
}

// Rows go to the pages the block table names; an f16 cache holds half-precision values.
TEST(RopeTest, KvWriteFollowsTheBlockTableAndRoundsForF16) {
  const int cols = 2, pos = 30, rows = 4;  // Positions 30..33 straddle pages 0 and 1.
  const int32_t table[] = {2, 0, 1};
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 1.0001f};
  std::vector<float> cache(3 * kKvPageSize * cols, -1);
  KvWrite(x.data(), rows, cols, pos, table, /*f16=*/true, cache.data());
  auto row = [&](int slot) { return std::vector<float>(cache.begin() + slot * cols, cache.begin() + slot * cols + 2); };
  EXPECT_EQ(row(2 * kKvPageSize + 30), (std::vector<float>{1, 2}));
  EXPECT_EQ(row(2 * kKvPageSize + 31), (std::vector<float>{3, 4}));
  EXPECT_EQ(row(0), (std::vector<float>{5, 6}));
  EXPECT_EQ(row(1), (std::vector<float>{7, 1.0f}));  // 1.0001 is 1 in half precision.
  EXPECT_EQ(row(kKvPageSize), (std::vector<float>{-1, -1}));
}

}  // namespace
}  // namespace ggrt::cpu
