// The CUDA kernels' weight type for a GGUF dtype, for the executor's lowering and the kernel benchmark.
#ifndef GGRT_OPS_CUDA_WEIGHT_TYPE_OF_H_
#define GGRT_OPS_CUDA_WEIGHT_TYPE_OF_H_

#include <optional>

#include "loader/dtype.h"
#include "ops/cuda/types.h"

namespace ggrt::cuda {

// nullopt for dtypes no CUDA kernel reads.
inline std::optional<WeightType> WeightTypeOf(DType t) {
  switch (t) {
    case DType::kF32: return WeightType::kF32;
    case DType::kF16: return WeightType::kF16;
    case DType::kBF16: return WeightType::kBF16;
    case DType::kQ8_0: return WeightType::kQ8_0;
    case DType::kQ4_0: return WeightType::kQ4_0;
    case DType::kQ4_1: return WeightType::kQ4_1;
    case DType::kQ5_0: return WeightType::kQ5_0;
    case DType::kQ5_1: return WeightType::kQ5_1;
    case DType::kQ2_K: return WeightType::kQ2_K;
    case DType::kQ3_K: return WeightType::kQ3_K;
    case DType::kQ4_K: return WeightType::kQ4_K;
    case DType::kQ5_K: return WeightType::kQ5_K;
    case DType::kQ6_K: return WeightType::kQ6_K;
    default: return std::nullopt;
  }
}

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_WEIGHT_TYPE_OF_H_
