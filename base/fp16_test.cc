#include "base/fp16.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

TEST(Fp16Test, ExhaustiveRoundTripOfEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = Fp16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Fp16ToFloat(FloatToFp16(f)))) << h;
      continue;
    }
    EXPECT_EQ(FloatToFp16(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Fp16Test, KnownValues) {
  EXPECT_EQ(Fp16ToFloat(0x3c00), 1.0f);
  EXPECT_EQ(Fp16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(Fp16ToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(Fp16ToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(FloatToFp16(65520.0f), 0x7c00);  // Rounds up to infinity.
  EXPECT_EQ(FloatToFp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // Tie to even.
}

TEST(Fp16Test, RoundingErrorIsBoundedOnRandomFloats) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1000.0f, 1000.0f);
  for (int i = 0; i < 100000; ++i) {
    const float f = dist(rng);
    EXPECT_NEAR(Fp16ToFloat(FloatToFp16(f)), f, std::abs(f) * (1.0f / 2048) + 1e-7f);
  }
}

TEST(Bf16Test, RoundTripAndRounding) {
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f)), 1.0f);
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(-3.5f)), -3.5f);
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(NAN))));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1e6f, 1e6f);
  for (int i = 0; i < 100000; ++i) {
    const float f = dist(rng);
    EXPECT_NEAR(Bf16ToFloat(FloatToBf16(f)), f, std::abs(f) / 256.0f);
  }
}

}  // namespace
}  // namespace ggrt
