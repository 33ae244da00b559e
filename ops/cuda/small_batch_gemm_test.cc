// The batched decode products against the CPU reference (plain, residual, fused QKV, norm prologue, gate/up SwiGLU;
// f16, bf16 and every GGUF block format; 1 to 256 rows), and the property batched decode relies on: a row's result is
// bit-identical whatever the other rows and however many there are.
#include "ops/cuda/small_batch_gemm.h"

#include <random>

#include "ops/cpu/matmul.h"
#include "ops/cpu/rms_norm.h"
#include "ops/cpu/test_util.h"
#include "ops/cuda/test_util.h"

namespace ggrt::cuda {
namespace {

// x is rounded to the weights' type before the product (f16: 2^-11, bf16: 2^-8 relative per element).
double Bound(WeightType t) { return t == WeightType::kF16 ? 2e-3 : 1.2e-2; }

// Norm weights are never in a block format (GGUF files keep them in f32).
WeightType NormType(WeightType weights) { return IsQuantized(weights) ? WeightType::kF32 : weights; }

struct Case {
  int rows, k;
  std::vector<int> n;
  bool norm = false, residual = false, swiglu = false;
};

class SmallBatchGemmTest : public ::testing::Test {
 protected:
  void SetUp() override { SKIP_WITHOUT_GPU(); }
};

// Runs a case on the device: the outputs, one vector per weight (one with SwiGLU).
std::vector<std::vector<float>> RunOnDevice(const Case& c, WeightType type, const std::vector<float>& x,
                                            const std::vector<TypedWeights>& w, const TypedWeights* g,
                                            const std::vector<float>& residual,
                                            SmallBatchPath path = SmallBatchPath::kAuto) {
  SmallBatchGemmParams p{nullptr, c.rows, c.k, type, static_cast<int>(c.n.size()), {}, {}, {}};
  DeviceBuffer dx(x);
  p.x = dx.as<float>();
  std::vector<std::unique_ptr<DeviceBuffer>> dw, dy;
  const int outputs = c.swiglu ? 1 : static_cast<int>(c.n.size());
  for (size_t i = 0; i < c.n.size(); ++i) {
    dw.push_back(std::make_unique<DeviceBuffer>(w[i]));
    p.w[i] = dw[i]->get();
    p.n[i] = c.n[i];
  }
  for (int i = 0; i < outputs; ++i) {
    dy.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(c.rows) * c.n[i] * 4));
    p.y[i] = dy[i]->as<float>();
  }
  std::unique_ptr<DeviceBuffer> dg, dr;
  if (g != nullptr) {
    dg = std::make_unique<DeviceBuffer>(g->bytes);
    p.norm = {dg->get(), NormType(type), 1e-5f};
  }
  if (c.residual) {
    dr = std::make_unique<DeviceBuffer>(residual);
    p.residual = dr->as<float>();
  }
  p.swiglu = c.swiglu;
  EXPECT_TRUE(SmallBatchGemmSupports(p));
  const int64_t scratch_bytes = std::max<int64_t>(SmallBatchGemmScratchBytes(p, path), 1);
  DeviceBuffer scratch(scratch_bytes);
  EXPECT_EQ(cudaMemset(scratch.get(), 0, scratch_bytes), cudaSuccess);
  p.scratch = scratch.get();
  std::vector<std::vector<float>> out;
  for (int launch = 0; launch < 2; ++launch) {  // The split counters are left reusable (graph replay).
    for (auto& y : dy) y->Poison();
    EXPECT_EQ(LaunchSmallBatchGemm(p, nullptr, path), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<std::vector<float>> got;
    for (auto& y : dy) got.push_back(y->Download<float>());
    if (launch == 1) {
      EXPECT_EQ(got, out) << "a second launch differs";
    }
    out = std::move(got);
  }
  return out;
}

// One case against the CPU reference (from the weights' own values), then a few of its rows alone: exactly
// the rows they were in the batch (alone, a row takes the narrow kernel; `path` may force the wide one on
// the batch).
void CheckCase(const Case& c, WeightType type, double bound, std::mt19937& rng,
               SmallBatchPath path = SmallBatchPath::kAuto) {
  const auto x = cpu::RandomVector(static_cast<size_t>(c.rows) * c.k, rng, c.norm ? 20.0f : 1.0f);
  std::vector<TypedWeights> w;
  for (int n : c.n) w.push_back(MakeWeights(cpu::RandomVector(static_cast<size_t>(n) * c.k, rng, 0.05f), type));
  std::unique_ptr<TypedWeights> g;
  std::vector<float> h = x;
  if (c.norm) {
    g = std::make_unique<TypedWeights>(MakeWeights(cpu::RandomVector(c.k, rng), NormType(type)));
    cpu::RmsNorm(x.data(), g->values.data(), c.rows, c.k, 1e-5f, h.data());
  }
  const auto residual = cpu::RandomVector(static_cast<size_t>(c.rows) * c.n[0], rng);
  std::vector<std::vector<float>> ref;
  if (c.swiglu) {
    ref.emplace_back(static_cast<size_t>(c.rows) * c.n[0]);
    cpu::GateUpSwiglu(h.data(), w[0].values.data(), w[1].values.data(), c.rows, c.k, c.n[0], ref[0].data());
  } else {
    for (size_t i = 0; i < c.n.size(); ++i) {
      ref.emplace_back(static_cast<size_t>(c.rows) * c.n[i]);
      cpu::Matmul(h.data(), w[i].values.data(), c.rows, c.k, c.n[i], ref[i].data());
    }
    if (c.residual) {
      for (size_t i = 0; i < ref[0].size(); ++i) ref[0][i] += residual[i];
    }
  }
  const auto got = RunOnDevice(c, type, x, w, g.get(), residual, path);
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_LT(RelativeError(got[i], ref[i]), bound)
        << TypeName(type) << " rows=" << c.rows << " k=" << c.k << " n=" << c.n[i] << " output " << i;
  }
  // Each of a few rows alone: exactly the row it was in the batch.
  for (int row : {0, c.rows / 2, c.rows - 1}) {
    Case alone = c;
    alone.rows = 1;
    const std::vector<float> x1(x.begin() + static_cast<size_t>(row) * c.k, x.begin() + (row + 1) * c.k);
    const std::vector<float> r1(residual.begin() + static_cast<size_t>(row) * c.n[0],
                                residual.begin() + static_cast<size_t>(row + 1) * c.n[0]);
    const auto single = RunOnDevice(alone, type, x1, w, g.get(), r1);
    for (size_t i = 0; i < single.size(); ++i) {
      const std::vector<float> in_batch(got[i].begin() + static_cast<size_t>(row) * c.n[i],
                                        got[i].begin() + static_cast<size_t>(row + 1) * c.n[i]);
      ASSERT_EQ(single[i], in_batch) << TypeName(type) << " rows=" << c.rows << " row " << row;
    }
  }
}

TEST_F(SmallBatchGemmTest, MatchesReference) {
  std::mt19937 rng(61);
  const Case cases[] = {
      {1, 896, {896}},
      {5, 896, {128}, false, true},
      {64, 4864, {896}, false, true},               // The down projection: k split over blocks.
      {16, 896, {896, 128, 128}, true},             // Fused QKV with the norm prologue.
      {130, 896, {1152}},                            // Two column tiles.
      {33, 896, {4864, 4864}, true, false, true},   // Gate/up SwiGLU with the norm prologue.
      {200, 64, {176, 176}, false, false, true},
      {128, 896, {15200}, true},                     // Logits-like: many row tiles, no split.
      {256, 160, {48}},
      {7, 12800, {64}, true},                        // A long k: staged in parts.
      // Qwen2.5-0.5B's shapes at wide batches: k groups and splits (attn_out), k groups with a norm (QKV),
      // SwiGLU (the wide kernel from 33 rows).
      {128, 896, {896}, false, true},
      {96, 896, {896, 128, 128}, true},
      {72, 896, {4864, 4864}, true, false, true},
      {33, 4864, {896}, false, true},
      {3, 4096, {64}, false, true},                  // 16 splits: past a cluster, they meet in the scratch.
  };
  for (WeightType type : {WeightType::kF16, WeightType::kBF16}) {
    for (const Case& c : cases) CheckCase(c, type, Bound(type), rng);
  }
}

// Every case again on the wide kernel, whatever its batch: its rows are still the narrow kernel's alone.
TEST_F(SmallBatchGemmTest, WidePathMatchesReferenceAndNarrowBits) {
  std::mt19937 rng(63);
  const Case cases[] = {
      {1, 896, {896}},
      {5, 896, {128}, false, true},
      {16, 896, {896, 128, 128}, true},
      {9, 768, {256}, false, true},                  // Three splits of one run per k group, half of them empty.
      {20, 256, {768, 768}, true, false, true},      // Four k groups with SwiGLU.
      {70, 4864, {896}, false, true},
      {7, 12800, {64}, true},
      {3, 4096, {64}, false, true},                  // The narrow kernel's splits in the scratch, not a cluster.
      // Tiles of 128 columns (past 64 rows): two column tiles, a last run of one chunk (k = 160), the
      // bucket of 128 with Qwen2.5-0.5B's gate/up (two k groups) and QKV (eight, with the norm).
      {256, 160, {48}},
      {128, 896, {4864, 4864}, true, false, true},
      {100, 896, {896, 128, 128}, true},
  };
  for (WeightType type : {WeightType::kF16, WeightType::kBF16}) {
    for (const Case& c : cases) CheckCase(c, type, Bound(type), rng, SmallBatchPath::kWide);
  }
}

// GGUF block formats, decoded to f16 as they stream (or, at wide batches, into the scratch first): the
// reference multiplies by the dequantized values, so the bound is f16's (the decoded weights and x are both
// rounded to f16). Whole blocks: k = 768 holds three k-quant super-blocks, 4864 nineteen (split over blocks
// of the grid). Every row is also checked against its product alone (the narrow kernel's decoding).
TEST_F(SmallBatchGemmTest, BlockFormatsMatchReference) {
  std::mt19937 rng(62);
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ4_1, WeightType::kQ5_0,
                          WeightType::kQ5_1, WeightType::kQ2_K, WeightType::kQ3_K, WeightType::kQ4_K,
                          WeightType::kQ5_K, WeightType::kQ6_K}) {
    const Case cases[] = {
        {3, 768, {256}},
        {16, 768, {512, 128, 128}, true},            // Fused QKV with the norm prologue.
        {33, 768, {1024, 1024}, true, false, true},  // Gate/up SwiGLU with the norm prologue.
        {64, 4864, {128}, false, true},              // k split over blocks, with the residual.
        {72, 4864, {896}, false, true},              // Decoded to f16 first, then the wide kernel.
    };
    for (const Case& c : cases) CheckCase(c, type, 3e-3, rng);
    // The narrow kernel at 128 columns with k split four ways: its decoded tiles beside the staged x leave no
    // room for the cluster's slots, so the splits meet in the scratch.
    CheckCase({128, 4864, {896}, false, true}, type, 3e-3, rng, SmallBatchPath::kNarrow);
  }
}

// ggrt's kQ8_0R rows (a Q8_0 vocabulary or ffn_down repacked at load) decode to the blocks' own values, so a
// batched step's products from them are the blocks' bit for bit, on the narrow kernel (where the logits run)
// and decoded first for the wide one.
TEST_F(SmallBatchGemmTest, Q8_0RowsGiveTheBlocksBits) {
  std::mt19937 rng(63);
  for (const Case& c : {Case{1, 896, {4096}, true}, Case{16, 896, {2048}, true}, Case{72, 96, {512}},
                        Case{4, 4864, {896}, false, true}, Case{72, 1536, {128}, false, true}}) {
    const std::vector<float> values = cpu::RandomVector(static_cast<size_t>(c.n[0]) * c.k, rng, 0.05f);
    const std::vector<float> x = cpu::RandomVector(static_cast<size_t>(c.rows) * c.k, rng);
    const TypedWeights g = MakeWeights(cpu::RandomVector(c.k, rng), WeightType::kF32);
    const std::vector<float> residual =
        c.residual ? cpu::RandomVector(static_cast<size_t>(c.rows) * c.n[0], rng) : std::vector<float>();
    for (SmallBatchPath path : {SmallBatchPath::kAuto, SmallBatchPath::kNarrow}) {
      const auto blocks = RunOnDevice(c, WeightType::kQ8_0, x, {MakeWeights(values, WeightType::kQ8_0)},
                                      c.norm ? &g : nullptr, residual, path);
      const auto rows = RunOnDevice(c, WeightType::kQ8_0R, x, {MakeQ8_0Rows(values, c.n[0], c.k)},
                                    c.norm ? &g : nullptr, residual, path);
      EXPECT_EQ(rows, blocks) << c.rows << " rows, k " << c.k;
    }
  }
}

TEST(SmallBatchGemmSupportTest, RefusesWhatItDoesNotTake) {
  SmallBatchGemmParams p{nullptr, 4, 896, WeightType::kF16, 1, {}, {}, {896}};
  EXPECT_TRUE(SmallBatchGemmSupports(p));
  p.k = 172;  // Not whole 32-wide chunks.
  EXPECT_FALSE(SmallBatchGemmSupports(p));
  p.k = 896;
  p.n[0] = 172;
  EXPECT_FALSE(SmallBatchGemmSupports(p));
  p.n[0] = 896;
  p.rows = kSmallBatchMaxRows + 1;
  EXPECT_FALSE(SmallBatchGemmSupports(p));
  p.rows = 4;
  p.type = WeightType::kF32;
  EXPECT_FALSE(SmallBatchGemmSupports(p));
  p.type = WeightType::kQ4_K;  // 896 is not whole 256-element super-blocks.
  EXPECT_FALSE(SmallBatchGemmSupports(p));
  p.k = 768;
  EXPECT_TRUE(SmallBatchGemmSupports(p));
}

}  // namespace
}  // namespace ggrt::cuda
