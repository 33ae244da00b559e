// Pre-tokenizers of byte-level BPE vocabularies: split text into words before BPE merges, with the regexes
// llama.cpp's llama-vocab.cpp gives each `tokenizer.ggml.pre` name, applied one after another (each splits
// the pieces the previous ones left; text between matches stays a piece of its own). The common ones run on
// hand-written matchers that choose exactly as the regex engine would:
//   gpt-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
//   llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//           \s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2:  as llama3 with \p{N} (single digits).
// The rest (deepseek, falcon, bloom, tekken, gpt-4o, ...) run on UnicodeRegex. A BPE vocabulary without
// tokenizer.ggml.pre gets llama.cpp's default regexes (Default(); the loader warns).
#ifndef GGRT_LOADER_PRE_TOKENIZER_H_
#define GGRT_LOADER_PRE_TOKENIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/unicode_regex.h"

namespace ggrt {

class PreTokenizer {
 public:
  // The type llama.cpp gives `name`; an unknown name, or one whose splitting llama.cpp hand-codes (kimi-k2,
  // afmoe) or that appends a SEP token (jina-v1-en, jina-v2-code, roberta-bpe), is an error naming it.
  static absl::StatusOr<PreTokenizer> FromName(absl::string_view name);
  // llama.cpp's fallback for a vocabulary that names none.
  static PreTokenizer Default();

  PreTokenizer();
  PreTokenizer(const PreTokenizer&);
  PreTokenizer& operator=(const PreTokenizer&);
  ~PreTokenizer();

  const std::string& name() const { return name_; }
  // Whether BPE leaves a word that is a whole token unmerged (llama.cpp's llama3 and tekken types).
  bool ignore_merges() const { return ignore_merges_; }
  // Whether the type adds BOS when tokenizer.ggml.add_bos_token is absent (llama3, tekken, chameleon).
  bool add_bos() const { return add_bos_; }

  // Splits `text` into words; the words tile the text exactly.
  std::vector<absl::string_view> Split(absl::string_view text) const;

 private:
  // kDigitTriples: superbpe's (?=(\d{3})+(?!\d)), which cuts a run of digits into threes from its end; as a
  // regex it rescans the rest of the run at every position (quadratic in the run).
  enum class FastMatcher { kNone, kGpt2, kLlama3, kQwen2, kDigitTriples };
  struct Stage;
  static absl::StatusOr<PreTokenizer> Build(absl::string_view name, const std::vector<const char*>& regexes,
                                            bool ignore_merges, bool add_bos);

  std::string name_;
  std::vector<Stage> stages_;
  bool ignore_merges_ = false;
  bool add_bos_ = false;
};

}  // namespace ggrt

#endif  // GGRT_LOADER_PRE_TOKENIZER_H_
