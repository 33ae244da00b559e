// Decode-step GEMV: y = W x with W [n, k] in f32/f16/bf16 and x, y in f32.
//
// Decode is bound by reading W once. A block of 8 warps owns 8 / P rows; each row is split over P warps so
// that a warp needs about one round of 16-byte loads (4 per lane for k = 896 with P = 1; 8 per lane for
// k = 4864 with P = 4), which keeps n = 896 rows from being latency-bound. Weights stream past L1, are
// marked evict-first in L2 (read once per token, they must not push out the KV cache and activations),
// and sit raw in registers until the FMA (a register budget that lets every block of a layer's GEMV be
// resident at once). With the norm prologue, each warp issues its first round of weight loads, then the
// block stages the normalised x in shared memory (one reduction per block), so the staging hides under the
// weight latency; without it, x comes from L1. Rows whose byte length is not a multiple of 16 (e.g.
// k = 172 in f16), or x too long for shared memory, take a simple path that reads x globally.
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
#include "ops/cuda/gemv_common.cuh"

namespace ggrt::cuda {
namespace {

// One round of this lane's weight loads for a row: U raw 16-byte vectors (zeros past the row's end).
template <WeightType T, int U>
struct Round {
  static constexpr int V = kVec<T>;
  uint4 raw[U];

  __device__ __forceinline__ void Load(const char* row, int base, int stride, int k, uint64_t policy) {
    using S = typename WeightTraits<T>::Scalar;
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int i = base + u * stride;
      raw[u] = i < k ? LoadStreaming16(row + static_cast<int64_t>(i) * sizeof(S), policy) : make_uint4(0, 0, 0, 0);
    }
  }
  // Dot product with x (shared or global memory) over this round's elements.
  __device__ __forceinline__ float Dot(const float* x, int base, int stride, int k) const {
    float acc = 0.0f;
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int i = base + u * stride;
      if (i < k) {
        float w[V];
        Convert16<T>(raw[u], w);
#pragma unroll
        for (int e = 0; e < V; e += 4) {
          const float4 xv = *reinterpret_cast<const float4*>(x + i + e);
          acc += w[e] * xv.x + w[e + 1] * xv.y + w[e + 2] * xv.z + w[e + 3] * xv.w;
        }
      }
    }
    return acc;
  }
};

// kRows weight rows (gate and up: 2) dotted with x by this warp's part, reduced over the warp. With
// kStaged, x is first staged (and normalised) in shared memory by the whole block while this warp's first
// round of weight loads is in flight, and *scale is the norm's row scale still to be applied; otherwise x
// is read from global memory (L1) and there is no norm. after_wait() runs as soon as the previous kernel's
// outputs may be read (the residual epilogue's loads go out there).
template <WeightType T, WeightType N, bool kStaged, int U, int kRows, typename AfterWait>
__device__ __forceinline__ void Dots(const char* const (&rows)[kRows], bool valid, const float* x, int k,
                                     const NormPrologue& norm, float* smem, int part, int parts, float* scale,
                                     float (&dots)[kRows], const AfterWait& after_wait) {
  constexpr int V = kVec<T>;
  const int stride = 32 * V * parts;
  int base = (part * 32 + threadIdx.x % 32) * V;
  const uint64_t policy = EvictFirstPolicy();
  Round<T, U> round[kRows];
  if (valid) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) round[r].Load(rows[r], base, stride, k, policy);
  }
  // The weights do not depend on the previous kernel; x does.
  GridDependencyWait();
  after_wait();
  const float* xs = x;
  *scale = 1.0f;
  if constexpr (kStaged) {
    *scale = StageX<N>(x, k, norm, smem);
    xs = smem;
  }
  float acc[kRows] = {};
  if (valid) {
    while (true) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) acc[r] += round[r].Dot(xs, base, stride, k);
      base += stride * U;
      if (base >= k) break;
#pragma unroll
      for (int r = 0; r < kRows; ++r) round[r].Load(rows[r], base, stride, k, policy);
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) dots[r] = WarpSum(acc[r]);
}

// The scalar path for rows that are not 16-byte multiples (tiny models): one element per lane at a time.
template <WeightType T, WeightType N>
__device__ __forceinline__ float ScalarDot(const void* w_row, const float* x, int k, const NormPrologue& norm) {
  using S = typename WeightTraits<T>::Scalar;
  const S* w = static_cast<const S*>(w_row);
  float acc = 0.0f;
  for (int i = threadIdx.x % 32; i < k; i += 32) acc += ToFloat(w[i]) * Input<N>(x, norm, i);
  acc = WarpSum(acc);
  return norm.weight != nullptr ? acc * NormScale(x, k, norm.eps) : acc;
}

// Loads per lane per round and weight row: 4 when a warp holds a whole short row, 8 (over all kRows rows)
// when rows are split over warps -- more would not fit the gate/up kernel's register budget.
template <int P, int kRows = 1>
constexpr int kUnrollFor = P == 1 ? 4 : 8 / kRows;

// kLayout: 0 = scalar (unaligned rows), 1 = vector loads with x from L1, 2 = x staged in shared memory.
template <WeightType T, WeightType N, int kLayout, int P>
__global__ void __launch_bounds__(kWarps * 32) GemvKernel(GemvParams p) {
  using S = typename WeightTraits<T>::Scalar;
  extern __shared__ float4 smem[];
  const int warp = threadIdx.x / 32;
  int row = blockIdx.x * (kWarps / P) + warp / P;
  const int seg = LocateRow(p, &row);
  const bool valid = seg < p.count;
  const char* w = valid ? reinterpret_cast<const char*>(static_cast<const S*>(Pick(p.w, seg)) +
                                                         static_cast<int64_t>(row) * p.k)
                        : nullptr;
  float dot = 0.0f;
  AllowDependentLaunch();
  // The residual is read as soon as it may be, so that its round trip overlaps the product instead of
  // following the parts' combine.
  float residual = 0.0f;
  const auto read_residual = [&] {
    if (p.residual != nullptr && valid) residual = p.residual[row];
  };
  if constexpr (kLayout == 0) {
    GridDependencyWait();
    read_residual();
    if (valid) dot = ScalarDot<T, N>(w, p.x, p.k, p.norm);
  } else {
    const char* rows[1] = {w};
    float dots[1], scale;
    Dots<T, N, kLayout == 2, kUnrollFor<P>, 1>(rows, valid, p.x, p.k, p.norm, reinterpret_cast<float*>(smem),
                                               warp % P, P, &scale, dots, read_residual);
    dot = dots[0] * scale;
  }
  if (!CombineParts<P>(&dot) || !valid) return;
  if (p.residual != nullptr) dot += residual;
  Pick(p.y, seg)[row] = dot;
}

template <WeightType T, WeightType N, int kLayout, int P>
__global__ void __launch_bounds__(kWarps * 32, 5) GateUpKernel(GateUpParams p) {
  using S = typename WeightTraits<T>::Scalar;
  extern __shared__ float4 smem[];
  const int warp = threadIdx.x / 32;
  const int row = blockIdx.x * (kWarps / P) + warp / P;
  const bool valid = row < p.n;
  const int64_t off = static_cast<int64_t>(valid ? row : 0) * p.k;
  const char* rows[2] = {reinterpret_cast<const char*>(static_cast<const S*>(p.w_gate) + off),
                         reinterpret_cast<const char*>(static_cast<const S*>(p.w_up) + off)};
  float g = 0.0f, u = 0.0f;
  AllowDependentLaunch();
  if constexpr (kLayout == 0) {
    GridDependencyWait();
    if (valid) g = ScalarDot<T, N>(rows[0], p.x, p.k, p.norm), u = ScalarDot<T, N>(rows[1], p.x, p.k, p.norm);
  } else {
    float dots[2], scale;
    Dots<T, N, kLayout == 2, kUnrollFor<P, 2>, 2>(rows, valid, p.x, p.k, p.norm, reinterpret_cast<float*>(smem),
                                               warp % P, P, &scale, dots, [] {});
    g = dots[0] * scale, u = dots[1] * scale;
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
  const int row = blockIdx.x * kWarps + threadIdx.x / 32;
  const bool valid = row < p.n;
  const char* w =
      reinterpret_cast<const char*>(static_cast<const S*>(p.w) + static_cast<int64_t>(valid ? row : 0) * p.k);
  float v = -FLT_MAX;
  AllowDependentLaunch();
  if constexpr (kAligned) {
    const char* rows[1] = {w};
    float dots[1], scale;
    Dots<T, WeightType::kF32, false, 4, 1>(rows, valid, p.x, p.k, NormPrologue{}, nullptr, 0, 1, &scale, dots,
                                           [] {});
    if (valid) v = dots[0];
  } else {
    GridDependencyWait();
    if (valid) v = ScalarDot<T, WeightType::kF32>(w, p.x, p.k, NormPrologue{});
  }
  BlockArgmaxPartial(v, row, p);
}

template <WeightType T>
bool Aligned(int k) {
  return (static_cast<int64_t>(k) * sizeof(typename WeightTraits<T>::Scalar)) % 16 == 0;
}

// Warps per row: one if a warp's round (32 lanes x 4 loads) covers the row, else enough that each warp
// needs about one round of 8 loads per lane; at most a block.
template <WeightType T>
int PartsFor(int k) {
  const int64_t loads = static_cast<int64_t>(k) * sizeof(typename WeightTraits<T>::Scalar) / 16;
  if (loads <= 32 * kUnrollFor<1>) return 1;
  int parts = 2;
  while (parts < kWarps && loads > static_cast<int64_t>(parts) * 32 * kUnrollFor<2>) parts *= 2;
  return parts;
}

// Instantiates `kernel` for the runtime choices: weight type, norm weight type (f32, as GGUF files store
// norms, or the weights' own type), alignment and parts. The scalar path only serves tiny unaligned rows,
// so it gets one part; this keeps the object to the instantiations that matter.
#define GGRT_LAUNCH_GEMV_FAMILY(kernel, params, rows)                                                  \
  GGRT_DISPATCH_WEIGHT(params.type, T, {                                                               \
    const bool norm_f32 = params.norm.weight == nullptr || params.norm.type == WeightType::kF32;       \
    if (!norm_f32 && params.norm.type != T) return cudaErrorInvalidValue;                              \
    auto go = [&](auto norm_tag, auto layout_tag, auto parts_tag) {                                    \
      constexpr WeightType N = decltype(norm_tag)::value;                                              \
      constexpr int L = decltype(layout_tag)::value;                                                   \
      constexpr int P = decltype(parts_tag)::value;                                                    \
      const int blocks = (rows + kWarps / P - 1) / (kWarps / P);                                       \
      const size_t smem = L == 2 ? params.k * sizeof(float) : 0;                                       \
      launched = Launch(kernel<T, N, L, P>, blocks, kWarps * 32, smem, stream, params);                 \
    };                                                                                                 \
    auto by_parts = [&](auto norm_tag, auto layout_tag) {                                              \
      ByParts(PartsFor<T>(params.k), [&](auto parts_tag) { go(norm_tag, layout_tag, parts_tag); });    \
    };                                                                                                 \
    auto by_layout = [&](auto norm_tag) {                                                              \
      if (!Aligned<T>(params.k)) {                                                                     \
        go(norm_tag, std::integral_constant<int, 0>{}, std::integral_constant<int, 1>{});              \
        return;                                                                                        \
      }                                                                                                \
      /* Staging pays for the norm (one reduction per block instead of per warp); without one, x from */ \
      /* L1 is cheaper than staging all of it for blocks that read a slice. A norm over an x too long */ \
      /* to stage takes the scalar path, which applies it per warp. */                                  \
      if (params.norm.weight == nullptr) {                                                             \
        by_parts(norm_tag, std::integral_constant<int, 1>{});                                          \
      } else if (params.k <= kMaxStagedK) {                                                            \
        by_parts(norm_tag, std::integral_constant<int, 2>{});                                          \
      } else {                                                                                         \
        go(norm_tag, std::integral_constant<int, 0>{}, std::integral_constant<int, 1>{});              \
      }                                                                                                \
    };                                                                                                 \
    if (norm_f32) {                                                                                    \
      by_layout(std::integral_constant<WeightType, WeightType::kF32>{});                               \
    } else {                                                                                           \
      by_layout(std::integral_constant<WeightType, T>{});                                              \
    }                                                                                                  \
  })

}  // namespace

cudaError_t LaunchGemv(const GemvParams& p, cudaStream_t stream) {
  if (p.count < 1 || p.count > 3 || (p.residual != nullptr && p.count != 1)) return cudaErrorInvalidValue;
  if (IsQuantized(p.type)) return LaunchQuantGemv(p, stream);
  if (p.other_from < p.count && p.other_type != p.type) return cudaErrorInvalidValue;  // Block formats only.
  int rows = 0;
  for (int i = 0; i < p.count; ++i) rows += p.n[i];
  cudaError_t launched = cudaErrorInvalidValue;
  GGRT_LAUNCH_GEMV_FAMILY(GemvKernel, p, rows);
  return launched;
}

cudaError_t LaunchGateUpSwiglu(const GateUpParams& p, cudaStream_t stream) {
  if (IsQuantized(p.type)) return LaunchQuantGateUpSwiglu(p, stream);
  cudaError_t launched = cudaErrorInvalidValue;
  GGRT_LAUNCH_GEMV_FAMILY(GateUpKernel, p, p.n);
  return launched;
}

int OutputArgmaxPartials(int n) { return (n + kWarps - 1) / kWarps; }

cudaError_t LaunchOutputArgmax(const OutputArgmaxParams& p, cudaStream_t stream) {
  cudaError_t e = cudaErrorInvalidValue;
  if (IsQuantized(p.type)) {
    e = LaunchQuantOutputArgmax(p, stream);
  } else {
    GGRT_DISPATCH_WEIGHT(p.type, T, {
      e = Aligned<T>(p.k) ? Launch(OutputArgmaxKernel<T, true>, OutputArgmaxPartials(p.n), kWarps * 32, 0, stream, p)
                          : Launch(OutputArgmaxKernel<T, false>, OutputArgmaxPartials(p.n), kWarps * 32, 0, stream, p);
    });
  }
  if (e != cudaSuccess) return e;
  const int partials = IsQuantized(p.type) ? QuantOutputArgmaxPartials(p) : OutputArgmaxPartials(p.n);
  return LaunchArgmax({p.partial_values, p.partial_indices, partials, p.token}, stream);
}

}  // namespace ggrt::cuda
