#include "loader/bpe_tokenizer.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "loader/unicode.h"

namespace ggrt {
namespace {

struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t size;  // 0 once merged into its left neighbour.
};

struct Bigram {
  int left;
  int right;
  int rank;
  size_t size;
};

// Lowest rank first; among equals, the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Create(const GgufFile& file) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  RETURN_IF_ERROR(t->LoadVocab(file));
  if (!file.Has("tokenizer.ggml.pre")) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": BPE vocabulary without tokenizer.ggml.pre; the pre-tokenizer must be named"));
  }
  ASSIGN_OR_RETURN(const std::string pre, file.GetString("tokenizer.ggml.pre"));
  auto kind = PreTokenizerFromName(pre);
  if (!kind.ok()) return absl::Status(kind.status().code(), absl::StrCat(file.path(), ": ", kind.status().message()));
  t->pre_ = *kind;
  t->ignore_merges_ = t->pre_ == PreTokenizer::kLlama3;
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
  for (absl::string_view word : PreTokenize(pre_, text)) EncodeWord(word, out);
}

void BpeTokenizer::EncodeWord(absl::string_view word, std::vector<int32_t>* out) const {
  std::string mapped;
  for (unsigned char c : word) mapped += byte_to_unicode_[c];
  if (ignore_merges_) {
    if (const int32_t id = Find(mapped); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  for (const Utf8Char& ch : DecodeUtf8(mapped)) {
    const int i = static_cast<int>(symbols.size());
    symbols.push_back({i - 1, i + 1, ch.offset, ch.size});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;
  const absl::string_view m(mapped);
  auto piece = [&](const Symbol& s) { return m.substr(s.offset, s.size); };

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int rank = MergeRank(piece(symbols[left]), piece(symbols[right]));
    if (rank < 0) return;
    queue.push({left, right, rank, symbols[left].size + symbols[right].size});
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
  for (int i = 0; i != -1; i = symbols[i].next) {
    const absl::string_view p = piece(symbols[i]);
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
