#include "ops/cuda/q8_0_rows.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "ops/cuda/types.h"

namespace ggrt::cuda {

absl::Status RepackQ8_0Rows(const uint8_t* blocks, int64_t rows, int64_t k, uint8_t* out) {
  if (rows < 0 || k <= 0 || k % 32 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot repack ", rows, " x ", k, " Q8_0: rows must be whole blocks"));
  }
  constexpr int kBlockBytes = 34;  // An f16 scale, then 32 int8.
  const int64_t row_bytes = Q8_0RowBytes(k), blocks_per_row = k / 32;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* src = blocks + r * blocks_per_row * kBlockBytes;
    uint8_t* dst = out + r * row_bytes;
    for (int64_t b = 0; b < blocks_per_row; ++b) {
      std::memcpy(dst + 32 * b, src + b * kBlockBytes + 2, 32);
      std::memcpy(dst + k + 2 * b, src + b * kBlockBytes, 2);
    }
    std::memset(dst + k + 2 * blocks_per_row, 0, row_bytes - k - 2 * blocks_per_row);
  }
  return absl::OkStatus();
}

}  // namespace ggrt::cuda
