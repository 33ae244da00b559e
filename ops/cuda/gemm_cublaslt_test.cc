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

}  // namespace
}  // namespace ggrt::cuda
