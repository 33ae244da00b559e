// UTF-8 decoding and the Unicode classes the pre-tokenizers need (\p{L}, \p{N}, \s and the other general
// categories their regexes name).
#ifndef GGRT_LOADER_UNICODE_H_
#define GGRT_LOADER_UNICODE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ggrt {

struct CodepointRange {
  uint32_t first;
  uint32_t last;
};

// One decoded code point and where its bytes are in the input. Invalid UTF-8 yields U+FFFD covering one byte,
// so the spans always tile the input.
struct Utf8Char {
  uint32_t cp;
  uint32_t offset;
  uint32_t size;
};

std::vector<Utf8Char> DecodeUtf8(absl::string_view s);
void AppendUtf8(uint32_t cp, std::string* out);
// Length of the sequence a lead byte starts (1 for continuation or invalid bytes).
int Utf8SequenceLength(uint8_t lead);

bool IsLetter(uint32_t cp);
bool IsNumber(uint32_t cp);
bool IsWhitespace(uint32_t cp);  // Unicode White_Space.

// The general categories the pre-tokenizer regexes name (\p{L}, \p{Lu}, ..., \s).
enum class UnicodeCategory {
  kLetter, kUppercase, kLowercase, kTitlecase, kModifierLetter, kOtherLetter, kMark, kNumber, kPunctuation,
  kSymbol, kWhitespace,
};
bool InCategory(UnicodeCategory c, uint32_t cp);

}  // namespace ggrt

#endif  // GGRT_LOADER_UNICODE_H_
