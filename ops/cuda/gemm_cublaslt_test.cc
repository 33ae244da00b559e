#include "ops/cuda/gemm_cublaslt.h"

#include <random>

#include "ops/cpu/matmul.h"
#include "ops/cpu/test_util.h"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/test_util.h"

namespace ggrt::cuda {
namespace {

TEST(GemmTest, PrefillProductsMatchReference) {
  SKIP_WITHOUT_GPU();
  auto gemm = CublasLtGemm::Create();
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  std::mt19937 rng(61);
  struct Shape {
    int rows, k, n;
  };
  // Bounds: f32 exact math; f16 and bf16 round the activations to the weight type first.
  const std::pair<WeightType, double> types[] = {
      {WeightType::kF32, 1e-5}, {WeightType::kF16, 2e-3}, {WeightType::kBF16, 1e-2}};
  for (const auto& [type, bound] : types) {
    for (const Shape& s : {Shape{7, 64, 172}, Shape{512, 896, 1152}, Shape{33, 4864, 896}, Shape{2, 896, 4864}}) {
      const auto x = cpu::RandomVector(static_cast<size_t>(s.rows) * s.k, rng);
      const TypedWeights w = MakeWeights(cpu::RandomVector(static_cast<size_t>(s.n) * s.k, rng), type);
      std::vector<float> ref(static_cast<size_t>(s.rows) * s.n);
      cpu::Matmul(x.data(), w.values.data(), s.rows, s.k, s.n, ref.data());
      DeviceBuffer dx(x), dw(w), dy(ref.size() * 4), xh(x.size() * 2);
      const void* input = dx.get();
      if (type != WeightType::kF32) {
        ASSERT_EQ(LaunchConvert(dx.as<float>(), x.size(), type, xh.get(), nullptr), cudaSuccess);
        input = xh.get();
      }
      ASSERT_TRUE((*gemm)->Run({input, dw.get(), type, s.rows, s.k, s.n, dy.as<float>()}, nullptr).ok());
      EXPECT_LT(RelativeError(dy.Download<float>(), ref), bound) << TypeName(type) << " " << s.rows << "x" << s.k
                                                                  << "x" << s.n;
      // With a residual accumulated: y = r + x W^T.
      const auto r = cpu::RandomVector(ref.size(), rng, 10);
      DeviceBuffer dr(r), dy2(ref.size() * 4);
      ASSERT_TRUE((*gemm)->Run({input, dw.get(), type, s.rows, s.k, s.n, dy2.as<float>(), dr.as<float>()}, nullptr).ok());
      std::vector<float> ref2(ref.size());
      for (size_t i = 0; i < ref.size(); ++i) ref2[i] = ref[i] + r[i];
      EXPECT_LT(RelativeError(dy2.Download<float>(), ref2), bound) << "accumulate";
    }
  }
}

// A row's result does not depend on how many rows the product has (one algorithm per weight shape, no split-k
// reduction): a batched prefill gives each sequence the bits of its prefill alone.
TEST(GemmTest, EachRowIsTheSameInProductsOfAnySize) {
  SKIP_WITHOUT_GPU();
  auto gemm = CublasLtGemm::Create();
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  std::mt19937 rng(62);
  for (WeightType type : {WeightType::kF16, WeightType::kBF16, WeightType::kF32}) {
    for (const auto& [k, n] : {std::pair{896, 1152}, std::pair{4864, 896}, std::pair{896, 9728}}) {
      constexpr int kRows = 640;
      const auto x = cpu::RandomVector(static_cast<size_t>(kRows) * k, rng);
      const TypedWeights w = MakeWeights(cpu::RandomVector(static_cast<size_t>(n) * k, rng), type);
      DeviceBuffer dx(x), dw(w), xh(x.size() * 2);
      const void* input = dx.get();
      if (type != WeightType::kF32) {
        ASSERT_EQ(LaunchConvert(dx.as<float>(), x.size(), type, xh.get(), nullptr), cudaSuccess);
        input = xh.get();
      }
      std::vector<float> all;
      for (int rows : {kRows, 2, 17, 128, 300, 512}) {
        DeviceBuffer dy(static_cast<size_t>(rows) * n * 4);
        ASSERT_TRUE((*gemm)->Run({input, dw.get(), type, rows, k, n, dy.as<float>()}, nullptr).ok());
        const std::vector<float> y = dy.Download<float>();
        if (rows == kRows) {
          all = y;
          continue;
        }
        EXPECT_TRUE(std::equal(y.begin(), y.end(), all.begin()))
            << TypeName(type) << " " << k << "x" << n << ": the first " << rows << " rows differ from the "
            << kRows << "-row product's";
      }
    }
  }
}

// A batch of two products over one x (gate with up): each weight's result as its own product's within the
// bounds, at strides that are not the matrices' sizes, and each row the same in products of any size.
TEST(GemmTest, BatchOfTwoProductsSharingTheInput) {
  SKIP_WITHOUT_GPU();
  auto gemm = CublasLtGemm::Create();
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  std::mt19937 rng(63);
  for (const auto& [type, bound] : {std::pair{WeightType::kF16, 2e-3}, std::pair{WeightType::kBF16, 1e-2}}) {
    for (const auto& [k, n] : {std::pair{896, 4864}, std::pair{96, 40}}) {
      constexpr int kRows = 300;
      const int64_t w_stride = static_cast<int64_t>(n) * k + 64, y_stride = static_cast<int64_t>(kRows) * n + 32;
      const auto x = cpu::RandomVector(static_cast<size_t>(kRows) * k, rng);
      // Both weights in one buffer, w_stride elements apart (the gap left random).
      const auto values = cpu::RandomVector(static_cast<size_t>(w_stride + n * k), rng);
      const TypedWeights w = MakeWeights(values, type);
      DeviceBuffer dx(x), dw(w), xh(x.size() * 2), dy((y_stride + kRows * n) * 4);
      ASSERT_EQ(LaunchConvert(dx.as<float>(), x.size(), type, xh.get(), nullptr), cudaSuccess);
      GemmParams g{xh.get(), dw.get(), type, kRows, k, n, dy.as<float>()};
      g.batch = 2, g.w_stride = w_stride, g.y_stride = y_stride;
      ASSERT_TRUE((*gemm)->Run(g, nullptr).ok());
      const std::vector<float> y = dy.Download<float>();
      for (int b = 0; b < 2; ++b) {
        std::vector<float> ref(static_cast<size_t>(kRows) * n);
        cpu::Matmul(x.data(), w.values.data() + b * w_stride, kRows, k, n, ref.data());
        const std::vector<float> got(y.begin() + b * y_stride, y.begin() + b * y_stride + ref.size());
        EXPECT_LT(RelativeError(got, ref), bound) << TypeName(type) << " " << k << "x" << n << " weight " << b;
      }
      GemmParams few = g;
      few.rows = 17;
      few.y_stride = static_cast<int64_t>(few.rows) * n;
      DeviceBuffer dy2(2 * few.y_stride * 4);
      few.y = dy2.as<float>();
      ASSERT_TRUE((*gemm)->Run(few, nullptr).ok());
      const std::vector<float> y2 = dy2.Download<float>();
      for (int b = 0; b < 2; ++b) {
        EXPECT_TRUE(std::equal(y2.begin() + b * few.y_stride, y2.begin() + (b + 1) * few.y_stride,
                               y.begin() + b * y_stride))
            << TypeName(type) << " " << k << "x" << n << " weight " << b << ": 17 rows differ from 300's";
      }
      GemmParams bad = g;
      bad.accumulate = dy.as<float>();
      EXPECT_FALSE((*gemm)->Run(bad, nullptr).ok());
    }
  }
}

}  // namespace
}  // namespace ggrt::cuda
