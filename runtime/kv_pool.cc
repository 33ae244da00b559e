#include "runtime/kv_pool.h"

#include "absl/strings/str_cat.h"
#include "base/check.h"

namespace ggrt {

KvPool::KvPool(int pages) : in_use_(pages, false) {
  // Page 0 goes out first.
  for (int p = pages - 1; p >= 0; --p) free_.push_back(p);
}

absl::StatusOr<std::vector<int32_t>> KvPool::Take(int count) {
  if (count < 0 || count > free_pages()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the KV pool has ", free_pages(), " of ", total_pages(), " pages free, not ", count));
  }
  std::vector<int32_t> pages(free_.end() - count, free_.end());
  free_.resize(free_.size() - count);
  for (int32_t p : pages) in_use_[p] = true;
  return pages;
}

void KvPool::Return(absl::Span<const int32_t> pages) {
  for (int32_t p : pages) {
    GGRT_CHECK(p >= 0 && p < total_pages() && in_use_[p], "page returned that is not handed out");
    in_use_[p] = false;
    free_.push_back(p);
  }
}

}  // namespace ggrt
