#include "loader/special_tokens.h"

#include <algorithm>

namespace ggrt {

SpecialTokenMatcher::SpecialTokenMatcher(std::vector<std::pair<std::string, int32_t>> specials) {
  std::erase_if(specials, [](const auto& s) { return s.first.empty(); });
  std::stable_sort(specials.begin(), specials.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  specials.erase(std::unique(specials.begin(), specials.end(),
                             [](const auto& a, const auto& b) { return a.first == b.first; }),
                 specials.end());
  for (const auto& s : specials) first_bytes_.set(static_cast<uint8_t>(s.first[0]));
  texts_ = std::move(specials);
}

SpecialTokenMatcher::Match SpecialTokenMatcher::LongestPrefix(absl::string_view text) const {
  Match best;
  if (text.empty() || !first_bytes_.test(static_cast<uint8_t>(text[0]))) return best;
  // Invariant: texts_[lo, hi) are the specials that start with text[0, depth). Sorted order puts the one
  // equal to that prefix, if any, first.
  auto lo = texts_.begin(), hi = texts_.end();
  for (size_t depth = 0; lo != hi; ++depth) {
    if (lo->first.size() == depth) {
      best = {lo->second, depth};
      ++lo;
    }
    if (depth == text.size()) break;
    const uint8_t c = static_cast<uint8_t>(text[depth]);
    // Every text left in the range is longer than `depth`.
    lo = std::lower_bound(lo, hi, c, [depth](const auto& s, uint8_t v) {
      return static_cast<uint8_t>(s.first[depth]) < v;
    });
    hi = std::upper_bound(lo, hi, c, [depth](uint8_t v, const auto& s) {
      return v < static_cast<uint8_t>(s.first[depth]);
    });
  }
  return best;
}

}  // namespace ggrt
