// SentencePiece-style tokenizer (`tokenizer.ggml.model` = "llama"): spaces become U+2581, a space is
// prefixed at the start, pieces are merged greedily by score, and characters without a piece fall back to
// <0xNN> byte tokens.
#ifndef GGRT_LOADER_SPM_TOKENIZER_H_
#define GGRT_LOADER_SPM_TOKENIZER_H_

#include <memory>

#include "loader/tokenizer.h"

namespace ggrt {

class SpmTokenizer : public Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<SpmTokenizer>> Create(const GgufFile& file);

 protected:
  void EncodeFragment(absl::string_view text, bool after_special, std::vector<int32_t>* out) const override;
  std::string PieceBytes(int32_t id) const override;

 private:
  int32_t byte_tokens_[256];
};

}  // namespace ggrt

#endif  // GGRT_LOADER_SPM_TOKENIZER_H_
