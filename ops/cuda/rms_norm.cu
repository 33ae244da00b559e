// RMSNorm over rows of the f32 residual stream, optionally fused with the residual add that precedes it:
// one block per row reads x (and r) once, writes the sum, reduces the sum of squares and writes the
// normalised row. The row stays in registers between the two phases (up to 16 values per thread).
#include "ops/cuda/common.cuh"
#include "ops/cuda/rms_norm.h"

namespace ggrt::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxPerThread = 16;  // dim <= 4096 keeps the row in registers; larger rows re-read it.

template <WeightType T>
__global__ void RmsNormKernel(RmsNormParams p) {
  using S = typename WeightTraits<T>::Scalar;
  AllowDependentLaunch();
  GridDependencyWait();
  const int64_t base = static_cast<int64_t>(blockIdx.x) * p.dim;
  const float* x = p.x + base;
  const float* r = p.residual ? p.residual + base : nullptr;
  float v[kMaxPerThread];
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < kMaxPerThread; ++j) {
    const int i = threadIdx.x + j * kThreads;
    v[j] = 0.0f;
    if (i < p.dim) {
      v[j] = x[i] + (r ? r[i] : 0.0f);
      ss += v[j] * v[j];
    }
  }
  for (int i = threadIdx.x + kMaxPerThread * kThreads; i < p.dim; i += kThreads) {
    const float s = x[i] + (r ? r[i] : 0.0f);
    ss += s * s;
  }
  ss = BlockSum(ss);
  const float scale = rsqrtf(ss / p.dim + p.eps);
  const S* w = static_cast<const S*>(p.weight);
#pragma unroll
  for (int j = 0; j < kMaxPerThread; ++j) {
    const int i = threadIdx.x + j * kThreads;
    if (i < p.dim) {
      if (r) p.sum[base + i] = v[j];
      const float y = v[j] * scale * ToFloat(w[i]);
      if (p.out) p.out[base + i] = y;
      if (p.out16) Store16(p.out16_type, p.out16, base + i, y);
    }
  }
  for (int i = threadIdx.x + kMaxPerThread * kThreads; i < p.dim; i += kThreads) {
    const float s = x[i] + (r ? r[i] : 0.0f);
    if (r) p.sum[base + i] = s;
    const float y = s * scale * ToFloat(w[i]);
    if (p.out) p.out[base + i] = y;
    if (p.out16) Store16(p.out16_type, p.out16, base + i, y);
  }
}

}  // namespace

cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  if ((p.out == nullptr && p.out16 == nullptr) ||
      (p.out16 != nullptr && p.out16_type != WeightType::kF16 && p.out16_type != WeightType::kBF16)) {
    return cudaErrorInvalidValue;
  }
  cudaError_t e = cudaErrorInvalidValue;
  GGRT_DISPATCH_WEIGHT(p.type, T, e = Launch(RmsNormKernel<T>, p.rows, kThreads, 0, stream, p));
  return e;
}

}  // namespace ggrt::cuda
