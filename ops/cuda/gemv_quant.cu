// Decode-step GEMV over weights in GGUF block formats (Q8_0 ... Q6_K): y = W x with W [n, k] stored as the
// file stores it, x and y in f32.
//
// A warp owns a row. Its 32 lanes walk the row's 32-element chunks (a legacy block is one chunk, a k-quant
// super-block eight), lane l taking chunks l, l + 32, ...: a warp's step reads 32 consecutive chunks, so
// the row streams through in contiguous spans whatever the block size. Each lane decodes its chunk in
// registers with the type's DecodeChunk (ops/cuda/quant.cuh, shared with every kernel that reads blocks)
// and dots it with x, which the block stages in shared memory first -- normalised when the product has an
// RMSNorm prologue, with the row scale applied once at the end as in the float kernels. Only the chunk's
// bytes move: no dequantized copy of the weights exists.
//
// The same fusions as the float family: up to three weights sharing x (fused QKV), a residual epilogue,
// gate/up with SwiGLU, and the output projection reduced to per-block argmax partials.
//
// Programmatic dependent launch: a block lets the next kernel start only once its own weights are read.
// Triggering at entry, as the float kernels do (their early-started successors prefetch weights), would
// let successors that have nothing to do before their wait occupy the SMs this kernel's later blocks need.
#include <cfloat>

#include "ops/cuda/gemv_common.cuh"
#include "ops/cuda/quant.cuh"

namespace ggrt::cuda {
namespace {

// Rows stream through a warp in segments of 32 chunks (whole blocks: 32 legacy blocks or 4 super-blocks).
// The warp copies a segment's bytes with contiguous 2-byte loads into its slice of shared memory -- blocks
// are only 2-byte aligned, and per-lane block reads would scatter every load instruction over the whole
// span -- then each lane decodes one chunk from there. The next segment's loads are issued before the
// current one is decoded, so its latency hides under the decoding.
template <WeightType T>
struct Segment {
  using Q = QuantTraits<T>;
  static constexpr int kBytes = 32 / Q::kChunks * Q::kBytes;     // Bytes of 32 chunks.
  static constexpr int kLoads = (kBytes / 2 + 31) / 32;           // 2-byte loads per lane.
  uint16_t raw[kLoads];

  __device__ __forceinline__ void Load(const uint8_t* src, int bytes) {
    const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int at = i * 32 + threadIdx.x % 32;
      raw[i] = at < bytes / 2 ? __ldg(s + at) : 0;
    }
  }
  __device__ __forceinline__ void Store(uint16_t* dst) const {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int at = i * 32 + threadIdx.x % 32;
      if (at < kBytes / 2) dst[at] = raw[i];
    }
  }
};

// This lane's share of dot(row_r, x') for each of R rows (gate and up: 2, read side by side); x' = x staged
// (and normalised) in shared memory when kStaged, else x times the norm weight read from global memory.
// `slices`: this warp's R segment buffers in shared memory.
template <WeightType T, WeightType N, bool kStaged, int R>
__device__ __forceinline__ void LaneDots(const uint8_t* const (&rows)[R], const float* x, int k,
                                         const NormPrologue& norm, uint16_t (*slices)[Segment<T>::kBytes / 2],
                                         float (&acc)[R]) {
  using Q = QuantTraits<T>;
  const int lane = threadIdx.x % 32;
  const int n_chunks = k / 32;
  auto segment_bytes = [&](int first) { return min(32, n_chunks - first) / Q::kChunks * Q::kBytes; };
  auto segment_src = [&](int r, int first) {
    return rows[r] + static_cast<int64_t>(first / Q::kChunks) * Q::kBytes;
  };
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
  Segment<T> next[R];
#pragma unroll
  for (int r = 0; r < R; ++r) next[r].Load(segment_src(r, 0), segment_bytes(0));
  for (int first = 0; first < n_chunks; first += 32) {
#pragma unroll
    for (int r = 0; r < R; ++r) next[r].Store(slices[r]);
    __syncwarp();
    if (first + 32 < n_chunks) {
#pragma unroll
      for (int r = 0; r < R; ++r) next[r].Load(segment_src(r, first + 32), segment_bytes(first + 32));
    }
    const int c = first + lane;
    if (c < n_chunks) {
      float w[R][32];
#pragma unroll
      for (int r = 0; r < R; ++r) {
        DecodeChunk<T>(reinterpret_cast<const uint8_t*>(slices[r]) + (lane / Q::kChunks) * Q::kBytes,
                       lane % Q::kChunks, w[r]);
      }
      const float* xc = x + 32 * c;
#pragma unroll
      for (int i = 0; i < 32; i += 4) {
        float xv[4];
        if constexpr (kStaged) {
          const float4 v = *reinterpret_cast<const float4*>(xc + i);
          xv[0] = v.x, xv[1] = v.y, xv[2] = v.z, xv[3] = v.w;
        } else {
#pragma unroll
          for (int e = 0; e < 4; ++e) xv[e] = Input<N>(x, norm, 32 * c + i + e);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
          acc[r] += w[r][i] * xv[0] + w[r][i + 1] * xv[1] + w[r][i + 2] * xv[2] + w[r][i + 3] * xv[3];
        }
      }
    }
    __syncwarp();  // The slices are refilled next round.
  }
}

// Per-warp segment buffers for R rows.
template <WeightType T, int R>
__device__ __forceinline__ uint16_t (*WarpSlices())[Segment<T>::kBytes / 2] {
  __shared__ uint16_t slices[kWarps * R][Segment<T>::kBytes / 2];
  return slices + (threadIdx.x / 32) * R;
}

template <WeightType T, WeightType N, bool kStaged>
__device__ __forceinline__ float LaneDot(const uint8_t* row, const float* x, int k, const NormPrologue& norm) {
  const uint8_t* rows[1] = {row};
  float acc[1];
  LaneDots<T, N, kStaged, 1>(rows, x, k, norm, WarpSlices<T, 1>(), acc);
  return acc[0];
}

template <WeightType T>
__device__ __forceinline__ const uint8_t* RowOf(const void* w, int row, int k) {
  return static_cast<const uint8_t*>(w) + static_cast<int64_t>(row) * (k / QuantTraits<T>::kElements) *
                                              QuantTraits<T>::kBytes;
}

// Asks L2 for the block of this lane's first chunk of `row`: issued before the wait for the previous
// kernel, the fetch overlaps its tail.
template <WeightType T>
__device__ __forceinline__ void PrefetchFirstChunk(const uint8_t* row, int k) {
  using Q = QuantTraits<T>;
  const int c = threadIdx.x % 32;
  if (row == nullptr || c >= k / 32) return;
  const uint8_t* b = row + static_cast<int64_t>(c / Q::kChunks) * Q::kBytes;
  asm volatile("prefetch.global.L2 [%0];" ::"l"(b));
  asm volatile("prefetch.global.L2 [%0];" ::"l"(b + Q::kBytes - 1));
}

// x for the dot products and the norm's row scale: staged by the whole block (every thread must call
// this), or read in place.
template <WeightType N, bool kStaged>
__device__ __forceinline__ const float* PrepareX(const float* x, int k, const NormPrologue& norm, float* smem,
                                                 float* scale) {
  GridDependencyWait();  // x is the previous kernel's output.
  if constexpr (kStaged) {
    *scale = StageX<N>(x, k, norm, smem);
    return smem;
  } else {
    *scale = norm.weight != nullptr ? NormScale(x, k, norm.eps) : 1.0f;
    return x;
  }
}

template <WeightType T, WeightType N, bool kStaged>
__global__ void __launch_bounds__(kWarps * 32) QuantGemvKernel(GemvParams p) {
  extern __shared__ float4 smem[];
  int row = blockIdx.x * kWarps + threadIdx.x / 32;
  int seg = 0;  // Which weight the row belongs to.
#pragma unroll
  for (int i = 0; i < 3; ++i) {
    if (seg == i && i < p.count && row >= p.n[i]) row -= p.n[i], seg = i + 1;
  }
  PrefetchFirstChunk<T>(seg < p.count ? RowOf<T>(Pick(p.w, seg), row, p.k) : nullptr, p.k);
  float scale;
  const float* x = PrepareX<N, kStaged>(p.x, p.k, p.norm, reinterpret_cast<float*>(smem), &scale);
  if (seg >= p.count) {
    AllowDependentLaunch();
    return;
  }
  const float dot = WarpSum(LaneDot<T, N, kStaged>(RowOf<T>(Pick(p.w, seg), row, p.k), x, p.k, p.norm)) * scale;
  AllowDependentLaunch();
  if (threadIdx.x % 32 != 0) return;
  Pick(p.y, seg)[row] = p.residual != nullptr ? dot + p.residual[row] : dot;
}

template <WeightType T, WeightType N, bool kStaged>
__global__ void __launch_bounds__(kWarps * 32) QuantGateUpKernel(GateUpParams p) {
  extern __shared__ float4 smem[];
  const int row = blockIdx.x * kWarps + threadIdx.x / 32;
  if (row < p.n) {
    PrefetchFirstChunk<T>(RowOf<T>(p.w_gate, row, p.k), p.k);
    PrefetchFirstChunk<T>(RowOf<T>(p.w_up, row, p.k), p.k);
  }
  float scale;
  const float* x = PrepareX<N, kStaged>(p.x, p.k, p.norm, reinterpret_cast<float*>(smem), &scale);
  if (row >= p.n) {
    AllowDependentLaunch();
    return;
  }
  const uint8_t* rows[2] = {RowOf<T>(p.w_gate, row, p.k), RowOf<T>(p.w_up, row, p.k)};
  float acc[2];
  LaneDots<T, N, kStaged, 2>(rows, x, p.k, p.norm, WarpSlices<T, 2>(), acc);
  AllowDependentLaunch();
  const float g = WarpSum(acc[0]) * scale, u = WarpSum(acc[1]) * scale;
  if (threadIdx.x % 32 == 0) p.y[row] = Silu(g) * u;
}

template <WeightType T, bool kStaged>
__global__ void __launch_bounds__(kWarps * 32) QuantOutputArgmaxKernel(OutputArgmaxParams p) {
  extern __shared__ float4 smem[];
  __shared__ float values[kWarps];
  __shared__ int indices[kWarps];
  const int warp = threadIdx.x / 32;
  const int row = blockIdx.x * kWarps + warp;
  PrefetchFirstChunk<T>(row < p.n ? RowOf<T>(p.w, row, p.k) : nullptr, p.k);
  float scale;
  const float* x =
      PrepareX<WeightType::kF32, kStaged>(p.x, p.k, NormPrologue{}, reinterpret_cast<float*>(smem), &scale);
  float v = -FLT_MAX;
  if (row < p.n) {
    v = WarpSum(LaneDot<T, WeightType::kF32, kStaged>(RowOf<T>(p.w, row, p.k), x, p.k, NormPrologue{}));
  }
  AllowDependentLaunch();
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

// x staged in shared memory beside the segment buffers (at most 17 KB) within the default 48 KB.
constexpr int kMaxQuantStagedK = 6144;

// Rows must be whole blocks.
template <WeightType T>
bool WholeBlocks(int k) {
  return k > 0 && k % QuantTraits<T>::kElements == 0;
}

// Instantiates `kernel` for the quantized type, the norm weight's type (f32 only: GGUF norms are f32) and
// staging (x up to kMaxQuantStagedK floats; longer x is read in place).
#define GGRT_LAUNCH_QUANT_FAMILY(kernel, params, rows)                                                      \
  GGRT_DISPATCH_QUANT(params.type, T, {                                                                     \
    if (!WholeBlocks<T>(params.k)) return cudaErrorInvalidValue;                                            \
    if (params.norm.weight != nullptr && params.norm.type != WeightType::kF32) return cudaErrorInvalidValue; \
    const int blocks = (rows + kWarps - 1) / kWarps;                                                        \
    if (params.k <= kMaxQuantStagedK) {                                                                     \
      launched = Launch(kernel<T, WeightType::kF32, true>, blocks, kWarps * 32, params.k * sizeof(float),   \
                        stream, params);                                                                    \
    } else {                                                                                                \
      launched = Launch(kernel<T, WeightType::kF32, false>, blocks, kWarps * 32, 0, stream, params);        \
    }                                                                                                       \
  })

}  // namespace

cudaError_t LaunchQuantGemv(const GemvParams& p, cudaStream_t stream) {
  int rows = 0;
  for (int i = 0; i < p.count; ++i) rows += p.n[i];
  cudaError_t launched = cudaErrorInvalidValue;
  GGRT_LAUNCH_QUANT_FAMILY(QuantGemvKernel, p, rows);
  return launched;
}

cudaError_t LaunchQuantGateUpSwiglu(const GateUpParams& p, cudaStream_t stream) {
  cudaError_t launched = cudaErrorInvalidValue;
  GGRT_LAUNCH_QUANT_FAMILY(QuantGateUpKernel, p, p.n);
  return launched;
}

cudaError_t LaunchQuantOutputArgmax(const OutputArgmaxParams& p, cudaStream_t stream) {
  cudaError_t e = cudaErrorInvalidValue;
  GGRT_DISPATCH_QUANT(p.type, T, {
    if (!WholeBlocks<T>(p.k)) return cudaErrorInvalidValue;
    e = p.k <= kMaxQuantStagedK
            ? Launch(QuantOutputArgmaxKernel<T, true>, OutputArgmaxPartials(p.n), kWarps * 32, p.k * sizeof(float),
                     stream, p)
            : Launch(QuantOutputArgmaxKernel<T, false>, OutputArgmaxPartials(p.n), kWarps * 32, 0, stream, p);
  });
  return e;
}

}  // namespace ggrt::cuda
