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

}  // namespace
}  // namespace ggrt::cuda
