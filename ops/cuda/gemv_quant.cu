// Decode-step GEMV over weights in GGUF block formats (Q8_0 ... Q6_K): y = W x with W [n, k] stored as the
// file stores it, x and y in f32.
//
// A row streams through its warp in segments of 32 chunks of 32 elements (32 legacy blocks or 4 k-quant
// super-blocks). The warp copies a segment with contiguous 2-byte loads (blocks are only 2-byte aligned;
// per-lane block reads would scatter every load over the whole span) into its slice of shared memory, then
// lane l decodes chunk l with the type's DecodeChunk (ops/cuda/quant.cuh, shared with every kernel that
// reads blocks) and dots it with x. The next segment's loads are in flight while the current one is
// decoded, and the first segment is requested before the kernel waits for its predecessor (programmatic
// dependent launch), as the float kernels do with their first round. Long rows are split over up to 8
// warps (whole blocks each) so that no warp walks more than two segments; the parts are summed in shared
// memory. Only the weights' own bytes move: no dequantized copy exists.
//
// x is read in place (L1) unless the product normalises it (RMSNorm prologue): then the block stages the
// normalised x in shared memory once, and the row scale is applied at the end, as in the float family. The
// same fusions as the float kernels: up to three weights sharing x (fused QKV), a residual epilogue,
// gate/up with SwiGLU, and the output projection reduced to per-block argmax partials.
#include <cfloat>

#include "ops/cuda/gemv_common.cuh"
#include "ops/cuda/quant.cuh"

namespace ggrt::cuda {
namespace {

// x staged beside the segment buffers (at most 17 KB) within the default 48 KB of shared memory.
constexpr int kMaxQuantStagedK = 6144;

template <WeightType T>
struct Segment {
  using Q = QuantTraits<T>;
  static constexpr int kBytes = 32 / Q::kChunks * Q::kBytes;  // Bytes of 32 chunks.
  static constexpr int kLoads = (kBytes / 2 + 31) / 32;        // 2-byte loads per lane.
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

// One warp's walk over its share of R rows (gate and up: 2, read side by side). Start() requests the first
// segment (weights only: legal before the dependency wait); Finish() dots the share with x.
template <WeightType T, int R>
struct RowWalk {
  using Q = QuantTraits<T>;
  const uint8_t* rows[R];
  int begin, end;  // Chunks of this warp's share.
  Segment<T> next[R];

  __device__ __forceinline__ int Bytes(int first) const { return min(32, end - first) / Q::kChunks * Q::kBytes; }
  __device__ __forceinline__ const uint8_t* Source(int r, int first) const {
    return rows[r] + static_cast<int64_t>(first / Q::kChunks) * Q::kBytes;
  }

  __device__ __forceinline__ void Start(const uint8_t* const (&row_ptrs)[R], int k, int part, int parts) {
    const int row_chunks = k / 32;
    const int share = (row_chunks / Q::kChunks + parts - 1) / parts * Q::kChunks;  // Whole blocks.
    begin = min(row_chunks, part * share);
    end = min(row_chunks, begin + share);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      rows[r] = row_ptrs[r];
      if (begin < end) next[r].Load(Source(r, begin), Bytes(begin));
    }
  }

  // This lane's share of dot(row_r, x') into acc[r]. kNormInline: x' = x * norm weight read in place
  // (unstaged normalisation); otherwise x' = x as given (in place, or staged and normalised).
  template <WeightType N, bool kNormInline>
  __device__ __forceinline__ void Finish(const float* x, const NormPrologue& norm, uint16_t (*slices)[Segment<T>::kBytes / 2],
                                         float (&acc)[R]) {
    const int lane = threadIdx.x % 32;
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = 0.0f;
    for (int first = begin; first < end; first += 32) {
#pragma unroll
      for (int r = 0; r < R; ++r) next[r].Store(slices[r]);
      __syncwarp();
      if (first + 32 < end) {
#pragma unroll
        for (int r = 0; r < R; ++r) next[r].Load(Source(r, first + 32), Bytes(first + 32));
      }
      const int c = first + lane;
      if (c < end) {
        float w[R][32];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          DecodeChunk<T>(reinterpret_cast<const uint8_t*>(slices[r]) + (lane / Q::kChunks) * Q::kBytes,
                         lane % Q::kChunks, w[r]);
        }
#pragma unroll
        for (int i = 0; i < 32; i += 4) {
          float4 xv = *reinterpret_cast<const float4*>(x + 32 * c + i);
          if constexpr (kNormInline) {
            const float4 g = *reinterpret_cast<const float4*>(static_cast<const float*>(norm.weight) + 32 * c + i);
            xv.x *= g.x, xv.y *= g.y, xv.z *= g.z, xv.w *= g.w;
          }
#pragma unroll
          for (int r = 0; r < R; ++r) {
            acc[r] += w[r][i] * xv.x + w[r][i + 1] * xv.y + w[r][i + 2] * xv.z + w[r][i + 3] * xv.w;
          }
        }
      }
      __syncwarp();  // The slices are refilled next round.
    }
  }
};

// This warp's R segment buffers.
template <WeightType T, int R>
__device__ __forceinline__ uint16_t (*WarpSlices())[Segment<T>::kBytes / 2] {
  __shared__ uint16_t slices[kWarps * R][Segment<T>::kBytes / 2];
  return slices + (threadIdx.x / 32) * R;
}

template <WeightType T>
__device__ __forceinline__ const uint8_t* RowOf(const void* w, int row, int k) {
  return static_cast<const uint8_t*>(w) + static_cast<int64_t>(row) * (k / QuantTraits<T>::kElements) *
                                              QuantTraits<T>::kBytes;
}

// After the dependency wait: x for the dot products and the norm's row scale. With kStaged the block
// stages x normalised in shared memory (every thread must call this); otherwise x stays in place and a
// norm, if any, is applied inline (its scale computed by each warp).
template <bool kStaged>
__device__ __forceinline__ const float* PrepareX(const float* x, int k, const NormPrologue& norm, float* smem,
                                                 float* scale) {
  GridDependencyWait();  // x is the previous kernel's output.
  if constexpr (kStaged) {
    *scale = StageX<WeightType::kF32>(x, k, norm, smem);
    return smem;
  } else {
    *scale = norm.weight != nullptr ? NormScale(x, k, norm.eps) : 1.0f;
    return x;
  }
}

template <WeightType T, int R, bool kStaged>
__device__ __forceinline__ void Dots(RowWalk<T, R>& walk, const float* x_in, int k, const NormPrologue& norm,
                                     float* smem, float (&dots)[R]) {
  float scale;
  const float* x = PrepareX<kStaged>(x_in, k, norm, smem, &scale);
  float acc[R];
  if (!kStaged && norm.weight != nullptr) {
    walk.template Finish<WeightType::kF32, true>(x, norm, WarpSlices<T, R>(), acc);
  } else {
    walk.template Finish<WeightType::kF32, false>(x, norm, WarpSlices<T, R>(), acc);
  }
#pragma unroll
  for (int r = 0; r < R; ++r) dots[r] = WarpSum(acc[r]) * scale;
}

template <WeightType T, bool kStaged, int P>
__global__ void __launch_bounds__(kWarps * 32) QuantGemvKernel(GemvParams p) {
  extern __shared__ float4 smem[];
  const int warp = threadIdx.x / 32;
  int row = blockIdx.x * (kWarps / P) + warp / P;
  int seg = LocateRow(p, &row);
  // Rows past the end walk row 0 of weight 0 to the end: CombineParts synchronises the block.
  const bool valid = seg < p.count;
  if (!valid) seg = 0, row = 0;
  RowWalk<T, 1> walk;
  const uint8_t* rows[1] = {RowOf<T>(Pick(p.w, seg), row, p.k)};
  walk.Start(rows, p.k, warp % P, P);
  AllowDependentLaunch();
  float dot[1];
  Dots<T, 1, kStaged>(walk, p.x, p.k, p.norm, reinterpret_cast<float*>(smem), dot);
  if (!CombineParts<P>(&dot[0]) || !valid) return;
  Pick(p.y, seg)[row] = p.residual != nullptr ? dot[0] + p.residual[row] : dot[0];
}

template <WeightType T, bool kStaged, int P>
__global__ void __launch_bounds__(kWarps * 32) QuantGateUpKernel(GateUpParams p) {
  extern __shared__ float4 smem[];
  const int warp = threadIdx.x / 32;
  const int row = blockIdx.x * (kWarps / P) + warp / P;
  const bool valid = row < p.n;
  const int safe_row = valid ? row : 0;
  RowWalk<T, 2> walk;
  const uint8_t* rows[2] = {RowOf<T>(p.w_gate, safe_row, p.k), RowOf<T>(p.w_up, safe_row, p.k)};
  walk.Start(rows, p.k, warp % P, P);
  AllowDependentLaunch();
  float gu[2];
  Dots<T, 2, kStaged>(walk, p.x, p.k, p.norm, reinterpret_cast<float*>(smem), gu);
  const bool done = CombineParts<P>(&gu[0]);
  if constexpr (P > 1) __syncthreads();  // The shares buffer is reused for u.
  CombineParts<P>(&gu[1]);
  if (done && valid) p.y[row] = Silu(gu[0]) * gu[1];
}

// A warp per row (the partials are sized by OutputArgmaxPartials: kWarps rows a block).
template <WeightType T>
__global__ void __launch_bounds__(kWarps * 32) QuantOutputArgmaxKernel(OutputArgmaxParams p) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32;
  const bool valid = row < p.n;
  RowWalk<T, 1> walk;
  const uint8_t* rows[1] = {RowOf<T>(p.w, valid ? row : 0, p.k)};
  walk.Start(rows, p.k, 0, 1);
  AllowDependentLaunch();
  float dot[1];
  Dots<T, 1, false>(walk, p.x, p.k, NormPrologue{}, nullptr, dot);
  BlockArgmaxPartial(valid ? dot[0] : -FLT_MAX, row, p);
}

// Rows must be whole blocks.
template <WeightType T>
bool WholeBlocks(int k) {
  return k > 0 && k % QuantTraits<T>::kElements == 0;
}

// Warps per row: enough that no warp walks more than two 32-chunk segments, within whole blocks.
template <WeightType T>
int QuantPartsFor(int k) {
  const int blocks_per_row = k / QuantTraits<T>::kElements;
  int parts = 1;
  while (parts < kWarps && parts * 2 <= blocks_per_row && k / 32 / parts > 64) parts *= 2;
  return parts;
}

template <typename F>
void ByParts(int parts, F&& go) {
  switch (parts) {
    case 1: go(std::integral_constant<int, 1>{}); break;
    case 2: go(std::integral_constant<int, 2>{}); break;
    case 4: go(std::integral_constant<int, 4>{}); break;
    default: go(std::integral_constant<int, 8>{}); break;
  }
}

// Instantiates `kernel` for the quantized type, staging (only with a norm, for x up to kMaxQuantStagedK
// floats) and warps per row. Norm weights are f32 (as GGUF files store them).
#define GGRT_LAUNCH_QUANT_FAMILY(kernel, params, rows)                                                      \
  GGRT_DISPATCH_QUANT(params.type, T, {                                                                     \
    if (!WholeBlocks<T>(params.k)) return cudaErrorInvalidValue;                                            \
    if (params.norm.weight != nullptr && params.norm.type != WeightType::kF32) return cudaErrorInvalidValue; \
    const bool staged = params.norm.weight != nullptr && params.k <= kMaxQuantStagedK;                      \
    ByParts(QuantPartsFor<T>(params.k), [&](auto parts_tag) {                                               \
      constexpr int P = decltype(parts_tag)::value;                                                         \
      const int blocks = (rows + kWarps / P - 1) / (kWarps / P);                                            \
      launched = staged ? Launch(kernel<T, true, P>, blocks, kWarps * 32, params.k * sizeof(float), stream,  \
                                 params)                                                                    \
                        : Launch(kernel<T, false, P>, blocks, kWarps * 32, 0, stream, params);              \
    });                                                                                                     \
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
    e = Launch(QuantOutputArgmaxKernel<T>, OutputArgmaxPartials(p.n), kWarps * 32, 0, stream, p);
  });
  return e;
}

}  // namespace ggrt::cuda
