#include "loader/spm_tokenizer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/quote.h"
#include "base/status_macros.h"
#include "loader/symbol_merge.h"

namespace ggrt {
namespace {

constexpr absl::string_view kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space.

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The byte a "<0xHH>" token stands for, or -1 when the text is not of that form.
int ByteTokenValue(absl::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  const int hi = HexDigit(text[3]), lo = HexDigit(text[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

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
  for (int32_t id = 0; id < t->n_vocab(); ++id) {
    if (t->types_[id] == TokenType::kByte && ByteTokenValue(t->tokens_[id]) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tokenizer.ggml.tokens[", id, "] = ",
                                                     Quote(t->tokens_[id]),
                                                     " is a byte token (token_type 6) but not of the form <0xHH>"));
    }
  }
  // Without an unknown_token_id, the first token typed unknown, else id 0 as llama.cpp does for SPM
  // vocabularies: a character with neither a piece nor a byte token must still map to a real id.
  for (int32_t id = 0; id < t->n_vocab() && t->unk_id_ < 0; ++id) {
    if (t->types_[id] == TokenType::kUnknown) t->unk_id_ = id;
  }
  if (t->unk_id_ < 0) t->unk_id_ = 0;
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
  if (types_[id] == TokenType::kByte) return std::string(1, static_cast<char>(ByteTokenValue(text)));
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
