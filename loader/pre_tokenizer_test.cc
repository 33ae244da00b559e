#include "loader/pre_tokenizer.h"

#include <string>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

std::vector<std::string> Split(PreTokenizer k, const std::string& s) {
  std::vector<std::string> out;
  for (absl::string_view w : PreTokenize(k, s)) out.emplace_back(w);
  return out;
}

using V = std::vector<std::string>;

TEST(PreTokenizerTest, Qwen2SplitsDigitsOneByOne) {
  EXPECT_EQ(Split(PreTokenizer::kQwen2, "abc 1234"), (V{"abc", " ", "1", "2", "3", "4"}));
  EXPECT_EQ(Split(PreTokenizer::kLlama3, "abc 1234"), (V{"abc", " ", "123", "4"}));
  EXPECT_EQ(Split(PreTokenizer::kGpt2, "abc 1234"), (V{"abc", " 1234"}));
}

TEST(PreTokenizerTest, ContractionsAndPunctuation) {
  EXPECT_EQ(Split(PreTokenizer::kQwen2, "I'VE been, 'told"), (V{"I", "'VE", " been", ",", " '", "told"}));
  // gpt-2's contractions are case-sensitive.
  EXPECT_EQ(Split(PreTokenizer::kGpt2, "I'VE it's"), (V{"I", "'", "VE", " it", "'s"}));
}

TEST(PreTokenizerTest, WhitespaceRules) {
  // \s+(?!\S) leaves the last space to the next word.
  EXPECT_EQ(Split(PreTokenizer::kQwen2, "a   b"), (V{"a", "  ", " b"}));
  // \s*[\r\n]+ takes whitespace through the last newline.
  EXPECT_EQ(Split(PreTokenizer::kQwen2, "a \n\n b"), (V{"a", " \n\n", " b"}));
  EXPECT_EQ(Split(PreTokenizer::kQwen2, "x  "), (V{"x", "  "}));
  EXPECT_EQ(Split(PreTokenizer::kQwen2, "!!\n\nx"), (V{"!!\n\n", "x"}));
}

TEST(PreTokenizerTest, WordsTileTheInput) {
  const std::string s = "Hello, y'all! How are you \xf0\x9f\x98\x81 ?\xe6\x88\x91 1314151\n\t x";
  for (PreTokenizer k : {PreTokenizer::kGpt2, PreTokenizer::kLlama3, PreTokenizer::kQwen2, PreTokenizer::kStarcoder}) {
    std::string joined;
    for (const std::string& w : Split(k, s)) {
      EXPECT_FALSE(w.empty());
      joined += w;
    }
    EXPECT_EQ(joined, s);
  }
}

// starcoder: \p{N} first, then gpt-2 within each remaining piece: a space before a number stays apart.
TEST(PreTokenizerTest, StarcoderSplitsDigitsFirst) {
  EXPECT_EQ(Split(PreTokenizer::kStarcoder, "abc 123 x"), (V{"abc", " ", "1", "2", "3", " x"}));
  EXPECT_EQ(Split(PreTokenizer::kStarcoder, "v2.0's"), (V{"v", "2", ".", "0", "'s"}));
  EXPECT_EQ(Split(PreTokenizer::kStarcoder, "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(Split(PreTokenizer::kStarcoder, ""), V{});
}

TEST(PreTokenizerTest, LlamaCppNamesMapToTheirRegexes) {
  EXPECT_EQ(*PreTokenizerFromName("mpt"), PreTokenizer::kGpt2);
  EXPECT_EQ(*PreTokenizerFromName("falcon3"), PreTokenizer::kLlama3);
  EXPECT_EQ(*PreTokenizerFromName("deepseek-r1-qwen"), PreTokenizer::kQwen2);
  EXPECT_EQ(*PreTokenizerFromName("command-r"), PreTokenizer::kStarcoder);
  EXPECT_TRUE(IgnoresMerges(PreTokenizer::kLlama3));
  EXPECT_FALSE(IgnoresMerges(PreTokenizer::kQwen2));
}

TEST(PreTokenizerTest, UnknownNameIsAnError) {
  EXPECT_TRUE(PreTokenizerFromName("qwen2").ok());
  EXPECT_TRUE(PreTokenizerFromName("llama-bpe").ok());
  const auto s = PreTokenizerFromName("deepseek-coder");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("deepseek-coder"), std::string::npos);
}

}  // namespace
}  // namespace ggrt
