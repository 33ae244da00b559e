// Causal GQA attention over the paged KV cache for decode steps, flash-decoding style: two kernels of one
// design, each a single launch.
//
// Both cut the positions a row may see (length position + 1, read from device memory, so one captured graph
// serves every step: *pos + s for a lone row, the row's own record in a batched decode step, ops/kv_pages.h
// RowPosition) into splits of whole pages. The grid has the most splits any length needs; a step uses only
// about length / 128 of them (the rest exit at once), so short contexts are not cut into slivers. Each
// active block writes (max, sum, weighted values) per head for its split, and the last block of its (row,
// head group) to finish (a fenced atomic counter, reset by that block) rescales and adds the splits
// (CombineSplits). A sliding window only moves the start of the positions that are split; soft-capping bends
// each score as it is formed.
//
// DecodeAttentionMmaKernel (f16 caches, head sizes 64 and 128): a block per (split, KV head, row) serves
// all the query heads of the KV head as the M rows of mma.sync, so every K/V byte is read once per step;
// its warps (8 at head size 64, 4 at 128) stream pages through cp.async rings in shared memory. Kernel
// bench, H200, one row of Qwen2.5-0.5B at 16384 positions: 15 us against 21 for a block per head (which
// reads K/V seven times); 64 rows at 4096 positions: 74 against 350 (four warps; eight gained end to end).
//
// AttentionSplitKernel (f32 caches, other head sizes): grid (splits, heads / group, rows); its 4 warps walk
// the slice in tiles of 32 positions with an online softmax: lane j scores position j of the tile (a whole K
// row per lane, all loads in flight at once), then the tile's value rows are added dimension-wise, so a tile
// costs a few memory latencies, not 32 dependent steps. K and V rows are 16-byte aligned (head_dim a
// multiple of 4, of 8 in f16).
//
// For the decode step the bias + RoPE + KV-cache write can be folded in (FusedRope): every block rotates its
// q heads from the raw projection and one block per KV head (the one whose split holds the newest position)
// stores that position's rotated k and biased v in the caches. The CUDA-core kernel takes them from
// registers; the tensor-core kernel puts them in its shared-memory page as well as in the caches.
#include <cfloat>
#include <cstring>
#include <type_traits>

#include "ops/cuda/attention.h"
#include "ops/cuda/common.cuh"
#include "ops/cuda/flash_attention.h"
#include "ops/cuda/mma.cuh"

namespace ggrt::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // head_dim <= 256.
constexpr int kPositionsPerSplit = kWarps * 32;  // One 32-position tile per warp.
constexpr int kMaxSplits = kWarps * 32;              // The combine's shared weights hold this many.
constexpr int kBlocksPerSm = 4;                      // Resident blocks per SM (a register budget of 128).

// Partial layout per (row, head, split): [m, l, two floats of padding, acc[head_dim]], so that the values
// start 16-byte aligned (head_dim is a multiple of 4) and the combine reads them four at a time.
constexpr int kPartialHeader = 4;

__host__ __device__ __forceinline__ int64_t PartialFloats(int rows, int heads, int head_dim, int splits) {
  return static_cast<int64_t>(rows) * heads * splits * (head_dim + kPartialHeader);
}

__device__ __forceinline__ int* Counter(const AttentionParams& p, int row, int head) {
  const int64_t floats = PartialFloats(p.rows, p.heads, p.head_dim, p.splits);
  return reinterpret_cast<int*>(static_cast<float*>(p.scratch) + floats) + row * p.heads + head;
}

__device__ __forceinline__ float* PartialAt(const AttentionParams& p, int row, int head, int split) {
  return static_cast<float*>(p.scratch) +
         ((static_cast<int64_t>(row) * p.heads + head) * p.splits + split) * (p.head_dim + kPartialHeader);
}

// Dimension d of one head's result from one split, with the split's max m (natural units) and sum l: the
// final output when it is the row's only split (short contexts), else its partial for CombineSplits.
__device__ __forceinline__ void StoreSplitResult(const AttentionParams& p, int row, int head, int split, int active,
                                                 int d, float m, float l, float acc) {
  if (active == 1) {
    p.out[(static_cast<int64_t>(row) * p.heads + head) * p.head_dim + d] = acc / l;
    return;
  }
  float* dst = PartialAt(p, row, head, split);
  if (d == 0) dst[0] = m, dst[1] = l;
  dst[kPartialHeader + d] = acc;
}

// The positions [begin, end) of split `split` of a row that sees `length` positions, those before `first`
// masked (a sliding window), and how many splits the length uses (`active`; the grid's others exit).
// Splits start on page boundaries and cover at least `min_positions` positions each (a page per warp).
struct SplitRange {
  int first, begin, end, active;
};
__device__ __forceinline__ SplitRange RangeOfSplit(const AttentionParams& p, int length, int split,
                                                   int min_positions = kPositionsPerSplit) {
  SplitRange r;
  r.first = p.window > 0 ? max(0, length - p.window) : 0;
  const int base = r.first / kKvPageSize * kKvPageSize;
  const int span = length - base;
  const int wanted = min(p.splits, (span + min_positions - 1) / min_positions);
  const int chunk = ((span + wanted - 1) / wanted + kKvPageSize - 1) / kKvPageSize * kKvPageSize;
  r.active = (span + chunk - 1) / chunk;
  r.begin = base + split * chunk;
  r.end = min(length, r.begin + chunk);
  return r;
}

__device__ __forceinline__ float BiasAt(const void* b, WeightType t, int i) {
  if (b == nullptr) return 0.0f;
  switch (t) {
    case WeightType::kF16: return __half2float(static_cast<const __half*>(b)[i]);
    case WeightType::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(b)[i]);
    default: return static_cast<const float*>(b)[i];
  }
}

// Dimension d of one head (at `base` in x) with its bias, rotated as the CPU reference does: `bias(i)` is the
// bias of element i of x, `sin_cos(i)` (sin, cos) of pair i's angle at the row's position.
template <typename Bias, typename SinCos>
__device__ __forceinline__ float Rotated(const RopeShape& shape, const float* x, int base, int d, const Bias& bias,
                                         const SinCos& sin_cos) {
  const float xv = x[base + d] + bias(base + d);
  if (d >= shape.dims) return xv;
  const int half = shape.dims / 2;
  const bool first = shape.neox ? d < half : d % 2 == 0;
  const int i = shape.neox ? (first ? d : d - half) : d / 2;
  const int partner = shape.neox ? (first ? d + half : d - half) : (first ? d + 1 : d - 1);
  const float pv = x[base + partner] + bias(base + partner);
  const float2 sc = sin_cos(i);
  const float s = sc.x, c = sc.y;
  return first ? xv * c - pv * s : pv * s + xv * c;
}

// Element i of a bias vector (none: 0), read where it is used.
struct BiasOf {
  const void* b;
  WeightType type;
  __device__ __forceinline__ float operator()(int i) const { return BiasAt(b, type, i); }
};

// (sin, cos) of pair i's angle at `position`, formed where it is used.
struct SinCosAt {
  const RopeTable& table;
  int position;
  __device__ __forceinline__ float2 operator()(int i) const {
    float2 sc;
    RopeSinCos(table, i, position, &sc.x, &sc.y);
    return sc;
  }
};

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

// Called by every block of a (row, head group) with `active` splits once its partials are written: the last
// of them to finish (a fenced atomic counter, which it resets) combines the splits of each of the `group`
// heads. Every (head, split) weight comes from one round of loads spread over the block, then each (head,
// dimension) sums its splits with the loads of several outputs in flight, so the combine costs a few
// latencies rather than one per split or per head.
template <int kMaxGroup>
__device__ void CombineSplits(const AttentionParams& p, int row, int head0, int group, int active) {
  __shared__ bool last;
  // Every thread's partial stores, made visible device-wide, before the block counts itself in: without the
  // barrier thread 0 could count the block done while another warp's stores were still in flight, and the
  // last block would add a stale partial (seen only under compute-sanitizer's racecheck, whose scheduling
  // delays warps: a relative error of 4e-3 on 2000 positions, once in a few runs).
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(Counter(p, row, head0), 1) == active - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  // Each split's max, then (below) its weight exp(max - the overall max).
  __shared__ float weight_s[kMaxGroup][kMaxSplits], sum_s[kMaxGroup][kMaxSplits];
  __shared__ float inv_l[kMaxGroup];
  for (int i = threadIdx.x; i < group * active; i += blockDim.x) {
    const float* part = PartialAt(p, row, head0 + i / active, i % active);
    weight_s[i / active][i % active] = __ldcg(part);
    sum_s[i / active][i % active] = __ldcg(part + 1);
  }
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int h = warp; h < group; h += blockDim.x / 32) {
    float m_all = -FLT_MAX;
    for (int s = lane; s < active; s += 32) m_all = fmaxf(m_all, weight_s[h][s]);
    m_all = WarpMax(m_all);
    float l_all = 0.0f;
    for (int s = lane; s < active; s += 32) {
      const float f = sum_s[h][s] > 0.0f ? __expf(weight_s[h][s] - m_all) : 0.0f;
      weight_s[h][s] = f;
      l_all += sum_s[h][s] * f;
    }
    l_all = WarpSum(l_all);
    if (lane == 0) inv_l[h] = 1.0f / l_all;
  }
  __syncthreads();
  // Each thread sums the splits of kQuads runs of 4 outputs (a head's dimensions d..d + 3), one 16-byte
  // load a split; runs past the end repeat the last one, so that the loads need no branch (a branch around
  // each load would wait for it before issuing the next).
  constexpr int kQuads = 2;
  const int quads = group * p.head_dim / 4;
  const int split_stride = p.head_dim + kPartialHeader;  // Floats from one split's partial to the next's.
  for (int i0 = threadIdx.x; i0 < quads; i0 += kQuads * blockDim.x) {
    int head[kQuads];
    const float4* src[kQuads];
#pragma unroll
    for (int k = 0; k < kQuads; ++k) {
      const int d = 4 * min(i0 + k * static_cast<int>(blockDim.x), quads - 1);
      head[k] = d / p.head_dim;
      src[k] = reinterpret_cast<const float4*>(PartialAt(p, row, head0 + head[k], 0) + kPartialHeader +
                                               d % p.head_dim);
    }
    float4 acc[kQuads] = {};
#pragma unroll 8
    for (int s = 0; s < active; ++s) {
#pragma unroll
      for (int k = 0; k < kQuads; ++k) {
        const float4 v = __ldcg(src[k] + s * (split_stride / 4));
        const float w = weight_s[head[k]][s];
        acc[k].x += v.x * w, acc[k].y += v.y * w, acc[k].z += v.z * w, acc[k].w += v.w * w;
      }
    }
#pragma unroll
    for (int k = 0; k < kQuads; ++k) {
      const int i = i0 + k * blockDim.x;
      if (i < quads) {
        const float inv = inv_l[head[k]];
        const float4 o = make_float4(acc[k].x * inv, acc[k].y * inv, acc[k].z * inv, acc[k].w * inv);
        *reinterpret_cast<float4*>(p.out + (static_cast<int64_t>(row) * p.heads + head0) * p.head_dim + 4 * i) = o;
      }
    }
  }
  if (threadIdx.x == 0) *Counter(p, row, head0) = 0;
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
  const int row_position = RowPosition(p.pos, p.pos_stride, row, p.pos_span);
  if (row_position < 0) return;  // A padding row of a batch bucket.
  const int length = row_position + 1;
  const int32_t* table = RowBlockTable(p.block_table, p.pos_stride, row, p.pos_span);
  const SplitRange range = RangeOfSplit(p, length, split);
  const int first = range.first, begin = range.begin, end = range.end, active = range.active;
  if (split >= active) return;
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
      const float qd = kRope ? Rotated(p.rope.shape, p.q + static_cast<int64_t>(row) * p.heads * p.head_dim,
                                       (head0 + h) * p.head_dim, d, BiasOf{p.rope.bq, p.rope.bias_type},
                                       SinCosAt{p.rope.table, position})
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
          k_new[j] = Rotated(p.rope.shape, k_raw, static_cast<int>(head_offset), d, BiasOf{p.rope.bk, p.rope.bias_type},
                             SinCosAt{p.rope.table, position});
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
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int d = LaneDim<kPerLane>(lane, j);
        if (d < p.head_dim) StoreSplitResult(p, row, head, split, active, d, m_all, l_all, out[j]);
      }
    }
  }
  if (active == 1) return;
  CombineSplits<kGroup>(p, row, head0, group, active);
}

// The tensor-core decode kernel. Grid (splits, kv_heads, rows): a block takes one split of one row for all
// the query heads of one KV head, which are the 16 rows of the mma's M (a group of up to 16; the rest are
// zero). Each warp walks every MmaWarps-th page of the split through its own two-stage cp.async ring of K
// and V pages in shared memory, so the next page is in flight while this one is multiplied: scores (heads x 32
// keys) by mma against K, an online softmax in registers as in the prefill kernel, and the f16
// probabilities times V (transposed out of shared memory by ldmatrix) into f32 accumulators.
constexpr int kMmaRows = 16;
constexpr int kMmaStages = 2;
constexpr int kMmaMaxGroup = kMmaRows;
// Splits times warps of one row and KV head at most (32 splits of four warps, 16 of eight): more splits
// lengthen the combine more than their extra pages in flight gain (PERF_NOTES.md, steps 42e and 43b).
constexpr int kMmaMaxSplitWarps = 128;
constexpr float kLn2 = 0.6931471805599453f;

// Warps of a tensor-core block, each streaming its own pages: eight at head size 64 (two stages of K and V
// pages each still fit in shared memory), which halves the splits a context needs and so the combine's
// work; four at 128.
__host__ __device__ constexpr int MmaWarps(int head_dim) { return head_dim <= 64 ? 8 : 4; }

template <int D>
constexpr size_t MmaSharedBytes() {
  return sizeof(__half) * (kMmaRows + MmaWarps(D) * kMmaStages * 2 * kKvPageSize) * (D + 8);
}

template <int D, bool kRope>
__global__ void __launch_bounds__(MmaWarps(D) * 32) DecodeAttentionMmaKernel(AttentionParams p) {
  constexpr int kMmaWarps = MmaWarps(D);
  constexpr int kStride = D + 8;  // Halves per shared row: the padding makes fragment loads conflict-free.
  constexpr int kPageHalves = kKvPageSize * kStride;
  extern __shared__ __align__(16) __half smem[];
  __half* q_s = smem;                          // [16][kStride]
  __half* pages_s = q_s + kMmaRows * kStride;  // [warp][stage][K, V][32][kStride]
  if (!p.late_launch) AllowDependentLaunch();
  const int split = blockIdx.x, kv_head = blockIdx.y, row = blockIdx.z;
  const int group = p.heads / p.kv_heads, head0 = kv_head * group;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, tig = lane % 4;
  // As in AttentionSplitKernel: positions and tables are read before waiting on the previous kernel.
  const int row_position = RowPosition(p.pos, p.pos_stride, row, p.pos_span);
  if (row_position < 0) return;  // A padding row of a batch bucket.
  const int length = row_position + 1;
  const int32_t* table = RowBlockTable(p.block_table, p.pos_stride, row, p.pos_span);
  const SplitRange range = RangeOfSplit(p, length, split, kMmaWarps * kKvPageSize);
  if (split >= range.active) return;
  const int position = length - 1;
  const int kv_width = p.kv_heads * D;
  __half* kc = static_cast<__half*>(p.k_cache);
  __half* vc = static_cast<__half*>(p.v_cache);

  // The split's pages, the last first: warp w takes pages w, w + kMmaWarps, ... counted from the end, so that
  // the newest position (the last page of the last split) is always warp 0's first.
  const int pages = (range.end - range.begin + kKvPageSize - 1) / kKvPageSize;
  auto page_start = [&](int j) { return range.begin + (pages - 1 - j) * kKvPageSize; };
  const bool newest = range.end > position;  // This split holds the newest position.

  // One page (32 positions from t0) of K and V into this warp's ring slot; rows past the split's end
  // (unwritten cache rows of the last page) are zero-filled rather than read, and row `skip` is left to the
  // block (the newest position, which it writes itself).
  __half* ring = pages_s + warp * kMmaStages * 2 * kPageHalves;
  const uint64_t policy = EvictFirstPolicy();
  auto copy_page = [&](int t0, int stage, int skip) {
    const int64_t page = KvSlot(table, t0);
    __half* k_s = ring + stage * 2 * kPageHalves;
    __half* v_s = k_s + kPageHalves;
    constexpr int kChunks = D / 8;  // 16-byte chunks per row
#pragma unroll
    for (int i = lane; i < kKvPageSize * kChunks; i += 32) {
      const int r = i / kChunks, c = 8 * (i % kChunks);
      if (r == skip) continue;
      const int64_t at = (page + r) * kv_width + kv_head * D + c;
      const int bytes = t0 + r < range.end ? 16 : 0;
      CopyAsync16(k_s + r * kStride + c, kc + at, bytes, policy);
      CopyAsync16(v_s + r * kStride + c, vc + at, bytes, policy);
    }
    CopyAsyncCommit();
  };

  // A step writes only its newest position; earlier ones were written by earlier steps. With the RoPE folded
  // in, this kernel forms the newest k and v and puts them in warp 0's first page itself, so every warp's
  // first page (less that row) is copied before waiting on the previous kernel; otherwise the kernel before
  // wrote them, and the page that holds them is copied after the wait.
  const int skip = kRope && newest ? position - page_start(0) : -1;
  const bool early = warp < pages && (kRope || !newest || warp != 0);
  if (early) copy_page(page_start(warp), 0, warp == 0 ? skip : -1);
  // Each pair's (sin, cos) at the position, and the biases of the group's q heads and of the KV head's k and
  // v, need nothing from the previous kernel either: into shared memory now, so that after the wait only
  // the projections are read from global memory.
  __shared__ float2 sin_cos_s[D / 2];
  __shared__ float bias_s[(kMmaMaxGroup + 2) * D];  // The group's q heads, then k, then v.
  if constexpr (kRope) {
    for (int i = threadIdx.x; i < p.rope.shape.dims / 2; i += kMmaWarps * 32) {
      RopeSinCos(p.rope.table, i, position, &sin_cos_s[i].x, &sin_cos_s[i].y);
    }
    for (int i = threadIdx.x; i < (group + 2) * D; i += kMmaWarps * 32) {
      const int h = i / D;
      const void* b = h < group ? p.rope.bq : h == group ? p.rope.bk : p.rope.bv;
      bias_s[i] = BiasAt(b, p.rope.bias_type, (h < group ? head0 + h : kv_head) * D + i % D);
    }
    __syncthreads();
  }
  const auto sin_cos = [&](int i) { return sin_cos_s[i]; };
  const auto q_bias = [&](int i) { return bias_s[i - head0 * D]; };       // i: element of the q row
  const auto k_bias = [&](int i) { return bias_s[group * D + i - kv_head * D]; };  // i: element of the k row
  GridDependencyWait();
  // late_launch: the next kernels launch only now, not when this one starts. In the lone step the kernel after
  // attn_out's is gate/up, whose blocks issue their weights (9 MB in Q8_0) as they start: launched two kernels
  // early, they did so during norm+QKV's chain (the kernel before this one), 4.0 us a layer; launched here, during
  // the attention's, which two SMs run: norm+QKV 4.0 -> 2.9, attention 4.4 -> 5.4 us. H200, tg128 Q8_0 2107 ->
  // 2150, Q4_K_M 1985 -> 2002, F16 1818 -> 1828, but the batched step of one sequence 1472 -> 1433 (PERF_NOTES.md
  // step 120). Blocks that return before here (padding rows, unused splits) count as having allowed it.
  if (p.late_launch) AllowDependentLaunch();

  // The newest position's rotated k and biased v (kRope, the split that holds it), a dimension a thread,
  // then q of the group's heads, scaled (and rotated), as f16 rows of the A operand: straight-line code
  // with no global store before the last, so that every load goes out at once.
  static_assert(D <= kMmaWarps * 32, "a dimension of the newest k and v per thread");
  const int64_t slot = kRope && newest ? KvSlot(table, position) * kv_width + kv_head * D : 0;
  const bool writes_kv = kRope && newest && static_cast<int>(threadIdx.x) < D;
  float k_new = 0.0f, v_new = 0.0f;
  if constexpr (kRope) {
    if (writes_kv) {
      const int d = threadIdx.x;
      k_new = Rotated(p.rope.shape, p.rope.k + static_cast<int64_t>(row) * kv_width, kv_head * D, d, k_bias, sin_cos);
      v_new = p.rope.v[static_cast<int64_t>(row) * kv_width + kv_head * D + d] + bias_s[(group + 1) * D + d];
    }
  }
  const float* q_row = p.q + static_cast<int64_t>(row) * p.heads * D;
#pragma unroll
  for (int i = threadIdx.x; i < kMmaRows * (D / 2); i += kMmaWarps * 32) {
    const int h = i / (D / 2), d = 2 * (i % (D / 2));
    float x0 = 0.0f, x1 = 0.0f;
    if (h < group) {
      const int base = (head0 + h) * D;
      if constexpr (kRope) {
        x0 = Rotated(p.rope.shape, q_row, base, d, q_bias, sin_cos);
        x1 = Rotated(p.rope.shape, q_row, base, d + 1, q_bias, sin_cos);
      } else {
        x0 = q_row[base + d], x1 = q_row[base + d + 1];
      }
    }
    *reinterpret_cast<__half2*>(q_s + h * kStride + d) = __floats2half2_rn(x0 * p.scale, x1 * p.scale);
  }
  if (writes_kv) {
    // Into the cache for later steps (this block is the only writer of the slot), and into warp 0's first
    // page, rounded as the cache rounds it, for this one.
    const int d = threadIdx.x;
    StoreAs(kc + slot + d, k_new);
    StoreAs(vc + slot + d, v_new);
    StoreAs(pages_s + skip * kStride + d, k_new);
    StoreAs(pages_s + kPageHalves + skip * kStride + d, v_new);
  }
  __syncthreads();
  uint32_t q_frag[D / 16][4];
#pragma unroll
  for (int k0 = 0; k0 < D; k0 += 16) QFragment(q_s, kStride, k0, g, tig, q_frag[k0 / 16]);

  // Rows g and g + 8 of the M tile (heads head0 + g, head0 + g + 8): running max (base 2) and sum, and
  // their accumulators o[n] over dimensions 8n + 2 tig, + 1.
  float m[2] = {-1e30f, -1e30f}, l[2] = {0.0f, 0.0f};
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  if (warp < pages && !early) copy_page(page_start(warp), 0, -1);
  for (int it = 0, j = warp; j < pages; ++it, j += kMmaWarps) {
    const int t0 = page_start(j);
    if (j + kMmaWarps < pages) {
      copy_page(page_start(j + kMmaWarps), (it + 1) % kMmaStages, -1);
      CopyAsyncWaitPending<1>();
    } else {
      CopyAsyncWaitPending<0>();
    }
    __syncwarp();
    const __half* k_s = ring + (it % kMmaStages) * 2 * kPageHalves;
    const __half* v_s = k_s + kPageHalves;

    float s[kKvPageSize / 8][4];
#pragma unroll
    for (int n = 0; n < kKvPageSize / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int k0 = 0; k0 < D; k0 += 16) {
#pragma unroll
      for (int n = 0; n < kKvPageSize / 8; ++n) {
        const __half* kr = k_s + (n * 8 + g) * kStride + k0 + 2 * tig;
        Mma(s[n], q_frag[k0 / 16], *reinterpret_cast<const uint32_t*>(kr), *reinterpret_cast<const uint32_t*>(kr + 8));
      }
    }
#pragma unroll
    for (int n = 0; n < kKvPageSize / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = t0 + n * 8 + 2 * tig + e % 2;
        float x = s[n][e];
        if (p.softcap > 0.0f) x = p.softcap * tanhf(x / p.softcap);
        s[n][e] = key >= range.first && key < range.end ? x * kLog2e : -INFINITY;
      }
    }
    OnlineSoftmaxStep<kKvPageSize, D>(s, m, l, o);
    AddProbabilitiesTimesV<kKvPageSize, D>(s, v_s, kStride, lane, o);
    __syncwarp();  // The slot is consumed before a later copy refills it.
  }

  // Merge the warps in the pages' shared memory, then each (head, dimension) of the block's result. Only the
  // warps that had a page take part (the others' terms are exact zeros).
  const int used = min(kMmaWarps, pages);
  __syncthreads();
  float* m_s = reinterpret_cast<float*>(pages_s);  // [warp][16]
  float* l_s = m_s + kMmaWarps * kMmaRows;             // [warp][16]
  float* o_s = l_s + kMmaWarps * kMmaRows;             // [warp][16][D]
  if (warp < used) {
    if (tig == 0) {
      m_s[warp * kMmaRows + g] = m[0], m_s[warp * kMmaRows + g + 8] = m[1];
      l_s[warp * kMmaRows + g] = l[0], l_s[warp * kMmaRows + g + 8] = l[1];
    }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      float* r0 = o_s + (warp * kMmaRows + g) * D + n * 8 + 2 * tig;
      r0[0] = o[n][0], r0[1] = o[n][1];
      r0[8 * D] = o[n][2], r0[8 * D + 1] = o[n][3];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < group * D; i += blockDim.x) {
    const int h = i / D, d = i % D;
    float m_all = -1e30f;
#pragma unroll
    for (int w = 0; w < kMmaWarps; ++w) {
      if (w < used) m_all = fmaxf(m_all, m_s[w * kMmaRows + h]);
    }
    float l_all = 0.0f, acc = 0.0f;
#pragma unroll
    for (int w = 0; w < kMmaWarps; ++w) {
      if (w >= used) break;
      const float f = exp2f(m_s[w * kMmaRows + h] - m_all);
      l_all += l_s[w * kMmaRows + h] * f;
      acc += o_s[(w * kMmaRows + h) * D + d] * f;
    }
    // The max in natural units, as the CUDA-core kernel's partials hold it.
    StoreSplitResult(p, row, head0 + h, split, range.active, d, m_all * kLn2, l_all, acc);
  }
  if (range.active == 1) return;
  CombineSplits<kMmaMaxGroup>(p, row, head0, group, range.active);
}

template <int D, bool kRope>
cudaError_t LaunchMmaFor(const AttentionParams& p, cudaStream_t stream) {
  constexpr size_t kSmem = MmaSharedBytes<D>();
  static const cudaError_t opted = cudaFuncSetAttribute(
      DecodeAttentionMmaKernel<D, kRope>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem));
  if (opted != cudaSuccess) return opted;
  const dim3 grid(p.splits, p.kv_heads, p.rows);
  return Launch(DecodeAttentionMmaKernel<D, kRope>, grid, MmaWarps(D) * 32, kSmem, stream, p);
}

template <bool kRope>
cudaError_t LaunchMmaFor(const AttentionParams& p, cudaStream_t stream) {
  return p.head_dim == 64 ? LaunchMmaFor<64, kRope>(p, stream) : LaunchMmaFor<128, kRope>(p, stream);
}

}  // namespace

int64_t AttentionScratchBytes(int rows, int heads, int head_dim, int splits) {
  return PartialFloats(rows, heads, head_dim, splits) * 4 + static_cast<int64_t>(rows) * heads * 4;
}

bool TensorCoreDecodeSupported(int heads, int kv_heads, int head_dim, bool f16_cache) {
  return f16_cache && (head_dim == 64 || head_dim == 128) && heads % kv_heads == 0 &&
         heads / kv_heads <= kMmaMaxGroup;
}

int ChooseAttentionSplits(int ctx, int heads, int kv_heads, int head_dim, bool f16_cache) {
  if (TensorCoreDecodeSupported(heads, kv_heads, head_dim, f16_cache)) {
    // A block per KV head: splits of at least a page per warp at head size 64 (two at 128), and few enough
    // that the combine (every split of every head of the group, by one block) stays a few latencies.
    return max(1, min(kMmaMaxSplitWarps / MmaWarps(head_dim), ctx / (2 * kPositionsPerSplit)));
  }
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
  const bool tensor_cores = p.tensor_cores && (p.rows == 1 || p.pos_stride > 0) &&
                            TensorCoreDecodeSupported(p.heads, p.kv_heads, p.head_dim, p.f16_cache);
  if (p.rope.enabled) {
    if ((p.rows != 1 && p.pos_stride == 0) || p.rope.shape.dims / 2 > kMaxRopePairs) return cudaErrorInvalidValue;
    if (tensor_cores) return LaunchMmaFor<true>(p, stream);
    return p.f16_cache ? LaunchFor<true, __half>(p, stream) : LaunchFor<true, float>(p, stream);
  }
  if (tensor_cores) return LaunchMmaFor<false>(p, stream);
  return p.f16_cache ? LaunchFor<false, __half>(p, stream) : LaunchFor<false, float>(p, stream);
}

}  // namespace ggrt::cuda
