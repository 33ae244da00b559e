#include "ops/cuda/q8_0_rows.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "loader/dtype.h"
#include "ops/cuda/types.h"

namespace ggrt::cuda {

absl::Status RepackQ8_0Rows(const uint8_t* blocks, int64_t rows, int64_t k, uint8_t* out) {
  // A block: its f16 scale, then its int8 quants.
  const int64_t elements = BlockElements(DType::kQ8_0), block_bytes = BlockBytes(DType::kQ8_0);
  if (rows < 0 || k <= 0 || k % elements != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot repack ", rows, " x ", k, " Q8_0: rows must be whole blocks"));
  }
  const int64_t row_bytes = Q8_0RowBytes(k), blocks_per_row = k / elements;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* src = blocks + r * blocks_per_row * block_bytes;
    uint8_t* dst = out + r * row_bytes;
    for (int64_t b = 0; b < blocks_per_row; ++b) {
      std::memcpy(dst + elements * b, src + b * block_bytes + 2, elements);
      std::memcpy(dst + k + 2 * b, src + b * block_bytes, 2);
    }
    std::memset(dst + k + 2 * blocks_per_row, 0, row_bytes - k - 2 * blocks_per_row);
  }
  return absl::OkStatus();
}

}  // namespace ggrt::cuda
