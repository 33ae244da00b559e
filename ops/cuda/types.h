// Element types the CUDA kernels read weights in (the file's dtype stays on the device): floats, and the
// GGUF block formats, read block by block (ops/cuda/quant.cuh).
#ifndef GGRT_OPS_CUDA_TYPES_H_
#define GGRT_OPS_CUDA_TYPES_H_

#include <cstdint>

namespace ggrt::cuda {

// kQ8_0R is no GGUF type but ggrt's own layout of a Q8_0 matrix (the vocabulary, ffn_down), repacked once at load
// (ops/cuda/q8_0_rows.h): each row its k int8 quants, then its k / 32 f16 block scales, padded to 16 bytes, so
// that a lane loads 16 quants with one aligned 16-byte load where Q8_0's 34-byte blocks are 2-byte aligned.
enum class WeightType {
  kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ2_K, kQ3_K, kQ4_K, kQ5_K, kQ6_K, kQ8_0R
};

constexpr bool IsQuantized(WeightType t) {
  return t != WeightType::kF32 && t != WeightType::kF16 && t != WeightType::kBF16;
}

// Bytes of a kQ8_0R row of k elements (k a multiple of 32): the quants, the scales, the padding.
constexpr int64_t Q8_0RowBytes(int64_t k) { return (k + k / 16 + 15) / 16 * 16; }
// Rows of k elements the vocabulary kQ8_0R kernels hold in a warp's registers (at most two 16-byte chunks a
// lane). The vocabulary (token_embd, output) takes the layout, and so do layer matrices with longer rows that
// only plain products read (ffn_down); the layers' other products read the file's blocks.
constexpr int kQ8_0RowsMaxK = 1024;
constexpr bool Q8_0RowsFit(int64_t k) { return k >= 32 && k <= kQ8_0RowsMaxK && k % 32 == 0; }

// Weights in block formats start 16-byte aligned and are allocated at least to the next 16-byte boundary
// past their last byte: the GEMV kernels copy whole aligned 16-byte words (the bytes past a row are
// zero-filled, not fetched, but compute-sanitizer's memcheck counts the whole word as read).
constexpr int64_t kWeightAlignment = 16;
constexpr int64_t WeightAllocationBytes(int64_t bytes) {
  return (bytes + kWeightAlignment - 1) / kWeightAlignment * kWeightAlignment;
}

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_TYPES_H_
