// Small memory-bound kernels. Each is a grid-stride loop or one block; none holds more than a row, so they
// are launch-latency bound in decode (a few microseconds) and bandwidth bound in prefill.
#include <algorithm>
#include <cfloat>

#include "ops/cuda/common.cuh"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/quant.cuh"
#include "ops/kv_pages.h"

namespace ggrt::cuda {
namespace {

template <WeightType T>
__global__ void EmbeddingKernel(EmbeddingParams p) {
  using S = typename WeightTraits<T>::Scalar;
  AllowDependentLaunch();
  GridDependencyWait();
  const int32_t id = p.tokens[blockIdx.x];
  const S* row = static_cast<const S*>(p.table) + static_cast<int64_t>(id) * p.dim;
  float* out = p.out + static_cast<int64_t>(blockIdx.x) * p.dim;
  for (int i = threadIdx.x; i < p.dim; i += blockDim.x) out[i] = ToFloat(row[i]) * p.scale;
}

// One thread per 32-element chunk of a quantized row: row ids[y] (or y without ids) of src, times `scale`,
// into dst row y (16-byte aligned: rows are whole 32-element chunks and the buffers 256-byte aligned).
template <WeightType T, typename Out>
__global__ void DecodeRowsKernel(const void* src, const int32_t* ids, int64_t rows, int k, float scale, Out* dst) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int64_t row = blockIdx.y;
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows || c >= k / 32) return;
  const int64_t src_row = ids != nullptr ? ids[row] : row;
  float w[32];
  DecodeRowChunk<T>(static_cast<const uint8_t*>(src) + src_row * RowBytesOf(T, k), k, c, w);
  // 16-byte stores: the chunk is 64 (f16) or 128 (f32) contiguous, 16-byte aligned bytes. Element stores cost
  // 8-16x the instructions and touch a sector each.
  Out* out = dst + row * k + 32 * c;
  if constexpr (sizeof(Out) == 2) {
#pragma unroll
    for (int v = 0; v < 4; ++v) {
      uint4 packed;
      __half2* h = reinterpret_cast<__half2*>(&packed);
#pragma unroll
      for (int e = 0; e < 4; ++e) h[e] = __floats2half2_rn(w[8 * v + 2 * e] * scale, w[8 * v + 2 * e + 1] * scale);
      reinterpret_cast<uint4*>(out)[v] = packed;
    }
  } else {
#pragma unroll
    for (int v = 0; v < 8; ++v) {
      reinterpret_cast<float4*>(out)[v] =
          make_float4(w[4 * v] * scale, w[4 * v + 1] * scale, w[4 * v + 2] * scale, w[4 * v + 3] * scale);
    }
  }
}

template <typename Out>
cudaError_t LaunchDecodeRows(const void* src, WeightType type, const int32_t* ids, int64_t rows, int k, float scale,
                             Out* dst, cudaStream_t stream) {
  if (k % 32 != 0 || rows > 65535) return cudaErrorInvalidValue;
  cudaError_t e = cudaErrorInvalidValue;
  const dim3 grid((k / 32 + 127) / 128, static_cast<unsigned>(rows));
  if (type == WeightType::kQ8_0R) {
    return Launch(DecodeRowsKernel<WeightType::kQ8_0R, Out>, grid, 128, 0, stream, src, ids, rows, k, scale, dst);
  }
  GGRT_DISPATCH_QUANT(type, T, {
    if (k % QuantTraits<T>::kElements != 0) return cudaErrorInvalidValue;
    e = Launch(DecodeRowsKernel<T, Out>, grid, 128, 0, stream, src, ids, rows, k, scale, dst);
  });
  return e;
}

template <WeightType T>
__global__ void AddKernel(AddParams p) {
  using S = typename WeightTraits<T>::Scalar;
  AllowDependentLaunch();
  GridDependencyWait();
  const int64_t n = static_cast<int64_t>(p.rows) * p.cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float b = p.bias ? ToFloat(static_cast<const S*>(p.b)[i % p.cols]) : static_cast<const float*>(p.b)[i];
    p.out[i] = p.a[i] + b;
  }
}

__global__ void SwigluKernel(SwigluParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < p.n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float y = (p.gelu ? GeluTanh(p.gate[i]) : Silu(p.gate[i])) * p.up[i];
    if (p.out) p.out[i] = y;
    if (p.out16) Store16(p.out16_type, p.out16, i, y);
  }
}

__global__ void SoftcapKernel(const float* x, int64_t n, float cap, float* out) {
  AllowDependentLaunch();
  GridDependencyWait();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = cap * tanhf(x[i] / cap);
  }
}

// A block per sequence.
__global__ void LastRowsKernel(LastRowsParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int b = blockIdx.x;
  const int row = p.last != nullptr ? p.last[b] : p.span - 1;
  const float* src = p.x + (static_cast<int64_t>(b) * p.span + row) * p.cols;
  float* dst = p.y + static_cast<int64_t>(b) * p.cols;
  for (int i = threadIdx.x; i < p.cols; i += blockDim.x) dst[i] = src[i];
}

__global__ void ArgmaxKernel(ArgmaxParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  // One block per row.
  const float* values = p.values + static_cast<int64_t>(blockIdx.x) * p.n;
  float best = -FLT_MAX;
  int best_i = INT_MAX;
  for (int j = threadIdx.x; j < p.n; j += blockDim.x) {
    Better(best, best_i, values[j], p.indices ? p.indices[j] : j);
  }
  BlockBest(best, best_i);
  if (threadIdx.x == 0) p.token[blockIdx.x] = best_i;
}

// Values a block of the split argmax scans: 8 float4 per thread.
constexpr int kArgmaxThreads = 256;
constexpr int kArgmaxSlice = kArgmaxThreads * 32;
__host__ __device__ constexpr int ArgmaxSplits(int n) { return (n + kArgmaxSlice - 1) / kArgmaxSlice; }

// Block (x, row) scans slice x of the row; the last block of the row to finish (a fenced counter it resets)
// picks among the slices' winners. Scratch: [rows] counters, then [rows, splits] values and indices.
__global__ void __launch_bounds__(kArgmaxThreads) SplitArgmaxKernel(ArgmaxParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int splits = gridDim.x, row = blockIdx.y;
  const float* values = p.values + static_cast<int64_t>(row) * p.n;
  const int begin = blockIdx.x * kArgmaxSlice, end = min(p.n, begin + kArgmaxSlice);
  float best = -FLT_MAX;
  int best_i = INT_MAX;
  if (p.n % 4 == 0) {
    float4 v[8];
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      const int j = begin + 4 * (threadIdx.x + u * kArgmaxThreads);
      v[u] = j < end ? *reinterpret_cast<const float4*>(values + j) : make_float4(-FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX);
    }
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      const int j = begin + 4 * (threadIdx.x + u * kArgmaxThreads);
      if (j < end) {
        Better(best, best_i, v[u].x, j), Better(best, best_i, v[u].y, j + 1);
        Better(best, best_i, v[u].z, j + 2), Better(best, best_i, v[u].w, j + 3);
      }
    }
  } else {
    for (int j = begin + threadIdx.x; j < end; j += kArgmaxThreads) Better(best, best_i, values[j], j);
  }
  BlockBest(best, best_i);
  int* counter = static_cast<int*>(p.scratch) + row;
  float* part_v = reinterpret_cast<float*>(static_cast<int*>(p.scratch) + p.rows) + static_cast<int64_t>(row) * splits;
  int* part_i = reinterpret_cast<int*>(part_v + static_cast<int64_t>(p.rows) * splits);
  __shared__ bool last;
  if (threadIdx.x == 0) {
    part_v[blockIdx.x] = best, part_i[blockIdx.x] = best_i;
    __threadfence();
    last = atomicAdd(counter, 1) == splits - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  best = -FLT_MAX, best_i = INT_MAX;
  for (int s = threadIdx.x; s < splits; s += kArgmaxThreads) Better(best, best_i, __ldcg(part_v + s), __ldcg(part_i + s));
  BlockBest(best, best_i);
  if (threadIdx.x == 0) {
    p.token[row] = best_i;
    *counter = 0;
  }
}

template <typename S>
__global__ void ConvertKernel(const float* src, int64_t n, S* dst) {
  AllowDependentLaunch();
  GridDependencyWait();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if constexpr (sizeof(S) == 2 && std::is_same_v<S, __half>) {
      dst[i] = __float2half_rn(src[i]);
    } else {
      dst[i] = __float2bfloat16_rn(src[i]);
    }
  }
}

__global__ void AdvanceKernel(AdvanceParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int32_t pos = *p.pos;
  if (p.next_token != nullptr) {
    const int32_t token = *p.next_token;
    p.tokens[0] = token;
    if (p.host_ring != nullptr) {
      reinterpret_cast<volatile int32_t*>(p.host_ring)[pos & 1] = token;
      __threadfence_system();
    }
  }
  *p.pos = pos + p.step;
}

__global__ void BatchAdvanceKernel(BatchAdvanceParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int slot = *p.steps & 1;
  __syncthreads();  // Every thread has read the count before it moves on.
  for (int r = threadIdx.x; r < p.rows; r += blockDim.x) {
    const int32_t token = p.next_tokens[r];
    reinterpret_cast<volatile int32_t*>(p.ring)[slot * p.ring_stride + r] = token;
    int32_t* record = p.pos + static_cast<int64_t>(r) * p.pos_stride;
    const int32_t pos = record[0];
    if (pos < 0) continue;
    const int32_t next = pos + 1;
    const int page = next / kKvPageSize;
    if (page >= p.pos_stride - 1 || record[1 + page] < 0) {
      record[0] = -1;
      continue;
    }
    record[0] = next;
    p.tokens[r] = token;
    if (p.windows != nullptr) {
      p.windows[static_cast<int64_t>(r) * p.window + next % p.window] = token;
      p.window_lens[r] = min(p.window_lens[r] + 1, p.window);
    }
  }
  __threadfence_system();
  __syncthreads();
  if (threadIdx.x == 0) *p.steps += 1;
}

int Blocks(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 4096 ? (b < 1 ? 1 : b) : 4096);
}

}  // namespace

cudaError_t LaunchEmbedding(const EmbeddingParams& p, cudaStream_t stream) {
  if (IsQuantized(p.type)) {
    return LaunchDecodeRows(p.table, p.type, p.tokens, p.rows, p.dim, p.scale, p.out, stream);
  }
  cudaError_t e = cudaErrorInvalidValue;
  GGRT_DISPATCH_WEIGHT(p.type, T, e = Launch(EmbeddingKernel<T>, p.rows, 256, 0, stream, p));
  return e;
}

cudaError_t LaunchDequantize(const DequantizeParams& p, cudaStream_t stream) {
  // Rows go in grid.y (at most 65535 a launch).
  constexpr int64_t kRowsPerLaunch = 65535;
  for (int64_t r = 0; r < p.rows; r += kRowsPerLaunch) {
    const int64_t n = std::min(kRowsPerLaunch, p.rows - r);
    const int64_t bytes_per_row = RowBytesOf(p.type, p.k);
    const cudaError_t e = LaunchDecodeRows(static_cast<const char*>(p.src) + r * bytes_per_row, p.type, nullptr, n, p.k,
                                           1.0f, static_cast<__half*>(p.dst) + r * p.k, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

cudaError_t LaunchAdd(const AddParams& p, cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(p.rows) * p.cols;
  cudaError_t e = cudaErrorInvalidValue;
  GGRT_DISPATCH_WEIGHT(p.bias ? p.bias_type : WeightType::kF32, T,
                       e = Launch(AddKernel<T>, Blocks(n, 256), 256, 0, stream, p));
  return e;
}

cudaError_t LaunchSwiglu(const SwigluParams& p, cudaStream_t stream) {
  if ((p.out == nullptr && p.out16 == nullptr) ||
      (p.out16 != nullptr && p.out16_type != WeightType::kF16 && p.out16_type != WeightType::kBF16)) {
    return cudaErrorInvalidValue;
  }
  return Launch(SwigluKernel, Blocks(p.n, 256), 256, 0, stream, p);
}

cudaError_t LaunchSoftcap(const float* x, int64_t n, float cap, float* out, cudaStream_t stream) {
  if (!(cap > 0.0f)) return cudaErrorInvalidValue;
  return Launch(SoftcapKernel, Blocks(n, 256), 256, 0, stream, x, n, cap, out);
}

cudaError_t LaunchLastRows(const LastRowsParams& p, cudaStream_t stream) {
  if (p.sequences < 1 || p.span < 1 || p.cols < 1) return cudaErrorInvalidValue;
  return Launch(LastRowsKernel, p.sequences, 256, 0, stream, p);
}

int64_t ArgmaxScratchBytes(int rows, int n) { return int64_t{rows} * (1 + 2 * ArgmaxSplits(n)) * 4; }

cudaError_t LaunchArgmax(const ArgmaxParams& p, cudaStream_t stream) {
  if (p.rows < 1 || p.n < 1 || (p.indices != nullptr && (p.rows > 1 || p.scratch != nullptr)) ||
      p.rows > 65535) {
    return cudaErrorInvalidValue;
  }
  if (p.scratch != nullptr) {
    return Launch(SplitArgmaxKernel, dim3(ArgmaxSplits(p.n), p.rows), kArgmaxThreads, 0, stream, p);
  }
  return Launch(ArgmaxKernel, p.rows, 1024, 0, stream, p);
}

cudaError_t LaunchConvert(const float* src, int64_t n, WeightType type, void* dst, cudaStream_t stream) {
  if (type == WeightType::kF16) {
    return Launch(ConvertKernel<__half>, Blocks(n, 256), 256, 0, stream, src, n, static_cast<__half*>(dst));
  } else if (type == WeightType::kBF16) {
    return Launch(ConvertKernel<__nv_bfloat16>, Blocks(n, 256), 256, 0, stream, src, n,
                  static_cast<__nv_bfloat16*>(dst));
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchAdvance(const AdvanceParams& p, cudaStream_t stream) {
  return Launch(AdvanceKernel, 1, 1, 0, stream, p);
}

cudaError_t LaunchBatchAdvance(const BatchAdvanceParams& p, cudaStream_t stream) {
  if (p.rows < 1 || p.rows > 1024 || p.pos_stride < 2 || p.ring_stride < p.rows ||
      (p.windows != nullptr && (p.window_lens == nullptr || p.window < 1))) {
    return cudaErrorInvalidValue;
  }
  return Launch(BatchAdvanceKernel, 1, std::min(1024, (p.rows + 31) / 32 * 32), 0, stream, p);
}

}  // namespace ggrt::cuda
