// WarpSums against WarpSum on the device: the same bits for every row and every lane that holds it, each row
// held by 32 / R lanes, every row held; and both against a double sum.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "ops/cuda/test_util.h"
#include "ops/cuda/warp_sums_probe.h"

namespace ggrt::cuda {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

TEST(WarpSumsTest, SameBitsAsWarpSumForEveryRow) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(7);
  // Magnitudes over many binades, so that a different order of the additions would change the bits.
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-12, 12);
  for (int rows : {1, 2, 4, 8, 16, 32}) {
    SCOPED_TRACE(rows);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> in(rows * 32);
      for (float& x : in) x = std::ldexp(mantissa(rng), exponent(rng));
      DeviceBuffer d_in(in), d_sums(32 * sizeof(float)), d_rows(32 * sizeof(int)), d_each(rows * sizeof(float));
      ASSERT_EQ(LaunchWarpSumsProbe(d_in.as<float>(), rows, d_sums.as<float>(), d_rows.as<int>(),
                                    d_each.as<float>(), nullptr),
                cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      std::vector<float> sums(32), each(rows);
      std::vector<int> row_of_lane(32);
      ASSERT_EQ(cudaMemcpy(sums.data(), d_sums.get(), 32 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
      ASSERT_EQ(cudaMemcpy(row_of_lane.data(), d_rows.get(), 32 * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
      ASSERT_EQ(cudaMemcpy(each.data(), d_each.get(), rows * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
      std::vector<int> holders(rows, 0);
      for (int lane = 0; lane < 32; ++lane) {
        const int r = row_of_lane[lane];
        ASSERT_GE(r, 0);
        ASSERT_LT(r, rows);
        ++holders[r];
        EXPECT_EQ(Bits(sums[lane]), Bits(each[r])) << "lane " << lane << " row " << r;
      }
      for (int r = 0; r < rows; ++r) {
        EXPECT_EQ(holders[r], 32 / rows) << "row " << r;
        double exact = 0.0, magnitude = 0.0;
        for (int lane = 0; lane < 32; ++lane) exact += in[r * 32 + lane], magnitude += std::fabs(in[r * 32 + lane]);
        EXPECT_NEAR(each[r], exact, 1e-6 * magnitude) << "row " << r;
      }
    }
  }
}

}  // namespace
}  // namespace ggrt::cuda
