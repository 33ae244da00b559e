#include "base/quote.h"

#include <string>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

TEST(QuoteTest, PlainNamesAreQuotedAsIs) { EXPECT_EQ(Quote("blk.0.attn_q.weight"), "'blk.0.attn_q.weight'"); }

TEST(QuoteTest, ControlBytesAndQuotesAreEscaped) {
  EXPECT_EQ(Quote(std::string("a\nb'c\0d", 7)), "'a\\nb\\'c\\x00\\x64'");
}

TEST(QuoteTest, LongNamesAreCut) {
  const std::string q = Quote(std::string(1000, 'x'), 10);
  EXPECT_EQ(q, "'xxxxxxxxxx'...(1000 bytes)");
}

}  // namespace
}  // namespace ggrt
