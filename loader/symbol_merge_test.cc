#include "loader/symbol_merge.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

std::vector<std::string> Merge(absl::string_view text, const std::map<std::string, double>& pairs) {
  std::vector<std::string> out;
  for (absl::string_view p : MergeSymbols(text, [&](absl::string_view l, absl::string_view r) -> std::optional<double> {
         auto it = pairs.find(std::string(l) + "+" + std::string(r));
         if (it == pairs.end()) return std::nullopt;
         return it->second;
       })) {
    out.emplace_back(p);
  }
  return out;
}

TEST(SymbolMergeTest, HighestPriorityFirstThenLeftmost) {
  // "ab" outranks "bc", so "abc" becomes ab+c; then ab+c merges.
  EXPECT_EQ(Merge("abc", {{"a+b", 2}, {"b+c", 1}}), (std::vector<std::string>{"ab", "c"}));
  EXPECT_EQ(Merge("abc", {{"a+b", 2}, {"b+c", 1}, {"ab+c", 0}}), (std::vector<std::string>{"abc"}));
  // Equal priorities: the leftmost pair merges first.
  EXPECT_EQ(Merge("aaa", {{"a+a", 1}}), (std::vector<std::string>{"aa", "a"}));
  EXPECT_TRUE(MergeSymbols("", [](absl::string_view, absl::string_view) { return std::optional<double>(); }).empty());
}

TEST(SymbolMergeTest, SymbolsAreUtf8Characters) {
  // "é" (2 bytes) and "ß" (2 bytes) are single symbols.
  EXPECT_EQ(Merge("\xc3\xa9\xc3\x9fx", {{"\xc3\x9f+x", 1}}),
            (std::vector<std::string>{"\xc3\xa9", "\xc3\x9fx"}));
}

}  // namespace
}  // namespace ggrt
