#include "loader/unicode.h"

#include "gtest/gtest.h"

namespace ggrt {
namespace {

TEST(UnicodeTest, DecodesAndReencodes) {
  const std::string s = "a\xc3\xbc\xe2\x96\x81\xf0\x9f\xa6\x99";  // a ü ▁ 🦙
  const auto chars = DecodeUtf8(s);
  ASSERT_EQ(chars.size(), 4u);
  EXPECT_EQ(chars[1].cp, 0xfcu);
  EXPECT_EQ(chars[2].cp, 0x2581u);
  EXPECT_EQ(chars[3].cp, 0x1f999u);
  EXPECT_EQ(chars[3].offset, 6u);
  std::string out;
  for (const auto& c : chars) AppendUtf8(c.cp, &out);
  EXPECT_EQ(out, s);
}

TEST(UnicodeTest, InvalidBytesBecomeReplacementCharsThatTileTheInput) {
  const auto chars = DecodeUtf8("x\xff\xe2\x96");
  ASSERT_EQ(chars.size(), 4u);
  EXPECT_EQ(chars[1].cp, 0xfffdu);
  EXPECT_EQ(chars[3].offset, 3u);
}

TEST(UnicodeTest, Classes) {
  EXPECT_TRUE(IsLetter('q'));
  EXPECT_TRUE(IsLetter(0x0416));   // Cyrillic Zhe.
  EXPECT_TRUE(IsLetter(0x6211));   // CJK 我.
  EXPECT_FALSE(IsLetter(0x17b6));  // Khmer vowel sign: a mark, not a letter.
  EXPECT_TRUE(IsNumber('7'));
  EXPECT_TRUE(IsNumber(0xbd));  // ½
  EXPECT_FALSE(IsNumber('x'));
  EXPECT_TRUE(IsWhitespace('\t'));
  EXPECT_TRUE(IsWhitespace(0x3000));
  EXPECT_FALSE(IsWhitespace(0x200d));  // Zero-width joiner is not White_Space.
}

}  // namespace
}  // namespace ggrt
