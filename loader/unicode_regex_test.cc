#include "loader/unicode_regex.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loader/unicode.h"

namespace ggrt {
namespace {

std::vector<uint32_t> Cps(const std::string& s) {
  std::vector<uint32_t> out;
  for (const Utf8Char& c : DecodeUtf8(s)) out.push_back(c.cp);
  return out;
}

// End of the match of `pattern` at code point `at` of `text`, or -1.
int64_t Match(const std::string& pattern, const std::string& text, size_t at = 0) {
  auto re = UnicodeRegex::Compile(pattern);
  EXPECT_TRUE(re.ok()) << re.status();
  if (!re.ok()) return -2;
  return re->MatchAt(Cps(text), at);
}

TEST(UnicodeRegexTest, AlternativesInOrderAndGreedyBacktracking) {
  EXPECT_EQ(Match("a|ab", "ab"), 1);  // Leftmost alternative wins, not the longest.
  EXPECT_EQ(Match("ab|a", "ab"), 2);
  EXPECT_EQ(Match("a+ab", "aaab"), 4);  // The repeat gives back what the rest needs.
  EXPECT_EQ(Match("(?:ab)+c", "ababc"), 5);
  EXPECT_EQ(Match("a{2,3}", "aaaa"), 3);
  EXPECT_EQ(Match("a{2}", "a"), -1);
  EXPECT_EQ(Match("x?y", "y"), 1);
  EXPECT_EQ(Match("b", "ab", 1), 2);
}

TEST(UnicodeRegexTest, LookaheadsAndEnd) {
  EXPECT_EQ(Match("\\s+(?!\\S)", "   x"), 2);  // Leaves the last space for the word after it.
  EXPECT_EQ(Match("\\s+(?!\\S)", "   "), 3);
  EXPECT_EQ(Match("\\s+(?!\\S)", " x"), -1);
  EXPECT_EQ(Match("\\s+$", "  "), 2);
  EXPECT_EQ(Match("\\s+$", "  a"), -1);
  EXPECT_EQ(Match("(?=a)", "a"), 0);  // Zero width.
  // superbpe's cut points: before groups of three digits that end the run.
  const std::string digits = "1234567";
  std::vector<size_t> cuts;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (Match("(?=(\\d{3})+(?!\\d))", digits, i) == static_cast<int64_t>(i)) cuts.push_back(i);
  }
  EXPECT_EQ(cuts, (std::vector<size_t>{1, 4}));
}

TEST(UnicodeRegexTest, ClassesCategoriesAndCase) {
  EXPECT_EQ(Match("[^\\s\\p{L}\\p{N}]+", "!?a"), 2);
  EXPECT_EQ(Match("(?i:'s|'ll)", "'LL"), 3);
  EXPECT_EQ(Match("(?:'[sS])", "'S"), 2);
  EXPECT_EQ(Match("\\p{N}{1,3}", "12345"), 3);
  EXPECT_EQ(Match("\\p{Lu}", "\xc3\x89"), 1);   // É
  EXPECT_EQ(Match("\\p{Ll}", "\xc3\x89"), -1);
  EXPECT_EQ(Match("\\p{P}", "\xe3\x80\x82"), 1);  // 。
  EXPECT_EQ(Match("\\p{S}+", "+<"), 2);
  EXPECT_EQ(Match("\\p{M}", "\xcc\x81"), 1);      // combining acute
  EXPECT_EQ(Match("[\xe4\xb8\x80-\xe9\xbe\xa5]+", "\xe4\xb8\xad\xe6\x96\x87x"), 2);  // [一-龥]+ on 中文x
  EXPECT_EQ(Match("[^(\\s|.,)]+", "ab(c"), 2);  // Parentheses and bars are literal inside a class.
  EXPECT_EQ(Match("[!-/:-@\\[-`{-~]", "["), 1);
  EXPECT_EQ(Match("\\P{L}", "a"), -1);
  EXPECT_EQ(Match(".", "\n"), -1);
}

TEST(UnicodeRegexTest, CaseConditionsWithLookaheads) {
  // tekken / gpt-4o words: capitals (lookahead-checked letters not in a-z), then lower-case letters.
  const std::string word = "((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+";
  EXPECT_EQ(Match(word, "HTMLParser"), 10);
  EXPECT_EQ(Match(word, "HelloWorld"), 5);
  EXPECT_EQ(Match(word, "ABC"), -1);
  EXPECT_EQ(Match(word, "ab1"), 2);
}

TEST(UnicodeRegexTest, LongRunsDoNotRecurse) {
  const std::string letters(200000, 'a');
  EXPECT_EQ(Match("\\p{L}+", letters), 200000);
  EXPECT_EQ(Match("((?=[\\p{L}])([^A-Z]))+", letters), 200000);
}

TEST(UnicodeRegexTest, BadPatternsAreErrorsNamingThePattern) {
  for (const std::string p : {"(abc", "abc)", "a{2,1}", "\\p{Xx}", "a*?", "[abc", "*a", "\\q", "(?<x>a)"}) {
    auto re = UnicodeRegex::Compile(p);
    ASSERT_FALSE(re.ok()) << p;
    EXPECT_NE(re.status().message().find(p), std::string::npos) << re.status();
  }
}

}  // namespace
}  // namespace ggrt
