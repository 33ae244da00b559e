// Hands out the pages of an executor's KV page pool (ops/kv_pages.h) to sequences: a page belongs to at most
// one sequence at a time, so no sequence reads or overwrites another's keys and values, and a finished or
// cancelled sequence's pages are free for the next one at once.
#ifndef GGRT_RUNTIME_KV_POOL_H_
#define GGRT_RUNTIME_KV_POOL_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ggrt {

class KvPool {
 public:
  explicit KvPool(int pages);

  int total_pages() const { return static_cast<int>(in_use_.size()); }
  int free_pages() const { return static_cast<int>(free_.size()); }
  int used_pages() const { return total_pages() - free_pages(); }

  // `count` free pages, now owned by the caller; ResourceExhausted when fewer are free (nothing is taken).
  absl::StatusOr<std::vector<int32_t>> Take(int count);
  // Gives pages back. Each must be one Take handed out and not yet returned (CHECKed).
  void Return(absl::Span<const int32_t> pages);

 private:
  std::vector<int32_t> free_;  // A stack: the most recently returned pages go out first, still in cache.
  std::vector<bool> in_use_;
};

}  // namespace ggrt

#endif  // GGRT_RUNTIME_KV_POOL_H_
