// A small backtracking regex engine over Unicode code points, for the pre-tokenizer regexes that llama.cpp's
// llama-vocab.cpp lists (the tokenizer.json patterns of byte-level BPE vocabularies). Leftmost-first (Perl)
// semantics: alternatives in order, greedy quantifiers, as std::regex and the Hugging Face tokenizers
// match.
//
// Syntax: literals (UTF-8), `.`, `$`, escapes (\r \n \t \s \S \d \D and escaped punctuation), \p{X} and
// \P{X} for X in L Lu Ll Lt Lm Lo M N P S, classes [...] with ranges, negation and the escapes above,
// groups ( ), (?: ), (?i: ) (ASCII case-insensitive), lookaheads (?= ) (?! ), and the quantifiers ? * +
// {n} {n,} {n,m}. Anything else is an error naming the pattern and the offset.
#ifndef GGRT_LOADER_UNICODE_REGEX_H_
#define GGRT_LOADER_UNICODE_REGEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ggrt {

class UnicodeRegex {
 public:
  static absl::StatusOr<UnicodeRegex> Compile(absl::string_view pattern);

  UnicodeRegex(UnicodeRegex&&) noexcept;
  UnicodeRegex& operator=(UnicodeRegex&&) noexcept;
  ~UnicodeRegex();

  // End of the match of the whole pattern starting exactly at text[at] (an index into the code points),
  // or -1. The text ends at text.size(): `$` matches there and lookaheads see nothing beyond.
  int64_t MatchAt(absl::Span<const uint32_t> text, size_t at) const;

  const std::string& pattern() const { return pattern_; }

  struct Node;

 private:
  UnicodeRegex() = default;
  std::string pattern_;
  std::vector<std::unique_ptr<Node>> nodes_;  // Owns every node; nodes_[0] is the root.
};

}  // namespace ggrt

#endif  // GGRT_LOADER_UNICODE_REGEX_H_
