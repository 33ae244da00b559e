// The device block decoders of quant.cuh, compiled for the host, against the CPU dequantizers: DecodeChunk
// must give the dequantizer's values bit for bit, and DotChunk (the decode GEMVs' inner product, with its
// integer tricks) the dot product of those values with x to within float rounding. Runs without a GPU.
#include "ops/cuda/quant.cuh"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "loader/dequantize.h"
#include "loader/dtype.h"
#include "loader/quantize.h"
#include "ops/cuda/weight_type_of.h"

namespace ggrt::cuda {
namespace {

constexpr DType kTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                            DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

template <WeightType T>
void CheckBlocks(DType dtype, std::mt19937& rng) {
  using Q = QuantTraits<T>;
  constexpr int kRows = 8, kCols = 512;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(kCols);
  for (float& v : x) v = normal(rng);
  for (int r = 0; r < kRows; ++r) {
    // Rows of very different magnitudes, some with an offset (the min of the scale-and-min formats).
    const float scale = std::pow(10.0f, r - 4.0f), offset = r % 3 == 0 ? 2.0f * scale : 0.0f;
    std::vector<float> values(kCols);
    for (float& v : values) v = offset + scale * normal(rng);
    // DotChunk reads the aligned words around its bytes: slack either side, and rows starting at 0 and at 2
    // mod 4, so that blocks of every type come at both alignments.
    std::vector<uint8_t> storage(RowBytes(dtype, kCols) + 12);
    uint8_t* bytes = storage.data() + 4 + 2 * (r % 2);
    ASSERT_TRUE(QuantizeRow(dtype, values.data(), kCols, bytes).ok());
    std::vector<float> ref(kCols);
    ASSERT_TRUE(DequantizeRow(dtype, bytes, ref.data(), kCols).ok());
    for (int b = 0; b < kCols / Q::kElements; ++b) {
      const uint8_t* block = bytes + b * Q::kBytes;
      for (int c = 0; c < Q::kChunks; ++c) {
        const int first = b * Q::kElements + 32 * c;
        float w[32];
        DecodeChunk<T>(block, c, w);
        float xs[32];
        double dot = 0.0, magnitude = 0.0;
        for (int i = 0; i < 32; ++i) {
          ASSERT_EQ(w[i], ref[first + i]) << DTypeName(dtype) << " row " << r << " element " << first + i;
          xs[i] = x[first + i];
          dot += static_cast<double>(ref[first + i]) * xs[i];
          magnitude += std::abs(static_cast<double>(ref[first + i]) * xs[i]);
        }
        EXPECT_NEAR(DotChunk<T>(block, c, xs), dot, 1e-5 * magnitude + 1e-30)
            << DTypeName(dtype) << " row " << r << " block " << b << " chunk " << c;
      }
    }
  }
}

TEST(QuantTest, DecodeChunkAndDotChunkMatchTheCpuDequantizer) {
  std::mt19937 rng(7);
  for (DType dtype : kTypes) {
    const std::optional<WeightType> type = WeightTypeOf(dtype);
    ASSERT_TRUE(type.has_value()) << DTypeName(dtype);
    bool checked = false;
    GGRT_DISPATCH_QUANT(*type, T, CheckBlocks<T>(dtype, rng); checked = true);
    EXPECT_TRUE(checked) << DTypeName(dtype);
  }
}

TEST(QuantTest, BytePermMatchesTheDeviceSelectorRule) {
  // Result byte i is byte (selector nibble i) of y:x (x the low four bytes).
  EXPECT_EQ(BytePerm(0x44332211u, 0x88776655u, 0x7440), 0x88555511u);
  EXPECT_EQ(BytePerm(0x44332211u, 0x88776655u, 0x3210), 0x44332211u);
  EXPECT_EQ(BytePerm(0x44332211u, 0x88776655u, 0x4567), 0x55667788u);
}

}  // namespace
}  // namespace ggrt::cuda
