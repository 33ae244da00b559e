#include "loader/unicode.h"

#include <algorithm>

namespace ggrt {

extern const CodepointRange kLetterRanges[];
extern const size_t kLetterRangesSize;
extern const CodepointRange kNumberRanges[];
extern const size_t kNumberRangesSize;
extern const CodepointRange kUppercaseRanges[], kLowercaseRanges[], kTitlecaseRanges[], kModifierLetterRanges[],
    kOtherLetterRanges[], kMarkRanges[], kPunctuationRanges[], kSymbolRanges[];
extern const size_t kUppercaseRangesSize, kLowercaseRangesSize, kTitlecaseRangesSize, kModifierLetterRangesSize,
    kOtherLetterRangesSize, kMarkRangesSize, kPunctuationRangesSize, kSymbolRangesSize;

namespace {

bool InRanges(const CodepointRange* ranges, size_t n, uint32_t cp) {
  const CodepointRange* end = ranges + n;
  const CodepointRange* it =
      std::upper_bound(ranges, end, cp, [](uint32_t c, const CodepointRange& r) { return c < r.first; });
  return it != ranges && cp <= (it - 1)->last;
}

}  // namespace

int Utf8SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) return 2;
  if ((lead & 0xf0) == 0xe0) return 3;
  if ((lead & 0xf8) == 0xf0) return 4;
  return 1;
}

std::vector<Utf8Char> DecodeUtf8(absl::string_view s) {
  std::vector<Utf8Char> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const int len = Utf8SequenceLength(p[i]);
    uint32_t cp = 0xfffd;
    int used = 1;
    if (len == 1 && p[i] < 0x80) {
      cp = p[i];
    } else if (len > 1 && i + len <= n) {
      uint32_t c = p[i] & (0x7f >> len);
      bool ok = true;
      for (int k = 1; k < len; ++k) {
        if ((p[i + k] & 0xc0) != 0x80) ok = false;
        c = (c << 6) | (p[i + k] & 0x3f);
      }
      if (ok) {
        cp = c;
        used = len;
      }
    }
    out.push_back({cp, static_cast<uint32_t>(i), static_cast<uint32_t>(used)});
    i += used;
  }
  return out;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

bool IsLetter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return InRanges(kLetterRanges, kLetterRangesSize, cp);
}

bool IsNumber(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return InRanges(kNumberRanges, kNumberRangesSize, cp);
}

bool IsWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
         cp == 0x3000;
}

bool InCategory(UnicodeCategory c, uint32_t cp) {
  switch (c) {
    case UnicodeCategory::kLetter: return IsLetter(cp);
    case UnicodeCategory::kNumber: return IsNumber(cp);
    case UnicodeCategory::kUppercase: return InRanges(kUppercaseRanges, kUppercaseRangesSize, cp);
    case UnicodeCategory::kLowercase: return InRanges(kLowercaseRanges, kLowercaseRangesSize, cp);
    case UnicodeCategory::kTitlecase: return InRanges(kTitlecaseRanges, kTitlecaseRangesSize, cp);
    case UnicodeCategory::kModifierLetter: return InRanges(kModifierLetterRanges, kModifierLetterRangesSize, cp);
    case UnicodeCategory::kOtherLetter: return InRanges(kOtherLetterRanges, kOtherLetterRangesSize, cp);
    case UnicodeCategory::kMark: return InRanges(kMarkRanges, kMarkRangesSize, cp);
    case UnicodeCategory::kPunctuation: return InRanges(kPunctuationRanges, kPunctuationRangesSize, cp);
    case UnicodeCategory::kSymbol: return InRanges(kSymbolRanges, kSymbolRangesSize, cp);
    case UnicodeCategory::kWhitespace: return IsWhitespace(cp);
  }
  return false;
}

}  // namespace ggrt
