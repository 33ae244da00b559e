#include "loader/spm_tokenizer.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "loader/unicode.h"

namespace ggrt {
namespace {

constexpr absl::string_view kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space.

struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t size;  // 0 once merged into its left neighbour.
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;
};

// Highest score first; among equals, the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

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
  std::vector<Symbol> symbols;
  for (const Utf8Char& ch : DecodeUtf8(text)) {
    const int i = static_cast<int>(symbols.size());
    symbols.push_back({i - 1, i + 1, ch.offset, ch.size});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string piece = text.substr(symbols[left].offset, symbols[left].size + symbols[right].size);
    const int32_t id = Find(piece);
    if (id < 0) return;
    queue.push({left, right, scores_[id], piece.size()});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.size == 0 || right.size == 0 || left.size + right.size != b.size) continue;  // Stale.
    left.size += right.size;
    right.size = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  // Merges only ever form pieces of the vocabulary, so a symbol is a piece or a single character that has
  // none: that one falls back to byte tokens.
  for (int i = 0; i != -1; i = symbols[i].next) {
    const absl::string_view piece = absl::string_view(text).substr(symbols[i].offset, symbols[i].size);
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
