#include "ops/cpu/matmul.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/test_util.h"

namespace ggrt::cpu {
namespace {

TEST(MatmulTest, KnownValues) {
  const float x[] = {1, 2, 3, 4, 5, 6};        // [2, 3]
  const float w[] = {1, 0, 0, 0, 1, 1};        // [2, 3]
  float y[4];
  Matmul(x, w, 2, 3, 2, y);
  EXPECT_EQ(std::vector<float>(y, y + 4), (std::vector<float>{1, 5, 4, 11}));
}

TEST(MatmulTest, GateUpSwigluMatchesUnfused) {
  std::mt19937 rng(2);
  const int rows = 2, k = 64, n = 172;
  auto x = RandomVector(rows * k, rng), wg = RandomVector(n * k, rng), wu = RandomVector(n * k, rng);
  std::vector<float> y(rows * n), g(rows * n), u(rows * n), ref(rows * n);
  GateUpSwiglu(x.data(), wg.data(), wu.data(), rows, k, n, y.data());
  Matmul(x.data(), wg.data(), rows, k, n, g.data());
  Matmul(x.data(), wu.data(), rows, k, n, u.data());
  Swiglu(g.data(), u.data(), rows * n, ref.data());
  for (int i = 0; i < rows * n; ++i) EXPECT_NEAR(y[i], ref[i], 1e-5f * (1 + std::abs(ref[i])));
}

TEST(MatmulTest, MatmulResidualMatchesMatmulThenAdd) {
  std::mt19937 rng(8);
  const int rows = 3, k = 96, n = 40;
  auto x = RandomVector(rows * k, rng), w = RandomVector(n * k, rng), r = RandomVector(rows * n, rng, 20);
  std::vector<float> y(rows * n), ref(rows * n);
  MatmulResidual(x.data(), w.data(), r.data(), rows, k, n, y.data());
  Matmul(x.data(), w.data(), rows, k, n, ref.data());
  Add(ref.data(), r.data(), rows, n, ref.data());
  for (int i = 0; i < rows * n; ++i) EXPECT_NEAR(y[i], ref[i], 1e-5f * (1 + std::abs(ref[i])));
}

TEST(MatmulTest, OutputArgmaxMatchesMatmulThenArgmax) {
  std::mt19937 rng(3);
  const int k = 64, n = 512;
  for (int trial = 0; trial < 50; ++trial) {
    auto x = RandomVector(k, rng), w = RandomVector(n * k, rng);
    std::vector<float> logits(n);
    Matmul(x.data(), w.data(), 1, k, n, logits.data());
    EXPECT_EQ(OutputArgmax(x.data(), w.data(), k, n), Argmax(logits.data(), n));
  }
}

}  // namespace
}  // namespace ggrt::cpu
