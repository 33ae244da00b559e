#include "ops/cpu/attention.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "ops/cpu/test_util.h"
#include "ops/kv_pages.h"

namespace ggrt::cpu {
namespace {

TEST(AttentionTest, FirstPositionReturnsItsValueWithGqaMapping) {
  std::mt19937 rng(6);
  const int heads = 4, kv_heads = 2, d = 8;
  auto q = RandomVector(heads * d, rng), kc = RandomVector(4 * kv_heads * d, rng),
       vc = RandomVector(4 * kv_heads * d, rng);
  std::vector<float> out(heads * d);
  Attention({1, heads, kv_heads, d, 0, 0.35f}, q.data(), kc.data(), vc.data(), out.data());
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < d; ++i) EXPECT_FLOAT_EQ(out[h * d + i], vc[(h / 2) * d + i]);
  }
}

TEST(AttentionTest, KnownTwoPositionSoftmax) {
  // One head of dim 1: scores q*k = {0, 1} * scale 1 -> weights {1, e} / (1 + e).
  const float q[] = {1}, kc[] = {0, 1}, vc[] = {10, 20};
  float out[1];
  Attention({1, 1, 1, 1, 1, 1.0f}, q, kc, vc, out);
  const double e = std::exp(1.0);
  EXPECT_NEAR(out[0], (10 + 20 * e) / (1 + e), 1e-5);
}

TEST(AttentionTest, SoftcapBendsScoresAndWindowDropsOldPositions) {
  // One head of dim 1, q = 1, keys {0, 1, 4}, scale 1. Softcap 2: scores 2 tanh({0, .5, 2}).
  const float q[] = {1}, kc[] = {0, 1, 4}, vc[] = {10, 20, 30};
  float out[1];
  Attention({1, 1, 1, 1, 2, 1.0f, 2.0f, 0}, q, kc, vc, out);
  const double w[] = {1.0, std::exp(2 * std::tanh(0.5)), std::exp(2 * std::tanh(2.0))};
  EXPECT_NEAR(out[0], (10 * w[0] + 20 * w[1] + 30 * w[2]) / (w[0] + w[1] + w[2]), 1e-5);
  // Window 2 at position 2: positions 1 and 2 only.
  Attention({1, 1, 1, 1, 2, 1.0f, 0.0f, 2}, q, kc, vc, out);
  const double e1 = std::exp(1.0), e4 = std::exp(4.0);
  EXPECT_NEAR(out[0], (20 * e1 + 30 * e4) / (e1 + e4), 1e-5);
  // Window 1: only the newest position.
  Attention({1, 1, 1, 1, 2, 1.0f, 0.0f, 1}, q, kc, vc, out);
  EXPECT_FLOAT_EQ(out[0], 30);
}

TEST(AttentionTest, CausalPrefillRowsMatchOneByOneAndIgnoreTheFuture) {
  std::mt19937 rng(7);
  const int rows = 5, heads = 2, kv_heads = 1, d = 16, ctx = 8, pos = 2;
  auto q = RandomVector(rows * heads * d, rng), kc = RandomVector(ctx * kv_heads * d, rng),
       vc = RandomVector(ctx * kv_heads * d, rng);
  std::vector<float> all(rows * heads * d);
  Attention({rows, heads, kv_heads, d, pos, 0.25f}, q.data(), kc.data(), vc.data(), all.data());
  // Rows past pos + rows - 1 must not matter: poison them.
  for (int i = (pos + rows) * d; i < ctx * d; ++i) kc[i] = vc[i] = NAN;
  for (int s = 0; s < rows; ++s) {
    std::vector<float> one(heads * d);
    Attention({1, heads, kv_heads, d, pos + s, 0.25f}, q.data() + s * heads * d, kc.data(), vc.data(), one.data());
    for (int i = 0; i < heads * d; ++i) EXPECT_FLOAT_EQ(one[i], all[s * heads * d + i]) << s;
  }
}

// Attention through a block table equals attention over the same positions laid out in order.
TEST(AttentionTest, PagedCacheMatchesContiguous) {
  std::mt19937 rng(8);
  const int heads = 4, kv_heads = 2, d = 8, kvd = kv_heads * d, pages = 3, pos = 70;
  auto q = RandomVector(2 * heads * d, rng), kc = RandomVector(pages * kKvPageSize * kvd, rng),
       vc = RandomVector(pages * kKvPageSize * kvd, rng);
  const int32_t table[] = {2, 0, 1};
  std::vector<float> paged_k(kc.size()), paged_v(vc.size());
  for (int t = 0; t < pages * kKvPageSize; ++t) {
    for (int c = 0; c < kvd; ++c) {
      paged_k[KvSlot(table, t) * kvd + c] = kc[t * kvd + c];
      paged_v[KvSlot(table, t) * kvd + c] = vc[t * kvd + c];
    }
  }
  std::vector<float> want(q.size()), got(q.size());
  Attention({2, heads, kv_heads, d, pos, 0.3f}, q.data(), kc.data(), vc.data(), want.data());
  AttentionParams p{2, heads, kv_heads, d, pos, 0.3f};
  p.block_table = table;
  Attention(p, q.data(), paged_k.data(), paged_v.data(), got.data());
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace ggrt::cpu
