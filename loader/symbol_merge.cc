#include "loader/symbol_merge.h"

#include <queue>

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
  double priority;
  size_t size;  // Bytes of the merged piece when queued; a mismatch later means the entry is stale.
};

struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.priority < b.priority || (a.priority == b.priority && a.left > b.left);
  }
};

}  // namespace

std::vector<absl::string_view> MergeSymbols(absl::string_view text, const MergePriority& priority) {
  std::vector<Symbol> symbols;
  for (const Utf8Char& ch : DecodeUtf8(text)) {
    const int i = static_cast<int>(symbols.size());
    symbols.push_back({i - 1, i + 1, ch.offset, ch.size});
  }
  if (symbols.empty()) return {};
  symbols.back().next = -1;
  auto piece = [&](const Symbol& s) { return text.substr(s.offset, s.size); };

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::optional<double> p = priority(piece(symbols[left]), piece(symbols[right]));
    if (p.has_value()) queue.push({left, right, *p, symbols[left].size + symbols[right].size});
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
  std::vector<absl::string_view> pieces;
  for (int i = 0; i != -1; i = symbols[i].next) pieces.push_back(piece(symbols[i]));
  return pieces;
}

}  // namespace ggrt
