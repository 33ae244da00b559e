// Pieces shared by the decode GEMV kernel files (gemv.cu for float weights, gemv_quant.cu for GGUF
// blocks): block shape, staging of the (normalised) activation row in shared memory, parameter picks.
#ifndef GGRT_OPS_CUDA_GEMV_COMMON_CUH_
#define GGRT_OPS_CUDA_GEMV_COMMON_CUH_

#include "ops/cuda/common.cuh"
#include "ops/cuda/gemv.h"

namespace ggrt::cuda {

constexpr int kWarps = 8;
constexpr int kMaxStagedK = 12288;  // 48 KB of f32 x in shared memory.

// x[i] times the norm weight (when normalising): the input of the dot product before the row scale.
template <WeightType N>
__device__ __forceinline__ float Input(const float* x, const NormPrologue& norm, int i) {
  if (norm.weight == nullptr) return x[i];
  return x[i] * ToFloat(static_cast<const typename WeightTraits<N>::Scalar*>(norm.weight)[i]);
}

// rsqrt(mean(x^2) + eps) over the whole row, computed by one warp (every lane gets it).
__device__ __forceinline__ float NormScale(const float* x, int k, float eps) {
  float ss = 0.0f;
  for (int i = threadIdx.x % 32; i < k; i += 32) ss += x[i] * x[i];
  return rsqrtf(WarpSum(ss) / k + eps);
}

// Copies x (times the norm weight) into shared memory and returns the norm's row scale (1 without a
// norm). Ends with a barrier, so every thread of the block must call it.
template <WeightType N>
__device__ __forceinline__ float StageX(const float* x, int k, const NormPrologue& norm, float* xs) {
  float ss = 0.0f;
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    const float v = x[i];
    ss += v * v;
    xs[i] = Input<N>(x, norm, i);
  }
  float scale = 1.0f;
  if (norm.weight != nullptr) scale = rsqrtf(BlockSum(ss) / k + norm.eps);
  __syncthreads();
  return scale;
}

// Sums the `parts` warps' shares of each of a tile's M row values through shared memory; true for the
// thread that holds the finished rows in `dots`. Every thread of the block must call it when P > 1.
template <int P, int M>
__device__ __forceinline__ bool CombineRowParts(float (&dots)[M]) {
  if constexpr (P == 1) {
    return threadIdx.x % 32 == 0;
  } else {
    __shared__ float shares[kWarps][M];
    const int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) {
#pragma unroll
      for (int r = 0; r < M; ++r) shares[warp][r] = dots[r];
    }
    __syncthreads();
    if (threadIdx.x % 32 != 0 || warp % P != 0) return false;
#pragma unroll
    for (int r = 0; r < M; ++r) {
      float total = 0.0f;
#pragma unroll
      for (int j = 0; j < P; ++j) total += shares[warp + j][r];
      dots[r] = total;
    }
    return true;
  }
}
template <int P>
__device__ __forceinline__ bool CombineParts(float* dot) {
  return CombineRowParts<P>(*reinterpret_cast<float(*)[1]>(dot));
}

// Which of the multi-output product's weights first .. last - 1 row `*row` of their rows together belongs
// to (`last` when past the end), with *row made relative to that weight.
__device__ __forceinline__ int LocateRow(const GemvParams& p, int* row, int first, int last) {
  int seg = first;
#pragma unroll
  for (int i = 0; i < 3; ++i) {
    if (seg == i && i < last && *row >= p.n[i]) *row -= p.n[i], seg = i + 1;
  }
  return seg;
}
__device__ __forceinline__ int LocateRow(const GemvParams& p, int* row) { return LocateRow(p, row, 0, p.count); }

// The output-argmax kernels' block reduction: each warp's row value (lane 0's) and index into the block's
// (value, index) partial. Every thread of the block must call it.
__device__ __forceinline__ void BlockArgmaxPartial(float value, int row, const OutputArgmaxParams& p) {
  __shared__ float values[kWarps];
  __shared__ int indices[kWarps];
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) values[warp] = value, indices[warp] = row;
  __syncthreads();
  if (threadIdx.x == 0) {
    float best = values[0];
    int best_i = indices[0];
    for (int i = 1; i < kWarps; ++i) {
      if (values[i] > best) best = values[i], best_i = indices[i];  // Rows ascend: ties keep the first.
    }
    p.partial_values[blockIdx.x] = best;
    p.partial_indices[blockIdx.x] = best_i;
  }
}

// Element `i` (0..2) of a parameter array. Indexing kernel parameters with a run-time value would copy
// the whole parameter struct to local memory first, on every kernel's critical path.
template <typename A>
__device__ __forceinline__ A Pick(const A (&a)[3], int i) {
  return i == 0 ? a[0] : i == 1 ? a[1] : a[2];
}

// Calls go(std::integral_constant<int, P>) for a run-time count of warps a row (1, 2, 4 or 8).
template <typename F>
inline void ByParts(int parts, F&& go) {
  switch (parts) {
    case 1: go(std::integral_constant<int, 1>{}); break;
    case 2: go(std::integral_constant<int, 2>{}); break;
    case 4: go(std::integral_constant<int, 4>{}); break;
    default: go(std::integral_constant<int, 8>{}); break;
  }
}

// The quantized family, dispatched to by the launchers of gemv.h when the weight type is a GGUF block
// format (gemv_quant.cu).
cudaError_t LaunchQuantGemv(const GemvParams& p, cudaStream_t stream);
cudaError_t LaunchQuantGateUpSwiglu(const GateUpParams& p, cudaStream_t stream);
// Writes the per-block partials only (QuantOutputArgmaxPartials of them, at most OutputArgmaxPartials);
// LaunchOutputArgmax reduces them.
cudaError_t LaunchQuantOutputArgmax(const OutputArgmaxParams& p, cudaStream_t stream);
int QuantOutputArgmaxPartials(const OutputArgmaxParams& p);
// The same for kQ8_0R rows (gemv_q8_0_rows.cu): a lone vocabulary product (logits) and the argmax partials,
// Q8_0RowsGrid(n) of them.
cudaError_t LaunchQ8_0RowsGemv(const GemvParams& p, cudaStream_t stream);
cudaError_t LaunchQ8_0RowsOutputArgmax(const OutputArgmaxParams& p, cudaStream_t stream);
int Q8_0RowsGrid(int n);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_GEMV_COMMON_CUH_
