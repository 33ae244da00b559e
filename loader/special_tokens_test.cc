#include "loader/special_tokens.h"

#include <random>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

TEST(SpecialTokenMatcherTest, LongestPrefixWins) {
  SpecialTokenMatcher m({{"<|im_start|>", 1}, {"<|im", 2}, {"<|im_end|>", 3}, {"", 4}, {"<s>", 5}});
  EXPECT_EQ(m.size(), 4u);
  EXPECT_EQ(m.LongestPrefix("<|im_start|>user").id, 1);
  EXPECT_EQ(m.LongestPrefix("<|im_start|>user").length, 12u);
  EXPECT_EQ(m.LongestPrefix("<|im_end|>").id, 3);
  EXPECT_EQ(m.LongestPrefix("<|im_stop").id, 2);
  EXPECT_EQ(m.LongestPrefix("<|i").id, -1);
  EXPECT_EQ(m.LongestPrefix("<s>").id, 5);
  EXPECT_EQ(m.LongestPrefix("x<s>").id, -1);
  EXPECT_EQ(m.LongestPrefix("").id, -1);
}

TEST(SpecialTokenMatcherTest, EqualTextsKeepTheFirstId) {
  SpecialTokenMatcher m({{"<a>", 7}, {"<a>", 3}});
  EXPECT_EQ(m.LongestPrefix("<a>").id, 7);
}

// Against the obvious scan over every special, on random short alphabets where prefixes collide a lot.
TEST(SpecialTokenMatcherTest, AgreesWithBruteForce) {
  std::mt19937 rng(5);
  std::vector<std::pair<std::string, int32_t>> specials;
  for (int i = 0; i < 300; ++i) {
    std::string s(1 + rng() % 6, 'a');
    for (char& c : s) c = static_cast<char>('a' + rng() % 3);
    specials.push_back({s, i});
  }
  SpecialTokenMatcher m(specials);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text(rng() % 9, 'a');
    for (char& c : text) c = static_cast<char>('a' + rng() % 4);
    SpecialTokenMatcher::Match want;
    for (const auto& [s, id] : specials) {
      if (absl::string_view(text).substr(0, s.size()) == s && (want.id < 0 || s.size() > want.length)) {
        want = {id, s.size()};
      }
    }
    const SpecialTokenMatcher::Match got = m.LongestPrefix(text);
    EXPECT_EQ(got.id, want.id) << text;
    EXPECT_EQ(got.length, want.length) << text;
  }
}

}  // namespace
}  // namespace ggrt
