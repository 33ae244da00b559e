// Decode-step GEMV: y = W x with W [n, k] in f32/f16/bf16 and x, y in f32.
//
// Decode is bound by reading W once, so each warp owns one output row and streams it with 16-byte loads,
// kUnroll loads in flight per lane before the first FMA; x (a few KB) comes from L1/L2 for every warp.
// Rows whose byte length is not a multiple of 16 (e.g. k = 172 in f16) take a scalar path. The multi-output
// form covers fused QKV (one launch over the concatenated rows of three weights), the gate/up form computes
// two dot products per row and applies SwiGLU, and the argmax form reduces its rows to one (value, index)
// per block so the logits never reach memory.
#include <cfloat>

#include "ops/cuda/common.cuh"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/gemv.h"

namespace ggrt::cuda {
namespace {

constexpr int kWarps = 8;  // Rows per block.
constexpr int kUnroll = 4;

// Dot product of one weight row with x, reduced over the warp (every lane gets it).
template <WeightType T, bool kAligned>
__device__ __forceinline__ float RowDot(const void* w_row, const float* __restrict__ x, int k) {
  using S = typename WeightTraits<T>::Scalar;
  const int lane = threadIdx.x % 32;
  float acc = 0.0f;
  if constexpr (kAligned) {
    constexpr int V = kVec<T>;
    const char* w = static_cast<const char*>(w_row);
    for (int base = lane * V; base < k; base += 32 * V * kUnroll) {
      float wv[kUnroll][V];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = base + u * 32 * V;
        if (i < k) {
          Load16<T>(w + static_cast<int64_t>(i) * sizeof(S), wv[u]);
        } else {
#pragma unroll
          for (int e = 0; e < V; ++e) wv[u][e] = 0.0f;
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = base + u * 32 * V;
        if (i < k) {
#pragma unroll
          for (int e = 0; e < V; e += 4) {
            const float4 xv = *reinterpret_cast<const float4*>(x + i + e);
            acc += wv[u][e] * xv.x + wv[u][e + 1] * xv.y + wv[u][e + 2] * xv.z + wv[u][e + 3] * xv.w;
          }
        }
      }
    }
  } else {
    const S* w = static_cast<const S*>(w_row);
    for (int i = lane; i < k; i += 32) acc += ToFloat(w[i]) * x[i];
  }
  return WarpSum(acc);
}

template <WeightType T, bool kAligned>
__global__ void __launch_bounds__(kWarps * 32) GemvKernel(GemvParams p) {
  using S = typename WeightTraits<T>::Scalar;
  int row = blockIdx.x * kWarps + threadIdx.x / 32;
  int seg = 0;
  while (seg < p.count && row >= p.n[seg]) row -= p.n[seg++];
  if (seg >= p.count) return;
  const S* w = static_cast<const S*>(p.w[seg]) + static_cast<int64_t>(row) * p.k;
  const float dot = RowDot<T, kAligned>(w, p.x, p.k);
  if (threadIdx.x % 32 == 0) p.y[seg][row] = dot;
}

template <WeightType T, bool kAligned>
__global__ void __launch_bounds__(kWarps * 32) GateUpKernel(GateUpParams p) {
  using S = typename WeightTraits<T>::Scalar;
  const int row = blockIdx.x * kWarps + threadIdx.x / 32;
  if (row >= p.n) return;
  const int64_t off = static_cast<int64_t>(row) * p.k;
  const float g = RowDot<T, kAligned>(static_cast<const S*>(p.w_gate) + off, p.x, p.k);
  const float u = RowDot<T, kAligned>(static_cast<const S*>(p.w_up) + off, p.x, p.k);
  if (threadIdx.x % 32 == 0) p.y[row] = Silu(g) * u;
}

template <WeightType T, bool kAligned>
__global__ void __launch_bounds__(kWarps * 32) OutputArgmaxKernel(OutputArgmaxParams p) {
  using S = typename WeightTraits<T>::Scalar;
  __shared__ float values[kWarps];
  __shared__ int indices[kWarps];
  const int warp = threadIdx.x / 32;
  const int row = blockIdx.x * kWarps + warp;
  float v = -FLT_MAX;
  if (row < p.n) v = RowDot<T, kAligned>(static_cast<const S*>(p.w) + static_cast<int64_t>(row) * p.k, p.x, p.k);
  if (threadIdx.x % 32 == 0) values[warp] = v, indices[warp] = row;
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

template <WeightType T>
bool Aligned(int k) {
  return (static_cast<int64_t>(k) * sizeof(typename WeightTraits<T>::Scalar)) % 16 == 0;
}

int BlocksFor(int rows) { return (rows + kWarps - 1) / kWarps; }

}  // namespace

cudaError_t LaunchGemv(const GemvParams& p, cudaStream_t stream) {
  int rows = 0;
  for (int i = 0; i < p.count; ++i) rows += p.n[i];
  GGRT_DISPATCH_WEIGHT(p.type, T, {
    if (Aligned<T>(p.k)) {
      GemvKernel<T, true><<<BlocksFor(rows), kWarps * 32, 0, stream>>>(p);
    } else {
      GemvKernel<T, false><<<BlocksFor(rows), kWarps * 32, 0, stream>>>(p);
    }
  });
  return cudaGetLastError();
}

cudaError_t LaunchGateUpSwiglu(const GateUpParams& p, cudaStream_t stream) {
  GGRT_DISPATCH_WEIGHT(p.type, T, {
    if (Aligned<T>(p.k)) {
      GateUpKernel<T, true><<<BlocksFor(p.n), kWarps * 32, 0, stream>>>(p);
    } else {
      GateUpKernel<T, false><<<BlocksFor(p.n), kWarps * 32, 0, stream>>>(p);
    }
  });
  return cudaGetLastError();
}

int OutputArgmaxPartials(int n) { return BlocksFor(n); }

cudaError_t LaunchOutputArgmax(const OutputArgmaxParams& p, cudaStream_t stream) {
  GGRT_DISPATCH_WEIGHT(p.type, T, {
    if (Aligned<T>(p.k)) {
      OutputArgmaxKernel<T, true><<<BlocksFor(p.n), kWarps * 32, 0, stream>>>(p);
    } else {
      OutputArgmaxKernel<T, false><<<BlocksFor(p.n), kWarps * 32, 0, stream>>>(p);
    }
  });
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  return LaunchArgmax({p.partial_values, p.partial_indices, OutputArgmaxPartials(p.n), p.token}, stream);
}

}  // namespace ggrt::cuda
