// Batched decode products on tensor cores: Y = X W^T with X [B, k] (B sequences, one row each) and W [n, k]
// f16/bf16, as mma.sync m16n8k16 with the weights as the 16-row A operand and the batch as the 8-column B
// operand (n-tiles of 8 sequences).
//
// Decode is bound by reading W once, so the kernel is shaped like the GEMV rather than like a GEMM. A block
// of 8 warps owns a tile of 16 to 128 weight rows (row groups of 16; with SwiGLU half are gate rows and half
// the matching up rows); the warps of a row group split k between them, two chunks at a time, and narrow
// products (n = 896) also split k over blocks, so that every SM streams; a tile's blocks are one thread block
// cluster, whose others store their partial tiles into the first block's shared memory and leave, and the
// first adds them in split order (past 8 splits, or before Hopper, the last block to finish adds them from
// the scratch). Each lane streams its rows with 16-byte loads, several chunks in flight, evict-first in L2,
// which fetches 256 bytes from DRAM at a time (a load takes 64 bytes of each of 8 rows). The 16 bytes a lane
// loads (8 consecutive k of one row) are taken as its A fragments for two mma steps at once: the k order
// inside a chunk is permuted the same way for A and for X, which leaves the dot products unchanged and lets
// the raw loads feed the tensor cores without shuffles. X is staged in shared memory in the weights' type, in
// parts of k (normalised by the norm weight with a prologue; each row's sum of squares is kept for the norm's
// scale, applied in the epilogue); rows are padded so that the 16-byte fragment reads of a quarter-warp fall
// in distinct banks. The warps' partial tiles are summed in a fixed order in shared memory, and the epilogue
// writes the outputs along n (coalesced) with the residual, or with gate and up meeting for SwiGLU.
//
// Weights in GGUF block formats (Q8_0 ... Q6_K) take the same path with one change: instead of raw loads, a
// warp decodes each run of two chunks of its 16 rows to f16 in shared memory (quant.cuh's DecodeChunk, the
// function every kernel that reads blocks shares; one chunk of one row per lane) and reads its fragments
// from there. Each weight byte is still read once per step, whatever the batch. At wide batches, where the f16
// product would take the wide kernel (below), the weights are decoded to f16 in the scratch first and the f16
// product runs: the same f16 values in the same order, so the same bits.
//
// The tile shape and every sum's order follow from n and k alone, never from B, and a column's products never
// touch another column: a sequence's result is the same alone or in any batch. At wide batches the products
// take a second kernel (below: a pipelined GEMM on Hopper's wgmma and TMA over x converted once) that keeps
// exactly these sums, so the choice between the two changes no bit.
#include "ops/cuda/small_batch_gemm.h"

#include <algorithm>
#include <type_traits>

#include <cooperative_groups.h>

#include "ops/cuda/common.cuh"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/gemv_common.cuh"
#include "ops/cuda/quant.cuh"
#include "ops/cuda/tensor_map.h"
#include "ops/cuda/tma.cuh"

namespace ggrt::cuda {
namespace {

constexpr int kThreads = 256;  // 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kChunk = 32;     // k per 16-byte load of 8 halves by each of 4 lanes.
constexpr int kStagingBytes = 96 * 1024;  // Two blocks per SM where the registers allow.
constexpr int kMaxSmem = 180 * 1024;      // The narrow kernel's opt-in.

constexpr int kMaxSlice = 2048;  // k per block when k is split over blocks.
constexpr int kMaxClusterSplits = 8;  // The portable thread block cluster size.

struct Plan {
  int group_rows;  // Row groups of 16 per block (RW); the other factor of the 8 warps splits k (KW).
  int k_groups;
  int row_tiles;   // Blocks along the rows.
  int splits;      // Blocks along k, each over `slice` of it (the last one less).
  int slice;
  int stage;       // k of x staged at a time: the slice, or (one split) a multiple of kChunk * k_groups * ring.
  bool cluster;    // The splits of a tile are one thread block cluster and add their partials in its shared memory.
  int cols;        // Batch columns per block: 8 * NT.
  int col_tiles;
  int slots;       // Byte offset of the cluster leader's slots for the other splits' partial tiles.
  int smem;        // Bytes of the staging / reduction area (and the slots).
};

// Adjacent k chunks a warp takes in turn: each row is then read in whole 128-byte lines (kernel_bench
// --batch, H200: gate/up at B = 2 11.6 -> 9.3 us, ffn_down 7.7 -> 6.1). A constant, never the ring, so that
// every sum's order follows from n and k alone.
constexpr int kRun = 2;

// Weight chunks each warp keeps in flight: fewer for the widest tile, whose accumulators fill the registers.
// Not more at 8 columns: a ring of 8 held the kernel at 128 registers a thread (see MinBlocks).
__host__ __device__ constexpr int Ring(int cols) { return cols >= 64 ? 2 : 4; }

// Blocks an SM the registers must allow. At 8 columns (f16/bf16), three: 80 registers a thread instead of 128
// leave room on every SM for the next product's blocks to start early (programmatic dependent launch) and
// issue their weight loads while this product's blocks run; at two an SM, a product of 224 blocks (attn_out,
// ffn_down) filled 112 SMs. H200, batched B = 1: 1376 -> 1438 tokens/s; kernel_bench at one row gate/up
// 8.79 -> 8.15 us, attn_out 3.31 -> 2.90, logits 83.4 -> 71.1 (PERF_NOTES.md step 86).
__host__ __device__ constexpr int MinBlocks(int nt, bool quant) { return nt == 1 && !quant ? 3 : nt <= 8 ? 2 : 1; }

// Block formats: each warp decodes the kRun chunks of a run for its 16 rows into f16 in shared memory
// (ops/cuda/quant.cuh's DecodeChunk, one chunk of one row per lane), and takes its fragments from there.
constexpr int kDecodedStride = kChunk + 8;  // Halves: 80-byte rows, 16-byte aligned.
constexpr int kDecodedBytes = kRun * 16 * kDecodedStride * 2;

// Halves between staged rows: rows 64 bytes apart modulo 128, so that the 16-byte fragment reads of a
// quarter-warp fall in distinct banks.
__host__ __device__ constexpr int StagingStride(int stage) { return (stage + 63) / 64 * 64 + 32; }

// The weight rows of a product, all its weights together.
int WeightRows(const SmallBatchGemmParams& p) {
  int rows = 0;
  for (int i = 0; i < p.count; ++i) rows += p.n[i];
  return rows;
}

Plan MakePlan(const SmallBatchGemmParams& p) {
  Plan plan{};
  const int rows = WeightRows(p);
  // Row tiles as small as 16 rows keep every SM streaming weights on narrow products; wide ones (gate/up,
  // the logits) take as many rows per block (up to 128) as keep them within one wave of two blocks per SM,
  // which reads x fewer times. From n and k alone: the k order of every sum follows from it.
  int rw = p.swiglu ? 2 : 1;
  while (rw < kWarps && rows / (16 * rw) > 2 * SmCount()) rw *= 2;
  plan.group_rows = rw;
  plan.k_groups = kWarps / rw;
  plan.row_tiles = p.swiglu ? (p.n[0] + 8 * rw - 1) / (8 * rw) : (rows + 16 * rw - 1) / (16 * rw);
  int nt = 1;
  while (nt < 16 && 8 * nt < p.rows) nt *= 2;
  plan.cols = 8 * nt;
  plan.col_tiles = (p.rows + plan.cols - 1) / plan.cols;
  const int unit = kChunk * plan.k_groups;  // One chunk per warp.
  // Narrow products (a row tile for at most every other SM) also split k over blocks, to about two blocks per
  // SM: every SM then streams, and a block's slice stays long enough (several chunks per warp) for its ring
  // of loads. Wider products run whole (kernel_bench --batch: splitting them was slower at every batch).
  plan.splits = 1;
  plan.slice = p.k;
  // Products with a norm prologue are never split: the norm's sum of squares is then over whole rows, in the
  // one order AddSquares fixes (the wide path computes it apart, see PrepareWideX).
  if (2 * plan.row_tiles <= SmCount() && p.norm.weight == nullptr) {
    const int wanted = std::max(2 * SmCount() / plan.row_tiles, (p.k + kMaxSlice - 1) / kMaxSlice);
    plan.slice = ((p.k + wanted - 1) / wanted + unit - 1) / unit * unit;
    plan.splits = (p.k + plan.slice - 1) / plan.slice;
  }
  // The splits of a tile meet in a cluster rather than through the scratch (a fenced counter and a round trip
  // to L2 for the last block): H200, kernel_bench --batch 16, attn_out 5.4 -> 4.6 us, ffn_down 9.6 -> 8.7.
  // Not for SwiGLU (gate and up rows meet in one block's epilogue), a norm (its sums of squares are not
  // reduced here) nor past the portable cluster size. Both ways add the same partials in the same order.
  plan.cluster = ClustersSupported() && plan.splits > 1 && plan.splits <= kMaxClusterSplits && !p.swiglu &&
                 p.norm.weight == nullptr;
  // x is staged in parts of whole ring turns (or the block's only part) that fit the staging area, and of
  // whole 128-element spans, so that lane l sums the squares of the float4 columns = l mod 32 of the whole
  // row, in order, whatever the part size (and so the batch).
  const int step = std::max(unit * Ring(plan.cols), 128);
  const int fit = std::max(step, (kStagingBytes / (plan.cols * 2) - 32) / step * step);
  plan.stage = plan.slice <= fit ? plan.slice : fit;
  // The staged x (and, for block formats, each warp's decoded weight tiles), or the warps' partial tiles and
  // their sum (the epilogue's tile).
  plan.smem = std::max(plan.cols * StagingStride(plan.stage) * 2 + (IsQuantized(p.type) ? kWarps * kDecodedBytes : 0),
                       (kWarps * 16 * plan.cols + 128 * (plan.cols + 1)) * 4);
  // Past everything the block uses itself: the other blocks of its cluster may write there while it still
  // streams its own slice. 16-byte aligned, for the 16-byte stores.
  plan.slots = (plan.smem + 15) / 16 * 16;
  // Where the slots do not fit beside the rest (block formats' decoded tiles beside 128 columns of staged x),
  // the splits meet in the scratch instead.
  const int slot_bytes = (plan.splits - 1) * 16 * plan.group_rows * (plan.cols + 1) * 4;
  if (plan.cluster && plan.slots + slot_bytes > kMaxSmem) plan.cluster = false;
  if (plan.cluster) plan.smem = plan.slots + slot_bytes;
  return plan;
}


template <typename T>
__device__ __forceinline__ void Mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

__device__ __forceinline__ float NormWeight(const NormPrologue& norm, int i) {
  switch (norm.type) {
    case WeightType::kF16: return __half2float(static_cast<const __half*>(norm.weight)[i]);
    case WeightType::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(norm.weight)[i]);
    default: return static_cast<const float*>(norm.weight)[i];
  }
}

// Four consecutive norm weights (i a multiple of 4).
__device__ __forceinline__ float4 NormWeight4(const NormPrologue& norm, int i) {
  if (norm.type == WeightType::kF32) return *reinterpret_cast<const float4*>(static_cast<const float*>(norm.weight) + i);
  return make_float4(NormWeight(norm, i), NormWeight(norm, i + 1), NormWeight(norm, i + 2), NormWeight(norm, i + 3));
}

// A row's sum of squares, four elements at a time, with the roundings spelled out (fused multiply-adds in
// this order) so that the staging and the wide path's PrepareWideX give the same bits.
__device__ __forceinline__ float AddSquares(float s, const float4& x) {
  return __fmaf_rn(x.w, x.w, __fmaf_rn(x.z, x.z, __fmaf_rn(x.y, x.y, __fmaf_rn(x.x, x.x, s))));
}

template <typename T>
__device__ __forceinline__ uint2 Pack4(const float4& x) {
  uint2 r;
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 a = __floats2half2_rn(x.x, x.y), b = __floats2half2_rn(x.z, x.w);
    r.x = *reinterpret_cast<const uint32_t*>(&a), r.y = *reinterpret_cast<const uint32_t*>(&b);
  } else {
    const __nv_bfloat162 a = __floats2bfloat162_rn(x.x, x.y), b = __floats2bfloat162_rn(x.z, x.w);
    r.x = *reinterpret_cast<const uint32_t*>(&a), r.y = *reinterpret_cast<const uint32_t*>(&b);
  }
  return r;
}

// The scratch: the split counters of every product in a fixed region at its start (products launched one
// after another share the scratch, and each leaves its counters at zero while the rest is overwritten), then
// the partials and, on the wide path, x converted and the sums of squares.
constexpr int kMaxCounters = 1024;
constexpr int64_t kCounterBytes = kMaxCounters * 4;
__device__ __forceinline__ float* Partials(const SmallBatchGemmParams& p) {
  return reinterpret_cast<float*>(static_cast<char*>(p.scratch) + kCounterBytes);
}

// k split over blocks: each block of a tile puts its partial tile (`floats` of ct) in its split's region
// at `base`; the last to finish (a fenced counter it resets) sums the regions in split order into ct and
// returns true. Every thread of the block calls it.
__device__ __forceinline__ bool SumSplits(float* ct, int floats, int* counter, float* base, int split, int splits) {
  float* mine = base + static_cast<int64_t>(split) * floats;
  for (int i = threadIdx.x; i < floats; i += blockDim.x) mine[i] = ct[i];
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(counter, 1) == splits - 1;
  __syncthreads();
  if (!last) return false;
  __threadfence();
  // kBatch outputs a thread, each split's kBatch loads issued together (a loop of one output at a time waits
  // for every load in turn: ct may alias the scratch as far as the compiler knows).
  constexpr int kBatch = 4;
  for (int i0 = threadIdx.x; i0 < floats; i0 += kBatch * blockDim.x) {
    float sum[kBatch] = {};
    for (int q = 0; q < splits; ++q) {
      float v[kBatch];
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        const int i = min(i0 + u * static_cast<int>(blockDim.x), floats - 1);
        v[u] = __ldcg(base + static_cast<int64_t>(q) * floats + i);
      }
#pragma unroll
      for (int u = 0; u < kBatch; ++u) sum[u] += v[u];
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      if (i0 + u * static_cast<int>(blockDim.x) < floats) ct[i0 + u * blockDim.x] = sum[u];
    }
  }
  if (threadIdx.x == 0) *counter = 0;
  __syncthreads();
  return true;
}

// The epilogue: a tile's sums ct [tile_rows][kCols + 1] (its weight rows by batch columns b0...) times the
// norm's scale (ss: each column's sum of squares), with the residual, or gate and up meeting for SwiGLU;
// outputs written along n. Every thread of the block calls it.
template <int kCols, int kTileRows>
__device__ __forceinline__ void WriteTile(const SmallBatchGemmParams& p, const float* ct, const float* ss, int tile,
                                          int b0) {
  constexpr int tile_rows = kTileRows;  // A constant: the index arithmetic below is shifts, not divisions.
  constexpr int kCt = kCols + 1;
  const bool norm = p.norm.weight != nullptr;
  __shared__ float scale[kCols];
  for (int c = threadIdx.x; c < kCols; c += blockDim.x) {
    scale[c] = norm && b0 + c < p.rows ? rsqrtf(ss[c] / p.k + p.norm.eps) : 1.0f;
  }
  __syncthreads();
  if (p.swiglu) {
    constexpr int half = tile_rows / 2;
    for (int idx = threadIdx.x; idx < kCols * half; idx += blockDim.x) {
      const int c = idx / half, r = idx % half;
      const int b = b0 + c, n = tile * half + r;
      if (b >= p.rows || n >= p.n[0]) continue;
      const float gate = ct[r * kCt + c] * scale[c], up = ct[(half + r) * kCt + c] * scale[c];
      p.y[0][static_cast<int64_t>(b) * p.n[0] + n] = Silu(gate) * up;
    }
    return;
  }
  constexpr int total = kCols * tile_rows;
  // One output (the logits, attn_out, ffn_down), 16-byte aligned: a thread takes four consecutive outputs of
  // a column at a time as one float4 store (and one float4 residual load), which divides the index arithmetic
  // by four (the logits' epilogue was a third of their warp samples). Two such groups a turn, both loads
  // issued before either store.
  if (p.count == 1 && reinterpret_cast<uintptr_t>(p.y[0]) % 16 == 0 &&
      reinterpret_cast<uintptr_t>(p.residual) % 16 == 0) {
    const int n0 = p.n[0];
    for (int idx0 = 4 * threadIdx.x; idx0 < total; idx0 += 8 * blockDim.x) {
      int64_t at[2];
      float4 res[2];
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const int idx = idx0 + 4 * u * blockDim.x, c = idx / tile_rows, r = idx % tile_rows;
        const int b = b0 + c, n = tile * tile_rows + r;
        // n0 is a multiple of 16: the four outputs are all in or all out.
        at[u] = idx < total && b < p.rows && n < n0 ? int64_t{b} * n0 + n : -1;
        res[u] = at[u] >= 0 && p.residual != nullptr ? *reinterpret_cast<const float4*>(p.residual + at[u])
                                                     : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      }
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        if (at[u] < 0) continue;
        const int idx = idx0 + 4 * u * blockDim.x, c = idx / tile_rows, r = idx % tile_rows;
        float v[4] = {ct[r * kCt + c], ct[(r + 1) * kCt + c], ct[(r + 2) * kCt + c], ct[(r + 3) * kCt + c]};
        const float add[4] = {res[u].x, res[u].y, res[u].z, res[u].w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          if (norm) v[e] = __fmul_rn(v[e], scale[c]);
          if (p.residual != nullptr) v[e] = __fadd_rn(v[e], add[e]);
        }
        *reinterpret_cast<float4*>(p.y[0] + at[u]) = make_float4(v[0], v[1], v[2], v[3]);
      }
    }
    return;
  }
  // kBatch outputs a thread at a time, their residual loads issued together (the stores of one output may
  // alias the next one's residual as far as the compiler knows, which would serialise a load per output).
  constexpr int kBatch = 4;
  for (int idx0 = threadIdx.x; idx0 < total; idx0 += kBatch * blockDim.x) {
    int out[kBatch];
    int64_t at[kBatch];
    float res[kBatch];
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int idx = idx0 + u * blockDim.x, c = idx / tile_rows, r = idx % tile_rows, b = b0 + c;
      int i = 0, n = tile * tile_rows + r;
#pragma unroll
      for (int j = 0; j < 3; ++j) {
        if (i == j && j < p.count && n >= Pick(p.n, j)) n -= Pick(p.n, j), i = j + 1;
      }
      out[u] = idx < total && b < p.rows && i < p.count ? i : -1;
      at[u] = static_cast<int64_t>(b) * (out[u] >= 0 ? Pick(p.n, i) : 0) + n;
      res[u] = out[u] >= 0 && p.residual != nullptr ? p.residual[at[u]] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      if (out[u] < 0) continue;
      const int idx = idx0 + u * blockDim.x, c = idx / tile_rows, r = idx % tile_rows;
      // Explicit roundings (no contraction into an fma), as the narrow kernel's epilogue.
      float v = ct[r * kCt + c];
      if (norm) v = __fmul_rn(v, scale[c]);
      if (p.residual != nullptr) v = __fadd_rn(v, res[u]);
      Pick(p.y, out[u])[at[u]] = v;
    }
  }
}

// T: the weights' type (kQuant: block formats, decoded to f16, T = __half).
template <typename T, int NT, bool kQuant>
__global__ void __launch_bounds__(kThreads, MinBlocks(NT, kQuant))
    SmallBatchGemmKernel(SmallBatchGemmParams p, Plan plan) {
  extern __shared__ __align__(16) unsigned char smem[];
  AllowDependentLaunch();
  constexpr int kCols = 8 * NT;
  constexpr int kCt = kCols + 1;  // The epilogue's tile ct [tile_rows][kCt]: odd, its column reads conflict-free.
  const int tile_rows = plan.group_rows * 16;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // The cluster leader's count of the bytes of the other splits' partial tiles (see the epilogue). A block may
  // store into another's shared memory only once that block runs and its barrier is set: the leader sets it
  // before it arrives at the cluster's barrier, and the others wait there (long since satisfied) before
  // their stores.
  __shared__ uint64_t partials_landed;
  if (plan.cluster) {
    if (blockIdx.y == 0 && threadIdx.x == 0) {
      BarrierInit(&partials_landed);
      BarrierArriveExpect(&partials_landed, (plan.splits - 1) * tile_rows * kCt * sizeof(float));
      BarrierInitFence();
    }
    asm volatile("barrier.cluster.arrive.relaxed.aligned;\n" ::: "memory");
  }
#endif
  constexpr int kRing = Ring(kCols);
  static_assert(kRing % kRun == 0, "a ring turn holds whole runs");
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int tile = blockIdx.x, split = blockIdx.y, col_tile = blockIdx.z;
  const int kb = split * plan.slice, ke = min(p.k, kb + plan.slice);
  const int rg = warp / plan.k_groups, kg = warp % plan.k_groups;

  // This warp's 16 weight rows (row group rg): weight `wi`, rows r0..r0+15 of it.
  int wi = 0, r0 = 0;
  if (p.swiglu) {
    const int half = plan.group_rows / 2;  // Gate groups, then the matching up groups.
    wi = rg / half;
    r0 = (tile * half + rg % half) * 16;
  } else {
    r0 = (tile * plan.group_rows + rg) * 16;
#pragma unroll
    for (int i = 0; i < 3; ++i) {
      if (wi == i && i < p.count && r0 >= Pick(p.n, i)) r0 -= Pick(p.n, i), wi = i + 1;
    }
  }
  const bool valid = wi < p.count && r0 < Pick(p.n, wi);
  const T* w = !kQuant && valid ? static_cast<const T*>(Pick(p.w, wi)) + static_cast<int64_t>(r0) * p.k : nullptr;
  const int64_t row_bytes = RowBytesOf(p.type, p.k);
  const uint8_t* wq = kQuant && valid ? static_cast<const uint8_t*>(Pick(p.w, wi)) + r0 * row_bytes : nullptr;

  // The warp takes runs of kRun adjacent k chunks: run kg, kg + KW, kg + 2 KW, ... (so each of its rows is
  // read kRun * 64 contiguous bytes at a time); slot u of a ring turn holds chunk Offset(u) of the turn. Its
  // first chunks' weights do not depend on the previous kernel, so their loads go out before the wait.
  const int step = kChunk * plan.k_groups;
  auto offset = [&](int u) { return kChunk * (kg * kRun + u % kRun) + step * kRun * (u / kRun); };
  const uint64_t policy = EvictFirstPolicy();
  uint4 a[kRing][2];
  auto load = [&](int u, int c) {
    if constexpr (kQuant) return;  // Decoded when consumed.
    if (valid && c < ke) {
      a[u][0] = LoadStreaming16<true>(w + static_cast<int64_t>(g) * p.k + c + 8 * t, policy);
      a[u][1] = LoadStreaming16<true>(w + static_cast<int64_t>(g + 8) * p.k + c + 8 * t, policy);
    } else {
      a[u][0] = a[u][1] = make_uint4(0, 0, 0, 0);
    }
  };
#pragma unroll
  for (int u = 0; u < kRing; ++u) load(u, kb + offset(u));
  if (p.norm.weight != nullptr) {
    // The norm weights the staging multiplies x by do not depend on the previous kernel either: their lines
    // into L1 now, so that the staging's loads of them hit there.
    const int es = p.norm.type == WeightType::kF32 ? 4 : 2;
    const char* base = static_cast<const char*>(p.norm.weight) + static_cast<int64_t>(kb) * es;
    for (int b = threadIdx.x * 128; b < (ke - kb) * es; b += kThreads * 128) {
      asm volatile("prefetch.global.L1 [%0];" ::"l"(base + b));
    }
  }
  GridDependencyWait();

  // x is staged in T, times the norm weight, `plan.stage` columns at a time; each row's sum of squares is
  // kept per lane (lane l always takes the float4 columns = l mod 32, in order, so the sum does not depend on
  // the staging) for the norm's scale.
  const int stride = StagingStride(plan.stage);
  T* xs = reinterpret_cast<T*>(smem);
  __half* decoded = reinterpret_cast<__half*>(smem + plan.cols * stride * 2) + warp * (kDecodedBytes / 2);
  __shared__ float ss[kCols];
  const int b0 = col_tile * kCols;
  const bool norm = p.norm.weight != nullptr;
  float squares[NT] = {};
  float acc[NT][4] = {};
  for (int s0 = kb; s0 < ke; s0 += plan.stage) {
    const int s1 = min(ke, s0 + plan.stage);
    if (s0 != kb) __syncthreads();  // The previous part is consumed.
    // Warp w stages rows w, w + 8, ... of the tile, lane l the float4 columns = l mod 32 of each, all the
    // warp's rows and kUnroll float4 per row in flight at once (2 within MinBlocks' 80 registers: 4 spilled
    // and was slower than 128 registers with 8).
    constexpr int kUnroll = MinBlocks(NT, kQuant) > 2 ? 2 : NT >= 8 ? 1 : 8 / NT;
    const int quads = (s1 - s0) / 4;
    for (int q0 = lane; q0 < quads; q0 += 32 * kUnroll) {
      float4 v[NT][kUnroll];
#pragma unroll
      for (int m = 0; m < NT; ++m) {
        const int b = b0 + warp + 8 * m;
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int q = q0 + 32 * u;
          v[m][u] = b < p.rows && q < quads
                        ? *reinterpret_cast<const float4*>(p.x + static_cast<int64_t>(b) * p.k + s0 + 4 * q)
                        : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
      }
#pragma unroll
      for (int m = 0; m < NT; ++m) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int q = q0 + 32 * u;
          if (q >= quads) continue;
          float4 x = v[m][u];
          squares[m] = AddSquares(squares[m], x);
          if (norm) {
            const float4 nw = NormWeight4(p.norm, s0 + 4 * q);
            x.x *= nw.x, x.y *= nw.y, x.z *= nw.z, x.w *= nw.w;
          }
          // One 8-byte store of the four converted values.
          *reinterpret_cast<uint2*>(xs + (warp + 8 * m) * stride + 4 * q) = Pack4<T>(x);
        }
      }
    }
    __syncthreads();
    // A part holds a whole number of ring turns (or is the block's only part), so slot u always holds chunk
    // Offset(u) of its turn.
    for (int c0 = s0; c0 < s1; c0 += step * kRing) {
#pragma unroll
      for (int u = 0; u < kRing; ++u) {
        const int c = c0 + offset(u);
        uint4 rows_g, rows_g8;  // k 8t..8t+7 of chunk c, rows g and g + 8.
        if constexpr (kQuant) {
          if (u % kRun == 0) {
            // Lane l decodes chunk c + 32 (l / 16) of row l % 16 (the run's chunks are adjacent).
            __syncwarp();  // The previous run's fragments are read.
            const int row = lane % 16, kc = c + kChunk * (lane / 16);
            float v[32];
            if (valid && kc < s1) {
              DecodeRowChunkOf(p.type, wq + row * row_bytes, p.k, kc / kChunk, v);
            } else {
#pragma unroll
              for (int i = 0; i < 32; ++i) v[i] = 0.0f;
            }
            uint4* dst = reinterpret_cast<uint4*>(decoded + ((lane / 16) * 16 + row) * kDecodedStride);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              const uint2 lo8 = Pack4<__half>(make_float4(v[8 * i], v[8 * i + 1], v[8 * i + 2], v[8 * i + 3]));
              const uint2 hi8 = Pack4<__half>(make_float4(v[8 * i + 4], v[8 * i + 5], v[8 * i + 6], v[8 * i + 7]));
              dst[i] = make_uint4(lo8.x, lo8.y, hi8.x, hi8.y);
            }
            __syncwarp();
          }
          const __half* src = decoded + (u % kRun) * 16 * kDecodedStride + 8 * t;
          rows_g = *reinterpret_cast<const uint4*>(src + g * kDecodedStride);
          rows_g8 = *reinterpret_cast<const uint4*>(src + (g + 8) * kDecodedStride);
        } else {
          rows_g = a[u][0], rows_g8 = a[u][1];
        }
        if (c < s1) {
          // Lane (g, t) holds k 8t..8t+7 of rows g and g + 8: the first four halves are its fragments for one
          // mma step, the last four for the next (x's fragments below are permuted the same way).
          const uint32_t* lo = reinterpret_cast<const uint32_t*>(&rows_g);
          const uint32_t* hi = reinterpret_cast<const uint32_t*>(&rows_g8);
          const uint32_t step0[4] = {lo[0], hi[0], lo[1], hi[1]};
          const uint32_t step1[4] = {lo[2], hi[2], lo[3], hi[3]};
#pragma unroll
          for (int j = 0; j < NT; ++j) {
            const uint4 bx = *reinterpret_cast<const uint4*>(xs + (8 * j + g) * stride + (c - s0) + 8 * t);
            Mma<T>(acc[j], step0, bx.x, bx.y);
            Mma<T>(acc[j], step1, bx.z, bx.w);
          }
          load(u, c + step * kRing);
        }
      }
    }
  }
#pragma unroll
  for (int m = 0; m < NT; ++m) {
    const float sum = WarpSum(squares[m]);
    if (lane == 0) ss[warp + 8 * m] = sum;
  }

  // Each warp's [16][kCols] partial into shared memory (over the staging area), then the k groups of each row
  // group summed in order: ct [tile_rows][kCt].
  __syncthreads();
  float* parts = reinterpret_cast<float*>(smem);
  {
    float* mine = parts + warp * 16 * kCols;
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      mine[g * kCols + 8 * j + 2 * t] = acc[j][0];
      mine[g * kCols + 8 * j + 2 * t + 1] = acc[j][1];
      mine[(g + 8) * kCols + 8 * j + 2 * t] = acc[j][2];
      mine[(g + 8) * kCols + 8 * j + 2 * t + 1] = acc[j][3];
    }
  }
  __syncthreads();
  float* ct = parts + kWarps * 16 * kCols;
  for (int i = threadIdx.x; i < tile_rows * kCols; i += kThreads) {
    const int group = i / (16 * kCols), within = i % (16 * kCols);
    float sum = 0.0f;
    for (int q = 0; q < plan.k_groups; ++q) sum += parts[(group * plan.k_groups + q) * 16 * kCols + within];
    ct[(i / kCols) * kCt + i % kCols] = sum;
  }
  __syncthreads();

  // Output idx of the tile outside SwiGLU: batch column c = idx / tile_rows, its row b, and the tile's row
  // idx % tile_rows as row n of weight i (none where b >= p.rows or i == p.count).
  struct Out {
    int c, b, i, n;
    bool valid;
  };
  auto locate = [&](int idx) {
    Out o{idx / tile_rows, b0 + idx / tile_rows, 0, tile * tile_rows + idx % tile_rows, false};
#pragma unroll
    for (int j = 0; j < 3; ++j) {
      if (o.i == j && j < p.count && o.n >= Pick(p.n, j)) o.n -= Pick(p.n, j), o.i = j + 1;
    }
    o.valid = o.b < p.rows && o.i < p.count;
    return o;
  };
  auto residual_of = [&](const Out& o) {
    return o.valid && p.residual != nullptr ? p.residual[static_cast<int64_t>(o.b) * Pick(p.n, o.i) + o.n] : 0.0f;
  };
  // The output's dot product `sum` times the norm's scale, plus its residual. Explicit roundings (no
  // contraction into an fma), as WriteTile's.
  auto write = [&](const Out& o, float sum, float residual) {
    if (!o.valid) return;
    float v = sum;
    if (norm) v = __fmul_rn(v, rsqrtf(ss[o.c] / p.k + p.norm.eps));
    if (p.residual != nullptr) v = __fadd_rn(v, residual);
    Pick(p.y, o.i)[static_cast<int64_t>(o.b) * Pick(p.n, o.i) + o.n] = v;
  };

  if (plan.cluster) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // Clusters are Hopper's (ClustersSupported).
    // The tile's splits are one cluster (no norm, no SwiGLU): every other block stores its partial tile into
    // a slot of the first block's shared memory, by asynchronous stores counted on the first block's barrier,
    // and leaves at once; the first, its residuals loaded meanwhile, waits for the bytes, adds the partials in
    // split order (the scratch path's sums below) and writes the tile. Through cluster.sync() instead, every
    // block paid a GPU-scope fence and the whole cluster's barrier (14% of ffn_down at one row, PERF_NOTES.md
    // step 91).
    const int floats = tile_rows * kCt, total = kCols * tile_rows;
    const float* slots = reinterpret_cast<const float*>(smem + plan.slots);
    asm volatile("barrier.cluster.wait.aligned;\n" ::: "memory");
    if (split != 0) {
      const uint32_t landed = MapShared(SharedAddress(&partials_landed), 0);
      const uint32_t dst = MapShared(SharedAddress(slots + (split - 1) * floats), 0);
      for (int i = threadIdx.x; i < floats / 4; i += kThreads) {
        StoreRemoteAsync(dst + 16 * i, reinterpret_cast<const uint4*>(ct)[i], landed);
      }
      return;
    }
    const float residual = static_cast<int>(threadIdx.x) < total ? residual_of(locate(threadIdx.x)) : 0.0f;
    BarrierWaitCluster(&partials_landed, 0);
    for (int idx = threadIdx.x; idx < total; idx += kThreads) {
      const Out o = locate(idx);
      const int at = (idx % tile_rows) * kCt + o.c;
      float sum = 0.0f + ct[at];
      for (int q = 1; q < plan.splits; ++q) sum += slots[(q - 1) * floats + at];
      write(o, sum, idx == static_cast<int>(threadIdx.x) ? residual : residual_of(o));
    }
#endif
    return;
  }
  if (plan.splits > 1) {
    // Partials of (col_tile, tile): a region per split, [tile rows * kCt | kCols sums]. The last block of the
    // tile to finish (a fenced counter it resets) adds them in split order.
    const int region = tile_rows * kCt + kCols;
    int* counter = static_cast<int*>(p.scratch) + col_tile * plan.row_tiles + tile;
    float* base = Partials(p) + static_cast<int64_t>(col_tile * plan.row_tiles + tile) * plan.splits * region;
    float* mine = base + static_cast<int64_t>(split) * region;
    for (int i = threadIdx.x; i < tile_rows * kCt; i += kThreads) mine[i] = ct[i];
    for (int i = threadIdx.x; i < kCols; i += kThreads) mine[tile_rows * kCt + i] = ss[i];
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(counter, 1) == plan.splits - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    for (int i = threadIdx.x; i < region; i += kThreads) {
      float sum = 0.0f;
#pragma unroll 4
      for (int q = 0; q < plan.splits; ++q) sum += __ldcg(base + static_cast<int64_t>(q) * region + i);
      if (i < tile_rows * kCt) {
        ct[i] = sum;
      } else {
        ss[i - tile_rows * kCt] = sum;
      }
    }
    if (threadIdx.x == 0) *counter = 0;
    __syncthreads();
  }

  // Epilogue: norm scale, residual or SwiGLU; outputs written along n. Inline rather than through SumSplits
  // and WriteTile (the wide kernel's, with the same roundings): those cost this kernel 10-20% at small
  // batches (H200, kernel_bench --batch 16: QKV 4.9 -> 5.8 us, attn_out 5.4 -> 6.5).
  if (p.swiglu) {
    const int half = tile_rows / 2;
    for (int idx = threadIdx.x; idx < kCols * half; idx += kThreads) {
      const int c = idx / half, r = idx % half;
      const int b = b0 + c, n = tile * half + r;
      if (b >= p.rows || n >= p.n[0]) continue;
      const float scale = norm ? rsqrtf(ss[c] / p.k + p.norm.eps) : 1.0f;
      const float gate = ct[r * kCt + c] * scale, up = ct[(half + r) * kCt + c] * scale;
      p.y[0][static_cast<int64_t>(b) * p.n[0] + n] = Silu(gate) * up;
    }
    return;
  }
  for (int idx = threadIdx.x; idx < kCols * tile_rows; idx += kThreads) {
    const Out o = locate(idx);
    write(o, ct[(idx % tile_rows) * kCt + o.c], residual_of(o));
  }
}

// The share of an SM's L1 and shared memory (percent, rounded up) that holds `blocks` blocks of `smem`
// dynamic bytes each, with 2 KB a block for the driver's 1 KB and the static arrays.
int SharedPercentFor(int blocks, int smem) {
  constexpr int kPerBlockExtra = 2048;
  const int64_t bytes = int64_t{blocks} * (smem + kPerBlockExtra);
  return static_cast<int>(std::min<int64_t>(100, (bytes * 100 + SharedMemoryPerSm() - 1) / SharedMemoryPerSm()));
}

template <typename T, int NT, bool kQuant>
cudaError_t LaunchFor(const SmallBatchGemmParams& p, const Plan& plan, cudaStream_t stream) {
  static bool configured = false;  // The opt-in above 48 KB, once per instantiation.
  if (!configured) {
    const cudaError_t e = cudaFuncSetAttribute(SmallBatchGemmKernel<T, NT, kQuant>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem);
    if (e != cudaSuccess) return e;
    configured = true;
  }
  // At 8 columns, shared memory for MinBlocks blocks an SM and no more; the rest stays L1. Left to itself the
  // driver sized it for the blocks the warps would allow (102 KB an SM for gate/up, 135 KB for ffn_down),
  // though the registers hold MinBlocks. Each kernel alone is unchanged, the graph gains: H200, batched
  // B = 1 1436 -> 1458, B = 4 5598 -> 5788 (PERF_NOTES.md step 90; at 16 columns B = 16 lost 1.7%, so the
  // wider tiles keep the driver's choice).
  const int percent = NT == 1 ? SharedPercentFor(MinBlocks(NT, kQuant), plan.smem) : -1;
  return LaunchClustered(SmallBatchGemmKernel<T, NT, kQuant>, dim3(plan.row_tiles, plan.splits, plan.col_tiles),
                         kThreads, dim3(1, plan.cluster ? plan.splits : 1, 1), plan.smem, percent, stream, p, plan);
}

template <typename T, bool kQuant = false>
cudaError_t LaunchTyped(const SmallBatchGemmParams& p, const Plan& plan, cudaStream_t stream) {
  switch (plan.cols) {
    case 8: return LaunchFor<T, 1, kQuant>(p, plan, stream);
    case 16: return LaunchFor<T, 2, kQuant>(p, plan, stream);
    case 32: return LaunchFor<T, 4, kQuant>(p, plan, stream);
    case 64: return LaunchFor<T, 8, kQuant>(p, plan, stream);
    default: return LaunchFor<T, 16, kQuant>(p, plan, stream);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Wide batches (f16 and bf16 weights on Hopper; UsesWide says where).
//
// Past a few dozen rows the narrow kernel's x staging costs more than its weights: every block of 16-128
// weight rows converts all of x (at 128 rows, x is several times the weight bytes a block streams) before its
// first mma. Wide batches instead run as a pipelined GEMM on Hopper's warpgroup MMA (wgmma) fed by the Tensor
// Memory Accelerator: PrepareWideX rounds x to T (times the norm weight) once per product and writes each
// row's sum of squares; a block takes 128 weight rows (two warpgroups of 64) by 64 or 128 batch columns, and
// one thread's TMA copies bring each stage (one run of 64 k: 16 KB of weights as 16 boxes of 16 rows by one
// chunk, 64-byte swizzled, and the x tile as one box, 128-byte swizzled) into a ring of 3-4 stages counted
// by a barrier each; the copies are issued a ring ahead, the weights' first ones before the dependency wait.
// Each warp loads its 16 rows' A fragments from the ring into registers exactly as the narrow kernel's warps
// load theirs from global memory (the 64-byte swizzle keeps a quarter-warp's 16-byte reads in distinct
// banks); the tensor cores read x, the B operand, from the ring (one wgmma m64n64k16 or m64n128k16 per 16 k).
// The previous version of this kernel, mma.sync fed by per-thread cp.async, spent its issue slots on the
// copies' address arithmetic and the fragment loads (H200: logits at 128 rows in 261 us, now 131).
//
// Its results are the narrow kernel's, bit for bit, so that a sequence's tokens do not depend on its batch:
// the same plan (k groups, splits) from (n, k). A split's k groups are a thread block cluster, a block each:
// each block's chain accumulates from zero over its group's runs in order, exactly as the narrow kernel's
// warp does; the blocks store the chains' column slices into each other's shared memory, and block q adds
// slice q of every chain in k-group order (the narrow kernel's in-order sum of its warps' partials); splits
// are summed in split order through the scratch; x and the sum of squares are rounded as staging rounds them
// (Pack4, AddSquares in lane order). Each 16-k step multiplies the same values at the same positions of the MMA's k
// as the narrow kernel's mma.sync: A fragments of the same registers, and x stored by PrepareWideX in that
// permuted k order (WgmmaOrder). An H200 gives wgmma m64nNk16 and mma.sync m16n8k16 chains equal bits for
// equal inputs (checked with f16 and bf16 on random operands of mixed magnitudes; the tests compare the two
// kernels on every shape they run).
constexpr int kWideRows = 128;  // Two warpgroups of 64 rows: warp w takes rows 16 w .. 16 w + 15.
constexpr int kRunK = kChunk * kRun;  // k per stage: 128 bytes of each row.
constexpr int kWideBoxBytes = 16 * kChunk * 2;                 // A weight box: 16 rows by one chunk (1 KB).
constexpr int kWideWeightBytes = kWideRows / 16 * kRun * kWideBoxBytes;  // A stage's weights: 16 KB.
__host__ __device__ constexpr int WideStages(int cols) { return cols <= 64 ? 4 : 3; }
__host__ __device__ constexpr int WideStageBytes(int cols) { return kWideWeightBytes + cols * kRunK * 2; }
// The ring, or the epilogue's tiles (the block's chain; in a cluster, the column slice of every chain that
// the block sums, and their sum), plus the slack that aligns it to the 1 KB of the 128-byte swizzle's atoms.
// Two blocks fit an SM.
__host__ __device__ constexpr int WideSmem(int cols, int kc) {
  return std::max(WideStages(cols) * WideStageBytes(cols),
                  kWideRows * (kc > 1 ? cols + cols / kc + 1 : cols + 1) * 4) +
         1024;
}

// Batch columns per block: the whole bucket up to 128.
int WideCols(const SmallBatchGemmParams& p) { return p.rows > 64 ? 128 : 64; }

// kAuto: where the wide kernel measured faster (kernel_bench and bench --batch, H200, PERF_NOTES.md step 69):
// the logits from 16 rows, every product past 64 rows, and from 33 rows the products whose cluster's partial
// tiles (k groups of 128 x 64 floats, which its blocks exchange) are at most twice its weights' bytes: not
// the attention output (n = k = 896, split in slices of 256: 256 KB of partials for 64 KB of weights; 11
// against 7.7 us alone at 64 rows). Without wgmma and TMA (before Hopper), or for weights TMA cannot address
// (not 16-byte aligned), every product takes the narrow kernel, which gives the same bits.
bool UsesWide(const SmallBatchGemmParams& p, SmallBatchPath path) {
  if (IsQuantized(p.type) || path == SmallBatchPath::kNarrow || !WarpgroupMmaSupported()) return false;
  for (int i = 0; i < p.count; ++i) {
    if (reinterpret_cast<uintptr_t>(p.w[i]) % 16 != 0) return false;
  }
  if (path == SmallBatchPath::kWide || p.rows > 64) return true;
  if (WeightRows(p) >= 32768 && p.rows >= 16) return true;
  const Plan plan = MakePlan(p);
  const int64_t partials = int64_t{plan.k_groups} * kWideRows * WideCols(p) * 4;
  const int64_t weights = int64_t{kWideRows} * plan.slice * 2;
  return p.rows > 32 && partials <= 2 * weights;
}

int WideRowTiles(const SmallBatchGemmParams& p) {
  if (p.swiglu) return (p.n[0] + kWideRows / 2 - 1) / (kWideRows / 2);
  return (WeightRows(p) + kWideRows - 1) / kWideRows;
}

int WideTiles(const SmallBatchGemmParams& p) {
  return (p.rows + WideCols(p) - 1) / WideCols(p) * WideRowTiles(p);
}

int64_t RoundUp256(int64_t bytes) { return (bytes + 255) / 256 * 256; }

// The wide path's scratch: the partials of k split over blocks (a column slice per cluster block), then x in
// T and the sums of squares.
struct WideScratch {
  int64_t xh, ss, bytes;
};
WideScratch WideScratchOf(const SmallBatchGemmParams& p, const Plan& plan) {
  WideScratch s{};
  const int kc = plan.k_groups, slice = WideCols(p) / kc;
  s.xh = kCounterBytes + (plan.splits == 1 ? 0
                                           : RoundUp256(static_cast<int64_t>(WideTiles(p)) * kc * plan.splits *
                                                        kWideRows * (slice + 1) * 4));
  s.ss = RoundUp256(s.xh + static_cast<int64_t>(p.rows) * p.k * 2);
  s.bytes = s.ss + p.rows * 4;
  return s;
}

// Where element e (0..31) of a 32-element chunk sits in PrepareWideX's x: the narrow kernel's lane t (of 4)
// loads elements 8t..8t+7 and gives them to two mma steps s as the k positions 2t, 2t+1 (elements 8t+4s,
// +1) and 2t+8, 2t+9 (8t+4s+2, +3), so the chunk's x is stored step by step in that order: element
// 8t + 4s + 2h + i at 16s + 8h + 2t + i.
__host__ __device__ constexpr int WgmmaOrder(int e) {
  return 16 * ((e >> 2) & 1) + 8 * ((e >> 1) & 1) + 2 * (e >> 3) + (e & 1);
}

// PrepareWideX's float4 of x (and of the norm weight) a lane has in flight before it uses the first.
constexpr int kPrepareBatch = 8;
// Warps a row of x takes in PrepareWideX: with a norm one (its sum of squares is over the whole row, in
// lane order), else one per kPrepareBatch float4 a lane (a single round trip to memory each).
int PrepareParts(const SmallBatchGemmParams& p) {
  return p.norm.weight != nullptr ? 1 : (p.k / 4 + 32 * kPrepareBatch - 1) / (32 * kPrepareBatch);
}

// x [rows, k] in T, times the norm weight, each chunk in WgmmaOrder, and with a norm each row's sum of
// squares: a warp per row or `parts` per row, lane l taking the float4 columns = l mod 32 of its part in
// order, as the narrow kernel's staging does.
template <typename T>
__global__ void __launch_bounds__(kThreads) PrepareWideX(SmallBatchGemmParams p, int parts, T* xh, float* ss) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int w = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = w / parts, part = w % parts;
  if (row >= p.rows) return;
  const bool norm = p.norm.weight != nullptr;
  const float* x = p.x + static_cast<int64_t>(row) * p.k;
  T* out = xh + static_cast<int64_t>(row) * p.k;
  float squares = 0.0f;
  constexpr int kBatch = kPrepareBatch;
  const int quads = p.k / 4;
  for (int q0 = lane + 32 * kBatch * part; q0 < quads; q0 += 32 * kBatch * parts) {
    float4 v[kBatch], nw[kBatch];
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int q = min(q0 + 32 * u, quads - 1);
      v[u] = *reinterpret_cast<const float4*>(x + 4 * q);
      if (norm) nw[u] = NormWeight4(p.norm, 4 * q);
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int q = q0 + 32 * u;
      if (q >= quads) break;
      squares = AddSquares(squares, v[u]);
      if (norm) v[u].x *= nw[u].x, v[u].y *= nw[u].y, v[u].z *= nw[u].z, v[u].w *= nw[u].w;
      // Elements 4q .. 4q+3: two pairs, 8 apart in WgmmaOrder.
      const uint2 packed = Pack4<T>(v[u]);
      uint32_t* at = reinterpret_cast<uint32_t*>(out + (4 * q & ~31) + WgmmaOrder(4 * q & 31));
      at[0] = packed.x;
      at[4] = packed.y;
    }
  }
  if (!norm) return;
  const float sum = WarpSum(squares);
  if (lane == 0) ss[row] = sum;
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// The shared-memory descriptor of a K-major operand in 128-byte swizzled rows (8-row atoms 1 KB apart),
// starting `p` (its 16-k step's first element: the atoms' base plus 32 bytes a step).
__device__ __forceinline__ uint64_t Swizzled128Descriptor(const void* p) {
  return ((SharedAddress(p) & 0x3ffff) >> 4) | (uint64_t{1} << 16) | (uint64_t{1024 >> 4} << 32) |
         (uint64_t{1} << 62);
}

// GGRT_WGMMA(TYPE), the wgmma of one shape, for T's PTX type name.
#define GGRT_WGMMA_FOR(T)                     \
  if constexpr (std::is_same_v<T, __half>) {  \
    GGRT_WGMMA("f16");                        \
  } else {                                    \
    GGRT_WGMMA("bf16");                       \
  }

// d (the warpgroup's 64 x 64 f32 tile; this thread's 32 values in mma.sync's layout, n-tile j at 4j) += A B
// over 16 k: A this warp's 16 rows as an mma.sync A fragment, B 64 columns from shared memory. Issued
// asynchronously: WgmmaCommitAndWait before the accumulators or the fragment registers are touched again.
template <typename T>
__device__ __forceinline__ void WgmmaM64N64K16(float* d, const uint32_t (&a)[4], uint64_t b) {
#define GGRT_WGMMA(TYPE)                                                                                               \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                              \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE                                             \
               " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"                                              \
               "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31},"                                     \
               " {%32,%33,%34,%35}, %36, p, 1, 1, 0;\n}\n"                                                             \
             : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),         \
               "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),   \
               "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
               "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])  \
             : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b))
  GGRT_WGMMA_FOR(T);
#undef GGRT_WGMMA
}
// The same over 128 columns (64 values a thread): one instruction rather than two of 64, so that the A
// fragments go to the tensor cores once.
template <typename T>
__device__ __forceinline__ void WgmmaM64N128K16(float* d, const uint32_t (&a)[4], uint64_t b) {
#define GGRT_WGMMA(TYPE)                                                                                               \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                              \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE                                            \
               " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"                                              \
               "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"                                      \
               "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"                                      \
               "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63},"                                     \
               " {%64,%65,%66,%67}, %68, p, 1, 1, 0;\n}\n"                                                             \
             : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),         \
               "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),   \
               "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
               "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
               "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
               "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
               "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
               "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])  \
             : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b))
  GGRT_WGMMA_FOR(T);
#undef GGRT_WGMMA
}
#undef GGRT_WGMMA_FOR
__device__ __forceinline__ void WgmmaFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
// Commits the warpgroup's wgmmas issued so far and waits until they are done.
__device__ __forceinline__ void WgmmaCommitAndWait() {
  asm volatile("wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
#endif

// The TMA descriptors of a wide product: each weight [n_i, k] in boxes of 16 rows by one chunk (64-byte
// swizzle), and PrepareWideX's x [rows, k] in boxes of the block's columns by one run (128-byte swizzle, the
// layout wgmma reads).
struct WideMaps {
  CUtensorMap w[3];
  CUtensorMap x;
  // The weights' first copies go out before the dependency wait, unless the kernels just before wrote them
  // (block formats decoded into the scratch).
  bool prefetch;
};

// Grid (column tiles, row tiles, splits x k groups); a split's kKc = k_groups blocks are one cluster.
template <typename T, int kCols, int kKc>
__global__ void __launch_bounds__(kThreads, 2) WideGemmKernel(const __grid_constant__ WideMaps maps,
                                                              SmallBatchGemmParams p, Plan plan, const float* ss) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(16) unsigned char smem_unaligned[];
  // The swizzles are of address bits: the ring's stages start on 1 KB boundaries. (An offset into the shared
  // array, not integer arithmetic on its address, so that the compiler still knows the space.)
  unsigned char* smem = smem_unaligned + ((1024 - (SharedAddress(smem_unaligned) & 1023)) & 1023);
  constexpr int kStages = WideStages(kCols), kStageBytes = WideStageBytes(kCols);
  __shared__ uint64_t full[kStages];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int col_tile = blockIdx.x, tile = blockIdx.y, split = blockIdx.z / kKc, rank = blockIdx.z % kKc;
  const int b0 = col_tile * kCols;
  const int kb = split * plan.slice, ke = min(p.k, kb + plan.slice);
  // This block's chain: k group `rank`'s runs of the split, at kb + kRunK (rank + k_groups j).
  const int first = kb + kRunK * rank, step = kRunK * kKc;
  const int runs = first < ke ? (ke - first + step - 1) / step : 0;

  // Row group rg's weight and first row within it (wi < 0: past the weights' rows).
  auto group_of = [&](int rg, int& wi, int& r0) {
    wi = 0;
    if (p.swiglu) {
      wi = rg / (kWideRows / 32);
      r0 = (tile * (kWideRows / 32) + rg % (kWideRows / 32)) * 16;
    } else {
      r0 = (tile * (kWideRows / 16) + rg) * 16;
#pragma unroll
      for (int i = 0; i < 3; ++i) {
        if (wi == i && i < p.count && r0 >= Pick(p.n, i)) r0 -= Pick(p.n, i), wi = i + 1;
      }
    }
    if (wi >= p.count || r0 >= Pick(p.n, wi)) wi = -1;
  };
  // Warp 0 issues the copies: lanes 0-15 a weight box each (row group lane / 2, chunk lane % 2), lane 16 x's.
  int copy_wi = -1, copy_r0 = 0;
  if (warp == 0 && lane < 16) group_of(lane / 2, copy_wi, copy_r0);
  const uint32_t stage_bytes =
      __popc(__ballot_sync(0xffffffffu, copy_wi >= 0)) * kWideBoxBytes + kCols * kRunK * 2;
  const uint64_t evict_first = EvictFirstPolicy(), evict_last = EvictLastPolicy();
  auto slot_of = [&](int s) { return smem + (s % kStages) * kStageBytes; };
  auto issue_weights = [&](int s) {  // Also arms the stage's barrier for all of its bytes.
    if (lane == 0) BarrierArriveExpect(&full[s % kStages], stage_bytes);
    __syncwarp();
    const int base = first + step * s, chunk = lane % 2;
    if (copy_wi >= 0) {
      TmaLoad2d(slot_of(s) + (lane / 2 * kRun + chunk) * kWideBoxBytes, &maps.w[copy_wi], base + kChunk * chunk,
                copy_r0, &full[s % kStages], evict_first);
    }
  };
  auto issue_x = [&](int s) {
    if (lane == 16) {
      TmaLoad2d(slot_of(s) + kWideWeightBytes, &maps.x, first + step * s, b0, &full[s % kStages], evict_last);
    }
  };
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) BarrierInit(&full[s]);
    BarrierInitFence();
  }
  __syncthreads();
  // The ring's first stages: the weights before the wait (they do not depend on the previous kernels, unless
  // those decoded them).
  if (warp == 0 && maps.prefetch) {
    for (int s = 0; s < kStages && s < runs; ++s) issue_weights(s);
  }
  GridDependencyWait();
  if (warp == 0) {
    for (int s = 0; s < kStages && s < runs; ++s) {
      if (!maps.prefetch) issue_weights(s);
      issue_x(s);
    }
  }

  // A warp past the weights' rows still takes part in its warpgroup's wgmma, with zero fragments.
  constexpr int kAcc = kCols / 2;  // The warpgroup tile's values a thread holds.
  float acc[kAcc] = {};
  int own_wi, own_r0;
  group_of(warp, own_wi, own_r0);
  const bool valid = own_wi >= 0;
  // This lane's 16 bytes of rows g and g + 8 of its row group's box, the 64-byte swizzle undone (both rows
  // take the same exchange: it is of the row's bits 1-2).
  const int lo_at = g * 64 + 16 * (t ^ ((g >> 1) & 3)), hi_at = lo_at + 8 * 64;
  for (int s = 0; s < runs; ++s) {
    BarrierWait(&full[s % kStages], (s / kStages) & 1);
    const unsigned char* ws = slot_of(s);
    const unsigned char* xs = ws + kWideWeightBytes;
    // A run's second chunk may lie past the split's end: zero fragments add nothing to the chain (exactly:
    // products of finite x are zeros, and a zero chain's sign is lost in the sums from zero), where skipping
    // its wgmmas would be a branch, across which ptxas serialises every wgmma of the kernel.
    const bool second = first + step * s + kChunk < ke;
    uint32_t frag[kRun][2][4];
#pragma unroll
    for (int chunk = 0; chunk < kRun; ++chunk) {
      const unsigned char* box = ws + (warp * kRun + chunk) * kWideBoxBytes;
      const uint4 zero = make_uint4(0, 0, 0, 0);
      const bool in = valid && (chunk == 0 || second);
      const uint4 lo = in ? *reinterpret_cast<const uint4*>(box + lo_at) : zero;
      const uint4 hi = in ? *reinterpret_cast<const uint4*>(box + hi_at) : zero;
      frag[chunk][0][0] = lo.x, frag[chunk][0][1] = hi.x, frag[chunk][0][2] = lo.y, frag[chunk][0][3] = hi.y;
      frag[chunk][1][0] = lo.z, frag[chunk][1][1] = hi.z, frag[chunk][1][2] = lo.w, frag[chunk][1][3] = hi.w;
    }
    WgmmaFence();
#pragma unroll
    for (int chunk = 0; chunk < kRun; ++chunk) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const uint64_t b = Swizzled128Descriptor(xs + (kChunk * chunk + 16 * half) * 2);
        if constexpr (kCols == 128) {
          WgmmaM64N128K16<T>(acc, frag[chunk][half], b);
        } else {
          WgmmaM64N64K16<T>(acc, frag[chunk][half], b);
        }
      }
    }
    WgmmaCommitAndWait();
    __syncthreads();  // Every warpgroup is done with this slot: its next stage may come in.
    if (warp == 0 && s + kStages < runs) issue_weights(s + kStages), issue_x(s + kStages);
  }

  // The next kernel may be scheduled only now: the logits take several waves, and its blocks, launched
  // early, would sit on the slots this kernel's later blocks need. (Earlier in grids of one wave: H200, bench
  // --batch 128, 59.1k -> 58.3k tokens/s.)
  AllowDependentLaunch();
  const int ra = warp * 16 + g, rb = ra + 8;
  if constexpr (kKc > 1) {
    // Block q of the cluster sums column slice q of the cluster's chains: once every block is past its ring,
    // each stores its chain's slices straight from its registers into their blocks' shared memory, in the
    // accumulators' own order (a warp's stores are 512 contiguous bytes, and stores need no round trip);
    // block q then adds them in k-group order (groups without runs in this split are skipped, as the narrow
    // kernel's warps without a chunk add nothing) into its tile cs.
    constexpr int kSub = kCols / kKc, kCs = kSub + 1, kTiles = kSub / 8;
    namespace cg = cooperative_groups;
    const cg::cluster_group cluster = cg::this_cluster();
    // [kKc][kWideRows * kSub]: chain q's slice at q, as float4 (warp w, n-tile jj of the slice, lane l) at
    // (w kTiles + jj) 32 + l.
    float* chains = reinterpret_cast<float*>(smem);
    float* cs = chains + kWideRows * kCols;
    cluster.sync();
    // A k group without runs in this split is never read (attn_out's splits leave half of them empty).
    if (runs > 0) {
#pragma unroll
      for (int j = 0; j < kCols / 8; ++j) {
        float4* slice =
            reinterpret_cast<float4*>(cluster.map_shared_rank(chains, j / kTiles) + rank * kWideRows * kSub);
        slice[(warp * kTiles + j % kTiles) * 32 + lane] = make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2],
                                                                      acc[4 * j + 3]);
      }
    }
    cluster.sync();  // Every chain's slices have landed.
    for (int i = threadIdx.x; i < kWideRows * kSub / 4; i += kThreads) {
      float4 v[kKc];
#pragma unroll
      for (int q = 0; q < kKc; ++q) v[q] = reinterpret_cast<const float4*>(chains + q * kWideRows * kSub)[i];
      float4 total = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
      for (int q = 0; q < kKc; ++q) {
        if (kb + kRunK * q < ke) total.x += v[q].x, total.y += v[q].y, total.z += v[q].z, total.w += v[q].w;
      }
      const int l = i % 32, row = 16 * (i / (32 * kTiles)) + l / 4, c = 8 * (i / 32 % kTiles) + 2 * (l % 4);
      cs[row * kCs + c] = total.x;
      cs[row * kCs + c + 1] = total.y;
      cs[(row + 8) * kCs + c] = total.z;
      cs[(row + 8) * kCs + c + 1] = total.w;
    }
    __syncthreads();
    const int c0 = rank * kSub;
    bool write = true;
    if (plan.splits > 1) {
      const int index = (col_tile * gridDim.y + tile) * kKc + rank;
      float* base = Partials(p) + static_cast<int64_t>(index) * plan.splits * kWideRows * kCs;
      write = SumSplits(cs, kWideRows * kCs, static_cast<int*>(p.scratch) + index, base, split, plan.splits);
    }
    if (write) WriteTile<kSub, kWideRows>(p, cs, ss + b0 + c0, tile, b0 + c0);
    return;
  }
  // The chain into shared memory (over the ring: every copy has landed and been read), then the splits' sum
  // and the epilogue.
  constexpr int kCt = kCols + 1;
  float* ct = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int j = 0; j < kCols / 8; ++j) {
    const int c = 8 * j + 2 * t;
    // A lone k group's chain is the narrow kernel's sum from zero.
    ct[ra * kCt + c] = 0.0f + acc[4 * j];
    ct[ra * kCt + c + 1] = 0.0f + acc[4 * j + 1];
    ct[rb * kCt + c] = 0.0f + acc[4 * j + 2];
    ct[rb * kCt + c + 1] = 0.0f + acc[4 * j + 3];
  }
  __syncthreads();
  if (plan.splits > 1) {
    const int index = col_tile * gridDim.y + tile;
    float* base = Partials(p) + static_cast<int64_t>(index) * plan.splits * kWideRows * kCt;
    if (!SumSplits(ct, kWideRows * kCt, static_cast<int*>(p.scratch) + index, base, split, plan.splits)) return;
  }
  WriteTile<kCols, kWideRows>(p, ct, ss + b0, tile, b0);
#else
  __trap();  // UsesWide takes this kernel on Hopper only.
#endif
}

template <typename T, int kCols, int kKc>
cudaError_t LaunchWideFor(const WideMaps& maps, const SmallBatchGemmParams& p, const Plan& plan, const float* ss,
                          cudaStream_t stream) {
  static const cudaError_t opted = cudaFuncSetAttribute(
      WideGemmKernel<T, kCols, kKc>, cudaFuncAttributeMaxDynamicSharedMemorySize, WideSmem(kCols, kKc));
  if (opted != cudaSuccess) return opted;
  const dim3 grid((p.rows + kCols - 1) / kCols, WideRowTiles(p), plan.splits * kKc);
  return LaunchClustered(WideGemmKernel<T, kCols, kKc>, grid, kThreads, dim3(1, 1, kKc), WideSmem(kCols, kKc), -1,
                         stream, maps, p, plan, ss);
}

template <typename T, int kCols>
cudaError_t LaunchWideCols(const WideMaps& maps, const SmallBatchGemmParams& p, const Plan& plan, const float* ss,
                           cudaStream_t stream) {
  switch (plan.k_groups) {
    case 1: return LaunchWideFor<T, kCols, 1>(maps, p, plan, ss, stream);
    case 2: return LaunchWideFor<T, kCols, 2>(maps, p, plan, ss, stream);
    case 4: return LaunchWideFor<T, kCols, 4>(maps, p, plan, ss, stream);
    case 8: return LaunchWideFor<T, kCols, 8>(maps, p, plan, ss, stream);
    default: return cudaErrorInvalidValue;  // MakePlan's k groups are 8 / a power of two.
  }
}

template <typename T>
cudaError_t LaunchWide(const SmallBatchGemmParams& p, const Plan& plan, bool prefetch, cudaStream_t stream) {
  const WideScratch scratch = WideScratchOf(p, plan);
  T* xh = reinterpret_cast<T*>(static_cast<char*>(p.scratch) + scratch.xh);
  float* ss = reinterpret_cast<float*>(static_cast<char*>(p.scratch) + scratch.ss);
  const bool bf16 = std::is_same_v<T, __nv_bfloat16>;
  const int cols = WideCols(p);
  WideMaps maps{};
  maps.prefetch = prefetch;
  for (int i = 0; i < p.count; ++i) {
    const cudaError_t e = MakeTensorMap({p.w[i], bf16, static_cast<uint64_t>(p.k), static_cast<uint64_t>(p.n[i]),
                                         kChunk, 16, CU_TENSOR_MAP_SWIZZLE_64B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B},
                                        &maps.w[i]);
    if (e != cudaSuccess) return e;
  }
  cudaError_t e = MakeTensorMap({xh, bf16, static_cast<uint64_t>(p.k), static_cast<uint64_t>(p.rows), kRunK,
                                 static_cast<uint32_t>(cols), CU_TENSOR_MAP_SWIZZLE_128B,
                                 CU_TENSOR_MAP_L2_PROMOTION_L2_128B},
                                &maps.x);
  if (e != cudaSuccess) return e;
  const int parts = PrepareParts(p);
  e = Launch(PrepareWideX<T>, dim3((p.rows * parts + kWarps - 1) / kWarps), kThreads, 0, stream, p, parts, xh, ss);
  if (e != cudaSuccess) return e;
  return cols == 64 ? LaunchWideCols<T, 64>(maps, p, plan, ss, stream)
                    : LaunchWideCols<T, 128>(maps, p, plan, ss, stream);
}

}  // namespace

bool SmallBatchGemmSupports(const SmallBatchGemmParams& p) {
  if (p.rows < 1 || p.rows > kSmallBatchMaxRows || p.k < kChunk || p.k % kChunk != 0) return false;
  if (p.type != WeightType::kF16 && p.type != WeightType::kBF16 && !IsQuantized(p.type)) return false;
  if (IsQuantized(p.type) && p.type != WeightType::kQ8_0R && p.k % BlockShapeOf(p.type).elements != 0) return false;
  if (p.count < 1 || p.count > 3 || (p.swiglu && (p.count != 2 || p.n[0] != p.n[1]))) return false;
  if (p.residual != nullptr && p.count != 1) return false;
  for (int i = 0; i < p.count; ++i) {
    if (p.n[i] < 16 || p.n[i] % 16 != 0) return false;
  }
  return true;
}

namespace {

int64_t ScratchBytesOf(const SmallBatchGemmParams& p, const Plan& plan, bool wide) {
  if (wide) return WideScratchOf(p, plan).bytes;
  if (plan.splits == 1 || plan.cluster) return 0;
  // A region per (column tile, row tile, split): the tile's sums and each column's sum of squares.
  const int64_t region = static_cast<int64_t>(plan.group_rows) * 16 * (plan.cols + 1) + plan.cols;
  return kCounterBytes + static_cast<int64_t>(plan.col_tiles) * plan.row_tiles * plan.splits * region * 4;
}

// Block formats at wide batches: the weights are decoded to f16 in the scratch (elementwise's
// LaunchDequantize: quant.cuh's DecodeChunk, rounded to f16 as the narrow kernel rounds the tiles it decodes),
// then the f16 product runs, on the wide kernel. The narrow kernel's block-format path multiplies exactly
// those f16 values in the same order, so no bit changes. Where the f16 product takes the wide kernel, up to
// kMaxDecodedBytes (not the logits: 272 MB for Qwen2.5's vocabulary).
constexpr int64_t kMaxDecodedBytes = int64_t{64} << 20;

// Weight i of p decoded to f16, padded to 256 bytes.
int64_t DecodedWeightBytes(const SmallBatchGemmParams& p, int i) { return RoundUp256(int64_t{p.n[i]} * p.k * 2); }

// p with its weights decoded: f16 at `decoded` (the weights one after another, 256-byte aligned).
SmallBatchGemmParams AsDecoded(const SmallBatchGemmParams& p, char* decoded) {
  SmallBatchGemmParams d = p;
  d.type = WeightType::kF16;
  int64_t at = 0;
  for (int i = 0; i < p.count; ++i) {
    d.w[i] = decoded + at;
    at += DecodedWeightBytes(p, i);
  }
  return d;
}

int64_t DecodedBytes(const SmallBatchGemmParams& p) {
  int64_t bytes = 0;
  for (int i = 0; i < p.count; ++i) bytes += DecodedWeightBytes(p, i);
  return bytes;
}

bool DecodesFirst(const SmallBatchGemmParams& p, SmallBatchPath path) {
  return IsQuantized(p.type) && path != SmallBatchPath::kNarrow && DecodedBytes(p) <= kMaxDecodedBytes &&
         UsesWide(AsDecoded(p, nullptr), path);
}

// The decoding product's scratch: the f16 product's (its counters first), then the decoded weights.
int64_t DecodedOffset(const SmallBatchGemmParams& d) { return RoundUp256(ScratchBytesOf(d, MakePlan(d), true)); }

}  // namespace

int64_t SmallBatchGemmScratchBytes(const SmallBatchGemmParams& p, SmallBatchPath path) {
  if (DecodesFirst(p, path)) return DecodedOffset(AsDecoded(p, nullptr)) + DecodedBytes(p);
  return ScratchBytesOf(p, MakePlan(p), UsesWide(p, path));
}

namespace {

// `decoded`: p's weights were just written by the kernels before it (DecodesFirst).
cudaError_t LaunchProduct(const SmallBatchGemmParams& p, cudaStream_t stream, SmallBatchPath path, bool decoded) {
  if (!SmallBatchGemmSupports(p)) return cudaErrorInvalidValue;
  if (DecodesFirst(p, path)) {
    if (p.scratch == nullptr) return cudaErrorInvalidValue;
    const int64_t offset = DecodedOffset(AsDecoded(p, nullptr));
    const SmallBatchGemmParams d = AsDecoded(p, static_cast<char*>(p.scratch) + offset);
    for (int i = 0; i < p.count; ++i) {
      const cudaError_t e = LaunchDequantize({p.w[i], p.type, p.n[i], p.k, const_cast<void*>(d.w[i])}, stream);
      if (e != cudaSuccess) return e;
    }
    return LaunchProduct(d, stream, path, /*decoded=*/true);
  }
  const Plan plan = MakePlan(p);
  const bool wide = UsesWide(p, path);
  const int counters = plan.splits == 1 ? 0
                       : wide          ? WideTiles(p) * plan.k_groups
                       : plan.cluster  ? 0
                                       : plan.col_tiles * plan.row_tiles;
  if (counters > kMaxCounters || (ScratchBytesOf(p, plan, wide) > 0 && p.scratch == nullptr)) {
    return cudaErrorInvalidValue;
  }
  if (wide) {
    return p.type == WeightType::kF16 ? LaunchWide<__half>(p, plan, !decoded, stream)
                                      : LaunchWide<__nv_bfloat16>(p, plan, !decoded, stream);
  }
  if (IsQuantized(p.type)) return LaunchTyped<__half, true>(p, plan, stream);
  return p.type == WeightType::kF16 ? LaunchTyped<__half>(p, plan, stream) : LaunchTyped<__nv_bfloat16>(p, plan, stream);
}

}  // namespace

cudaError_t LaunchSmallBatchGemm(const SmallBatchGemmParams& p, cudaStream_t stream, SmallBatchPath path) {
  return LaunchProduct(p, stream, path, /*decoded=*/false);
}

}  // namespace ggrt::cuda
