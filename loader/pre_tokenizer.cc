#include "loader/pre_tokenizer.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "base/status_macros.h"
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

// The splitting regexes of llama.cpp's llama-vocab.cpp, written as there (the ones with hand-written
// matchers above are recognised by text).
constexpr char kGpt2Regex[] = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr char kLlama3Regex[] =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kQwen2Regex[] =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kBloomRegex[] = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+";
constexpr char kCjkRegex[] = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
constexpr char kSuperbpeCuts[] = "(?=(\\d{3})+(?!\\d))";
constexpr char kGpt4oRegex[] =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct PreTokenizerType {
  std::vector<const char*> names;  // tokenizer.ggml.pre values
  std::vector<const char*> regexes;  // Applied in order, each to the pieces the previous ones left.
  bool ignore_merges = false;        // A word that is a whole token skips BPE merging.
  bool add_bos = false;              // Unless tokenizer.ggml.add_bos_token says otherwise.
};

const std::vector<PreTokenizerType>& Types() {
  static const auto* types = new std::vector<PreTokenizerType>{
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
       {kLlama3Regex}, true, true},
      {{"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"}, {kLlama3Regex}},
      {{"deepseek-llm"},
       {"[\r\n]",
        "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
        "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
        "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
        "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
        "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
        "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
        "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
        "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
        "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
        "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
        "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+", "\\s+$", kCjkRegex, "\\p{N}+"}},
      {{"deepseek-v3", "hunyuan-dense"},
       {"\\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
      {{"deepseek-coder"}, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjkRegex, "\\p{N}"}},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2Regex, "[0-9][0-9][0-9]"}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}, {"\\p{N}", kGpt2Regex}},
      {{"gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
        "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4"},
       {kGpt2Regex}},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "megrez", "stablelm2", "hunyuan", "grok-2"}, {kQwen2Regex}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {kBloomRegex}},
      {{"viking"}, {kBloomRegex, "\\p{N}"}},
      {{"tekken"},
       {R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
       true, true},
      {{"chameleon"},
       {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
        R"([\p{P}!-/:-@\[-`{-~])", kGpt2Regex},
       false, true},
      {{"gpt-4o", "llama4", "minimax-m2"}, {kGpt4oRegex}},
      {{"superbpe"}, {"\\p{N}+", kSuperbpeCuts}},
      {{"bailingmoe", "bailingmoe2", "llada-moe"},
       {R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"}},
      {{"seed-coder"},
       {R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
  };
  return *types;
}

// llama.cpp's regexes for a BPE vocabulary that names no pre-tokenizer.
const PreTokenizerType& DefaultType() {
  static const auto* type = new PreTokenizerType{
      {"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2Regex, "\\p{N}+", "[0-9][0-9][0-9]"}};
  return *type;
}

}  // namespace

struct PreTokenizer::Stage {
  FastMatcher fast = FastMatcher::kNone;
  std::shared_ptr<const UnicodeRegex> regex;
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::PreTokenizer(const PreTokenizer&) = default;
PreTokenizer& PreTokenizer::operator=(const PreTokenizer&) = default;
PreTokenizer::~PreTokenizer() = default;

absl::StatusOr<PreTokenizer> PreTokenizer::Build(absl::string_view name, const std::vector<const char*>& regexes,
                                                 bool ignore_merges, bool add_bos) {
  PreTokenizer p;
  p.name_ = std::string(name);
  p.ignore_merges_ = ignore_merges;
  p.add_bos_ = add_bos;
  for (const char* re : regexes) {
    Stage stage;
    const absl::string_view text = re;
    if (text == kGpt2Regex) {
      stage.fast = FastMatcher::kGpt2;
    } else if (text == kLlama3Regex) {
      stage.fast = FastMatcher::kLlama3;
    } else if (text == kQwen2Regex) {
      stage.fast = FastMatcher::kQwen2;
    } else if (text == kSuperbpeCuts) {
      stage.fast = FastMatcher::kDigitTriples;
    } else {
      ASSIGN_OR_RETURN(UnicodeRegex compiled, UnicodeRegex::Compile(text));
      stage.regex = std::make_shared<const UnicodeRegex>(std::move(compiled));
    }
    p.stages_.push_back(std::move(stage));
  }
  return p;
}

absl::StatusOr<PreTokenizer> PreTokenizer::FromName(absl::string_view name) {
  std::string known;
  for (const PreTokenizerType& type : Types()) {
    for (const char* n : type.names) {
      if (name == n) return Build(name, type.regexes, type.ignore_merges, type.add_bos);
      absl::StrAppend(&known, known.empty() ? "" : ", ", n);
    }
  }
  for (const char* custom : {"kimi-k2", "afmoe"}) {
    if (name == custom) {
      return absl::UnimplementedError(absl::StrCat("pre-tokenizer '", name,
                                                   "' (tokenizer.ggml.pre) splits with llama.cpp's hand-written "
                                                   "code rather than a regex; ggrt does not implement it"));
    }
  }
  for (const char* with_sep : {"jina-v1-en", "jina-v2-code", "roberta-bpe"}) {
    if (name == with_sep) {
      return absl::UnimplementedError(absl::StrCat("pre-tokenizer '", name,
                                                   "' (tokenizer.ggml.pre) appends a SEP token, which ggrt does "
                                                   "not implement"));
    }
  }
  return absl::UnimplementedError(absl::StrCat("unsupported pre-tokenizer '", absl::CHexEscape(name),
                                               "' (tokenizer.ggml.pre); supported: ", known));
}

PreTokenizer PreTokenizer::Default() {
  auto p = Build("default", DefaultType().regexes, false, false);
  GGRT_CHECK(p.ok());  // Fixed patterns: a failure is a programming error.
  return *std::move(p);
}

std::vector<absl::string_view> PreTokenizer::Split(absl::string_view text) const {
  std::vector<absl::string_view> pieces = {text};
  if (text.empty()) return {};
  for (const Stage& stage : stages_) {
    std::vector<absl::string_view> next;
    for (absl::string_view piece : pieces) {
      if (stage.fast == FastMatcher::kDigitTriples) {
        // Cut before each position (but the first) whose run of ASCII digits to its end is a positive multiple
        // of three long. UTF-8 bytes of other characters are never '0'-'9', so bytes serve as positions.
        size_t last = 0, run_end = piece.size();
        std::vector<size_t> cuts;
        for (size_t i = piece.size(); i-- > 0;) {
          const bool digit = piece[i] >= '0' && piece[i] <= '9';
          if (!digit) {
            run_end = i;
            continue;
          }
          if (i > 0 && (run_end - i) % 3 == 0) cuts.push_back(i);
        }
        for (auto it = cuts.rbegin(); it != cuts.rend(); ++it) {
          next.push_back(piece.substr(last, *it - last));
          last = *it;
        }
        next.push_back(piece.substr(last));
        continue;
      }
      if (stage.fast != FastMatcher::kNone) {
        const Text t(piece);
        for (size_t i = 0; i < t.size();) {
          const size_t j = stage.fast == FastMatcher::kGpt2     ? MatchGpt2(t, i)
                           : stage.fast == FastMatcher::kLlama3 ? MatchLlama3(t, i, 3)
                                                                : MatchLlama3(t, i, 1);
          next.push_back(t.Slice(i, j));
          i = j;
        }
        continue;
      }
      // As llama.cpp: every match is a piece, and so is each run of text between matches. The regex sees
      // only this piece ($ at its end, lookaheads see nothing past it); an empty match only cuts.
      const std::vector<Utf8Char> chars = DecodeUtf8(piece);
      std::vector<uint32_t> cps(chars.size());
      for (size_t i = 0; i < chars.size(); ++i) cps[i] = chars[i].cp;
      auto slice = [&](size_t a, size_t b) {
        const size_t begin = chars[a].offset, end = b < chars.size() ? chars[b].offset : piece.size();
        next.push_back(piece.substr(begin, end - begin));
      };
      size_t last = 0;
      for (size_t at = 0; at < cps.size();) {
        const int64_t end = stage.regex->MatchAt(cps, at);
        if (end < 0 || static_cast<size_t>(end) == at) {
          if (end >= 0 && at > last) {
            slice(last, at);
            last = at;
          }
          ++at;
          continue;
        }
        if (at > last) slice(last, at);
        slice(at, static_cast<size_t>(end));
        last = at = static_cast<size_t>(end);
      }
      if (last < cps.size()) slice(last, cps.size());
    }
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace ggrt
