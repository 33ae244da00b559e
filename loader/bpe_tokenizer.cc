#include "loader/bpe_tokenizer.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "loader/symbol_merge.h"
#include "loader/unicode.h"

namespace ggrt {
namespace {

}  // namespace

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Create(const GgufFile& file) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  RETURN_IF_ERROR(t->LoadVocab(file));
  if (!file.Has("tokenizer.ggml.pre")) {
    // As llama.cpp: the default regexes, with a warning.
    t->pre_ = PreTokenizer::Default();
    t->warning_ = "the BPE vocabulary names no pre-tokenizer (tokenizer.ggml.pre); using llama.cpp's default "
                  "regexes, which may split text unlike the model's own tokenizer";
  } else {
    ASSIGN_OR_RETURN(const std::string pre, file.GetString("tokenizer.ggml.pre"));
    auto kind = PreTokenizer::FromName(pre);
    if (!kind.ok()) {
      return absl::Status(kind.status().code(), absl::StrCat(file.path(), ": ", kind.status().message()));
    }
    t->pre_ = *std::move(kind);
  }
  t->add_bos_ = t->pre_.add_bos();
  if (file.Has("tokenizer.ggml.add_bos_token")) {
    ASSIGN_OR_RETURN(t->add_bos_, file.GetBool("tokenizer.ggml.add_bos_token"));
  }

  ASSIGN_OR_RETURN(const std::vector<std::string> merges, file.GetStringArray("tokenizer.ggml.merges"));
  t->merge_ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const size_t space = merges[i].find(' ', 1);
    if (space == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": tokenizer.ggml.merges[", i, "] = '", merges[i], "' is not 'a b'"));
    }
    t->merge_ranks_.emplace(merges[i], static_cast<int>(i));
  }

  // GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest map to U+0100 onwards.
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const uint32_t cp = printable ? b : next++;
    AppendUtf8(cp, &t->byte_to_unicode_[b]);
    t->unicode_to_byte_[cp] = static_cast<uint8_t>(b);
  }
  return t;
}

int BpeTokenizer::MergeRank(absl::string_view left, absl::string_view right) const {
  auto it = merge_ranks_.find(absl::StrCat(left, " ", right));
  return it == merge_ranks_.end() ? -1 : it->second;
}

void BpeTokenizer::EncodeFragment(absl::string_view text, bool, std::vector<int32_t>* out) const {
  for (absl::string_view word : pre_.Split(text)) EncodeWord(word, out);
}

void BpeTokenizer::EncodeWord(absl::string_view word, std::vector<int32_t>* out) const {
  std::string mapped;
  for (unsigned char c : word) mapped += byte_to_unicode_[c];
  if (pre_.ignore_merges()) {
    if (const int32_t id = Find(mapped); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  // Lower merge ranks merge first.
  const std::vector<absl::string_view> pieces =
      MergeSymbols(mapped, [&](absl::string_view l, absl::string_view r) -> std::optional<double> {
        const int rank = MergeRank(l, r);
        if (rank < 0) return std::nullopt;
        return -static_cast<double>(rank);
      });
  for (absl::string_view p : pieces) {
    if (const int32_t id = Find(p); id >= 0) {
      out->push_back(id);
      continue;
    }
    // A piece outside the vocabulary: one token per byte of its text, where those exist.
    for (char c : p) {
      if (const int32_t id = Find(absl::string_view(&c, 1)); id >= 0) out->push_back(id);
    }
  }
}

std::string BpeTokenizer::PieceBytes(int32_t id) const {
  std::string out;
  for (const Utf8Char& ch : DecodeUtf8(tokens_[id])) {
    auto it = unicode_to_byte_.find(ch.cp);
    if (it != unicode_to_byte_.end()) {
      out += static_cast<char>(it->second);
    } else {
      AppendUtf8(ch.cp, &out);
    }
  }
  return out;
}

}  // namespace ggrt
