#include "ops/cuda/elementwise.h"

#include <random>

#include "ops/cpu/elementwise.h"
#include "ops/cpu/test_util.h"
#include "ops/cuda/test_util.h"

namespace ggrt::cuda {
namespace {

// The rows `ids` of a random [vocab, dim] table of `type`, exactly the CPU's values; returns the table.
TypedWeights CheckEmbedding(WeightType type, int vocab, int dim, const std::vector<int32_t>& ids, float scale,
                            std::mt19937& rng) {
  const int rows = static_cast<int>(ids.size());
  TypedWeights table = MakeWeights(cpu::RandomVector(vocab * dim, rng), type);
  std::vector<float> ref(rows * dim);
  cpu::Embedding(ids.data(), rows, table.values.data(), dim, scale, ref.data());
  DeviceBuffer dids(ids), dtable(table.bytes), out(rows * dim * sizeof(float));
  EXPECT_EQ(LaunchEmbedding({dids.as<int32_t>(), rows, dtable.get(), type, dim, out.as<float>(), scale}, nullptr),
            cudaSuccess);
  EXPECT_EQ(out.Download<float>(), ref) << TypeName(type);
  return table;
}

// Quantized tables: the embedding decodes the token's row; prefill decodes whole matrices to f16.
TEST(ElementwiseTest, QuantizedEmbeddingAndDequantize) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(22);
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ4_1, WeightType::kQ5_0,
                          WeightType::kQ5_1, WeightType::kQ2_K, WeightType::kQ3_K, WeightType::kQ4_K,
                          WeightType::kQ5_K, WeightType::kQ6_K}) {
    const int vocab = 37, dim = 512;
    const TypedWeights table = CheckEmbedding(type, vocab, dim, {0, 36, 17, 17, 5}, 1.0f, rng);
    CheckEmbedding(type, vocab, dim, {3, 1}, 48.0f, rng);  // Gemma scales rows by sqrt(E).
    DeviceBuffer dtable(table.bytes);

    DeviceBuffer half(vocab * dim * 2);
    ASSERT_EQ(LaunchDequantize({dtable.get(), type, vocab, dim, half.get()}, nullptr), cudaSuccess);
    const std::vector<uint16_t> h = half.Download<uint16_t>();
    for (int i = 0; i < vocab * dim; ++i) {
      ASSERT_EQ(h[i], FloatToFp16(table.values[i])) << TypeName(type) << " element " << i;
    }
  }
}

// ggrt's kQ8_0R rows (a vocabulary-sized Q8_0 matrix repacked at load) decode to the blocks' values, for the
// embedding and for prefill's dequantization; rows of 1 and 3 blocks (the padding differs) as well as 28.
TEST(ElementwiseTest, Q8_0RowsEmbeddingAndDequantize) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(23);
  for (const int dim : {32, 96, 896}) {
    const int vocab = 41;
    const TypedWeights table = MakeQ8_0Rows(cpu::RandomVector(vocab * dim, rng), vocab, dim);
    const std::vector<int32_t> ids = {0, 40, 17, 17, 5};
    std::vector<float> ref;
    for (int32_t id : ids) {
      for (int i = 0; i < dim; ++i) ref.push_back(table.values[id * dim + i] * 2.0f);
    }
    DeviceBuffer dids(ids), dtable(table), out(ids.size() * dim * sizeof(float)), half(vocab * dim * 2);
    ASSERT_EQ(LaunchEmbedding({dids.as<int32_t>(), static_cast<int>(ids.size()), dtable.get(), WeightType::kQ8_0R,
                               dim, out.as<float>(), 2.0f},
                              nullptr),
              cudaSuccess);
    EXPECT_EQ(out.Download<float>(), ref) << "dim " << dim;
    ASSERT_EQ(LaunchDequantize({dtable.get(), WeightType::kQ8_0R, vocab, dim, half.get()}, nullptr), cudaSuccess);
    const std::vector<uint16_t> h = half.Download<uint16_t>();
    for (int i = 0; i < vocab * dim; ++i) ASSERT_EQ(h[i], FloatToFp16(table.values[i])) << "dim " << dim << " " << i;
  }
}

TEST(ElementwiseTest, EmbeddingAddSwigluCopy) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(21);
  for (WeightType type : {WeightType::kF32, WeightType::kF16, WeightType::kBF16}) {
    const int vocab = 300, dim = 172, rows = 5;
    CheckEmbedding(type, vocab, dim, {0, 299, 17, 17, 150}, 1.0f, rng);
    CheckEmbedding(type, vocab, dim, {4, 299}, 33.94113f, rng);
    std::vector<float> ref(rows * dim);

    // Bias add with a bias of this dtype; residual add.
    const auto a = cpu::RandomVector(rows * dim, rng), b = cpu::RandomVector(rows * dim, rng);
    const TypedWeights bias = MakeWeights(cpu::RandomVector(dim, rng, 30), type);
    DeviceBuffer da(a), db(b), dbias(bias.bytes), sum(rows * dim * sizeof(float));
    cpu::AddBias(a.data(), bias.values.data(), rows, dim, ref.data());
    ASSERT_EQ(LaunchAdd({da.as<float>(), dbias.get(), true, type, rows, dim, sum.as<float>()}, nullptr), cudaSuccess);
    EXPECT_EQ(sum.Download<float>(), ref) << TypeName(type);
  }
  std::mt19937 rng2(22);
  const int n = 4864 * 3;
  const auto g = cpu::RandomVector(n, rng2), u = cpu::RandomVector(n, rng2);
  std::vector<float> ref(n);
  cpu::Swiglu(g.data(), u.data(), n, ref.data());
  DeviceBuffer dg(g), du(u), out(n * sizeof(float));
  ASSERT_EQ(LaunchSwiglu({dg.as<float>(), du.as<float>(), n, out.as<float>()}, nullptr), cudaSuccess);
  EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-6);
  cpu::Geglu(g.data(), u.data(), n, ref.data());
  ASSERT_EQ(LaunchSwiglu({dg.as<float>(), du.as<float>(), n, out.as<float>(), /*gelu=*/true}, nullptr), cudaSuccess);
  EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-5);
  const auto wide = cpu::RandomVector(n, rng2, 100);  // Past the cap too, where tanh saturates.
  DeviceBuffer dwide(wide);
  cpu::Softcap(wide.data(), n, 30.0f, ref.data());
  ASSERT_EQ(LaunchSoftcap(dwide.as<float>(), n, 30.0f, out.as<float>(), nullptr), cudaSuccess);
  EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-6);
  // g as 3 spans of 4 rows of n / 12: the last row of all, then row last[b] of each span.
  const int cols = n / 12;
  DeviceBuffer rows(3 * cols * sizeof(float)), last(std::vector<int32_t>{3, 0, 2});
  ASSERT_EQ(LaunchLastRows({dg.as<float>(), cols, 12, 1, nullptr, rows.as<float>()}, nullptr), cudaSuccess);
  const std::vector<float> first = rows.Download<float>();
  ASSERT_EQ(first.size(), 3u * cols);
  EXPECT_EQ(std::vector<float>(first.begin(), first.begin() + cols), std::vector<float>(g.end() - cols, g.end()));
  ASSERT_EQ(LaunchLastRows({dg.as<float>(), cols, 4, 3, last.as<int32_t>(), rows.as<float>()}, nullptr), cudaSuccess);
  std::vector<float> expected;
  for (int row : {3, 4, 10}) expected.insert(expected.end(), g.begin() + row * cols, g.begin() + (row + 1) * cols);
  EXPECT_EQ(rows.Download<float>(), expected);
}

TEST(ElementwiseTest, ArgmaxTakesTheFirstMaximumAndAdvanceMovesTheStep) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(23);
  auto v = cpu::RandomVector(151936, rng);
  v[777] = 100.0f;
  v[90000] = 100.0f;
  DeviceBuffer dv(v), token(sizeof(int32_t));
  ASSERT_EQ(LaunchArgmax({dv.as<float>(), nullptr, static_cast<int>(v.size()), token.as<int32_t>()}, nullptr),
            cudaSuccess);
  EXPECT_EQ(token.Download<int32_t>()[0], 777);

  DeviceBuffer tokens(std::vector<int32_t>{5, 6}), pos(std::vector<int32_t>{41});
  ASSERT_EQ(LaunchAdvance({token.as<int32_t>(), tokens.as<int32_t>(), pos.as<int32_t>(), 1}, nullptr), cudaSuccess);
  EXPECT_EQ(tokens.Download<int32_t>(), (std::vector<int32_t>{777, 6}));
  EXPECT_EQ(pos.Download<int32_t>()[0], 42);
}

// Rows split over blocks give the row's first maximum whatever slice it falls in: ties across slices, a
// maximum in the last partial slice, a length that is not a multiple of 4; run twice, as the scratch is reused.
TEST(ElementwiseTest, SplitArgmaxOverRows) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(25);
  for (int n : {151936, 8193, 1001}) {
    const int rows = 5;
    auto v = cpu::RandomVector(static_cast<size_t>(rows) * n, rng);
    std::vector<int32_t> want = {n - 1, 3, 8192 % n, n / 2, 0};
    for (int r = 0; r < rows; ++r) v[static_cast<size_t>(r) * n + want[r]] = 50.0f;
    v[static_cast<size_t>(1) * n + n - 2] = 50.0f;  // A tie later in the row: the first one wins.
    DeviceBuffer dv(v), tokens(rows * sizeof(int32_t)), scratch(ArgmaxScratchBytes(rows, n));
    ASSERT_EQ(cudaMemset(scratch.get(), 0, ArgmaxScratchBytes(rows, n)), cudaSuccess);
    for (int run = 0; run < 2; ++run) {
      ArgmaxParams p{dv.as<float>(), nullptr, n, tokens.as<int32_t>(), rows};
      p.scratch = scratch.get();
      ASSERT_EQ(LaunchArgmax(p, nullptr), cudaSuccess);
      EXPECT_EQ(tokens.Download<int32_t>(), want) << "n " << n << ", run " << run;
    }
  }
}

// A batched step's tail: live rows move on with their token (window ring keyed by position), a row whose
// next position has no page is masked, padding stays masked, and the tokens land in the step's ring slot.
TEST(ElementwiseTest, BatchAdvanceMovesRowsOn) {
  SKIP_WITHOUT_GPU();
  const int stride = 3, window = 4;  // Two pages per table.
  // Row 0 at 10 (next 11, page 0), row 1 at 31 (next 32: page 1 is -1 -> masked), row 2 padding, row 3 at
  // 40 (next 41, page 1).
  DeviceBuffer next(std::vector<int32_t>{7, 8, 9, 10}), tokens(std::vector<int32_t>{0, 0, 0, 0}),
      pos(std::vector<int32_t>{10, 4, 5, 31, 6, -1, -1, -1, -1, 40, 2, 3}), ring(std::vector<int32_t>(8, -5)),
      steps(std::vector<int32_t>{3}), windows(std::vector<int32_t>(4 * window, 0)),
      lens(std::vector<int32_t>{2, 4, 0, 4});
  BatchAdvanceParams p{next.as<int32_t>(), tokens.as<int32_t>(), pos.as<int32_t>(), stride, 4, ring.as<int32_t>(), 4,
                       steps.as<int32_t>(), windows.as<int32_t>(), lens.as<int32_t>(), window};
  ASSERT_EQ(LaunchBatchAdvance(p, nullptr), cudaSuccess);
  EXPECT_EQ(tokens.Download<int32_t>(), (std::vector<int32_t>{7, 0, 0, 10}));
  EXPECT_EQ(pos.Download<int32_t>(), (std::vector<int32_t>{11, 4, 5, -1, 6, -1, -1, -1, -1, 41, 2, 3}));
  EXPECT_EQ(ring.Download<int32_t>(), (std::vector<int32_t>{-5, -5, -5, -5, 7, 8, 9, 10}));  // Step 3: slot 1.
  EXPECT_EQ(steps.Download<int32_t>()[0], 4);
  const auto w = windows.Download<int32_t>();
  EXPECT_EQ(w[0 * window + 11 % window], 7);
  EXPECT_EQ(w[3 * window + 41 % window], 10);
  EXPECT_EQ(lens.Download<int32_t>(), (std::vector<int32_t>{3, 4, 0, 4}));
}

TEST(ElementwiseTest, ConvertToHalfTypes) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(24);
  const auto x = cpu::RandomVector(1000, rng, 50);
  for (WeightType type : {WeightType::kF16, WeightType::kBF16}) {
    DeviceBuffer dx(x), out(x.size() * 2);
    ASSERT_EQ(LaunchConvert(dx.as<float>(), x.size(), type, out.get(), nullptr), cudaSuccess);
    const auto h = out.Download<uint16_t>();
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(h[i], type == WeightType::kF16 ? FloatToFp16(x[i]) : FloatToBf16(x[i])) << i;
    }
  }
}

TEST(ElementwiseTest, SwigluSixteenBitOutputIsTheRoundedResult) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(25);
  const int64_t n = 3000;
  const auto g = cpu::RandomVector(n, rng, 8), u = cpu::RandomVector(n, rng, 8);
  DeviceBuffer dg(g), du(u), out(n * 4), low(n * 2);
  ASSERT_EQ(LaunchSwiglu({dg.as<float>(), du.as<float>(), n, out.as<float>()}, nullptr), cudaSuccess);
  const std::vector<float> f32 = out.Download<float>();
  for (WeightType type : {WeightType::kF16, WeightType::kBF16}) {
    SwigluParams sw{dg.as<float>(), du.as<float>(), n, nullptr};
    sw.out16 = low.get(), sw.out16_type = type;
    ASSERT_EQ(LaunchSwiglu(sw, nullptr), cudaSuccess);
    const auto h = low.Download<uint16_t>();
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(h[i], type == WeightType::kF16 ? FloatToFp16(f32[i]) : FloatToBf16(f32[i])) << i;
    }
  }
  EXPECT_EQ(LaunchSwiglu({dg.as<float>(), du.as<float>(), n, nullptr}, nullptr), cudaErrorInvalidValue);
}

}  // namespace
}  // namespace ggrt::cuda
