// The KV cache layout shared by every backend: per layer a pool of fixed-size pages of kKvPageSize positions
// ([slots, kv_heads * head_dim] rows, f16 or f32), and per sequence a block table mapping its logical page
// p / kKvPageSize to a physical page of the pool. Graphs receive the table after the position in their `pos`
// input (i32[1 + pages]), so a captured decode step reads whatever pages a sequence owns, and several
// sequences can share one pool (batched decode, the server).
#ifndef GGRT_OPS_KV_PAGES_H_
#define GGRT_OPS_KV_PAGES_H_

#include <cstdint>
#include <vector>

#ifdef __CUDACC__
#define GGRT_HOST_DEVICE __host__ __device__
#else
#define GGRT_HOST_DEVICE
#endif

namespace ggrt {

// 32 positions: one decode-attention tile per page, so a warp looks its page up once.
constexpr int kKvPageSize = 32;

// Row of the pool that holds `position` of the sequence whose table is `block_table`; a null table means
// the pages in order (row = position), as kernel tests use.
GGRT_HOST_DEVICE inline int64_t KvSlot(const int32_t* block_table, int position) {
  if (block_table == nullptr) return position;
  return static_cast<int64_t>(block_table[position / kKvPageSize]) * kKvPageSize + position % kKvPageSize;
}

// Where row `row` of a graph's activations sits. With `stride` 0 (a prefill) every row belongs to one sequence,
// at consecutive positions from pos[0], and `block_table` is that sequence's. With `stride` > 0 the rows come
// in spans of `span` consecutive positions, one span per sequence: span 1 is a batched decode step (each row
// its own sequence), span S a batched prefill of S positions per sequence. Span b's record of `stride` ints
// starts at pos[b * stride]: its first position, then its block table; `block_table` then points at span 0's
// table (null: pages in order). A negative position marks a row that pads a decode step's batch-size bucket
// (span 1): kernels leave it alone.
GGRT_HOST_DEVICE inline int RowPosition(const int32_t* pos, int stride, int row, int span = 1) {
  return stride > 0 ? pos[static_cast<int64_t>(row / span) * stride] + row % span : pos[0] + row;
}
GGRT_HOST_DEVICE inline const int32_t* RowBlockTable(const int32_t* block_table, int stride, int row, int span = 1) {
  return block_table != nullptr && stride > 0 ? block_table + static_cast<int64_t>(row / span) * stride
                                              : block_table;
}

// Pages that hold `positions` positions.
GGRT_HOST_DEVICE inline int64_t KvPages(int64_t positions) { return (positions + kKvPageSize - 1) / kKvPageSize; }

// The block table of a sequence that has a pool of `pages` pages to itself. Its pages are handed out last
// first, so that every run goes through a table that is not the identity, as pages from a shared pool will be.
inline std::vector<int32_t> LoneSequenceBlockTable(int64_t pages) {
  std::vector<int32_t> table;
  for (int64_t i = 0; i < pages; ++i) table.push_back(static_cast<int32_t>(pages - 1 - i));
  return table;
}

}  // namespace ggrt

#endif  // GGRT_OPS_KV_PAGES_H_
