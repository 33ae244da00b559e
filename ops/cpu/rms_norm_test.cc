#include "ops/cpu/rms_norm.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/test_util.h"

namespace ggrt::cpu {
namespace {

TEST(RmsNormTest, KnownValues) {
  const float x[] = {3, 4}, w[] = {1, 2};
  float out[2];
  RmsNorm(x, w, 1, 2, 0.0f, out);  // rms = sqrt(12.5)
  EXPECT_NEAR(out[0], 3 / std::sqrt(12.5f), 1e-6);
  EXPECT_NEAR(out[1], 8 / std::sqrt(12.5f), 1e-6);
}

TEST(RmsNormTest, FusedResidualMatchesAddThenNorm) {
  std::mt19937 rng(1);
  const int rows = 3, dim = 172;
  auto x = RandomVector(rows * dim, rng), r = RandomVector(rows * dim, rng, 10), w = RandomVector(dim, rng);
  std::vector<float> sum(rows * dim), out(rows * dim), ref_sum(rows * dim), ref(rows * dim);
  ResidualRmsNorm(x.data(), r.data(), w.data(), rows, dim, 1e-6f, sum.data(), out.data());
  Add(x.data(), r.data(), rows, dim, ref_sum.data());
  RmsNorm(ref_sum.data(), w.data(), rows, dim, 1e-6f, ref.data());
  for (int i = 0; i < rows * dim; ++i) {
    EXPECT_EQ(sum[i], ref_sum[i]);
    EXPECT_NEAR(out[i], ref[i], 1e-6f * (1 + std::abs(ref[i])));
  }
}

}  // namespace
}  // namespace ggrt::cpu
