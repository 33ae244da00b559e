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
  float* out;  // [rows, dim]
};
cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_RMS_NORM_H_
