// Pre-tokenizers of byte-level BPE vocabularies: split text into words before BPE merges. Each follows the
// regex named by `tokenizer.ggml.pre`, implemented as a hand-written matcher (leftmost alternative, greedy,
// exactly as the regex engine would choose):
//   gpt-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//           \s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2:  as llama3 with \p{N} (single digits).
#ifndef GGRT_LOADER_PRE_TOKENIZER_H_
#define GGRT_LOADER_PRE_TOKENIZER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ggrt {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2 };

// Accepts the names GGUF files use: "gpt-2", "llama3"/"llama-bpe", "qwen2". Others are an error.
absl::StatusOr<PreTokenizer> PreTokenizerFromName(absl::string_view name);

// Splits `text` into words; the words tile the text exactly.
std::vector<absl::string_view> PreTokenize(PreTokenizer kind, absl::string_view text);

}  // namespace ggrt

#endif  // GGRT_LOADER_PRE_TOKENIZER_H_
