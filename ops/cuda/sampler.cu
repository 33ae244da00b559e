// Device sampling in two launches.
//
// 1. One block per slice of the logits (1024, or more for a large k: at least 8 logits per candidate)
//    copies it to shared memory, applies the repetition penalty to the tokens of the recent window that
//    fall in it, and selects the slice's top k (k = min(top_k, 1024)) into a candidate buffer: a radix
//    select (four 8-bit passes over order-preserving keys) of the k-th largest, then a gather of the keys
//    above it and enough equal to it. The vocabulary is thus spread over up to ~150 blocks instead of one.
// 2. One block selects the top k of the candidates the same way, sorts them (bitonic: value descending,
//    index ascending, so ties are deterministic), applies top-p and min-p to the temperature-1
//    probabilities, as the host sampler does, and draws at the temperature with Philox4x32-10 keyed by
//    (seed, position); the cuts and the draw come from block-wide prefix sums, one candidate per thread.
#include <cfloat>

#include <cub/block/block_scan.cuh>

#include "ops/cuda/common.cuh"
#include "ops/cuda/sampler.h"
#include "ops/kv_pages.h"

namespace ggrt::cuda {
namespace {

constexpr int kThreads = 1024;
static_assert(kMaxSampleCandidates == kThreads, "one candidate per thread in the sort");

__host__ __device__ inline int Blocks(int n) { return (n + kThreads - 1) / kThreads; }
__host__ __device__ inline int64_t CandidateSlots(int n) {
  return static_cast<int64_t>(Blocks(n)) * kMaxSampleCandidates;
}
__host__ __device__ inline int64_t SampleScratchBytesOf(int n) {
  return CandidateSlots(n) * (sizeof(float) + sizeof(int32_t));
}

// Larger float -> larger key.
__device__ __forceinline__ uint32_t Key(float x) {
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__host__ __device__ inline uint32_t Philox(uint64_t seed, uint32_t position) {
  uint32_t c0 = position, c1 = 0, c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c0;
}

__host__ __device__ inline float ToUniform(uint32_t bits) { return (bits >> 8) * (1.0f / 16777216.0f); }

// The k (<= n, <= kThreads) largest of x[0, n) into out_values / out_ids (the id of x[i] is ids[i], or
// base + i without ids), in no particular order: a radix select of the k-th largest key (four 8-bit passes
// over order-preserving keys), then every key above it and enough keys equal to it. Every thread of the
// block must call it.
__device__ void BlockTopK(const float* x, const int32_t* ids, int base, int n, int k, float* out_values,
                          int32_t* out_ids) {
  const int tid = threadIdx.x;
  __shared__ uint32_t hist[256];
  __shared__ uint32_t prefix, mask;
  __shared__ int remaining;  // How many of the k still to find among keys matching prefix under mask.
  __shared__ int n_above, n_equal;
  if (tid == 0) prefix = 0, mask = 0, remaining = k, n_above = 0, n_equal = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (tid < 256) hist[tid] = 0;
    __syncthreads();
    for (int i = tid; i < n; i += blockDim.x) {
      const uint32_t key = Key(x[i]);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255], 1u);
    }
    __syncthreads();
    if (tid < 32) {
      // The bin holding the remaining-th largest key: lane l owns bins 255 - 8l down to 248 - 8l, a scan
      // over the lanes counts the keys in higher bins, and the one lane whose bins reach the target walks
      // them.
      const int need = remaining;
      __syncwarp();  // Every lane has read `remaining` before the one that finds the bin rewrites it.
      int counts[8], chunk = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) chunk += counts[j] = static_cast<int>(hist[255 - 8 * tid - j]);
      int through = chunk;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int v = __shfl_up_sync(0xffffffffu, through, o);
        if (tid >= o) through += v;
      }
      int above = through - chunk;
      if (above < need && need <= through) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          if (above + counts[j] >= need) {
            remaining = need - above;
            prefix |= static_cast<uint32_t>(255 - 8 * tid - j) << shift;
            mask |= 255u << shift;
            break;
          }
          above += counts[j];
        }
      }
    }
    __syncthreads();
  }
  const int above_total = k - remaining;
  for (int i = tid; i < n; i += blockDim.x) {
    const float v = x[i];
    const uint32_t key = Key(v);
    int slot = -1;
    if (key > prefix) {
      slot = atomicAdd(&n_above, 1);
    } else if (key == prefix) {
      slot = atomicAdd(&n_equal, 1);
      slot = slot < remaining ? above_total + slot : -1;
    }
    if (slot >= 0) out_values[slot] = v, out_ids[slot] = ids != nullptr ? ids[i] : base + i;
  }
  __syncthreads();
}

// min(top_k, kMaxSampleCandidates, n): how many candidates each stage keeps.
__device__ __forceinline__ int EffectiveK(const SamplerConfig& c, int n) {
  return min(n, c.top_k > 0 ? min(c.top_k, kMaxSampleCandidates) : kMaxSampleCandidates);
}

// Logits per stage-1 slice: at least 8 per candidate kept, so a large k still shrinks the vocabulary
// 8-fold before the single-block stage. The grid is sized for the smallest slice; blocks past the last
// slice exit.
__host__ __device__ constexpr int SliceFor(int k) { return kThreads * ((8 * k + kThreads - 1) / kThreads); }

// Stage 1, one block per slice of the logits: each slice's own top k, padded to k entries with -inf. The
// global top k is among these candidates.
// Row `row`'s inputs of a batched step (row 0 of a lone one is the whole of p).
struct Row {
  const float* logits;
  const SamplerConfig* config;
  int position;  // Negative: a padding row.
  int32_t* token;
  void* scratch;
};
__device__ __forceinline__ Row RowOf(const SampleParams& p, int row) {
  if (p.rows == 1 && p.pos_stride == 0) return {p.logits, p.config, *p.pos, p.token, p.scratch};
  return {p.logits + static_cast<int64_t>(row) * p.n, p.config + row, RowPosition(p.pos, p.pos_stride, row),
          p.token + row, static_cast<char*>(p.scratch) + row * SampleScratchBytesOf(p.n)};
}

__global__ void __launch_bounds__(kThreads) CandidatesKernel(SampleParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const Row row = RowOf(p, blockIdx.y);
  if (row.position < 0) return;
  const int k = EffectiveK(*row.config, p.n);
  const int slice = SliceFor(k);
  const int begin = blockIdx.x * slice;
  if (begin >= p.n) return;
  const int len = min(slice, p.n - begin);
  const int local_k = min(k, len);
  const SamplerConfig& c = *row.config;
  const int pos = row.position;
  const bool batched = p.windows != nullptr;
  // The slice in shared memory, where the repetition penalty applies to it.
  __shared__ float logits[SliceFor(kMaxSampleCandidates)];
  for (int i = threadIdx.x; i < len; i += blockDim.x) logits[i] = row.logits[begin + i];
  if (c.repeat_penalty != 1.0f) {
    // The window: the tokens at the last n positions up to the newest consumed one.
    __shared__ int32_t window[kMaxRepeatWindow];
    const int end = pos + p.seq_len;
    const int n = batched ? min(min(c.repeat_last_n, kBatchRepeatWindow), p.window_lens[blockIdx.y])
                          : min(min(c.repeat_last_n, kMaxRepeatWindow), end);
    const int32_t* own = batched ? p.windows + static_cast<int64_t>(blockIdx.y) * kBatchRepeatWindow : nullptr;
    for (int w = threadIdx.x; w < n; w += blockDim.x) {
      if (batched) {
        window[w] = own[(pos - n + 1 + w) % kBatchRepeatWindow];
      } else {
        const int q = end - n + w;
        window[w] = q >= pos ? p.tokens[q - pos] : p.history[q];
      }
    }
    __syncthreads();
    for (int w = threadIdx.x; w < n; w += blockDim.x) {
      const int32_t t = window[w];
      bool last = t >= begin && t < begin + len;  // Its last occurrence penalises it, once.
      for (int later = w + 1; last && later < n; ++later) last = window[later] != t;
      if (last) {
        float& l = logits[t - begin];
        l = l > 0.0f ? l / c.repeat_penalty : l * c.repeat_penalty;
      }
    }
  }
  __syncthreads();
  // Other blocks read the history only below pos, so block 0 can record this step's tokens now.
  if (blockIdx.x == 0 && !batched) {
    for (int i = threadIdx.x; i < p.seq_len; i += blockDim.x) p.history[pos + i] = p.tokens[i];
  }
  float* values = static_cast<float*>(row.scratch) + static_cast<int64_t>(blockIdx.x) * k;
  int32_t* ids = reinterpret_cast<int32_t*>(static_cast<float*>(row.scratch) + CandidateSlots(p.n)) +
                 static_cast<int64_t>(blockIdx.x) * k;
  BlockTopK(logits, nullptr, begin, len, local_k, values, ids);
  for (int i = local_k + threadIdx.x; i < k; i += blockDim.x) values[i] = -INFINITY, ids[i] = 0;
}

// Whether candidate a comes before b in stage 2's sorted order: value descending, then index ascending (both
// sorts' comparisons, so the warp's and the block's networks give the same order).
__device__ __forceinline__ bool SortsBefore(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

// Candidates (values) that stage 2 copies to shared memory before selecting among them: 24 KB, room for
// top-k 40's 149 x 40 from a 151936-entry vocabulary (larger k read them in place).
constexpr int kStagedCandidates = 6 * kThreads;

// Stage 2, one block: the top k of the candidates, sorted, filtered and drawn from.
__global__ void __launch_bounds__(kThreads) SampleKernel(SampleParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const Row row = RowOf(p, blockIdx.x);
  if (row.position < 0) return;
  const SamplerConfig c = *row.config;
  const int k = EffectiveK(c, p.n);
  const int tid = threadIdx.x;
  const int slice = SliceFor(k);
  const int candidates = (p.n + slice - 1) / slice * k;
  const float* cand_values = static_cast<const float*>(row.scratch);
  const int32_t* cand_ids =
      reinterpret_cast<const int32_t*>(static_cast<const float*>(row.scratch) + CandidateSlots(p.n));
  __shared__ float values[kThreads];
  __shared__ int indices[kThreads];
  values[tid] = -FLT_MAX;
  indices[tid] = INT_MAX;
  // BlockTopK reads its input five times (four radix passes and the gather), each a chain of dependent
  // rounds of loads: from L2 that chain was most of this kernel's ~16 us (H200 trace, top-k 40: 149 x 40
  // candidates). Where they fit, the candidates' values are first copied to shared memory, every thread's
  // loads in flight at once; their ids stay in global memory, read only for the k selected.
  __shared__ float staged[kStagedCandidates];
  const bool stage = candidates <= kStagedCandidates;
  if (stage) {
    float v[kStagedCandidates / kThreads];
#pragma unroll
    for (int j = 0; j < kStagedCandidates / kThreads; ++j) {
      const int i = tid + j * kThreads;
      v[j] = i < candidates ? cand_values[i] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kStagedCandidates / kThreads; ++j) staged[tid + j * kThreads] = v[j];
  }
  __syncthreads();
  BlockTopK(stage ? staged : cand_values, cand_ids, 0, candidates, k, values, indices);

  // Bitonic sort of the first k (padded to a power of two): value descending, then index ascending.
  int sort_n = 2;
  while (sort_n < k) sort_n <<= 1;
  if (sort_n <= 2 * 32) {
    // Up to 64 (top-k 40 and the like): one warp, two positions a lane (lane and lane + 32), partners
    // through shuffles or the lane's own pair, instead of a block barrier after each of the network's 21
    // steps. The same network and comparisons as below, so the same order.
    if (tid < 32) {
      float v[2] = {values[tid], values[tid + 32]};
      int ix[2] = {indices[tid], indices[tid + 32]};
      for (int size = 2; size <= sort_n; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
          if (stride == 32) {  // Positions lane and lane + 32, in a descending run (size 64).
            if (SortsBefore(v[1], ix[1], v[0], ix[0])) {
              const float tv = v[0];
              v[0] = v[1], v[1] = tv;
              const int ti = ix[0];
              ix[0] = ix[1], ix[1] = ti;
            }
            continue;
          }
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const float pv = __shfl_xor_sync(0xffffffffu, v[h], stride);
            const int pi = __shfl_xor_sync(0xffffffffu, ix[h], stride);
            const int position = tid + 32 * h;
            const bool descending = (position & size) == 0, lower = (position & stride) == 0;
            const bool mine_before = SortsBefore(v[h], ix[h], pv, pi);
            // The lower position takes the earlier of the two in a descending run, the later in an
            // ascending one. Positions past sort_n are left alone (their partners are past it too).
            if (position < sort_n && (lower == descending ? !mine_before : mine_before)) v[h] = pv, ix[h] = pi;
          }
        }
      }
      values[tid] = v[0], values[tid + 32] = v[1];
      indices[tid] = ix[0], indices[tid + 32] = ix[1];
    }
    __syncthreads();
  } else {
    for (int size = 2; size <= sort_n; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        const int partner = tid ^ stride;
        if (tid < sort_n && partner > tid) {
          const bool descending = (tid & size) == 0;
          if (SortsBefore(values[partner], indices[partner], values[tid], indices[tid]) == descending) {
            const float v = values[tid];
            values[tid] = values[partner], values[partner] = v;
            const int ix = indices[tid];
            indices[tid] = indices[partner], indices[partner] = ix;
          }
        }
        __syncthreads();
      }
    }
  }

  // Filters and the draw, as the host sampler does them, one candidate per thread: prefix sums of the
  // probabilities place every cut, and the first thread past a cut wins an atomicMin.
  using Scan = cub::BlockScan<double, kThreads>;
  __shared__ typename Scan::TempStorage scan;
  __shared__ double total, weights;
  __shared__ int cut, chosen;
  const float top = values[0];
  const double d = static_cast<double>(values[tid] - top);
  const double e = tid < k ? exp(d) : 0.0;  // Temperature-1 probability times the normaliser.
  double through_e;
  Scan(scan).InclusiveSum(e, through_e);
  if (tid == k - 1) total = through_e;
  if (tid == 0) cut = k;
  __syncthreads();
  // top-p: the shortest prefix whose probability reaches top_p.
  if (c.top_p < 1.0f && tid < k && through_e / total >= c.top_p) atomicMin(&cut, tid + 1);
  __syncthreads();
  // min-p: p_i >= min_p * p_0, with p_0 the largest: exp(v_i - top) >= min_p.
  const int keep_p = cut;
  if (c.min_p > 0.0f && tid >= 1 && tid < keep_p && e < c.min_p) atomicMin(&cut, tid);
  __syncthreads();
  const int keep = cut;
  const double w = tid < keep ? exp(d / c.temperature) : 0.0;
  double through_w;
  Scan(scan).InclusiveSum(w, through_w);
  if (tid == keep - 1) weights = through_w;
  if (tid == 0) chosen = keep - 1;
  __syncthreads();
  const double u = ToUniform(Philox(c.seed, static_cast<uint32_t>(row.position))) * weights;
  if (tid < keep && u < through_w) atomicMin(&chosen, tid);
  __syncthreads();
  if (tid == 0) *row.token = indices[chosen];
}

}  // namespace

float SampleUniform(uint64_t seed, uint32_t position) { return ToUniform(Philox(seed, position)); }

int64_t SampleScratchBytes(int n) { return SampleScratchBytesOf(n); }

cudaError_t LaunchSample(const SampleParams& p, cudaStream_t stream) {
  const bool batched = p.windows != nullptr;
  if (p.n < 1 || p.scratch == nullptr || p.rows < 1 || p.seq_len < 1 ||
      (batched ? p.window_lens == nullptr || p.pos_stride < 1 : p.tokens == nullptr || p.history == nullptr)) {
    return cudaErrorInvalidValue;
  }
  const cudaError_t e = Launch(CandidatesKernel, dim3(Blocks(p.n), p.rows), kThreads, 0, stream, p);
  if (e != cudaSuccess) return e;
  return Launch(SampleKernel, p.rows, kThreads, 0, stream, p);
}

}  // namespace ggrt::cuda
