#include "ops/cuda/rms_norm.h"

#include <random>

#include "ops/cpu/rms_norm.h"
#include "ops/cpu/test_util.h"
#include "ops/cuda/test_util.h"

namespace ggrt::cuda {
namespace {

TEST(RmsNormTest, PlainAndResidualMatchReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(31);
  for (int dim : {64, 172, 896, 1536, 5000}) {
    for (WeightType type : {WeightType::kF32, WeightType::kF16}) {
      const int rows = 3;
      // Residual-stream magnitudes of real Qwen2.5 activations reach the tens.
      const auto x = cpu::RandomVector(rows * dim, rng, 20), r = cpu::RandomVector(rows * dim, rng);
      const TypedWeights w = MakeWeights(cpu::RandomVector(dim, rng), type);
      std::vector<float> ref(rows * dim), ref_sum(rows * dim), ref_norm(rows * dim);
      cpu::RmsNorm(x.data(), w.values.data(), rows, dim, 1e-6f, ref.data());
      cpu::ResidualRmsNorm(x.data(), r.data(), w.values.data(), rows, dim, 1e-6f, ref_sum.data(), ref_norm.data());
      DeviceBuffer dx(x), dr(r), dw(w), out(rows * dim * 4), sum(rows * dim * 4), out2(rows * dim * 4);
      ASSERT_EQ(LaunchRmsNorm({dx.as<float>(), nullptr, nullptr, dw.get(), type, rows, dim, 1e-6f, out.as<float>()},
                              nullptr),
                cudaSuccess);
      EXPECT_LT(RelativeError(out.Download<float>(), ref), 1e-6) << dim;
      ASSERT_EQ(LaunchRmsNorm({dx.as<float>(), dr.as<float>(), sum.as<float>(), dw.get(), type, rows, dim, 1e-6f,
                               out2.as<float>()},
                              nullptr),
                cudaSuccess);
      EXPECT_EQ(sum.Download<float>(), ref_sum) << dim;
      EXPECT_LT(RelativeError(out2.Download<float>(), ref_norm), 1e-6) << dim;
    }
  }
}

// The 16-bit copy of a prefill product's input: the f32 result rounded as LaunchConvert rounds it, with or
// without the f32 result beside it.
TEST(RmsNormTest, SixteenBitOutputIsTheRoundedResult) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(32);
  const int rows = 5, dim = 896;
  const auto x = cpu::RandomVector(rows * dim, rng, 20);
  const TypedWeights w = MakeWeights(cpu::RandomVector(dim, rng), WeightType::kF32);
  DeviceBuffer dx(x), dw(w), out(rows * dim * 4), low(rows * dim * 2);
  ASSERT_EQ(LaunchRmsNorm({dx.as<float>(), nullptr, nullptr, dw.get(), WeightType::kF32, rows, dim, 1e-6f,
                           out.as<float>()},
                          nullptr),
            cudaSuccess);
  const std::vector<float> f32 = out.Download<float>();
  for (WeightType type : {WeightType::kF16, WeightType::kBF16}) {
    for (bool with_f32 : {true, false}) {
      RmsNormParams r{dx.as<float>(), nullptr, nullptr, dw.get(), WeightType::kF32, rows, dim, 1e-6f,
                      with_f32 ? out.as<float>() : nullptr};
      r.out16 = low.get(), r.out16_type = type;
      ASSERT_EQ(LaunchRmsNorm(r, nullptr), cudaSuccess);
      const auto h = low.Download<uint16_t>();
      for (size_t i = 0; i < f32.size(); ++i) {
        ASSERT_EQ(h[i], type == WeightType::kF16 ? FloatToFp16(f32[i]) : FloatToBf16(f32[i])) << i;
      }
    }
  }
  RmsNormParams none{dx.as<float>(), nullptr, nullptr, dw.get(), WeightType::kF32, rows, dim, 1e-6f, nullptr};
  EXPECT_EQ(LaunchRmsNorm(none, nullptr), cudaErrorInvalidValue);
}

}  // namespace
}  // namespace ggrt::cuda
