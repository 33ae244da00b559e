#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "loader/bpe_tokenizer.h"
#include "loader/spm_tokenizer.h"
#include "loader/load_tokenizer.h"

namespace ggrt {

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const GgufFile& file) {
  ASSIGN_OR_RETURN(const std::string model, file.GetString("tokenizer.ggml.model"));
  if (model == "llama") {
    ASSIGN_OR_RETURN(auto t, SpmTokenizer::Create(file));
    return std::unique_ptr<Tokenizer>(std::move(t));
  }
  if (model == "gpt2") {
    ASSIGN_OR_RETURN(auto t, BpeTokenizer::Create(file));
    return std::unique_ptr<Tokenizer>(std::move(t));
  }
  return absl::UnimplementedError(absl::StrCat(file.path(), ": unsupported tokenizer model '", model,
                                               "' (tokenizer.ggml.model); supported: llama, gpt2"));
}

}  // namespace ggrt
