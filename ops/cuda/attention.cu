// Causal GQA attention, flash-decoding style, in one kernel.
//
// Grid (splits, heads, rows): each block takes a contiguous slice of the positions its row may see
// (length position + 1, read from device memory, so one captured graph serves every step: *pos + s in a
// prefill, the row's own record in a batched decode step, ops/kv_pages.h RowPosition) and its 4 warps
// walk that slice in tiles of 32 positions with an online softmax: lane j scores position j of the tile
// (a whole K row per lane, all loads in flight at once), then the tile's value rows are added dimension-wise.
// A tile thus costs a few memory latencies, not 32 dependent steps, which is what keeps long contexts
// cheap. The grid has the most splits any length needs; a step uses only about length / 128 of them (the
// rest exit at once), so short contexts are not cut into slivers. Each active block writes (max, sum,
// weighted values) for its split, and the last block of its (row, head) to finish (a fenced atomic counter,
// reset by that block) rescales and adds the splits. A sliding window only moves the start of the positions
// that are split; soft-capping bends each score as it is formed. K and V rows are f32 and 16-byte aligned (head_dim a
// multiple of 4).
//
// For the decode step the bias + RoPE + KV-cache write can be folded in (FusedRope): every block rotates
// its own q head from the raw projection, the blocks whose slice ends at the newest position use that
// position's rotated k and biased v from registers (the cache does not hold them yet), and one of them per
// KV head writes them to the caches for later steps.
#include <cfloat>
#include <cstring>
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
constexpr int kBlocksPerSm = 4;                      // Resident blocks per SM (a register budget of 128).

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

// Dimension j of lane `lane`'s part of a head: each lane holds kPerLane adjacent dimensions, so that its
// part of a value row is one vector load.
template <int kPerLane>
__device__ __forceinline__ int LaneDim(int lane, int j) {
  return kPerLane * lane + j;
}

// kWords 32-bit words from 4-byte-aligned memory (kWords * 4-byte aligned for 2 and 4; 16 for 8).
template <int kWords>
__device__ __forceinline__ void LoadWords(const void* src, uint32_t (&w)[kWords]) {
  if constexpr (kWords == 1) {
    w[0] = *static_cast<const uint32_t*>(src);
  } else if constexpr (kWords == 2) {
    const uint2 v = *static_cast<const uint2*>(src);
    w[0] = v.x, w[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < kWords; i += 4) {
      const uint4 v = static_cast<const uint4*>(src)[i / 4];
      w[i] = v.x, w[i + 1] = v.y, w[i + 2] = v.z, w[i + 3] = v.w;
    }
  }
}

// The first kPerLane elements of KV packed in words, as floats.
template <typename KV, int kPerLane, int kWords>
__device__ __forceinline__ void UnpackWords(const uint32_t (&w)[kWords], float (&out)[kPerLane]) {
  if constexpr (std::is_same_v<KV, float>) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) out[i] = __uint_as_float(w[i]);
  } else {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const __half2 pair = *reinterpret_cast<const __half2*>(&w[i / 2]);
      out[i] = i % 2 == 0 ? __low2float(pair) : __high2float(pair);
    }
  }
}

// Adds the page of positions [t0, t0 + 32) (those in [first, end)) to a warp's online softmax, for each of
// the `group` query heads of the block (q in shared memory, pre-scaled, kQStride floats apart): lane j scores
// position t0 + j with independent 16-byte loads of its K row, then the value rows are folded in
// dimension-wise, each lane's weight broadcast by a shuffle. Every load of a phase is independent of the
// others, so a tile costs a few memory latencies whatever its length; the K and V rows are loaded once for
// the whole group. A tile is one page, so the block table is read once per tile. KV is the cache's element
// type (f32 or f16). Each head's arithmetic is the same whatever the group: grouping changes no result.
static_assert(kKvPageSize == 32, "a decode-attention tile is one page");
constexpr int kQStride = kMaxPerLane * 32;
template <int kPerLane, typename KV, int kGroup>
__device__ __forceinline__ void AddTile(const AttentionParams& p, const float* q_s, int group, int t0, int64_t page,
                                        int first, int end, int64_t head_offset, float (&m)[kGroup],
                                        float (&l)[kGroup], float (&acc)[kGroup][kPerLane]) {
  // `page`: the pool row of position t0 (looked up by the caller ahead of time); t0 + j is row page + j.
  const int lane = threadIdx.x % 32;
  const int kv_width = p.kv_heads * p.head_dim;
  const int t = t0 + lane;
  const bool valid = t >= first && t < end;
  float score[kGroup];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) score[h] = -FLT_MAX;
  if (valid) {
    const int64_t slot = page + lane;
    const KV* row = static_cast<const KV*>(p.k_cache) + slot * kv_width + head_offset;
    float sum[kGroup] = {};
    if constexpr (std::is_same_v<KV, float>) {
      const float4* k = reinterpret_cast<const float4*>(row);
      constexpr int kChunk = 16;  // float4 loads in flight per lane.
#pragma unroll
      for (int c0 = 0; c0 < kPerLane * 8; c0 += kChunk) {
        float4 kv[kChunk];
#pragma unroll
        for (int c = 0; c < kChunk; ++c) {
          if (c0 + c < kPerLane * 8 && (c0 + c) * 4 < p.head_dim) kv[c] = k[c0 + c];
        }
#pragma unroll
        for (int c = 0; c < kChunk; ++c) {
          if (c0 + c < kPerLane * 8 && (c0 + c) * 4 < p.head_dim) {
#pragma unroll
            for (int h = 0; h < kGroup; ++h) {
              if (h >= group) break;
              const float4 qv = reinterpret_cast<const float4*>(q_s + h * kQStride)[c0 + c];
              sum[h] += kv[c].x * qv.x + kv[c].y * qv.y + kv[c].z * qv.z + kv[c].w * qv.w;
            }
          }
        }
      }
    } else {
      const uint4* k = reinterpret_cast<const uint4*>(row);  // 8 halves each
      constexpr int kChunk = 8;
#pragma unroll
      for (int c0 = 0; c0 < kPerLane * 4; c0 += kChunk) {
        uint4 kv[kChunk];
#pragma unroll
        for (int c = 0; c < kChunk; ++c) {
          if (c0 + c < kPerLane * 4 && (c0 + c) * 8 < p.head_dim) kv[c] = k[c0 + c];
        }
#pragma unroll
        for (int c = 0; c < kChunk; ++c) {
          if (c0 + c < kPerLane * 4 && (c0 + c) * 8 < p.head_dim) {
            const __half2* hk = reinterpret_cast<const __half2*>(&kv[c]);
#pragma unroll
            for (int h = 0; h < kGroup; ++h) {
              if (h >= group) break;
              const float* qv = q_s + h * kQStride + (c0 + c) * 8;
#pragma unroll
              for (int e = 0; e < 4; ++e) {
                const float2 f = __half22float2(hk[e]);
                sum[h] += f.x * qv[2 * e] + f.y * qv[2 * e + 1];
              }
            }
          }
        }
      }
    }
#pragma unroll
    for (int h = 0; h < kGroup; ++h) score[h] = p.softcap > 0.0f ? p.softcap * tanhf(sum[h] / p.softcap) : sum[h];
  }
  float weight[kGroup];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    if (h >= group) break;
    const float m_new = fmaxf(m[h], WarpMax(score[h]));
    const float correction = __expf(m[h] - m_new);
    weight[h] = valid ? __expf(score[h] - m_new) : 0.0f;
    l[h] = l[h] * correction + WarpSum(weight[h]);
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) acc[h][j] *= correction;
    m[h] = m_new;
  }
  // The value rows: lane l holds dimensions kPerLane * l .. + kPerLane - 1 of each, loaded as one vector
  // and kept raw (32 registers of rows in flight), so a tile's rows take one or two rounds of loads.
  const int count = min(32, end - t0);
  const KV* values = static_cast<const KV*>(p.v_cache) + page * kv_width + head_offset;
  constexpr int kWords = (kPerLane * sizeof(KV) + 3) / 4;  // 32-bit words of a lane's part of a row.
  constexpr int kRowsInFlight = 32 / kWords;
  const int d0 = LaneDim<kPerLane>(lane, 0);
  const bool whole = d0 + kPerLane <= p.head_dim && kPerLane * sizeof(KV) >= 4;
#pragma unroll
  for (int j0 = 0; j0 < 32; j0 += kRowsInFlight) {
    if (j0 >= count) break;
    uint32_t raw[kRowsInFlight][kWords];
#pragma unroll
    for (int j = 0; j < kRowsInFlight; ++j) {
      const KV* row = values + static_cast<int64_t>(j0 + j) * kv_width + d0;
      if (j0 + j < count && whole) {
        LoadWords<kWords>(row, raw[j]);
      } else {
        // A short row end (or a lane past head_dim): element by element, zeros past it.
        KV part[kWords * 4 / sizeof(KV)] = {};
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) {
          if (j0 + j < count && d0 + i < p.head_dim) part[i] = row[i];
        }
        memcpy(raw[j], part, sizeof(raw[j]));
      }
    }
#pragma unroll
    for (int j = 0; j < kRowsInFlight; ++j) {
      float v[kPerLane];
      UnpackWords<KV, kPerLane>(raw[j], v);
#pragma unroll
      for (int h = 0; h < kGroup; ++h) {
        if (h >= group) break;
        const float w = __shfl_sync(0xffffffffu, weight[h], j0 + j);
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) acc[h][i] += w * v[i];
      }
    }
  }
}

// Grid (splits, heads / group, rows): a block serves `group` query heads of one KV head (1, or all of them:
// p.group), each with the arithmetic of a block of its own.
template <int kPerLane, bool kRope, typename KV, int kGroup>
__global__ void __launch_bounds__(kWarps * 32, kBlocksPerSm) AttentionSplitKernel(AttentionParams p) {
  AllowDependentLaunch();
  // The position and the block table are written only between steps (the executor's copy, or the previous
  // step's advance kernel, which the stream or the graph boundary orders before this step's kernels), so
  // they are read before waiting on the previous kernel: the splits a short context leaves idle exit
  // without holding SM slots, and the first page is looked up while the predecessor finishes.
  const int split = blockIdx.x, row = blockIdx.z;
  const int group = kGroup == 1 ? 1 : p.group;
  const int head0 = blockIdx.y * group;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row_position = RowPosition(p.pos, p.pos_stride, row);
  if (row_position < 0) return;  // A padding row of a batch bucket.
  const int length = row_position + 1;
  const int32_t* table = RowBlockTable(p.block_table, p.pos_stride, row);
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
  const int position = length - 1;  // The newest position this row sees.
  // With the RoPE folded in, the newest position is not in the cache yet: it comes from registers below.
  const int cache_end = kRope ? min(end, position) : end;
  int64_t page = begin + warp * 32 < cache_end ? KvSlot(table, begin + warp * 32) : 0;
  GridDependencyWait();
  const int kv_head = head0 / (p.heads / p.kv_heads);
  const int kv_width = p.kv_heads * p.head_dim;

  // q of each head, scaled (and rotated, with the RoPE folded in), for every lane's K rows.
  __shared__ __align__(16) float q_s[kGroup * kQStride];
  for (int h = 0; h < group; ++h) {
    const float* q = p.q + (static_cast<int64_t>(row) * p.heads + head0 + h) * p.head_dim;
    for (int d = threadIdx.x; d < p.head_dim; d += blockDim.x) {
      const float qd = kRope ? Rotated(p.rope, p.q + static_cast<int64_t>(row) * p.heads * p.head_dim, p.rope.bq,
                                       (head0 + h) * p.head_dim, d, position)
                             : q[d];
      q_s[h * kQStride + d] = qd * p.scale;
    }
  }
  __syncthreads();
  float m[kGroup], l[kGroup], acc[kGroup][kPerLane];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    m[h] = -FLT_MAX, l[h] = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) acc[h][j] = 0.0f;
  }
  const int64_t head_offset = kv_head * p.head_dim;
  for (int t0 = begin + warp * 32; t0 < cache_end; t0 += kWarps * 32) {
    // The next tile's page is requested before this tile's loads depend on anything.
    const int next = t0 + kWarps * 32;
    const int64_t next_page = next < cache_end ? KvSlot(table, next) : 0;
    AddTile<kPerLane, KV, kGroup>(p, q_s, group, t0, page, first, cache_end, head_offset, m, l, acc);
    page = next_page;
  }
  if constexpr (kRope) {
    if (end > position && warp == 0) {
      // This block's slice holds the newest position: rotate its k and bias its v here.
      float k_new[kPerLane], v_new[kPerLane];
      const float* k_raw = p.rope.k + static_cast<int64_t>(row) * kv_width;
      const float* v_raw = p.rope.v + static_cast<int64_t>(row) * kv_width;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int d = LaneDim<kPerLane>(lane, j);
        k_new[j] = v_new[j] = 0.0f;
        if (d < p.head_dim) {
          k_new[j] = Rotated(p.rope, k_raw, p.rope.bk, static_cast<int>(head_offset), d, position);
          v_new[j] = v_raw[head_offset + d] + BiasAt(p.rope.bv, p.rope.bias_type, static_cast<int>(head_offset) + d);
        }
      }
#pragma unroll
      for (int h = 0; h < kGroup; ++h) {
        if (h >= group) break;
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) {
          const int d = LaneDim<kPerLane>(lane, j);
          if (d < p.head_dim) sum += q_s[h * kQStride + d] * k_new[j];
        }
        const float s_new = p.softcap > 0.0f ? p.softcap * tanhf(WarpSum(sum) / p.softcap) : WarpSum(sum);
        const float m_new = fmaxf(m[h], s_new);
        const float correction = __expf(m[h] - m_new);
        const float weight = __expf(s_new - m_new);
        l[h] = l[h] * correction + weight;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) acc[h][j] = acc[h][j] * correction + weight * v_new[j];
        m[h] = m_new;
      }
      if (head0 % (p.heads / p.kv_heads) == 0) {  // One writer per KV head.
        const int64_t slot = KvSlot(table, position) * kv_width + head_offset;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) {
          const int d = LaneDim<kPerLane>(lane, j);
          if (d < p.head_dim) {
            StoreAs(static_cast<KV*>(p.k_cache) + slot + d, k_new[j]);
            StoreAs(static_cast<KV*>(p.v_cache) + slot + d, v_new[j]);
          }
        }
      }
    }
  }

  // Merge the warps of the block, head by head.
  __shared__ float ms[kWarps], ls[kWarps];
  __shared__ float accs[kWarps][kMaxPerLane * 32];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    if (h >= group) break;
    if (h > 0) __syncthreads();  // Warp 0 has merged the previous head.
    if (lane == 0) ms[warp] = m[h], ls[warp] = l[h];
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) accs[warp][LaneDim<kPerLane>(lane, j)] = acc[h][j];
    __syncthreads();
    if (warp == 0) {
      const int head = head0 + h;
      float m_all = -FLT_MAX;
      for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, ms[w]);
      float l_all = 0.0f;
      float out[kPerLane] = {};
      for (int w = 0; w < kWarps; ++w) {
        const float f = ls[w] > 0.0f ? __expf(ms[w] - m_all) : 0.0f;
        l_all += ls[w] * f;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) out[j] += accs[w][LaneDim<kPerLane>(lane, j)] * f;
      }
      if (active == 1) {
        // The only split (short contexts): the block's result is final, no partials to combine.
        float* o = p.out + (static_cast<int64_t>(row) * p.heads + head) * p.head_dim;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) {
          const int d = LaneDim<kPerLane>(lane, j);
          if (d < p.head_dim) o[d] = out[j] / l_all;
        }
      } else {
        float* dst = PartialAt(p, row, head, split);
        if (lane == 0) dst[0] = m_all, dst[1] = l_all;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) {
          const int d = LaneDim<kPerLane>(lane, j);
          if (d < p.head_dim) dst[2 + d] = out[j];
        }
      }
    }
  }
  if (active == 1) return;

  // The last block of this (row, head group) to finish combines all active splits, head by head.
  __shared__ bool last;
  __threadfence();
  if (threadIdx.x == 0) last = atomicAdd(Counter(p, row, head0), 1) == active - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  // Every split's (max, sum) in one round of loads, one per thread; then each output dimension sums its
  // splits with the loads unrolled, so the combine costs a few latencies, not one per split.
  __shared__ float weights[kMaxSplits];
  for (int h = 0; h < group; ++h) {
    const int head = head0 + h;
    float m_s = -FLT_MAX, l_s = 0.0f;
    if (threadIdx.x < active) {
      const float* part = PartialAt(p, row, head, threadIdx.x);
      m_s = __ldcg(part);
      l_s = __ldcg(part + 1);
    }
    const float m_all = BlockMax(m_s);
    const float f = l_s > 0.0f ? __expf(m_s - m_all) : 0.0f;
    if (threadIdx.x < active) weights[threadIdx.x] = f;
    const float l_all = BlockSum(l_s * f);  // Its barriers also publish `weights`.
    for (int d = threadIdx.x; d < p.head_dim; d += blockDim.x) {
      float acc_d = 0.0f;
#pragma unroll 16
      for (int s = 0; s < active; ++s) acc_d += __ldcg(PartialAt(p, row, head, s) + 2 + d) * weights[s];
      p.out[(static_cast<int64_t>(row) * p.heads + head) * p.head_dim + d] = acc_d / l_all;
    }
    __syncthreads();  // `weights` is the next head's.
  }
  if (threadIdx.x == 0) *Counter(p, row, head0) = 0;
}

}  // namespace

int64_t AttentionScratchBytes(int rows, int heads, int head_dim, int splits) {
  return PartialFloats(rows, heads, head_dim, splits) * 4 + static_cast<int64_t>(rows) * heads * 4;
}

int ChooseAttentionSplits(int ctx, int heads) {
  // As many blocks as can be resident at once at one row: one more would start a second wave (38 splits x
  // 14 heads on 132 SMs cost 20% at 16384 positions). A split has at least one tile per warp.
  const int sms = SmCount();
  int splits = max(1, kBlocksPerSm * sms / heads);
  splits = min(splits, max(1, ctx / kPositionsPerSplit));
  return max(1, min(splits, kMaxSplits));
}

template <bool kRope, typename KV, int kGroup>
cudaError_t LaunchFor(const AttentionParams& p, cudaStream_t stream) {
  const dim3 grid(p.splits, p.heads / p.group, p.rows);
  const int per_lane = (p.head_dim + 31) / 32;
  if (per_lane == 1) return Launch(AttentionSplitKernel<1, kRope, KV, kGroup>, grid, kWarps * 32, 0, stream, p);
  if (per_lane == 2) return Launch(AttentionSplitKernel<2, kRope, KV, kGroup>, grid, kWarps * 32, 0, stream, p);
  if (per_lane <= 4) return Launch(AttentionSplitKernel<4, kRope, KV, kGroup>, grid, kWarps * 32, 0, stream, p);
  if constexpr (kGroup == 1) return Launch(AttentionSplitKernel<8, kRope, KV, 1>, grid, kWarps * 32, 0, stream, p);
  return cudaErrorInvalidValue;
}

template <bool kRope, typename KV>
cudaError_t LaunchFor(const AttentionParams& p, cudaStream_t stream) {
  return p.group == 1 ? LaunchFor<kRope, KV, 1>(p, stream) : LaunchFor<kRope, KV, kMaxAttentionGroup>(p, stream);
}

bool AttentionGroupSupported(int heads, int kv_heads, int head_dim) {
  const int group = heads / kv_heads;
  return heads % kv_heads == 0 && group >= 2 && group <= kMaxAttentionGroup && head_dim <= 4 * 32;
}

cudaError_t LaunchAttention(const AttentionParams& p, cudaStream_t stream) {
  // Prefill over an f16 cache: the tensor-core kernel.
  if (FlashAttentionSupports(p)) return LaunchFlashAttention(p, stream);
  if (p.head_dim > 32 * kMaxPerLane || p.head_dim % (p.f16_cache ? 8 : 4) != 0 || p.heads % p.kv_heads != 0 ||
      p.splits < 1 || p.splits > kMaxSplits ||
      (p.group != 1 && (p.group != p.heads / p.kv_heads || !AttentionGroupSupported(p.heads, p.kv_heads, p.head_dim)))) {
    return cudaErrorInvalidValue;
  }
  if (p.rope.enabled) {
    if ((p.rows != 1 && p.pos_stride == 0) || p.rope.shape.dims / 2 > kMaxRopePairs) return cudaErrorInvalidValue;
    return p.f16_cache ? LaunchFor<true, __half>(p, stream) : LaunchFor<true, float>(p, stream);
  }
  return p.f16_cache ? LaunchFor<false, __half>(p, stream) : LaunchFor<false, float>(p, stream);
}

}  // namespace ggrt::cuda
