// Decode-step GEMV: y = W x with W [n, k] in f32/f16/bf16 and x, y in f32.
//
// Decode is bound by reading W once. A block of 8 warps owns 8 / P rows; each row is split over P warps
// (P = 1 for short rows, up to 8 for long ones, so that even n = 896 rows keep enough 16-byte loads in
// flight), each lane issuing kUnroll loads before its first FMA; x (a few KB) comes from L1/L2. Rows whose
// byte length is not a multiple of 16 (e.g. k = 172 in f16) take a scalar path.
//
// Fusions: the multi-output form covers fused QKV (one launch over the concatenated rows of up to three
// weights); the gate/up form computes two dot products per row and applies SwiGLU; an RMSNorm prologue
// uses dot(w, x * g) * rsqrt(mean(x^2) + eps) -- the scale is one scalar per row, so every warp computes it
// from x while its weight loads are in flight, with no block synchronisation; a residual epilogue adds a
// vector to the result; the argmax form reduces its rows to one (value, index) per block so the logits
// never reach memory.
#include <cfloat>

#include "ops/cuda/common.cuh"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/gemv.h"

namespace ggrt::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kUnroll = 4;

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

// This warp's share (part `part` of `parts`) of the dot product of one weight row with x (times the norm
// weight when normalising), reduced over the warp.
template <WeightType T, WeightType N, bool kAligned>
__device__ __forceinline__ float RowDot(const void* w_row, const float* __restrict__ x, int k, int part, int parts,
                                        const NormPrologue& norm) {
  using S = typename WeightTraits<T>::Scalar;
  const int lane = threadIdx.x % 32;
  float acc = 0.0f;
  if constexpr (kAligned) {
    constexpr int V = kVec<T>;
    const char* w = static_cast<const char*>(w_row);
    const int stride = 32 * V * parts;
    for (int base = (part * 32 + lane) * V; base < k; base += stride * kUnroll) {
      float wv[kUnroll][V];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = base + u * stride;
        if (i < k) {
          Load16<T>(w + static_cast<int64_t>(i) * sizeof(S), wv[u]);
        } else {
#pragma unroll
          for (int e = 0; e < V; ++e) wv[u][e] = 0.0f;
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = base + u * stride;
        if (i < k) {
          if (norm.weight == nullptr) {
#pragma unroll
            for (int e = 0; e < V; e += 4) {
              const float4 xv = *reinterpret_cast<const float4*>(x + i + e);
              acc += wv[u][e] * xv.x + wv[u][e + 1] * xv.y + wv[u][e + 2] * xv.z + wv[u][e + 3] * xv.w;
            }
          } else {
#pragma unroll
            for (int e = 0; e < V; ++e) acc += wv[u][e] * Input<N>(x, norm, i + e);
          }
        }
      }
    }
  } else {
    const S* w = static_cast<const S*>(w_row);
    for (int i = part * 32 + lane; i < k; i += 32 * parts) acc += ToFloat(w[i]) * Input<N>(x, norm, i);
  }
  return WarpSum(acc);
}

// Sums the `parts` warps' shares of each row through shared memory; true for the thread that holds a
// finished row's value in `*dot`.
template <int P>
__device__ __forceinline__ bool CombineParts(float* dot) {
  if constexpr (P == 1) {
    return threadIdx.x % 32 == 0;
  } else {
    __shared__ float shares[kWarps];
    const int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) shares[warp] = *dot;
    __syncthreads();
    if (threadIdx.x % 32 != 0 || warp % P != 0) return false;
    float total = 0.0f;
#pragma unroll
    for (int j = 0; j < P; ++j) total += shares[warp + j];
    *dot = total;
    return true;
  }
}

template <WeightType T, WeightType N, bool kAligned, int P>
__global__ void __launch_bounds__(kWarps * 32) GemvKernel(GemvParams p) {
  using S = typename WeightTraits<T>::Scalar;
  const int warp = threadIdx.x / 32;
  int row = blockIdx.x * (kWarps / P) + warp / P;
  int seg = 0;
  while (seg < p.count && row >= p.n[seg]) row -= p.n[seg++];
  const bool valid = seg < p.count;
  float dot = 0.0f;
  if (valid) {
    const S* w = static_cast<const S*>(p.w[seg]) + static_cast<int64_t>(row) * p.k;
    dot = RowDot<T, N, kAligned>(w, p.x, p.k, warp % P, P, p.norm);
    if (p.norm.weight != nullptr) dot *= NormScale(p.x, p.k, p.norm.eps);
  }
  if (!CombineParts<P>(&dot) || !valid) return;
  if (p.residual != nullptr) dot += p.residual[row];
  p.y[seg][row] = dot;
}

template <WeightType T, WeightType N, bool kAligned, int P>
__global__ void __launch_bounds__(kWarps * 32) GateUpKernel(GateUpParams p) {
  using S = typename WeightTraits<T>::Scalar;
  const int warp = threadIdx.x / 32;
  const int row = blockIdx.x * (kWarps / P) + warp / P;
  const bool valid = row < p.n;
  float g = 0.0f, u = 0.0f;
  if (valid) {
    const int64_t off = static_cast<int64_t>(row) * p.k;
    g = RowDot<T, N, kAligned>(static_cast<const S*>(p.w_gate) + off, p.x, p.k, warp % P, P, p.norm);
    u = RowDot<T, N, kAligned>(static_cast<const S*>(p.w_up) + off, p.x, p.k, warp % P, P, p.norm);
    if (p.norm.weight != nullptr) {
      // The scale is linear, so each warp's share can take it before the shares are summed.
      const float scale = NormScale(p.x, p.k, p.norm.eps);
      g *= scale, u *= scale;
    }
  }
  const bool done_g = CombineParts<P>(&g);
  if constexpr (P > 1) __syncthreads();  // The shares buffer is reused for u.
  CombineParts<P>(&u);
  if (!done_g || !valid) return;
  p.y[row] = Silu(g) * u;
}

template <WeightType T, bool kAligned>
__global__ void __launch_bounds__(kWarps * 32) OutputArgmaxKernel(OutputArgmaxParams p) {
  using S = typename WeightTraits<T>::Scalar;
  __shared__ float values[kWarps];
  __shared__ int indices[kWarps];
  const int warp = threadIdx.x / 32;
  const int row = blockIdx.x * kWarps + warp;
  float v = -FLT_MAX;
  if (row < p.n) {
    v = RowDot<T, WeightType::kF32, kAligned>(static_cast<const S*>(p.w) + static_cast<int64_t>(row) * p.k, p.x,
                                               p.k, 0, 1, NormPrologue{});
  }
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

// Warps per row: enough that each has about 128 16-byte loads of the row, at most a whole block.
template <WeightType T>
int PartsFor(int k) {
  const int64_t loads = static_cast<int64_t>(k) * sizeof(typename WeightTraits<T>::Scalar) / 16;
  int parts = 1;
  while (parts < kWarps && loads / (parts * 2) >= 128) parts *= 2;
  return parts;
}

// Instantiates `kernel` for the runtime choices (weight type, norm weight type, alignment, parts).
#define GGRT_LAUNCH_GEMV_FAMILY(kernel, params, rows)                                                  \
  GGRT_DISPATCH_WEIGHT(params.type, T, {                                                               \
    const bool aligned = Aligned<T>(params.k);                                                         \
    const int parts = PartsFor<T>(params.k);                                                           \
    const WeightType norm_type = params.norm.weight ? params.norm.type : WeightType::kF32;             \
    GGRT_DISPATCH_WEIGHT(norm_type, N, {                                                               \
      auto go = [&](auto aligned_tag, auto parts_tag) {                                                \
        constexpr bool A = decltype(aligned_tag)::value;                                               \
        constexpr int P = decltype(parts_tag)::value;                                                  \
        const int blocks = (rows + kWarps / P - 1) / (kWarps / P);                                     \
        kernel<T, N, A, P><<<blocks, kWarps * 32, 0, stream>>>(params);                                \
      };                                                                                               \
      auto by_parts = [&](auto aligned_tag) {                                                          \
        switch (parts) {                                                                               \
          case 1: go(aligned_tag, std::integral_constant<int, 1>{}); break;                            \
          case 2: go(aligned_tag, std::integral_constant<int, 2>{}); break;                            \
          case 4: go(aligned_tag, std::integral_constant<int, 4>{}); break;                            \
          default: go(aligned_tag, std::integral_constant<int, 8>{}); break;                           \
        }                                                                                              \
      };                                                                                               \
      if (aligned) {                                                                                   \
        by_parts(std::true_type{});                                                                    \
      } else {                                                                                         \
        by_parts(std::false_type{});                                                                   \
      }                                                                                                \
    });                                                                                                \
  })

}  // namespace

cudaError_t LaunchGemv(const GemvParams& p, cudaStream_t stream) {
  if (p.count < 1 || p.count > 3 || (p.residual != nullptr && p.count != 1)) return cudaErrorInvalidValue;
  int rows = 0;
  for (int i = 0; i < p.count; ++i) rows += p.n[i];
  GGRT_LAUNCH_GEMV_FAMILY(GemvKernel, p, rows);
  return cudaGetLastError();
}

cudaError_t LaunchGateUpSwiglu(const GateUpParams& p, cudaStream_t stream) {
  GGRT_LAUNCH_GEMV_FAMILY(GateUpKernel, p, p.n);
  return cudaGetLastError();
}

int OutputArgmaxPartials(int n) { return (n + kWarps - 1) / kWarps; }

cudaError_t LaunchOutputArgmax(const OutputArgmaxParams& p, cudaStream_t stream) {
  GGRT_DISPATCH_WEIGHT(p.type, T, {
    if (Aligned<T>(p.k)) {
      OutputArgmaxKernel<T, true><<<OutputArgmaxPartials(p.n), kWarps * 32, 0, stream>>>(p);
    } else {
      OutputArgmaxKernel<T, false><<<OutputArgmaxPartials(p.n), kWarps * 32, 0, stream>>>(p);
    }
  });
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  return LaunchArgmax({p.partial_values, p.partial_indices, OutputArgmaxPartials(p.n), p.token}, stream);
}

}  // namespace ggrt::cuda
