// ggrt's kQ8_0R layout (ops/cuda/types.h) of a Q8_0 vocabulary matrix or ffn_down, made once at load from
// the file's blocks. Each row holds its k int8 quants, then its k / 32 f16 scales, padded to 16 bytes, so the
// output projection reads 16 quants a lane with one aligned 16-byte load straight into registers; the file's
// 34-byte blocks are 2-byte aligned and have to go through shared memory. H200, Qwen2.5's 151936 x 896
// logits: 57.5 us from the blocks, 41 us from these rows (tools/device/q8_split_probe.cu, PERF_NOTES.md).
#ifndef GGRT_OPS_CUDA_Q8_0_ROWS_H_
#define GGRT_OPS_CUDA_Q8_0_ROWS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace ggrt::cuda {

// Repacks `rows` rows of k elements of Q8_0 blocks into `out` (rows * Q8_0RowBytes(k) bytes). The values are
// the blocks' own: the same quants and scales, moved.
absl::Status RepackQ8_0Rows(const uint8_t* blocks, int64_t rows, int64_t k, uint8_t* out);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_Q8_0_ROWS_H_
