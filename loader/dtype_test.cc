#include "loader/dtype.h"

#include "gtest/gtest.h"

namespace ggrt {
namespace {

TEST(DTypeTest, IdsAndSizesMatchGgml) {
  EXPECT_EQ(*DTypeFromId(0), DType::kF32);
  EXPECT_EQ(*DTypeFromId(30), DType::kBF16);
  EXPECT_EQ(*DTypeFromId(14), DType::kQ6_K);
  EXPECT_EQ(RowBytes(DType::kQ8_0, 64), 68);
  EXPECT_EQ(RowBytes(DType::kQ4_K, 512), 288);
  EXPECT_EQ(RowBytes(DType::kF16, 7), 14);
  EXPECT_TRUE(IsQuantized(DType::kQ5_1));
  EXPECT_FALSE(IsQuantized(DType::kBF16));
}

TEST(DTypeTest, UnknownIdAndNameAreErrors) {
  const auto s = DTypeFromId(4);  // Removed from ggml long ago.
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("4"), absl::string_view::npos);
  EXPECT_FALSE(DTypeFromId(1000).ok());
  EXPECT_FALSE(DTypeFromName("q9_9").ok());
  EXPECT_EQ(*DTypeFromName("q5_k"), DType::kQ5_K);
}

TEST(DTypeTest, PartialBlockRowIsAnError) {
  EXPECT_FALSE(RowBytesChecked(DType::kQ4_0, 33).ok());
  EXPECT_EQ(*RowBytesChecked(DType::kQ4_0, 64), 36);
}

}  // namespace
}  // namespace ggrt
