// Pre-tokenizers of byte-level BPE vocabularies: split text into words before BPE merges. Each follows the
// regex named by `tokenizer.ggml.pre`, implemented as a hand-written matcher (leftmost alternative, greedy,
// exactly as the regex engine would choose):
//   gpt-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//           \s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2:  as llama3 with \p{N} (single digits).
//   starcoder: \p{N} first (every digit its own word), then gpt-2 within the rest -- llama.cpp applies its
//           regexes one after another, each splitting the pieces the previous one left.
#ifndef GGRT_LOADER_PRE_TOKENIZER_H_
#define GGRT_LOADER_PRE_TOKENIZER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ggrt {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2, kStarcoder };

// Accepts the names llama.cpp's llama-vocab.cpp gives these regexes in `tokenizer.ggml.pre`:
//   gpt-2:     gpt-2, gpt2, phi-2, jina-es, jina-de, jina-v2-es, jina-v2-de, jina-v2-code, roberta-bpe,
//              gigachat, mpt, olmo
//   llama3:    llama3, llama-bpe, llama-v3, falcon3, pixtral
//   qwen2:     qwen2, deepseek-r1-qwen, stablelm2, megrez
//   starcoder: starcoder, refact, command-r, smollm, codeshell, exaone, minerva-7b
// Others (deepseek-llm, deepseek-coder, falcon, bloom, chatglm-bpe, ...) are an error naming the key.
absl::StatusOr<PreTokenizer> PreTokenizerFromName(absl::string_view name);

// Whether BPE ignores merges for words that are whole tokens (llama.cpp does so for the llama3 type only).
bool IgnoresMerges(PreTokenizer kind);

// Splits `text` into words; the words tile the text exactly.
std::vector<absl::string_view> PreTokenize(PreTokenizer kind, absl::string_view text);

}  // namespace ggrt

#endif  // GGRT_LOADER_PRE_TOKENIZER_H_
