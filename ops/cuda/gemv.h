// Launchers for the decode-step matrix-vector products (one activation row, weights [n, k] in their file
// dtype): plain and multi-output projections, fused gate/up + SwiGLU, and the output projection fused with
// argmax. The first two can normalise x on the fly (RMSNorm prologue) and the plain form can add a residual
// (epilogue), so a layer needs no separate norm or add kernels.
#ifndef GGRT_OPS_CUDA_GEMV_H_
#define GGRT_OPS_CUDA_GEMV_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "ops/cuda/types.h"

namespace ggrt::cuda {

// Weights in GGUF block formats: 16-byte aligned, in allocations of WeightAllocationBytes (ops/cuda/types.h).

// Optional RMSNorm of x before the product: x' = x / sqrt(mean(x^2) + eps) * weight.
struct NormPrologue {
  const void* weight = nullptr;  // [k] of `type` (f32, or the weights' type); null: no normalisation.
  WeightType type = WeightType::kF32;
  float eps = 0.0f;
};

// y_i = W_i x' (+ residual) for up to three weights sharing x (plain matmul: count 1; fused QKV: 3).
struct GemvParams {
  const float* x;  // [k]
  int k;
  WeightType type;
  int count;
  const void* w[3];  // [n_i, k]
  float* y[3];       // [n_i]
  int n[3];
  NormPrologue norm;
  const float* residual = nullptr;  // [n_0], added to y_0; only with count 1.
  // Weights other_from .. count - 1 are of other_type, a block format as `type` then is (a Q4_K_M layer's v in
  // Q6_K beside q and k in Q4_K): still one launch where the two types have a kernel together, else two.
  int other_from = 3;
  WeightType other_type = WeightType::kF32;
};
cudaError_t LaunchGemv(const GemvParams& p, cudaStream_t stream);

// y = silu(W_gate x') * (W_up x').
struct GateUpParams {
  const float* x;  // [k]
  int k;
  WeightType type;
  const void* w_gate;  // [n, k]
  const void* w_up;
  int n;
  float* y;  // [n]
  NormPrologue norm;
};
cudaError_t LaunchGateUpSwiglu(const GateUpParams& p, cudaStream_t stream);

// *token = argmax_j (W x)_j without writing the n logits: each block reduces its rows to one (value, index)
// pair in `partial_*` (OutputArgmaxPartials(n) entries), and a second launch reduces those.
struct OutputArgmaxParams {
  const float* x;  // [k]
  int k;
  WeightType type;
  const void* w;  // [n, k]
  int n;
  float* partial_values;
  int32_t* partial_indices;
  int32_t* token;
};
int OutputArgmaxPartials(int n);
cudaError_t LaunchOutputArgmax(const OutputArgmaxParams& p, cudaStream_t stream);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_GEMV_H_
