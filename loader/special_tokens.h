// Finds special-token texts (control and user-defined tokens such as <|im_start|>) in a text: at each
// position, the longest special token that starts there. The texts are kept sorted, and a match narrows the
// sorted range one byte at a time (a trie walk done with binary searches), so a lookup costs
// O(match length x log specials) and a position whose first byte starts no special token costs one bitmap
// test. Matching a text is linear in its length for a fixed vocabulary, however many specials there are.
#ifndef GGRT_LOADER_SPECIAL_TOKENS_H_
#define GGRT_LOADER_SPECIAL_TOKENS_H_

#include <bitset>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace ggrt {

class SpecialTokenMatcher {
 public:
  SpecialTokenMatcher() = default;
  // (text, id) pairs; empty texts are skipped and, of equal texts, the first id is kept.
  explicit SpecialTokenMatcher(std::vector<std::pair<std::string, int32_t>> specials);

  struct Match {
    int32_t id = -1;
    size_t length = 0;
  };
  // The longest special token that is a prefix of `text`, or id -1.
  Match LongestPrefix(absl::string_view text) const;

  size_t size() const { return texts_.size(); }

 private:
  std::vector<std::pair<std::string, int32_t>> texts_;  // Sorted by text.
  std::bitset<256> first_bytes_;
};

}  // namespace ggrt

#endif  // GGRT_LOADER_SPECIAL_TOKENS_H_
