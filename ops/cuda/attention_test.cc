#include "ops/cuda/attention.h"

#include <random>

#include "ops/cpu/attention.h"
#include "ops/cpu/test_util.h"
#include "ops/cuda/test_util.h"

namespace ggrt::cuda {
namespace {

TEST(AttentionTest, SplitAttentionMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(51);
  struct Case {
    int rows, heads, kv_heads, head_dim, pos, ctx, splits;
  };
  const Case cases[] = {{1, 14, 2, 64, 0, 64, 8},     {1, 14, 2, 64, 127, 512, 38},  {1, 8, 4, 8, 200, 256, 8},
                        {7, 14, 2, 64, 20, 64, 4},    {33, 12, 2, 128, 0, 64, 2},    {1, 14, 2, 64, 4095, 4096, 38},
                        {3, 4, 1, 96, 10, 32, 64}};
  for (const Case& c : cases) {
    const int kw = c.kv_heads * c.head_dim;
    const auto q = cpu::RandomVector(c.rows * c.heads * c.head_dim, rng);
    const auto kc = cpu::RandomVector(static_cast<size_t>(c.ctx) * kw, rng);
    const auto vc = cpu::RandomVector(static_cast<size_t>(c.ctx) * kw, rng);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> ref(q.size());
    cpu::Attention({c.rows, c.heads, c.kv_heads, c.head_dim, c.pos, scale}, q.data(), kc.data(), vc.data(), ref.data());
    DeviceBuffer dq(q), dk(kc), dv(vc), out(q.size() * 4), dpos(std::vector<int32_t>{c.pos}),
        scratch(AttentionScratchBytes(c.rows, c.heads, c.head_dim, c.splits));
    ASSERT_EQ(cudaMemset(scratch.get(), 0, AttentionScratchBytes(c.rows, c.heads, c.head_dim, c.splits)), cudaSuccess);
    ASSERT_EQ(LaunchAttention({dq.as<float>(), dk.as<float>(), dv.as<float>(), out.as<float>(), c.rows, c.heads,
                               c.kv_heads, c.head_dim, scale, dpos.as<int32_t>(), c.splits, scratch.get()},
                              nullptr),
              cudaSuccess);
    EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-5)
        << "rows=" << c.rows << " pos=" << c.pos << " splits=" << c.splits;
    // The counters are left at zero: a second launch on the same scratch (as in graph replay) agrees.
    out.Poison();
    ASSERT_EQ(LaunchAttention({dq.as<float>(), dk.as<float>(), dv.as<float>(), out.as<float>(), c.rows, c.heads,
                               c.kv_heads, c.head_dim, scale, dpos.as<int32_t>(), c.splits, scratch.get()},
                              nullptr),
              cudaSuccess);
    EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-5) << "second launch";
  }
}

TEST(AttentionTest, SplitChoice) {
  EXPECT_EQ(ChooseAttentionSplits(16, 14), 1);
  EXPECT_EQ(ChooseAttentionSplits(32, 14), 2);
  EXPECT_GE(ChooseAttentionSplits(32768, 14), 32);
  EXPECT_LE(ChooseAttentionSplits(32768, 14), 64);
}

}  // namespace
}  // namespace ggrt::cuda
