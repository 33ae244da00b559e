// Causal GQA attention, flash-decoding style, in one kernel.
//
// Grid (splits, heads, rows): each block takes a contiguous slice of the positions its row may see
// (length *pos + s + 1, read from device memory, so one captured graph serves every step) and its 8 warps
// walk that slice with an online softmax. Each lane holds head_dim / 32 (rounded up) dimensions of q and
// of the running output, so a score is one warp reduction. The grid has the most splits any length needs;
// a step uses only about length / kPositionsPerSplit of them (the rest exit at once), so short contexts
// are not cut into slivers. Each active block writes (max, sum, weighted values) for its split, and the
// last block of its (row, head) to finish (a fenced atomic counter, reset by that block) rescales and adds
// the splits.
//
// For the decode step the bias + RoPE + KV-cache write can be folded in (FusedRope): every block rotates
// its own q head from the raw projection, the blocks whose slice ends at the newest position use that
// position's rotated k and biased v from registers (the cache does not hold them yet), and one of them per
// KV head writes them to the caches for later steps.
#include <cfloat>

#include "ops/cuda/attention.h"
#include "ops/cuda/common.cuh"

namespace ggrt::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // head_dim <= 256.
constexpr int kPositionsPerSplit = 16;

int64_t PartialFloats(int rows, int heads, int head_dim, int splits) {
  return static_cast<int64_t>(rows) * heads * splits * (head_dim + 2);
}

__device__ __forceinline__ int* Counter(const AttentionParams& p, int row, int head) {
  const int64_t floats = static_cast<int64_t>(p.rows) * p.heads * p.splits * (p.head_dim + 2);
  return reinterpret_cast<int*>(static_cast<float*>(p.scratch) + floats) + row * p.heads + head;
}

// Partial layout per (row, head, split): [m, l, acc[head_dim]].
__device__ __forceinline__ float* PartialAt(const AttentionParams& p, int row, int head, int split) {
  return static_cast<float*>(p.scratch) +
         ((static_cast<int64_t>(row) * p.heads + head) * p.splits + split) * (p.head_dim + 2);
}

__device__ __forceinline__ float BiasAt(const void* b, WeightType t, int i) {
  if (b == nullptr) return 0.0f;
  switch (t) {
    case WeightType::kF16: return __half2float(static_cast<const __half*>(b)[i]);
    case WeightType::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(b)[i]);
    default: return static_cast<const float*>(b)[i];
  }
}

// Dimension d of one head (at `base` in x) with its bias, rotated for `position` as the CPU reference does.
__device__ __forceinline__ float Rotated(const FusedRope& r, const float* x, const void* bias, int base, int d,
                                         int position) {
  const float xv = x[base + d] + BiasAt(bias, r.bias_type, base + d);
  if (d >= r.shape.dims) return xv;
  const int half = r.shape.dims / 2;
  const bool first = r.shape.neox ? d < half : d % 2 == 0;
  const int i = r.shape.neox ? (first ? d : d - half) : d / 2;
  const int partner = r.shape.neox ? (first ? d + half : d - half) : (first ? d + 1 : d - 1);
  const float pv = x[base + partner] + BiasAt(bias, r.bias_type, base + partner);
  float s, c;
  RopeSinCos(r.table, i, position, &s, &c);
  return first ? xv * c - pv * s : pv * s + xv * c;
}

template <int kPerLane, bool kRope>
__global__ void __launch_bounds__(kWarps * 32) AttentionSplitKernel(AttentionParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int split = blockIdx.x, head = blockIdx.y, row = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int length = *p.pos + row + 1;
  const int active = min(p.splits, (length + kPositionsPerSplit - 1) / kPositionsPerSplit);
  if (split >= active) return;
  const int chunk = (length + active - 1) / active;
  const int begin = split * chunk;
  const int end = min(length, begin + chunk);
  const int kv_head = head / (p.heads / p.kv_heads);
  const int kv_width = p.kv_heads * p.head_dim;
  const float* q = p.q + (static_cast<int64_t>(row) * p.heads + head) * p.head_dim;

  float qv[kPerLane], acc[kPerLane];
  const int position = length - 1;  // The newest position this row sees.
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int d = lane + 32 * j;
    float qd = 0.0f;
    if (d < p.head_dim) {
      qd = kRope ? Rotated(p.rope, p.q, p.rope.bq, head * p.head_dim, d, position) : q[d];
    }
    qv[j] = qd * p.scale;
    acc[j] = 0.0f;
  }
  float m = -FLT_MAX, l = 0.0f;
  // Folds score `s` and value row `v` into the running softmax.
  auto accumulate = [&](float s, const float* v) {
    const float m_new = fmaxf(m, s);
    const float correction = __expf(m - m_new);
    const float weight = __expf(s - m_new);
    l = l * correction + weight;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int d = lane + 32 * j;
      acc[j] = acc[j] * correction + (d < p.head_dim ? weight * v[d] : 0.0f);
    }
    m = m_new;
  };
  auto dot = [&](const float* k) {
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < p.head_dim) sum += qv[j] * k[d];
    }
    return sum;
  };
  const int64_t head_offset = kv_head * p.head_dim;
  // With the RoPE folded in, the newest position is not in the cache yet: it comes from registers below.
  const int cache_end = kRope ? min(end, position) : end;
  // Two positions per iteration: their loads and reductions overlap.
  int t = begin + warp;
  for (; t + kWarps < cache_end; t += 2 * kWarps) {
    const float* k0 = p.k_cache + static_cast<int64_t>(t) * kv_width + head_offset;
    const float* k1 = k0 + static_cast<int64_t>(kWarps) * kv_width;
    const float s0 = dot(k0), s1 = dot(k1);
    const float r0 = WarpSum(s0), r1 = WarpSum(s1);
    accumulate(r0, p.v_cache + static_cast<int64_t>(t) * kv_width + head_offset);
    accumulate(r1, p.v_cache + static_cast<int64_t>(t + kWarps) * kv_width + head_offset);
  }
  if (t < cache_end) {
    accumulate(WarpSum(dot(p.k_cache + static_cast<int64_t>(t) * kv_width + head_offset)),
               p.v_cache + static_cast<int64_t>(t) * kv_width + head_offset);
  }
  if constexpr (kRope) {
    if (end > position && warp == 0) {
      // This block's slice holds the newest position: rotate its k and bias its v here.
      float k_new[kPerLane], v_new[kPerLane];
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int d = lane + 32 * j;
        k_new[j] = v_new[j] = 0.0f;
        if (d < p.head_dim) {
          k_new[j] = Rotated(p.rope, p.rope.k, p.rope.bk, static_cast<int>(head_offset), d, position);
          v_new[j] = p.rope.v[head_offset + d] + BiasAt(p.rope.bv, p.rope.bias_type, static_cast<int>(head_offset) + d);
          sum += qv[j] * k_new[j];
        }
      }
      const float s_new = WarpSum(sum);
      const float m_new = fmaxf(m, s_new);
      const float correction = __expf(m - m_new);
      const float weight = __expf(s_new - m_new);
      l = l * correction + weight;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) acc[j] = acc[j] * correction + weight * v_new[j];
      m = m_new;
      if (head % (p.heads / p.kv_heads) == 0) {  // One writer per KV head.
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) {
          const int d = lane + 32 * j;
          if (d < p.head_dim) {
            p.k_cache[static_cast<int64_t>(position) * kv_width + head_offset + d] = k_new[j];
            p.v_cache[static_cast<int64_t>(position) * kv_width + head_offset + d] = v_new[j];
          }
        }
      }
    }
  }

  // Merge the warps of the block.
  __shared__ float ms[kWarps], ls[kWarps];
  __shared__ float accs[kWarps][kMaxPerLane * 32];
  if (lane == 0) ms[warp] = m, ls[warp] = l;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) accs[warp][lane + 32 * j] = acc[j];
  __syncthreads();
  float* dst = PartialAt(p, row, head, split);
  if (warp == 0) {
    float m_all = -FLT_MAX;
    for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, ms[w]);
    float l_all = 0.0f;
    float out[kPerLane] = {};
    for (int w = 0; w < kWarps; ++w) {
      const float f = ls[w] > 0.0f ? __expf(ms[w] - m_all) : 0.0f;
      l_all += ls[w] * f;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) out[j] += accs[w][lane + 32 * j] * f;
    }
    if (lane == 0) dst[0] = m_all, dst[1] = l_all;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < p.head_dim) dst[2 + d] = out[j];
    }
  }

  // The last block of this (row, head) to finish combines all active splits.
  __shared__ bool last;
  __threadfence();
  if (threadIdx.x == 0) last = atomicAdd(Counter(p, row, head), 1) == active - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  float m_all = -FLT_MAX;
  for (int s = 0; s < active; ++s) m_all = fmaxf(m_all, __ldcg(PartialAt(p, row, head, s)));
  for (int d = threadIdx.x; d < p.head_dim; d += blockDim.x) {
    float l_all = 0.0f, acc = 0.0f;
    for (int s = 0; s < active; ++s) {
      const float* part = PartialAt(p, row, head, s);
      const float l = __ldcg(part + 1);
      if (l <= 0.0f) continue;
      const float f = __expf(__ldcg(part) - m_all);
      l_all += l * f;
      acc += __ldcg(part + 2 + d) * f;
    }
    p.out[(static_cast<int64_t>(row) * p.heads + head) * p.head_dim + d] = acc / l_all;
  }
  if (threadIdx.x == 0) *Counter(p, row, head) = 0;
}

}  // namespace

int64_t AttentionScratchBytes(int rows, int heads, int head_dim, int splits) {
  return PartialFloats(rows, heads, head_dim, splits) * 4 + static_cast<int64_t>(rows) * heads * 4;
}

int ChooseAttentionSplits(int ctx, int heads) {
  // Enough blocks for every SM of an H100 at one row; at long lengths each split still has >= 16 positions.
  int splits = (4 * 132 + heads - 1) / heads;
  splits = min(splits, max(1, ctx / kPositionsPerSplit));
  return max(1, min(splits, 64));
}

cudaError_t LaunchAttention(const AttentionParams& p, cudaStream_t stream) {
  if (p.head_dim > 32 * kMaxPerLane || p.heads % p.kv_heads != 0) return cudaErrorInvalidValue;
  const dim3 grid(p.splits, p.heads, p.rows);
  const int per_lane = (p.head_dim + 31) / 32;
  if (p.rope.enabled) {
    if (p.rows != 1 || p.rope.shape.dims / 2 > kMaxRopePairs) return cudaErrorInvalidValue;
    if (per_lane == 1) return Launch(AttentionSplitKernel<1, true>, grid, kWarps * 32, 0, stream, p);
    if (per_lane == 2) return Launch(AttentionSplitKernel<2, true>, grid, kWarps * 32, 0, stream, p);
    if (per_lane <= 4) return Launch(AttentionSplitKernel<4, true>, grid, kWarps * 32, 0, stream, p);
    return Launch(AttentionSplitKernel<8, true>, grid, kWarps * 32, 0, stream, p);
  }
  if (per_lane == 1) return Launch(AttentionSplitKernel<1, false>, grid, kWarps * 32, 0, stream, p);
  if (per_lane == 2) return Launch(AttentionSplitKernel<2, false>, grid, kWarps * 32, 0, stream, p);
  if (per_lane <= 4) return Launch(AttentionSplitKernel<4, false>, grid, kWarps * 32, 0, stream, p);
  return Launch(AttentionSplitKernel<8, false>, grid, kWarps * 32, 0, stream, p);
}

}  // namespace ggrt::cuda
