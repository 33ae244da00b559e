#include "ops/cuda/attention.h"
#include "ops/cuda/flash_attention.h"

#include <algorithm>
#include <random>

#include "ops/cpu/attention.h"
#include "ops/cpu/rope.h"
#include "ops/cpu/test_util.h"
#include "ops/cuda/test_util.h"
#include "ops/kv_pages.h"

namespace ggrt::cuda {
namespace {

TEST(AttentionTest, SplitAttentionMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(51);
  struct Case {
    int rows, heads, kv_heads, head_dim, pos, ctx, splits;
    float softcap = 0.0f;  // Gemma 2's soft-capped scores and sliding windows.
    int window = 0;
  };
  const Case cases[] = {{1, 14, 2, 64, 0, 64, 8},     {1, 14, 2, 64, 127, 512, 38},  {1, 8, 4, 8, 200, 256, 8},
                        {7, 14, 2, 64, 20, 64, 4},    {33, 12, 2, 128, 0, 64, 2},    {1, 14, 2, 64, 4095, 4096, 38},
                        {3, 4, 1, 96, 10, 32, 64},    {1, 8, 1, 256, 1000, 1024, 16}, {1, 16, 4, 128, 2000, 2048, 20},
                        {1, 14, 2, 64, 16383, 16384, 38},
                        {7, 14, 2, 64, 20, 64, 4, 0.5f, 8},          {1, 8, 4, 256, 1000, 1024, 16, 2.0f, 300},
                        {33, 8, 4, 256, 100, 256, 4, 1.0f, 64},       {1, 14, 2, 64, 4095, 4096, 38, 0.0f, 4096},
                        {1, 14, 2, 64, 4095, 4096, 38, 0.0f, 1},      {5, 4, 2, 128, 3000, 4096, 32, 0.0f, 129}};
  for (const Case& c : cases) {
    const int kw = c.kv_heads * c.head_dim;
    const auto q = cpu::RandomVector(c.rows * c.heads * c.head_dim, rng);
    const auto kc = cpu::RandomVector(static_cast<size_t>(c.ctx) * kw, rng);
    const auto vc = cpu::RandomVector(static_cast<size_t>(c.ctx) * kw, rng);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> ref(q.size());
    cpu::Attention({c.rows, c.heads, c.kv_heads, c.head_dim, c.pos, scale, c.softcap, c.window}, q.data(), kc.data(),
                   vc.data(), ref.data());
    DeviceBuffer dq(q), dk(kc), dv(vc), out(q.size() * 4), dpos(std::vector<int32_t>{c.pos}),
        scratch(AttentionScratchBytes(c.rows, c.heads, c.head_dim, c.splits));
    ASSERT_EQ(cudaMemset(scratch.get(), 0, AttentionScratchBytes(c.rows, c.heads, c.head_dim, c.splits)), cudaSuccess);
    AttentionParams p{dq.as<float>(), dk.as<float>(), dv.as<float>(), out.as<float>(), c.rows, c.heads,
                      c.kv_heads, c.head_dim, scale, dpos.as<int32_t>(), c.splits, scratch.get()};
    p.softcap = c.softcap;
    p.window = c.window;
    ASSERT_EQ(LaunchAttention(p, nullptr), cudaSuccess);
    EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-5) << "rows=" << c.rows << " pos=" << c.pos
                                                              << " splits=" << c.splits << " window=" << c.window;
    // The counters are left at zero: a second launch on the same scratch (as in graph replay) agrees.
    out.Poison();
    ASSERT_EQ(LaunchAttention(p, nullptr), cudaSuccess);
    EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-5) << "second launch";
  }
}

// A cache [positions, width] laid into pages through the executors' block table (LoneSequenceBlockTable), in
// f16: the host values (rounded as the cache holds them), the device pool and the table.
struct PagedF16Cache {
  std::vector<int32_t> table;
  std::vector<float> pool;  // [pages * kKvPageSize, width], rounded to f16
  std::vector<uint16_t> halves;
};
PagedF16Cache PageAndRound(const std::vector<float>& cache, int width) {
  const int positions = static_cast<int>(cache.size() / width);
  const int pages = static_cast<int>(KvPages(positions));
  PagedF16Cache c;
  c.table = LoneSequenceBlockTable(pages);
  c.pool.assign(static_cast<size_t>(pages) * kKvPageSize * width, 0.0f);
  c.halves.assign(c.pool.size(), 0);
  for (int t = 0; t < positions; ++t) {
    for (int i = 0; i < width; ++i) {
      const int64_t at = KvSlot(c.table.data(), t) * width + i;
      c.halves[at] = FloatToFp16(cache[static_cast<size_t>(t) * width + i]);
      c.pool[at] = Fp16ToFloat(c.halves[at]);
    }
  }
  return c;
}

// The same cases over an f16 cache in non-contiguous pages.
TEST(AttentionTest, PagedF16CacheMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(53);
  struct Case {
    int rows, heads, kv_heads, head_dim, pos, ctx, splits;
    float softcap = 0.0f;
    int window = 0;
  };
  const Case cases[] = {{1, 14, 2, 64, 0, 64, 8},          {1, 14, 2, 64, 127, 512, 38},
                        {7, 14, 2, 64, 20, 64, 4},          {33, 12, 2, 128, 0, 64, 2},
                        {1, 8, 1, 256, 1000, 1024, 16},     {1, 16, 4, 128, 2000, 2048, 20},
                        {1, 14, 2, 64, 16383, 16384, 38},   {1, 8, 4, 256, 1000, 1024, 16, 2.0f, 300},
                        {5, 4, 2, 96, 3000, 4096, 32, 0.0f, 129}, {3, 4, 1, 8, 40, 70, 4},
                        {1, 14, 2, 64, 4095, 4096, 32},     {1, 32, 2, 128, 3000, 4096, 16},
                        {1, 4, 4, 64, 100, 128, 2},         {1, 14, 2, 64, 5000, 8192, 32, 1.5f, 700},
                        {1, 14, 2, 64, 40, 64, 128}};
  for (const Case& c : cases) {
    const int kw = c.kv_heads * c.head_dim;
    const auto q = cpu::RandomVector(c.rows * c.heads * c.head_dim, rng);
    const PagedF16Cache k = PageAndRound(cpu::RandomVector(static_cast<size_t>(c.ctx) * kw, rng), kw);
    const PagedF16Cache v = PageAndRound(cpu::RandomVector(static_cast<size_t>(c.ctx) * kw, rng), kw);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> ref(q.size());
    cpu::Attention({c.rows, c.heads, c.kv_heads, c.head_dim, c.pos, scale, c.softcap, c.window, k.table.data()},
                   q.data(), k.pool.data(), v.pool.data(), ref.data());
    DeviceBuffer dq(q), dk(k.halves), dv(v.halves), dtable(k.table), out(q.size() * 4),
        dpos(std::vector<int32_t>{c.pos}), scratch(AttentionScratchBytes(c.rows, c.heads, c.head_dim, c.splits));
    ASSERT_EQ(cudaMemset(scratch.get(), 0, AttentionScratchBytes(c.rows, c.heads, c.head_dim, c.splits)), cudaSuccess);
    AttentionParams p{dq.as<float>(), dk.get(), dv.get(), out.as<float>(), c.rows, c.heads, c.kv_heads, c.head_dim,
                      scale, dpos.as<int32_t>(), c.splits, scratch.get()};
    p.softcap = c.softcap;
    p.window = c.window;
    p.f16_cache = true;
    p.block_table = dtable.as<int32_t>();
    // Several rows at head sizes 64/128/256 (prefill) and one row at 64/128 (decode) take tensor-core kernels:
    // f16 q and probabilities. Each decode case runs on both decode kernels.
    for (bool tensor_cores : {true, false}) {
      p.tensor_cores = tensor_cores;
      const bool mma = FlashAttentionSupports(p) ||
                       (tensor_cores && TensorCoreDecodeSupported(c.heads, c.kv_heads, c.head_dim, true));
      out.Poison();
      ASSERT_EQ(LaunchAttention(p, nullptr), cudaSuccess);
      EXPECT_LT(RelativeError(out.Download<float>(), ref), mma ? 2e-3 : 1e-5)
          << "rows=" << c.rows << " pos=" << c.pos << " heads=" << c.heads << "/" << c.kv_heads
          << " head_dim=" << c.head_dim << " tensor cores=" << tensor_cores;
    }
  }
}

// Prefill over f16 pages on tensor cores (flash attention): from position 0 and after a cached prefix, with
// GQA groups, head sizes 64/128/256, soft-capping and sliding windows. f16 q and probabilities bound the
// error at about 1e-3.
TEST(AttentionTest, FlashPrefillMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(54);
  struct Case {
    int rows, heads, kv_heads, head_dim, pos;
    float softcap = 0.0f;
    int window = 0;
  };
  const Case cases[] = {{17, 14, 2, 64, 0},        {17, 14, 2, 64, 300},      {1000, 4, 2, 128, 0},
                        {1000, 4, 2, 128, 77},     {4097, 2, 1, 64, 0},       {4097, 2, 1, 128, 31},
                        {40, 8, 4, 256, 5, 50.0f, 16}, {300, 6, 2, 128, 100, 0.0f, 64}, {2, 2, 2, 64, 0}};
  for (const Case& c : cases) {
    ASSERT_TRUE(FlashAttentionSupports({nullptr, nullptr, nullptr, nullptr, c.rows, c.heads, c.kv_heads,
                                        c.head_dim, 1.0f, nullptr, 1, nullptr, {}, 0.0f, 0, true}));
    const int kw = c.kv_heads * c.head_dim, ctx = c.pos + c.rows;
    const auto q = cpu::RandomVector(c.rows * c.heads * c.head_dim, rng);
    const PagedF16Cache k = PageAndRound(cpu::RandomVector(static_cast<size_t>(ctx) * kw, rng), kw);
    const PagedF16Cache v = PageAndRound(cpu::RandomVector(static_cast<size_t>(ctx) * kw, rng), kw);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> ref(q.size());
    cpu::Attention({c.rows, c.heads, c.kv_heads, c.head_dim, c.pos, scale, c.softcap, c.window, k.table.data()},
                   q.data(), k.pool.data(), v.pool.data(), ref.data());
    DeviceBuffer dq(q), dk(k.halves), dv(v.halves), dtable(k.table), out(q.size() * 4),
        dpos(std::vector<int32_t>{c.pos});
    out.Poison();
    AttentionParams p{dq.as<float>(), dk.get(), dv.get(), out.as<float>(), c.rows, c.heads, c.kv_heads, c.head_dim,
                      scale, dpos.as<int32_t>(), 1, nullptr};
    p.softcap = c.softcap;
    p.window = c.window;
    p.f16_cache = true;
    p.block_table = dtable.as<int32_t>();
    ASSERT_EQ(LaunchAttention(p, nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LT(RelativeError(out.Download<float>(), ref), 2e-3)
        << "rows=" << c.rows << " pos=" << c.pos << " heads=" << c.heads << "/" << c.kv_heads
        << " head_dim=" << c.head_dim << " window=" << c.window;
  }
}

TEST(AttentionTest, FusedRopeAttentionMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(52);
  struct Case {
    int heads, kv_heads, head_dim, dims, pos, ctx, splits;
    bool neox, bias;
    float freq_scale = 1.0f;  // Linear RoPE scaling,
    bool factors = false;     // Llama 3's per-pair frequency divisors,
    float softcap = 0.0f;     // and Gemma 2's soft-capping and sliding window.
    int window = 0;
  };
  const Case cases[] = {{14, 2, 64, 64, 0, 64, 8, true, true},       {14, 2, 64, 64, 127, 512, 38, true, true},
                        {14, 2, 64, 64, 30000, 30016, 38, true, true}, {8, 4, 8, 8, 200, 256, 8, false, false},
                        {4, 4, 128, 64, 33, 64, 4, true, true},        {3, 1, 96, 32, 17, 40, 64, false, true},
                        {32, 8, 128, 128, 5000, 8192, 38, false, false, 0.25f, true},
                        {8, 4, 256, 256, 700, 1024, 16, true, false, 1.0f, false, 1.5f, 300},
                        {8, 4, 256, 256, 0, 64, 4, true, false, 1.0f, false, 1.5f, 16}};
  for (const Case& c : cases) {
    const int qw = c.heads * c.head_dim, kw = c.kv_heads * c.head_dim;
    const auto q = cpu::RandomVector(qw, rng), k = cpu::RandomVector(kw, rng), v = cpu::RandomVector(kw, rng);
    const auto bq = cpu::RandomVector(qw, rng, 20), bk = cpu::RandomVector(kw, rng, 20),
               bv = cpu::RandomVector(kw, rng, 20);
    // Earlier positions hold data; the rest is poisoned so a read past pos or an unwritten row shows.
    std::vector<float> kc(static_cast<size_t>(c.ctx) * kw, NAN), vc(kc.size(), NAN);
    const auto history_k = cpu::RandomVector(static_cast<size_t>(c.pos) * kw, rng);
    const auto history_v = cpu::RandomVector(static_cast<size_t>(c.pos) * kw, rng);
    std::copy(history_k.begin(), history_k.end(), kc.begin());
    std::copy(history_v.begin(), history_v.end(), vc.begin());
    std::vector<float> ref_kc = kc, ref_vc = vc, q_rot(qw), ref(qw);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> factors(c.dims / 2);
    for (int i = 0; i < c.dims / 2; ++i) factors[i] = 1.0f + (i % 7);
    const float* freq_factors = c.factors ? factors.data() : nullptr;
    cpu::BiasRopeKv({{1e6f, c.dims, c.head_dim, c.neox, c.freq_scale, freq_factors}, 1, c.heads, c.kv_heads, c.pos},
                    q.data(), k.data(), v.data(), c.bias ? bq.data() : nullptr, c.bias ? bk.data() : nullptr,
                    c.bias ? bv.data() : nullptr, q_rot.data(), ref_kc.data(), ref_vc.data());
    cpu::Attention({1, c.heads, c.kv_heads, c.head_dim, c.pos, scale, c.softcap, c.window}, q_rot.data(),
                   ref_kc.data(), ref_vc.data(), ref.data());
    DeviceBuffer dq(q), dk(k), dv(v), dbq(bq), dbk(bk), dbv(bv), dkc(kc), dvc(vc), out(qw * 4),
        dpos(std::vector<int32_t>{c.pos}), scratch(AttentionScratchBytes(1, c.heads, c.head_dim, c.splits));
    ASSERT_EQ(cudaMemset(scratch.get(), 0, AttentionScratchBytes(1, c.heads, c.head_dim, c.splits)), cudaSuccess);
    AttentionParams p{dq.as<float>(), dkc.as<float>(), dvc.as<float>(), out.as<float>(), 1, c.heads, c.kv_heads,
                      c.head_dim, scale, dpos.as<int32_t>(), c.splits, scratch.get()};
    p.softcap = c.softcap;
    p.window = c.window;
    const RopeShape shape{1e6f, c.dims, c.head_dim, c.neox};
    p.rope = {true, dk.as<float>(), dv.as<float>(), c.bias ? dbq.get() : nullptr, c.bias ? dbk.get() : nullptr,
              c.bias ? dbv.get() : nullptr, WeightType::kF32, shape, MakeRopeTable(shape, c.freq_scale, freq_factors)};
    ASSERT_EQ(LaunchAttention(p, nullptr), cudaSuccess);
    EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-5) << "pos=" << c.pos;
    const auto got_k = dkc.Download<float>(), got_v = dvc.Download<float>();
    for (int i = 0; i < kw; ++i) {
      const size_t at = static_cast<size_t>(c.pos) * kw + i;
      ASSERT_NEAR(got_k[at], ref_kc[at], 1e-5f * (1 + std::abs(ref_kc[at]))) << "k cache row pos, " << i;
      ASSERT_EQ(got_v[at], ref_vc[at]) << "v cache row pos, " << i;
    }
    EXPECT_TRUE(std::isnan(got_k[static_cast<size_t>(c.pos + 1) * kw - 1 + kw])) << "row pos + 1 written";
  }
}

// A batched decode step: each row a sequence at its own position with its own pages of one shared f16 pool,
// the last row a padding row (position -1) that nothing may touch. With the RoPE folded in, each row's rotated
// k and biased v land in its own slot.
TEST(AttentionTest, BatchedRowsMatchTheReferencePerSequence) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(55);
  const int heads = 14, kv_heads = 2, head_dim = 64, kw = kv_heads * head_dim, qw = heads * head_dim;
  const std::vector<int> positions = {0, 31, 32, 700, 5, 2000, 64, -1};
  const int rows = static_cast<int>(positions.size()), max_pages = 64, stride = 1 + max_pages;
  // Pool pages dealt out to the rows in a shuffled order.
  int pool_pages = 0;
  for (int p : positions) pool_pages += static_cast<int>(KvPages(p + 1));
  std::vector<int32_t> order(pool_pages);
  for (int i = 0; i < pool_pages; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int32_t> records(static_cast<size_t>(rows) * stride, 0);
  std::vector<std::vector<int32_t>> tables(rows);
  for (int r = 0, next = 0; r < rows; ++r) {
    records[r * stride] = positions[r];
    for (int i = 0; i < KvPages(positions[r] + 1); ++i) tables[r].push_back(order[next++]);
    std::copy(tables[r].begin(), tables[r].end(), records.begin() + r * stride + 1);
  }
  const size_t pool_size = static_cast<size_t>(pool_pages) * kKvPageSize * kw;
  std::vector<float> k_pool(pool_size), v_pool(pool_size);
  std::vector<uint16_t> k_halves(pool_size), v_halves(pool_size);
  for (size_t i = 0; i < pool_size; ++i) {
    k_halves[i] = FloatToFp16(std::uniform_real_distribution<float>(-1, 1)(rng));
    v_halves[i] = FloatToFp16(std::uniform_real_distribution<float>(-1, 1)(rng));
    k_pool[i] = Fp16ToFloat(k_halves[i]);
    v_pool[i] = Fp16ToFloat(v_halves[i]);
  }
  const auto q = cpu::RandomVector(rows * qw, rng), k = cpu::RandomVector(rows * kw, rng),
             v = cpu::RandomVector(rows * kw, rng), bq = cpu::RandomVector(qw, rng), bk = cpu::RandomVector(kw, rng),
             bv = cpu::RandomVector(kw, rng);
  const float scale = 0.125f;
  const RopeShape shape{1e6f, head_dim, head_dim, true};
  for (bool rope : {false, true}) {
    // The reference, sequence by sequence.
    std::vector<float> ref(rows * qw, 0.0f), ref_k = k_pool, ref_v = v_pool, q_rot(qw);
    for (int r = 0; r + 1 < rows; ++r) {
      const float* qr = q.data() + r * qw;
      if (rope) {
        cpu::BiasRopeKv({{1e6f, head_dim, head_dim, true}, 1, heads, kv_heads, positions[r], tables[r].data(), true},
                        qr, k.data() + r * kw, v.data() + r * kw, bq.data(), bk.data(), bv.data(), q_rot.data(),
                        ref_k.data(), ref_v.data());
        qr = q_rot.data();
      }
      cpu::Attention({1, heads, kv_heads, head_dim, positions[r], scale, 0.0f, 0, tables[r].data()}, qr,
                     ref_k.data(), ref_v.data(), ref.data() + r * qw);
    }
    // The CUDA-core kernel with a block per head, then with a block per KV head serving its group of 7
    // (bit-identical results), then the tensor-core kernel (f16 q and probabilities).
    std::vector<float> ungrouped;
    std::vector<uint16_t> ungrouped_k;
    ASSERT_TRUE(AttentionGroupSupported(heads, kv_heads, head_dim));
    struct Variant {
      bool tensor_cores;
      int group;
    };
    for (const Variant variant : {Variant{false, 1}, Variant{false, heads / kv_heads}, Variant{true, 1}}) {
      const int group = variant.group;
      SCOPED_TRACE(::testing::Message() << "group " << group << ", tensor cores " << variant.tensor_cores);
      DeviceBuffer dq(q), dk(k), dv(v), dbq(bq), dbk(bk), dbv(bv), dkc(k_halves), dvc(v_halves), dpos(records),
          out(rows * qw * 4);
      const int splits = ChooseAttentionSplits(2048, heads, kv_heads, head_dim, variant.tensor_cores);
      DeviceBuffer scratch(AttentionScratchBytes(rows, heads, head_dim, splits));
      ASSERT_EQ(cudaMemset(scratch.get(), 0, AttentionScratchBytes(rows, heads, head_dim, splits)), cudaSuccess);
      AttentionParams p{dq.as<float>(), dkc.get(), dvc.get(), out.as<float>(), rows, heads, kv_heads, head_dim, scale,
                        dpos.as<int32_t>(), splits, scratch.get()};
      p.f16_cache = true;
      p.block_table = dpos.as<int32_t>() + 1;
      p.pos_stride = stride;
      p.group = group;
      p.tensor_cores = variant.tensor_cores;
      if (rope) {
        p.rope = {true, dk.as<float>(), dv.as<float>(), dbq.get(), dbk.get(), dbv.get(), WeightType::kF32, shape,
                  MakeRopeTable(shape)};
      }
      EXPECT_FALSE(FlashAttentionSupports(p));  // Rows of different sequences are the decode kernel's.
      ASSERT_EQ(LaunchAttention(p, nullptr), cudaSuccess);
      const auto got = out.Download<float>();
      const std::vector<float> live(got.begin(), got.begin() + (rows - 1) * qw), ref_live(ref.begin(), ref.end() - qw);
      // With the RoPE folded in, the CUDA-core kernel takes the newest position's k and v from registers in f32,
      // while the reference reads them back from its f16 cache.
      EXPECT_LT(RelativeError(live, ref_live), variant.tensor_cores ? 2e-3 : rope ? 1e-3 : 1e-5) << "rope=" << rope;
      for (int i = (rows - 1) * qw; i < rows * qw; ++i) ASSERT_TRUE(std::isnan(got[i])) << "the padding row was written";
      const auto got_k = dkc.Download<uint16_t>(), got_v = dvc.Download<uint16_t>();
      if (rope) {  // Each live row's new k and v, in its own slot, rounded to f16.
        for (int r = 0; r + 1 < rows; ++r) {
          const int64_t slot = KvSlot(tables[r].data(), positions[r]) * kw;
          for (int i = 0; i < kw; ++i) {
            ASSERT_NEAR(Fp16ToFloat(got_k[slot + i]), ref_k[slot + i], 2e-3f * (1 + std::abs(ref_k[slot + i])));
            ASSERT_NEAR(Fp16ToFloat(got_v[slot + i]), ref_v[slot + i], 2e-3f * (1 + std::abs(ref_v[slot + i])));
          }
        }
      }
      if (variant.tensor_cores) continue;
      if (group == 1) {
        ungrouped = live, ungrouped_k = got_k;
      } else {
        EXPECT_EQ(live, ungrouped) << "rope=" << rope;
        EXPECT_EQ(got_k, ungrouped_k) << "rope=" << rope;
      }
    }
    // One of the sequences as the lone decode step runs it (no record stride: the position and the table
    // apart), on the tensor-core kernel.
    const int r = 3;
    DeviceBuffer dq(std::vector<float>(q.begin() + r * qw, q.begin() + (r + 1) * qw)),
        dk(std::vector<float>(k.begin() + r * kw, k.begin() + (r + 1) * kw)),
        dv(std::vector<float>(v.begin() + r * kw, v.begin() + (r + 1) * kw)), dbq(bq), dbk(bk), dbv(bv),
        dkc(k_halves), dvc(v_halves), dpos(std::vector<int32_t>{positions[r]}), dtable(tables[r]), out(qw * 4);
    const int splits = ChooseAttentionSplits(2048, heads, kv_heads, head_dim, true);
    DeviceBuffer scratch(AttentionScratchBytes(1, heads, head_dim, splits));
    ASSERT_EQ(cudaMemset(scratch.get(), 0, AttentionScratchBytes(1, heads, head_dim, splits)), cudaSuccess);
    AttentionParams p{dq.as<float>(), dkc.get(), dvc.get(), out.as<float>(), 1, heads, kv_heads, head_dim, scale,
                      dpos.as<int32_t>(), splits, scratch.get()};
    p.f16_cache = true;
    p.block_table = dtable.as<int32_t>();
    if (rope) {
      p.rope = {true, dk.as<float>(), dv.as<float>(), dbq.get(), dbk.get(), dbv.get(), WeightType::kF32, shape,
                MakeRopeTable(shape)};
    }
    ASSERT_EQ(LaunchAttention(p, nullptr), cudaSuccess);
    const std::vector<float> ref_row(ref.begin() + r * qw, ref.begin() + (r + 1) * qw);
    EXPECT_LT(RelativeError(out.Download<float>(), ref_row), 2e-3) << "lone row, rope=" << rope;
  }
}

TEST(AttentionTest, SplitChoice) {
  // The CUDA-core kernel (f32 caches): a block per head.
  EXPECT_EQ(ChooseAttentionSplits(16, 14, 2, 64, false), 1);
  EXPECT_EQ(ChooseAttentionSplits(128, 14, 2, 64, false), 1);
  EXPECT_EQ(ChooseAttentionSplits(256, 14, 2, 64, false), 2);
  EXPECT_GE(ChooseAttentionSplits(32768, 14, 2, 64, false), 32);
  EXPECT_LE(ChooseAttentionSplits(32768, 14, 2, 64, false), 128);
  EXPECT_LE(ChooseAttentionSplits(32768, 1, 1, 64, false), 128);  // The combine's shared weights hold 128.
  // The tensor-core kernel (f16 caches at head sizes 64 and 128): a block per KV head, splits of 256 or more.
  EXPECT_EQ(ChooseAttentionSplits(128, 14, 2, 64, true), 1);
  EXPECT_EQ(ChooseAttentionSplits(1024, 14, 2, 64, true), 4);
  EXPECT_EQ(ChooseAttentionSplits(32768, 14, 2, 64, true), 16);  // Eight warps a block at head size 64,
  EXPECT_EQ(ChooseAttentionSplits(32768, 32, 2, 128, true), 32);  // four at 128.
  EXPECT_EQ(ChooseAttentionSplits(1024, 14, 2, 256, true), ChooseAttentionSplits(1024, 14, 2, 256, false));
  EXPECT_TRUE(TensorCoreDecodeSupported(14, 2, 64, true));
  EXPECT_TRUE(TensorCoreDecodeSupported(32, 2, 128, true));
  EXPECT_FALSE(TensorCoreDecodeSupported(14, 2, 64, false));
  EXPECT_FALSE(TensorCoreDecodeSupported(34, 2, 128, true));  // 17 heads a group
  EXPECT_FALSE(TensorCoreDecodeSupported(8, 1, 96, true));
}

}  // namespace
}  // namespace ggrt::cuda
