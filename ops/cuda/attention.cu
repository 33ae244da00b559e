// Causal GQA attention, flash-decoding style, in one kernel.
//
// Grid (splits, kv_heads, rows): each block serves the query heads of one KV head (up to 8; their K and V
// bytes are loaded once for all of them) and takes a contiguous slice of the positions its row may see
// (length *pos + s + 1, read from device memory, so one captured graph serves every step) and its 4 warps
// walk that slice in tiles of 32 positions with an online softmax: lane j scores position j of the tile
// (a whole K row per lane, all loads in flight at once), then the tile's value rows are added dimension-wise.
// A tile thus costs a few memory latencies, not 32 dependent steps, which is what keeps long contexts
// cheap. The grid has the most splits any length needs; a step uses only about length / 128 of them (the
// rest exit at once), so short contexts are not cut into slivers. Each active block writes (max, sum,
// weighted values) per head for its split, and the last block of its (row, KV head) to finish (a fenced
// atomic counter, reset by that block) rescales and adds the splits. A sliding window only moves the start of the positions
// that are split; soft-capping bends each score as it is formed. K and V rows are f32 or f16 pages, 16-byte
// aligned (head_dim a multiple of 4, or of 8 for f16).
//
// For the decode step the bias + RoPE + KV-cache write can be folded in (FusedRope): every block rotates
// its q heads from the raw projection, and the block whose slice ends at the newest position uses that
// position's rotated k and biased v from registers (the cache does not hold them yet) and writes them to
// the caches for later steps.
#include <cfloat>
#include <type_traits>

#include "ops/cuda/attention.h"
#include "ops/cuda/common.cuh"
#include "ops/cuda/flash_attention.h"

namespace ggrt::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // head_dim <= 256.
constexpr int kPositionsPerSplit = kWarps * 32;  // One 32-position tile per warp.
constexpr int kMaxSplits = kWarps * 32;              // One per thread when combining.
constexpr int kBlocksPerSm = 4;                      // Blocks per SM a split count aims for.

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

// Adds the page of positions [t0, t0 + 32) (those in [first, end)) to a warp's online softmaxes, one per query
// head of the KV group (kGroup at most, `group` in use): lane j loads position t0 + j's K row once with
// independent 16-byte loads and scores it against every head's q (in shared memory, pre-scaled); then each
// value row, loaded once, is added dimension-wise into every head's accumulator with that head's weight
// broadcast by a shuffle. Every load of a phase is independent of the others, so a tile costs a few memory
// latencies whatever its length, and the group's heads share its K/V bytes. A tile is one page, so the block
// table is read once per tile. KV is the cache's element type (f32 or f16).
static_assert(kKvPageSize == 32, "a decode-attention tile is one page");
template <int kPerLane, int kGroup, typename KV>
__device__ __forceinline__ void AddTile(const AttentionParams& p, const float (*q_s)[kPerLane * 32], int group,
                                        int t0, int first, int end, int64_t head_offset, float (&m)[kGroup],
                                        float (&l)[kGroup], float (&acc)[kGroup][kPerLane]) {
  const int lane = threadIdx.x % 32;
  const int kv_width = p.kv_heads * p.head_dim;
  const int t = t0 + lane;
  const bool valid = t >= first && t < end;
  const int64_t page = KvSlot(p.block_table, t0);  // Row of position t0; t0 + j is `page + j`.
  float score[kGroup];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) score[h] = 0.0f;
  if (valid) {
    const KV* row = static_cast<const KV*>(p.k_cache) + (page + lane) * kv_width + head_offset;
    if constexpr (std::is_same_v<KV, float>) {
      const float4* k = reinterpret_cast<const float4*>(row);
      constexpr int kChunk = 8;  // float4 loads in flight per lane.
#pragma unroll
      for (int c0 = 0; c0 < kPerLane * 8; c0 += kChunk) {
        float4 kv[kChunk];
#pragma unroll
        for (int c = 0; c < kChunk; ++c) {
          if (c0 + c < kPerLane * 8 && (c0 + c) * 4 < p.head_dim) kv[c] = k[c0 + c];
        }
#pragma unroll
        for (int h = 0; h < kGroup; ++h) {
          if (h >= group) break;
          const float4* q4 = reinterpret_cast<const float4*>(q_s[h]);
#pragma unroll
          for (int c = 0; c < kChunk; ++c) {
            if (c0 + c < kPerLane * 8 && (c0 + c) * 4 < p.head_dim) {
              const float4 qv = q4[c0 + c];
              score[h] += kv[c].x * qv.x + kv[c].y * qv.y + kv[c].z * qv.z + kv[c].w * qv.w;
            }
          }
        }
      }
    } else {
      const uint4* k = reinterpret_cast<const uint4*>(row);  // 8 halves each
      constexpr int kChunk = 4;
#pragma unroll
      for (int c0 = 0; c0 < kPerLane * 4; c0 += kChunk) {
        float2 kf[kChunk][4];
#pragma unroll
        for (int c = 0; c < kChunk; ++c) {
          if (c0 + c < kPerLane * 4 && (c0 + c) * 8 < p.head_dim) {
            const uint4 raw = k[c0 + c];
            const __half2* h2 = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
            for (int e = 0; e < 4; ++e) kf[c][e] = __half22float2(h2[e]);
          }
        }
#pragma unroll
        for (int h = 0; h < kGroup; ++h) {
          if (h >= group) break;
#pragma unroll
          for (int c = 0; c < kChunk; ++c) {
            if (c0 + c < kPerLane * 4 && (c0 + c) * 8 < p.head_dim) {
              const float4* q4 = reinterpret_cast<const float4*>(q_s[h] + (c0 + c) * 8);
              const float4 qa = q4[0], qb = q4[1];
              score[h] += kf[c][0].x * qa.x + kf[c][0].y * qa.y + kf[c][1].x * qa.z + kf[c][1].y * qa.w +
                          kf[c][2].x * qb.x + kf[c][2].y * qb.y + kf[c][3].x * qb.z + kf[c][3].y * qb.w;
            }
          }
        }
      }
    }
  }
  float weight[kGroup];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    if (h >= group) break;
    const float s = !valid ? -FLT_MAX : p.softcap > 0.0f ? p.softcap * tanhf(score[h] / p.softcap) : score[h];
    const float m_new = fmaxf(m[h], WarpMax(s));
    const float correction = __expf(m[h] - m_new);
    weight[h] = valid ? __expf(s - m_new) : 0.0f;
    l[h] = l[h] * correction + WarpSum(weight[h]);
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) acc[h][j] *= correction;
    m[h] = m_new;
  }
  const int count = min(32, end - t0);
  const KV* values = static_cast<const KV*>(p.v_cache) + page * kv_width + head_offset;
  constexpr int kRowsInFlight = kPerLane >= 32 ? 1 : 32 / kPerLane;
#pragma unroll
  for (int j0 = 0; j0 < 32; j0 += kRowsInFlight) {
    if (j0 >= count) break;
    float v[kRowsInFlight][kPerLane];
#pragma unroll
    for (int j = 0; j < kRowsInFlight; ++j) {
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        const int d = lane + 32 * i;
        v[j][i] = j0 + j < count && d < p.head_dim ? ToFloat(values[static_cast<int64_t>(j0 + j) * kv_width + d]) : 0.0f;
      }
    }
#pragma unroll
    for (int h = 0; h < kGroup; ++h) {
      if (h >= group) break;
#pragma unroll
      for (int j = 0; j < kRowsInFlight; ++j) {
        const float w = __shfl_sync(0xffffffffu, weight[h], j0 + j);
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) acc[h][i] += w * v[j][i];
      }
    }
  }
}

// Grid (splits, kv_heads, rows): a block serves the `group` query heads of one KV head.
template <int kPerLane, int kGroup, bool kRope, typename KV>
__global__ void __launch_bounds__(kWarps * 32, 2) AttentionSplitKernel(AttentionParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int split = blockIdx.x, kv_head = blockIdx.y, row = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = p.heads / p.kv_heads;  // At most kGroup.
  const int length = *p.pos + row + 1;
  const int first = p.window > 0 ? max(0, length - p.window) : 0;
  // Splits and tiles start on page boundaries; positions before `first` in the first page are masked.
  const int base = first / kKvPageSize * kKvPageSize;
  const int span = length - base;
  const int wanted = min(p.splits, (span + kPositionsPerSplit - 1) / kPositionsPerSplit);
  const int chunk = ((span + wanted - 1) / wanted + kKvPageSize - 1) / kKvPageSize * kKvPageSize;
  const int active = (span + chunk - 1) / chunk;
  if (split >= active) return;
  const int begin = base + split * chunk;
  const int end = min(length, begin + chunk);
  const int kv_width = p.kv_heads * p.head_dim;
  const int head0 = kv_head * group;  // First query head of the group.

  // q of the group's heads, scaled (and rotated, with the RoPE folded in), for every lane's K rows.
  __shared__ __align__(16) float q_s[kGroup][kPerLane * 32];
  const int position = length - 1;  // The newest position this row sees.
  for (int i = threadIdx.x; i < kGroup * kPerLane * 32; i += blockDim.x) {
    const int h = i / (kPerLane * 32), d = i % (kPerLane * 32);
    float qd = 0.0f;
    if (h < group && d < p.head_dim) {
      const int base_q = (row * p.heads + head0 + h) * p.head_dim;
      qd = kRope ? Rotated(p.rope, p.q, p.rope.bq, base_q, d, position) : p.q[base_q + d];
    }
    q_s[h][d] = qd * p.scale;
  }
  __syncthreads();
  float acc[kGroup][kPerLane], m[kGroup], l[kGroup];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    m[h] = -FLT_MAX, l[h] = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) acc[h][j] = 0.0f;
  }
  const int64_t head_offset = kv_head * p.head_dim;
  // With the RoPE folded in, the newest position is not in the cache yet: it comes from registers below.
  const int cache_end = kRope ? min(end, position) : end;
  for (int t0 = begin + warp * 32; t0 < cache_end; t0 += kWarps * 32) {
    AddTile<kPerLane, kGroup, KV>(p, q_s, group, t0, first, cache_end, head_offset, m, l, acc);
  }
  if constexpr (kRope) {
    if (end > position && warp == 0) {
      // This block's slice holds the newest position: rotate its k and bias its v here, use them for every
      // head of the group, and store them in the caches for later steps.
      float k_new[kPerLane], v_new[kPerLane];
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int d = lane + 32 * j;
        k_new[j] = v_new[j] = 0.0f;
        if (d < p.head_dim) {
          k_new[j] = Rotated(p.rope, p.rope.k, p.rope.bk, static_cast<int>(head_offset), d, position);
          v_new[j] = p.rope.v[head_offset + d] + BiasAt(p.rope.bv, p.rope.bias_type, static_cast<int>(head_offset) + d);
        }
      }
#pragma unroll
      for (int h = 0; h < kGroup; ++h) {
        if (h >= group) break;
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) sum += q_s[h][lane + 32 * j] * k_new[j];
        sum = WarpSum(sum);
        const float s_new = p.softcap > 0.0f ? p.softcap * tanhf(sum / p.softcap) : sum;
        const float m_new = fmaxf(m[h], s_new);
        const float correction = __expf(m[h] - m_new);
        const float weight = __expf(s_new - m_new);
        l[h] = l[h] * correction + weight;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) acc[h][j] = acc[h][j] * correction + weight * v_new[j];
        m[h] = m_new;
      }
      const int64_t slot_row = KvSlot(p.block_table, position) * kv_width + head_offset;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int d = lane + 32 * j;
        if (d < p.head_dim) {
          StoreAs(static_cast<KV*>(p.k_cache) + slot_row + d, k_new[j]);
          StoreAs(static_cast<KV*>(p.v_cache) + slot_row + d, v_new[j]);
        }
      }
    }
  }

  // Merge the warps of the block, head by head.
  __shared__ float ms[kWarps][kGroup], ls[kWarps][kGroup];
  __shared__ float accs[kWarps][kGroup][kPerLane * 32];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    if (lane == 0) ms[warp][h] = m[h], ls[warp][h] = l[h];
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) accs[warp][h][lane + 32 * j] = acc[h][j];
  }
  __syncthreads();
  // Warp w finalises heads w, w + kWarps, ...
  for (int h = warp; h < group; h += kWarps) {
    float m_all = -FLT_MAX;
    for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, ms[w][h]);
    float l_all = 0.0f;
    float out[kPerLane] = {};
    for (int w = 0; w < kWarps; ++w) {
      const float f = ls[w][h] > 0.0f ? __expf(ms[w][h] - m_all) : 0.0f;
      l_all += ls[w][h] * f;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) out[j] += accs[w][h][lane + 32 * j] * f;
    }
    if (active == 1) {
      // The only split (short contexts): the block's result is final, no partials to combine.
      float* o = p.out + (static_cast<int64_t>(row) * p.heads + head0 + h) * p.head_dim;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int d = lane + 32 * j;
        if (d < p.head_dim) o[d] = out[j] / l_all;
      }
    } else {
      float* dst = PartialAt(p, row, head0 + h, split);
      if (lane == 0) dst[0] = m_all, dst[1] = l_all;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int d = lane + 32 * j;
        if (d < p.head_dim) dst[2 + d] = out[j];
      }
    }
  }
  if (active == 1) return;

  // The last block of this (row, KV head) to finish combines all active splits of its heads.
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(Counter(p, row, kv_head), 1) == active - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  // Per head: every split's (max, sum) in one round of loads, one per thread; then each output dimension sums
  // its splits with the loads unrolled, so the combine costs a few latencies, not one per split.
  __shared__ float weights[kMaxSplits];
  for (int h = 0; h < group; ++h) {
    float m_s = -FLT_MAX, l_s = 0.0f;
    if (threadIdx.x < active) {
      const float* part = PartialAt(p, row, head0 + h, threadIdx.x);
      m_s = __ldcg(part);
      l_s = __ldcg(part + 1);
    }
    const float m_all = BlockMax(m_s);
    const float f = l_s > 0.0f ? __expf(m_s - m_all) : 0.0f;
    if (threadIdx.x < active) weights[threadIdx.x] = f;
    const float l_all = BlockSum(l_s * f);  // Its barriers also publish `weights`.
    for (int d = threadIdx.x; d < p.head_dim; d += blockDim.x) {
      float a = 0.0f;
#pragma unroll 16
      for (int s = 0; s < active; ++s) a += __ldcg(PartialAt(p, row, head0 + h, s) + 2 + d) * weights[s];
      p.out[(static_cast<int64_t>(row) * p.heads + head0 + h) * p.head_dim + d] = a / l_all;
    }
    __syncthreads();  // `weights` is reused by the next head.
  }
  if (threadIdx.x == 0) *Counter(p, row, kv_head) = 0;
}

}  // namespace

int64_t AttentionScratchBytes(int rows, int heads, int head_dim, int splits) {
  return PartialFloats(rows, heads, head_dim, splits) * 4 + static_cast<int64_t>(rows) * heads * 4;
}

int ChooseAttentionSplits(int ctx, int kv_heads) {
  // As many blocks as can be resident at once at one row: one more would start a second wave (38 splits x
  // 14 heads on 132 SMs cost 20% at 16384 positions, when each query head had its own block). A split has at
  // least one tile per warp.
  static const int sms = [] {
    int device = 0, count = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      cudaGetLastError();
      return 132;  // An H100/H200; only the speed depends on it.
    }
    return count;
  }();
  int splits = max(1, kBlocksPerSm * sms / kv_heads);
  splits = min(splits, max(1, ctx / kPositionsPerSplit));
  return max(1, min(splits, kMaxSplits));
}

template <int kGroup, bool kRope, typename KV>
cudaError_t LaunchFor(const AttentionParams& p, cudaStream_t stream) {
  const dim3 grid(p.splits, p.kv_heads, p.rows);
  const int per_lane = (p.head_dim + 31) / 32;
  if (per_lane == 1) return Launch(AttentionSplitKernel<1, kGroup, kRope, KV>, grid, kWarps * 32, 0, stream, p);
  if (per_lane == 2) return Launch(AttentionSplitKernel<2, kGroup, kRope, KV>, grid, kWarps * 32, 0, stream, p);
  if (per_lane <= 4) return Launch(AttentionSplitKernel<4, kGroup, kRope, KV>, grid, kWarps * 32, 0, stream, p);
  return Launch(AttentionSplitKernel<8, kGroup, kRope, KV>, grid, kWarps * 32, 0, stream, p);
}

// Groups of up to 8 query heads per KV head share a block; one head per block otherwise (MHA).
template <bool kRope, typename KV>
cudaError_t LaunchForGroup(const AttentionParams& p, cudaStream_t stream) {
  const int group = p.heads / p.kv_heads;
  if (group == 1) return LaunchFor<1, kRope, KV>(p, stream);
  if (group <= 8) return LaunchFor<8, kRope, KV>(p, stream);
  return cudaErrorInvalidValue;
}

cudaError_t LaunchAttention(const AttentionParams& p, cudaStream_t stream) {
  // Prefill over an f16 cache: the tensor-core kernel.
  if (FlashAttentionSupports(p)) return LaunchFlashAttention(p, stream);
  if (p.head_dim > 32 * kMaxPerLane || p.head_dim % (p.f16_cache ? 8 : 4) != 0 || p.heads % p.kv_heads != 0 ||
      p.splits < 1 || p.splits > kMaxSplits) {
    return cudaErrorInvalidValue;
  }
  if (p.rope.enabled) {
    if (p.rows != 1 || p.rope.shape.dims / 2 > kMaxRopePairs) return cudaErrorInvalidValue;
    return p.f16_cache ? LaunchForGroup<true, __half>(p, stream) : LaunchForGroup<true, float>(p, stream);
  }
  return p.f16_cache ? LaunchForGroup<false, __half>(p, stream) : LaunchForGroup<false, float>(p, stream);
}

}  // namespace ggrt::cuda
