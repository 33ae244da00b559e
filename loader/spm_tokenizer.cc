#include "loader/spm_tokenizer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "loader/symbol_merge.h"

namespace ggrt {
namespace {

constexpr absl::string_view kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space.

}  // namespace

absl::StatusOr<std::unique_ptr<SpmTokenizer>> SpmTokenizer::Create(const GgufFile& file) {
  std::unique_ptr<SpmTokenizer> t(new SpmTokenizer());
  RETURN_IF_ERROR(t->LoadVocab(file));
  t->add_bos_ = true;
  if (file.Has("tokenizer.ggml.add_bos_token")) {
    ASSIGN_OR_RETURN(t->add_bos_, file.GetBool("tokenizer.ggml.add_bos_token"));
  }
  t->add_space_prefix_ = true;
  if (file.Has("tokenizer.ggml.add_space_prefix")) {
    ASSIGN_OR_RETURN(t->add_space_prefix_, file.GetBool("tokenizer.ggml.add_space_prefix"));
  }
  for (int b = 0; b < 256; ++b) {
    t->byte_tokens_[b] = t->Find(absl::StrFormat("<0x%02X>", b));
  }
  return t;
}

void SpmTokenizer::EncodeFragment(absl::string_view fragment, bool after_special,
                                  std::vector<int32_t>* out) const {
  std::string text;
  if (add_space_prefix_ && after_special) text = std::string(kSpace);
  for (char c : fragment) {
    if (c == ' ') {
      text.append(kSpace.data(), kSpace.size());
    } else {
      text += c;
    }
  }
  // A pair merges when the merged piece is in the vocabulary; higher scores merge first.
  const std::vector<absl::string_view> pieces =
      MergeSymbols(text, [&](absl::string_view l, absl::string_view r) -> std::optional<double> {
        const int32_t id = Find(absl::StrCat(l, r));
        if (id < 0) return std::nullopt;
        return scores_[id];
      });
  // Merges only ever form pieces of the vocabulary, so a piece is in it or is a single character that is
  // not: that one falls back to byte tokens.
  for (absl::string_view piece : pieces) {
    if (const int32_t id = Find(piece); id >= 0) {
      out->push_back(id);
      continue;
    }
    for (unsigned char c : piece) out->push_back(byte_tokens_[c] >= 0 ? byte_tokens_[c] : unk_id_);
  }
}

std::string SpmTokenizer::PieceBytes(int32_t id) const {
  const std::string& text = tokens_[id];
  if (types_[id] == TokenType::kByte && text.size() == 6 && text.rfind("<0x", 0) == 0) {
    return std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
  }
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, kSpace.size(), kSpace.data(), kSpace.size()) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

}  // namespace ggrt
