// Each test packs known quant values, scales and mins into a block with a packer written from the format's
// description, then checks that the dequantizer returns the format's defining formula element by element.
#include "loader/dequantize.h"

#include <cstring>
#include <random>
#include <vector>

#include "base/fp16.h"
#include "gtest/gtest.h"

namespace ggrt {
namespace {

void PutHalf(uint8_t* p, float f) {
  const uint16_t h = FloatToFp16(f);
  std::memcpy(p, &h, 2);
}
float RoundHalf(float f) { return Fp16ToFloat(FloatToFp16(f)); }

class DequantizeTest : public ::testing::Test {
 protected:
  std::mt19937 rng_{1234};
  int Rand(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
};

TEST_F(DequantizeTest, F32F16Bf16) {
  const float in[4] = {1.5f, -2.25f, 0.0f, 65504.0f};
  float out[4];
  ASSERT_TRUE(DequantizeRow(DType::kF32, in, out, 4).ok());
  EXPECT_EQ(std::memcmp(in, out, sizeof(in)), 0);
  uint16_t h[4], b[4];
  for (int i = 0; i < 4; ++i) h[i] = FloatToFp16(in[i]), b[i] = FloatToBf16(in[i]);
  ASSERT_TRUE(DequantizeRow(DType::kF16, h, out, 4).ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], in[i]);
  ASSERT_TRUE(DequantizeRow(DType::kBF16, b, out, 4).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], in[i]);
  EXPECT_EQ(out[3], 65536.0f);  // bf16 has 8 bits of mantissa.
}

TEST_F(DequantizeTest, Q4_0AndQ4_1) {
  std::vector<int> q(32);
  for (int& v : q) v = Rand(0, 15);
  uint8_t b0[18] = {}, b1[20] = {};
  PutHalf(b0, 0.5f);
  PutHalf(b1, 0.25f);
  PutHalf(b1 + 2, -1.0f);
  for (int j = 0; j < 16; ++j) {
    b0[2 + j] = static_cast<uint8_t>(q[j] | q[j + 16] << 4);
    b1[4 + j] = b0[2 + j];
  }
  float y0[32], y1[32];
  ASSERT_TRUE(DequantizeRow(DType::kQ4_0, b0, y0, 32).ok());
  ASSERT_TRUE(DequantizeRow(DType::kQ4_1, b1, y1, 32).ok());
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(y0[j], (q[j] - 8) * 0.5f) << j;
    EXPECT_EQ(y1[j], q[j] * 0.25f - 1.0f) << j;
  }
}

TEST_F(DequantizeTest, Q5_0AndQ5_1) {
  std::vector<int> q(32);
  for (int& v : q) v = Rand(0, 31);
  uint8_t b0[22] = {}, b1[24] = {};
  PutHalf(b0, 0.125f);
  PutHalf(b1, 2.0f);
  PutHalf(b1 + 2, 3.0f);
  uint32_t qh = 0;
  for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>(q[j] >> 4) << j;
  std::memcpy(b0 + 2, &qh, 4);
  std::memcpy(b1 + 4, &qh, 4);
  for (int j = 0; j < 16; ++j) {
    b0[6 + j] = static_cast<uint8_t>((q[j] & 15) | (q[j + 16] & 15) << 4);
    b1[8 + j] = b0[6 + j];
  }
  float y0[32], y1[32];
  ASSERT_TRUE(DequantizeRow(DType::kQ5_0, b0, y0, 32).ok());
  ASSERT_TRUE(DequantizeRow(DType::kQ5_1, b1, y1, 32).ok());
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(y0[j], (q[j] - 16) * 0.125f) << j;
    EXPECT_EQ(y1[j], q[j] * 2.0f + 3.0f) << j;
  }
}

TEST_F(DequantizeTest, Q8_0TwoBlocks) {
  uint8_t b[68];
  std::vector<int> q(64);
  for (int blk = 0; blk < 2; ++blk) {
    PutHalf(b + 34 * blk, blk == 0 ? 0.01f : -3.0f);
    for (int j = 0; j < 32; ++j) {
      q[32 * blk + j] = Rand(-128, 127);
      b[34 * blk + 2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q[32 * blk + j]));
    }
  }
  float y[64];
  ASSERT_TRUE(DequantizeRow(DType::kQ8_0, b, y, 64).ok());
  for (int j = 0; j < 64; ++j) EXPECT_EQ(y[j], q[j] * (j < 32 ? RoundHalf(0.01f) : -3.0f)) << j;
}

TEST_F(DequantizeTest, Q8_K) {
  uint8_t b[292] = {};
  const float d = 0.37f;
  std::memcpy(b, &d, 4);
  std::vector<int> q(256);
  for (int j = 0; j < 256; ++j) {
    q[j] = Rand(-127, 127);
    b[4 + j] = static_cast<uint8_t>(static_cast<int8_t>(q[j]));
  }
  float y[256];
  ASSERT_TRUE(DequantizeRow(DType::kQ8_K, b, y, 256).ok());
  for (int j = 0; j < 256; ++j) EXPECT_EQ(y[j], q[j] * d) << j;
}

// Packs eight 6-bit scales and mins the way the K-quant formats store them.
void PackScalesK4(const int* sc, const int* mn, uint8_t* out) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      out[j] = static_cast<uint8_t>(sc[j]);
      out[j + 4] = static_cast<uint8_t>(mn[j]);
    } else {
      out[j + 4] = static_cast<uint8_t>((sc[j] & 0x0f) | (mn[j] & 0x0f) << 4);
      out[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      out[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}

TEST_F(DequantizeTest, Q4_KAndQ5_K) {
  int sc[8], mn[8];
  for (int j = 0; j < 8; ++j) sc[j] = Rand(0, 63), mn[j] = Rand(0, 63);
  std::vector<int> q4(256), q5(256);
  for (int i = 0; i < 256; ++i) q4[i] = Rand(0, 15), q5[i] = Rand(0, 31);
  uint8_t b4[144] = {}, b5[176] = {};
  const float d = 0.03125f, dmin = 0.0625f;
  PutHalf(b4, d), PutHalf(b4 + 2, dmin), PutHalf(b5, d), PutHalf(b5 + 2, dmin);
  PackScalesK4(sc, mn, b4 + 4);
  PackScalesK4(sc, mn, b5 + 4);
  // Element i: 64-element chunk c, low nibble for the first 32 of the chunk, high nibble for the rest.
  for (int i = 0; i < 256; ++i) {
    const int c = i / 64, l = i % 32;
    const bool high = (i % 64) >= 32;
    b4[16 + 32 * c + l] |= static_cast<uint8_t>(high ? q4[i] << 4 : q4[i]);
    b5[48 + 32 * c + l] |= static_cast<uint8_t>(high ? (q5[i] & 15) << 4 : (q5[i] & 15));
    b5[16 + l] |= static_cast<uint8_t>((q5[i] >> 4) << (2 * c + (high ? 1 : 0)));
  }
  float y4[256], y5[256];
  ASSERT_TRUE(DequantizeRow(DType::kQ4_K, b4, y4, 256).ok());
  ASSERT_TRUE(DequantizeRow(DType::kQ5_K, b5, y5, 256).ok());
  for (int i = 0; i < 256; ++i) {
    const int s = i / 32;
    EXPECT_FLOAT_EQ(y4[i], d * sc[s] * q4[i] - dmin * mn[s]) << i;
    EXPECT_FLOAT_EQ(y5[i], d * sc[s] * q5[i] - dmin * mn[s]) << i;
  }
}

TEST_F(DequantizeTest, Q6_K) {
  int sc[16];
  for (int& s : sc) s = Rand(-128, 127);
  std::vector<int> q(256);
  for (int& v : q) v = Rand(0, 63);
  uint8_t b[210] = {};
  for (int j = 0; j < 16; ++j) b[192 + j] = static_cast<uint8_t>(static_cast<int8_t>(sc[j]));
  PutHalf(b + 208, 0.5f);
  // Per 128-element half: quarter k of the half takes a nibble of ql and two bits of qh.
  for (int i = 0; i < 256; ++i) {
    const int n = i / 128, k = (i % 128) / 32, l = i % 32;
    const int ql_index = 64 * n + l + (k % 2) * 32;
    b[ql_index] |= static_cast<uint8_t>(k < 2 ? (q[i] & 15) : (q[i] & 15) << 4);
    b[128 + 32 * n + l] |= static_cast<uint8_t>((q[i] >> 4) << (2 * k));
  }
  float y[256];
  ASSERT_TRUE(DequantizeRow(DType::kQ6_K, b, y, 256).ok());
  for (int i = 0; i < 256; ++i) EXPECT_FLOAT_EQ(y[i], 0.5f * sc[i / 16] * (q[i] - 32)) << i;
}

// Q2_K and Q3_K share the 2-bit layout: element i of a 128-element half n sits in qs byte 32n + i % 32, at bit
// plane (i % 128) / 32; its scale is group i / 16.
TEST_F(DequantizeTest, Q2_K) {
  int sc[16], mn[16];
  for (int j = 0; j < 16; ++j) sc[j] = Rand(0, 15), mn[j] = Rand(0, 15);
  std::vector<int> q(256);
  for (int& v : q) v = Rand(0, 3);
  uint8_t b[84] = {};
  for (int j = 0; j < 16; ++j) b[j] = static_cast<uint8_t>(sc[j] | mn[j] << 4);
  for (int i = 0; i < 256; ++i) b[16 + 32 * (i / 128) + i % 32] |= static_cast<uint8_t>(q[i] << (2 * ((i % 128) / 32)));
  PutHalf(b + 80, 0.25f);
  PutHalf(b + 82, 0.125f);
  float y[256];
  ASSERT_TRUE(DequantizeRow(DType::kQ2_K, b, y, 256).ok());
  for (int i = 0; i < 256; ++i) EXPECT_FLOAT_EQ(y[i], 0.25f * sc[i / 16] * q[i] - 0.125f * mn[i / 16]) << i;
}

// Q3_K: the high bit of element i is bit i / 32 of hmask byte i % 32 (set: no offset of -4); the 6-bit scale
// j has its low nibble in byte j (j < 8) or the high nibble of byte j - 8, its top two bits in byte
// 8 + j % 4 at bits 2 (j / 4).
TEST_F(DequantizeTest, Q3_K) {
  int sc[16];
  for (int& s : sc) s = Rand(0, 63);
  std::vector<int> q(256), high(256);
  for (int i = 0; i < 256; ++i) q[i] = Rand(0, 3), high[i] = Rand(0, 1);
  uint8_t b[110] = {};
  for (int i = 0; i < 256; ++i) {
    b[i % 32] |= static_cast<uint8_t>(high[i] << (i / 32));
    b[32 + 32 * (i / 128) + i % 32] |= static_cast<uint8_t>(q[i] << (2 * ((i % 128) / 32)));
  }
  for (int j = 0; j < 16; ++j) {
    b[96 + j % 8] |= static_cast<uint8_t>((sc[j] & 15) << (j < 8 ? 0 : 4));
    b[96 + 8 + j % 4] |= static_cast<uint8_t>((sc[j] >> 4) << (2 * (j / 4)));
  }
  PutHalf(b + 108, 0.5f);
  float y[256];
  ASSERT_TRUE(DequantizeRow(DType::kQ3_K, b, y, 256).ok());
  for (int i = 0; i < 256; ++i) {
    EXPECT_FLOAT_EQ(y[i], 0.5f * (sc[i / 16] - 32) * (q[i] - (high[i] ? 0 : 4))) << i;
  }
}

TEST_F(DequantizeTest, UnsupportedAndPartialBlocksAreErrors) {
  uint8_t b[256] = {};
  float y[256];
  EXPECT_FALSE(CanDequantize(DType::kQ8_1));
  const absl::Status s = DequantizeRow(DType::kQ8_1, b, y, 256);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("q8_1"), absl::string_view::npos);
  EXPECT_FALSE(DequantizeRow(DType::kQ8_0, b, y, 31).ok());
}

}  // namespace
}  // namespace ggrt
