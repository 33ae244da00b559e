// Picks the tokenizer a GGUF vocabulary asks for.
#ifndef GGRT_LOADER_LOAD_TOKENIZER_H_
#define GGRT_LOADER_LOAD_TOKENIZER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "loader/gguf_file.h"
#include "loader/tokenizer.h"

namespace ggrt {

// Creates the tokenizer named by `tokenizer.ggml.model` ("llama" = SPM, "gpt2" = byte-level BPE).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const GgufFile& file);

}  // namespace ggrt

#endif  // GGRT_LOADER_LOAD_TOKENIZER_H_
