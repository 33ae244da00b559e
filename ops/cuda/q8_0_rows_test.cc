// The kQ8_0R repack on the host: every chunk of every row decodes (quant.cuh's DecodeQ8_0RChunk, compiled for
// the host) to the values the file's Q8_0 block gives. Runs without a GPU.
#include "ops/cuda/q8_0_rows.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "loader/dtype.h"
#include "loader/quantize.h"
#include "ops/cuda/quant.cuh"

namespace ggrt::cuda {
namespace {

TEST(Q8_0RowsTest, RepackedRowsDecodeToTheBlocksValues) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const int k : {32, 96, 896}) {  // Rows of 1, 3 and 28 blocks: padded by 14, 10 and 8 bytes.
    constexpr int kRows = 5;
    std::vector<float> w(static_cast<size_t>(kRows) * k);
    for (float& v : w) v = normal(rng);
    std::vector<uint8_t> blocks(RowBytes(DType::kQ8_0, w.size()));
    ASSERT_TRUE(QuantizeRow(DType::kQ8_0, w.data(), w.size(), blocks.data()).ok());
    std::vector<uint8_t> rows(kRows * Q8_0RowBytes(k), 0xee);
    ASSERT_TRUE(RepackQ8_0Rows(blocks.data(), kRows, k, rows.data()).ok());
    for (int r = 0; r < kRows; ++r) {
      const uint8_t* row = rows.data() + r * Q8_0RowBytes(k);
      for (int c = 0; c < k / 32; ++c) {
        float want[32], got[32];
        DecodeChunk<WeightType::kQ8_0>(blocks.data() + (static_cast<size_t>(r) * k / 32 + c) * 34, 0, want);
        DecodeQ8_0RChunk(row, k, c, got);
        for (int i = 0; i < 32; ++i) ASSERT_EQ(got[i], want[i]) << "k " << k << " row " << r << " chunk " << c;
      }
      for (int64_t b = k + k / 16; b < Q8_0RowBytes(k); ++b) EXPECT_EQ(row[b], 0) << "padding byte " << b;
    }
  }
}

TEST(Q8_0RowsTest, RowsOfPartialBlocksAreRefused) {
  std::vector<uint8_t> blocks(34), rows(64);
  EXPECT_FALSE(RepackQ8_0Rows(blocks.data(), 1, 33, rows.data()).ok());
  EXPECT_FALSE(RepackQ8_0Rows(blocks.data(), 1, 0, rows.data()).ok());
}

}  // namespace
}  // namespace ggrt::cuda
