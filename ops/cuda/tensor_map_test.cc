#include "ops/cuda/tensor_map.h"

#include "gtest/gtest.h"
#include "ops/cuda/test_util.h"

namespace ggrt::cuda {
namespace {

int ComputeMajor() {
  int device = 0, major = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  return major;
}

// The shapes the wide small-batch kernel asks for encode; what the TMA cannot address is refused with an
// error rather than a map that faults later.
TEST(TensorMapTest, EncodesWhatTmaTakesAndRefusesTheRest) {
  SKIP_WITHOUT_GPU();
  if (ComputeMajor() < 9) GTEST_SKIP() << "no TMA before Hopper";
  DeviceBuffer m(896 * 4864 * 2);
  CUtensorMap map;
  // Weights [4864, 896] in boxes of 16 rows by 32 (64-byte swizzle); x [128, 896] in boxes of 128 x 64.
  EXPECT_EQ(MakeTensorMap({m.get(), false, 896, 4864, 32, 16, CU_TENSOR_MAP_SWIZZLE_64B,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_256B},
                          &map),
            cudaSuccess);
  EXPECT_EQ(MakeTensorMap({m.get(), true, 896, 128, 64, 128, CU_TENSOR_MAP_SWIZZLE_128B,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_128B},
                          &map),
            cudaSuccess);
  const char* base = static_cast<const char*>(m.get());
  // A base that is not 16-byte aligned, rows whose stride is not a multiple of 16 bytes, a box wider than
  // its swizzle's span (64 halves are 128 bytes, past the 64-byte swizzle) and a box of more than 256 rows.
  EXPECT_EQ(MakeTensorMap({base + 2, false, 896, 64, 32, 16, CU_TENSOR_MAP_SWIZZLE_64B,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_256B},
                          &map),
            cudaErrorInvalidValue);
  EXPECT_EQ(MakeTensorMap({base, false, 900, 64, 32, 16, CU_TENSOR_MAP_SWIZZLE_64B,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_256B},
                          &map),
            cudaErrorInvalidValue);
  EXPECT_EQ(MakeTensorMap({base, false, 896, 64, 64, 16, CU_TENSOR_MAP_SWIZZLE_64B,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_256B},
                          &map),
            cudaErrorInvalidValue);
  EXPECT_EQ(MakeTensorMap({base, false, 896, 4864, 32, 512, CU_TENSOR_MAP_SWIZZLE_64B,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_256B},
                          &map),
            cudaErrorInvalidValue);
}

}  // namespace
}  // namespace ggrt::cuda
