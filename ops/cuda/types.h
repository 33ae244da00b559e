// Element types the CUDA kernels read weights in (the file's dtype stays on the device): floats, and the
// GGUF block formats, read block by block (ops/cuda/quant.cuh).
#ifndef GGRT_OPS_CUDA_TYPES_H_
#define GGRT_OPS_CUDA_TYPES_H_

#include <cstdint>

namespace ggrt::cuda {

enum class WeightType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ2_K, kQ3_K, kQ4_K, kQ5_K, kQ6_K };

constexpr bool IsQuantized(WeightType t) {
  return t != WeightType::kF32 && t != WeightType::kF16 && t != WeightType::kBF16;
}

// Weights in block formats start 16-byte aligned and are allocated at least to the next 16-byte boundary
// past their last byte: the GEMV kernels copy whole aligned 16-byte words (the bytes past a row are
// zero-filled, not fetched, but compute-sanitizer's memcheck counts the whole word as read).
constexpr int64_t kWeightAlignment = 16;
constexpr int64_t WeightAllocationBytes(int64_t bytes) {
  return (bytes + kWeightAlignment - 1) / kWeightAlignment * kWeightAlignment;
}

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_TYPES_H_
