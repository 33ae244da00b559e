// Launchers for RMSNorm and the fused residual add + RMSNorm.
#ifndef GGRT_OPS_CUDA_RMS_NORM_H_
#define GGRT_OPS_CUDA_RMS_NORM_H_

#include <cuda_runtime_api.h>

#include "ops/cuda/types.h"

namespace ggrt::cuda {

struct RmsNormParams {
  const float* x;         // [rows, dim]
  const float* residual;  // Optional [rows, dim]: when set, sum = x + residual is written and normalised.
  float* sum;             // [rows, dim], with residual
  const void* weight;     // [dim] of `type`
  WeightType type;
  int rows;
  int dim;
  float eps;
  float* out;  // [rows, dim], or null with out16
  // Optional [rows, dim] of out16_type (f16 or bf16): the normalised rows rounded as LaunchConvert rounds them
  // (a prefill product's cuBLASLt input, written here instead of by a conversion launch).
  void* out16 = nullptr;
  WeightType out16_type = WeightType::kF16;
};
cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_RMS_NORM_H_
