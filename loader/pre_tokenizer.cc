#include "loader/pre_tokenizer.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "loader/unicode.h"

namespace ggrt {
namespace {

// The input decoded once, with class predicates that read past the end as "no character".
class Text {
 public:
  explicit Text(absl::string_view s) : s_(s), chars_(DecodeUtf8(s)) {}
  size_t size() const { return chars_.size(); }
  uint32_t At(size_t i) const { return i < chars_.size() ? chars_[i].cp : 0xffffffffu; }
  bool Letter(size_t i) const { return i < size() && IsLetter(At(i)); }
  bool Number(size_t i) const { return i < size() && IsNumber(At(i)); }
  bool Space(size_t i) const { return i < size() && IsWhitespace(At(i)); }
  bool Newline(size_t i) const { return At(i) == '\r' || At(i) == '\n'; }
  // [^\s\p{L}\p{N}]
  bool Other(size_t i) const { return i < size() && !Space(i) && !Letter(i) && !Number(i); }
  absl::string_view Slice(size_t a, size_t b) const {
    const size_t begin = chars_[a].offset;
    const size_t end = b < chars_.size() ? chars_[b].offset : s_.size();
    return s_.substr(begin, end - begin);
  }

 private:
  absl::string_view s_;
  std::vector<Utf8Char> chars_;
};

uint32_t Lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Length of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
size_t Contraction(const Text& t, size_t i, bool ignore_case) {
  if (t.At(i) != '\'') return 0;
  auto c = [&](size_t k) { return ignore_case ? Lower(t.At(i + k)) : t.At(i + k); };
  const uint32_t a = c(1), b = c(2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// End of the whitespace alternatives \s+(?!\S)|\s+ for a run starting at i.
size_t WhitespaceRun(const Text& t, size_t i) {
  size_t j = i;
  while (t.Space(j)) ++j;
  // Followed by a non-space: leave the last space to prefix the next word, unless the run is one char.
  if (j < t.size() && j - i >= 2) return j - 1;
  return j;
}

size_t MatchGpt2(const Text& t, size_t i) {
  if (size_t n = Contraction(t, i, false)) return i + n;
  const size_t k = t.At(i) == ' ' ? i + 1 : i;
  if (t.Letter(k)) {
    size_t j = k;
    while (t.Letter(j)) ++j;
    return j;
  }
  if (t.Number(k)) {
    size_t j = k;
    while (t.Number(j)) ++j;
    return j;
  }
  if (t.Other(k)) {
    size_t j = k;
    while (t.Other(j)) ++j;
    return j;
  }
  if (t.Space(i)) return WhitespaceRun(t, i);
  return i + 1;
}

size_t MatchLlama3(const Text& t, size_t i, size_t max_digits) {
  if (size_t n = Contraction(t, i, true)) return i + n;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  {
    size_t k = i;
    if (!t.Letter(k) && !t.Newline(k) && !t.Number(k)) ++k;
    if (t.Letter(k)) {
      while (t.Letter(k)) ++k;
      return k;
    }
  }
  if (t.Number(i)) {
    size_t j = i;
    while (t.Number(j) && j - i < max_digits) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  {
    const size_t k = t.At(i) == ' ' ? i + 1 : i;
    if (t.Other(k)) {
      size_t j = k;
      while (t.Other(j)) ++j;
      while (t.Newline(j)) ++j;
      return j;
    }
  }
  if (t.Space(i)) {
    // \s*[\r\n]+ : up to and including the last newline of the whitespace run.
    size_t j = i, last_newline = 0;
    bool has_newline = false;
    while (t.Space(j)) {
      if (t.Newline(j)) has_newline = true, last_newline = j;
      ++j;
    }
    if (has_newline) return last_newline + 1;
    return WhitespaceRun(t, i);
  }
  return i + 1;
}

}  // namespace

struct PreTokenizerName {
  const char* name;
  PreTokenizer kind;
};
constexpr PreTokenizerName kNames[] = {
    {"gpt-2", PreTokenizer::kGpt2},         {"gpt2", PreTokenizer::kGpt2},
    {"phi-2", PreTokenizer::kGpt2},         {"jina-es", PreTokenizer::kGpt2},
    {"jina-de", PreTokenizer::kGpt2},       {"jina-v2-es", PreTokenizer::kGpt2},
    {"jina-v2-de", PreTokenizer::kGpt2},    {"jina-v2-code", PreTokenizer::kGpt2},
    {"roberta-bpe", PreTokenizer::kGpt2},   {"gigachat", PreTokenizer::kGpt2},
    {"mpt", PreTokenizer::kGpt2},           {"olmo", PreTokenizer::kGpt2},
    {"llama3", PreTokenizer::kLlama3},      {"llama-bpe", PreTokenizer::kLlama3},
    {"llama-v3", PreTokenizer::kLlama3},    {"falcon3", PreTokenizer::kLlama3},
    {"pixtral", PreTokenizer::kLlama3},     {"qwen2", PreTokenizer::kQwen2},
    {"deepseek-r1-qwen", PreTokenizer::kQwen2}, {"stablelm2", PreTokenizer::kQwen2},
    {"megrez", PreTokenizer::kQwen2},       {"starcoder", PreTokenizer::kStarcoder},
    {"refact", PreTokenizer::kStarcoder},   {"command-r", PreTokenizer::kStarcoder},
    {"smollm", PreTokenizer::kStarcoder},   {"codeshell", PreTokenizer::kStarcoder},
    {"exaone", PreTokenizer::kStarcoder},   {"minerva-7b", PreTokenizer::kStarcoder},
};

absl::StatusOr<PreTokenizer> PreTokenizerFromName(absl::string_view name) {
  std::string known;
  for (const PreTokenizerName& n : kNames) {
    if (name == n.name) return n.kind;
    absl::StrAppend(&known, known.empty() ? "" : ", ", n.name);
  }
  return absl::UnimplementedError(absl::StrCat("unsupported pre-tokenizer '", absl::CHexEscape(name),
                                               "' (tokenizer.ggml.pre); supported: ", known));
}

bool IgnoresMerges(PreTokenizer kind) { return kind == PreTokenizer::kLlama3; }

std::vector<absl::string_view> PreTokenize(PreTokenizer kind, absl::string_view text) {
  const Text t(text);
  std::vector<absl::string_view> words;
  if (kind == PreTokenizer::kStarcoder) {
    // Digits one by one; gpt-2 within each run between them.
    size_t i = 0;
    while (i < t.size()) {
      size_t j = i + 1;
      if (!t.Number(i)) {
        while (j < t.size() && !t.Number(j)) ++j;
        for (absl::string_view w : PreTokenize(PreTokenizer::kGpt2, t.Slice(i, j))) words.push_back(w);
      } else {
        words.push_back(t.Slice(i, j));
      }
      i = j;
    }
    return words;
  }
  size_t i = 0;
  while (i < t.size()) {
    size_t j;
    switch (kind) {
      case PreTokenizer::kGpt2: j = MatchGpt2(t, i); break;
      case PreTokenizer::kLlama3: j = MatchLlama3(t, i, 3); break;
      case PreTokenizer::kQwen2: j = MatchLlama3(t, i, 1); break;
      case PreTokenizer::kStarcoder: j = t.size(); break;  // Handled above.
    }
    words.push_back(t.Slice(i, j));
    i = j;
  }
  return words;
}

}  // namespace ggrt
