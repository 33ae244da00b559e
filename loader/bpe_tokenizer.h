// GPT-2 style byte-level BPE tokenizer (`tokenizer.ggml.model` = "gpt2"): text is split by the pre-tokenizer
// named in `tokenizer.ggml.pre`, each word's bytes are mapped to printable code points (GPT-2's
// bytes_to_unicode), and adjacent symbols are merged by the rank of `tokenizer.ggml.merges`.
#ifndef GGRT_LOADER_BPE_TOKENIZER_H_
#define GGRT_LOADER_BPE_TOKENIZER_H_

#include <memory>
#include <string>
#include <unordered_map>

#include "loader/pre_tokenizer.h"
#include "loader/tokenizer.h"

namespace ggrt {

class BpeTokenizer : public Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> Create(const GgufFile& file);

 protected:
  void EncodeFragment(absl::string_view text, bool after_special, std::vector<int32_t>* out) const override;
  std::string PieceBytes(int32_t id) const override;

 private:
  void EncodeWord(absl::string_view word, std::vector<int32_t>* out) const;
  int MergeRank(absl::string_view left, absl::string_view right) const;

  PreTokenizer pre_;
  std::unordered_map<std::string, int> merge_ranks_;  // "left right" -> rank.
  std::string byte_to_unicode_[256];                  // UTF-8 of each byte's printable stand-in.
  std::unordered_map<uint32_t, uint8_t> unicode_to_byte_;
};

}  // namespace ggrt

#endif  // GGRT_LOADER_BPE_TOKENIZER_H_
