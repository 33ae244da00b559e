#include "ops/cuda/rope.h"

#include <random>

#include "ops/cpu/rope.h"
#include "ops/cpu/test_util.h"
#include "ops/cuda/test_util.h"
#include "ops/kv_pages.h"

namespace ggrt::cuda {
namespace {

TEST(RopeTest, FusedBiasRopeKvMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(41);
  struct Case {
    int q_heads, kv_heads, head_dim, dims, rows, pos;
    bool neox, bias;
  };
  const Case cases[] = {{14, 2, 64, 64, 1, 30000, true, true}, {8, 4, 8, 8, 5, 3, false, false},
                        {4, 4, 128, 64, 3, 100, true, true}, {14, 2, 64, 64, 7, 0, false, true}};
  for (const Case& c : cases) {
    const int ctx = c.pos + c.rows + 2, qw = c.q_heads * c.head_dim, kw = c.kv_heads * c.head_dim;
    const auto q = cpu::RandomVector(c.rows * qw, rng), k = cpu::RandomVector(c.rows * kw, rng),
               v = cpu::RandomVector(c.rows * kw, rng);
    const TypedWeights bq = MakeWeights(cpu::RandomVector(qw, rng, 40), WeightType::kF32);
    const TypedWeights bk = MakeWeights(cpu::RandomVector(kw, rng, 40), WeightType::kF32);
    const TypedWeights bv = MakeWeights(cpu::RandomVector(kw, rng, 40), WeightType::kF32);
    std::vector<float> ref_q(q.size()), ref_k(static_cast<size_t>(ctx) * kw), ref_v(ref_k.size());
    const cpu::RopeParams rope{1e6f, c.dims, c.head_dim, c.neox};
    cpu::BiasRopeKv({rope, c.rows, c.q_heads, c.kv_heads, c.pos}, q.data(), k.data(), v.data(),
                    c.bias ? bq.values.data() : nullptr, c.bias ? bk.values.data() : nullptr,
                    c.bias ? bv.values.data() : nullptr, ref_q.data(), ref_k.data(), ref_v.data());
    DeviceBuffer dq(q), dk(k), dv(v), dbq(bq.bytes), dbk(bk.bytes), dbv(bv.bytes), dpos(std::vector<int32_t>{c.pos});
    DeviceBuffer q_out(q.size() * 4), kc(ref_k.size() * 4), vc(ref_v.size() * 4);
    const RopeShape shape{1e6f, c.dims, c.head_dim, c.neox};
    BiasRopeKvParams p{shape, MakeRopeTable(shape),
                       dq.as<float>(), dk.as<float>(), dv.as<float>(),
                       c.bias ? dbq.get() : nullptr, c.bias ? dbk.get() : nullptr, c.bias ? dbv.get() : nullptr,
                       WeightType::kF32, c.rows, c.q_heads, c.kv_heads, dpos.as<int32_t>(),
                       q_out.as<float>(), kc.as<float>(), vc.as<float>()};
    ASSERT_EQ(LaunchBiasRopeKv(p, nullptr), cudaSuccess);
    EXPECT_LT(RelativeError(q_out.Download<float>(), ref_q), 1e-6) << c.pos;
    // Only rows pos..pos+rows-1 are written; the rest stays poisoned.
    const auto got_k = kc.Download<float>(), got_v = vc.Download<float>();
    for (int t = 0; t < ctx; ++t) {
      const bool written = t >= c.pos && t < c.pos + c.rows;
      for (int i = 0; i < kw; ++i) {
        const size_t at = static_cast<size_t>(t) * kw + i;
        if (!written) {
          ASSERT_TRUE(std::isnan(got_k[at]) && std::isnan(got_v[at])) << "row " << t << " written";
          continue;
        }
        ASSERT_NEAR(got_k[at], ref_k[at], 1e-5f * (1 + std::abs(ref_k[at]))) << t << "," << i;
        ASSERT_EQ(got_v[at], ref_v[at]);
      }
    }
  }
}

TEST(RopeTest, StandaloneRopeAndKvWrite) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(42);
  const int rows = 4, heads = 3, hd = 16, pos = 9;
  auto x = cpu::RandomVector(rows * heads * hd, rng);
  std::vector<float> ref = x;
  cpu::Rope({10000.0f, 16, hd, false}, ref.data(), rows, heads, pos);
  DeviceBuffer dx(x), out(x.size() * 4), dpos(std::vector<int32_t>{pos});
  const RopeShape shape{10000.0f, 16, hd, false};
  ASSERT_EQ(LaunchRope({shape, MakeRopeTable(shape), dx.as<float>(), out.as<float>(), rows, heads, dpos.as<int32_t>()},
                       nullptr),
            cudaSuccess);
  EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-6);
  // Llama 3 frequency divisors and linear scaling, at a long position.
  const std::vector<float> factors = {1, 1, 2, 8, 8, 8, 8, 8};
  std::vector<float> scaled = x;
  cpu::Rope({500000.0f, 16, hd, false, 0.25f, factors.data()}, scaled.data(), rows, heads, 20000);
  DeviceBuffer far_pos(std::vector<int32_t>{20000});
  ASSERT_EQ(LaunchRope({shape, MakeRopeTable({500000.0f, 16, hd, false}, 0.25f, factors.data()), dx.as<float>(),
                        out.as<float>(), rows, heads, far_pos.as<int32_t>()},
                       nullptr),
            cudaSuccess);
  EXPECT_LT(RelativeError(out.Download<float>(), scaled), 1e-5);
  // Into an f16 pool through a block table: each row lands in its page, rounded to half precision.
  {
    const int width = heads * hd, pages = 2;
    const std::vector<int32_t> table = {1, 0};
    DeviceBuffer pool(pages * kKvPageSize * width * 2), dtable(table), at(std::vector<int32_t>{30});
    ASSERT_EQ(cudaMemset(pool.get(), 0, pages * kKvPageSize * width * 2), cudaSuccess);
    ASSERT_EQ(LaunchKvWrite({dx.as<float>(), rows, width, at.as<int32_t>(), pool.get(), true, dtable.as<int32_t>()},
                            nullptr),
              cudaSuccess);
    const auto halves = pool.Download<uint16_t>();
    for (int s = 0; s < rows; ++s) {
      const int64_t slot = KvSlot(table.data(), 30 + s);
      for (int i = 0; i < width; ++i) {
        ASSERT_EQ(halves[slot * width + i], FloatToFp16(x[s * width + i])) << "row " << s << " dim " << i;
      }
    }
  }
  DeviceBuffer cache((pos + rows) * heads * hd * 4);
  ASSERT_EQ(LaunchKvWrite({dx.as<float>(), rows, heads * hd, dpos.as<int32_t>(), cache.as<float>()}, nullptr),
            cudaSuccess);
  const auto got = cache.Download<float>();
  EXPECT_EQ(std::vector<float>(got.begin() + pos * heads * hd, got.end()), x);
}

}  // namespace
}  // namespace ggrt::cuda
