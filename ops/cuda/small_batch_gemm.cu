// Batched decode products on tensor cores: Y = X W^T with X [B, k] (B sequences, one row each) and W [n, k]
// f16/bf16, as mma.sync m16n8k16 with the weights as the 16-row A operand and the batch as the 8-column B
// operand (n-tiles of 8 sequences).
//
// Decode is bound by reading W once, so the kernel is shaped like the GEMV rather than like a GEMM. A block of
// 8 warps owns a tile of 16 to 128 weight rows (row groups of 16; with SwiGLU half are gate rows and half the
// matching up rows); the warps of a row group split k between them, two chunks at a time, and narrow products
// (n = 896) also split k over blocks, so that every SM streams; the last block of a tile to finish adds the
// blocks' partial tiles in split order. Each lane streams its rows with 16-byte loads, several chunks in
// flight, evict-first in L2. The 16 bytes a lane loads (8 consecutive k of one row) are taken as its A
// fragments for two mma steps at once: the k order inside a chunk is permuted the same way for A and for X,
// which leaves the dot products unchanged and lets the raw loads feed the tensor cores without shuffles. X is
// staged in shared memory in the weights' type, in parts of k (normalised by the norm weight with a
// prologue; each row's sum of squares is kept for the norm's scale, applied in the epilogue); rows are padded
// so that the 16-byte fragment reads of a quarter-warp fall in distinct banks. The warps' partial tiles are
// summed in a fixed order in shared memory, and the epilogue writes the outputs along n (coalesced) with the
// residual, or with gate and up meeting for SwiGLU.
//
// Weights in GGUF block formats (Q8_0 ... Q6_K) take the same path with one change: instead of raw loads, a
// warp decodes each run of two chunks of its 16 rows to f16 in shared memory (quant.cuh's DecodeChunk, the
// function every kernel that reads blocks shares; one chunk of one row per lane) and reads its fragments
// from there. Each weight byte is still read once per step, whatever the batch.
//
// The tile shape and every sum's order follow from n and k alone, never from B, and a column's products never
// touch another column: a sequence's result is the same alone or in any batch.
#include "ops/cuda/small_batch_gemm.h"

#include <algorithm>
#include <type_traits>

#include "ops/cuda/common.cuh"
#include "ops/cuda/gemv_common.cuh"
#include "ops/cuda/quant.cuh"

namespace ggrt::cuda {
namespace {

constexpr int kThreads = 256;  // 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kChunk = 32;     // k per 16-byte load of 8 halves by each of 4 lanes.
constexpr int kStagingBytes = 96 * 1024;  // Two blocks per SM where the registers allow.

constexpr int kMaxSlice = 2048;  // k per block when k is split over blocks.

struct Plan {
  int group_rows;  // Row groups of 16 per block (RW); the other factor of the 8 warps splits k (KW).
  int k_groups;
  int row_tiles;   // Blocks along the rows.
  int splits;      // Blocks along k, each over `slice` of it (the last one less).
  int slice;
  int stage;       // k of x staged at a time: the slice, or (one split) a multiple of kChunk * k_groups * ring.
  int cols;        // Batch columns per block: 8 * NT.
  int col_tiles;
  int smem;        // Bytes of the staging / reduction area.
};

// Adjacent k chunks a warp takes in turn: each row is then read in whole 128-byte lines (kernel_bench
// --batch, H200: gate/up at B = 2 11.6 -> 9.3 us, ffn_down 7.7 -> 6.1). A constant, never the ring, so that
// every sum's order follows from n and k alone.
constexpr int kRun = 2;

// Weight chunks each warp keeps in flight: more for narrow batches (few blocks must keep a lot in flight),
// fewer for the widest tile, whose accumulators fill the registers.
__host__ __device__ constexpr int Ring(int cols) { return cols <= 8 ? 8 : cols >= 64 ? 2 : 4; }

// Block formats: each warp decodes the kRun chunks of a run for its 16 rows into f16 in shared memory
// (ops/cuda/quant.cuh's DecodeChunk, one chunk of one row per lane), and takes its fragments from there.
constexpr int kDecodedStride = kChunk + 8;  // Halves: 80-byte rows, 16-byte aligned.
constexpr int kDecodedBytes = kRun * 16 * kDecodedStride * 2;

// Halves between staged rows: rows 64 bytes apart modulo 128, so that the 16-byte fragment reads of a
// quarter-warp fall in distinct banks.
__host__ __device__ constexpr int StagingStride(int stage) { return (stage + 63) / 64 * 64 + 32; }

Plan MakePlan(const SmallBatchGemmParams& p) {
  Plan plan{};
  int rows = 0;
  for (int i = 0; i < p.count; ++i) rows += p.n[i];
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
  if (2 * plan.row_tiles <= SmCount()) {
    const int wanted = std::max(2 * SmCount() / plan.row_tiles, (p.k + kMaxSlice - 1) / kMaxSlice);
    plan.slice = ((p.k + wanted - 1) / wanted + unit - 1) / unit * unit;
    plan.splits = (p.k + plan.slice - 1) / plan.slice;
  }
  // x is staged in parts of whole ring turns (or the block's only part) that fit the staging area.
  const int step = unit * Ring(plan.cols);
  const int fit = std::max(step, (kStagingBytes / (plan.cols * 2) - 32) / step * step);
  plan.stage = plan.slice <= fit ? plan.slice : fit;
  // The staged x (and, for block formats, each warp's decoded weight tiles), or the warps' partial tiles and
  // their sum (the epilogue's tile).
  plan.smem = std::max(plan.cols * StagingStride(plan.stage) * 2 + (IsQuantized(p.type) ? kWarps * kDecodedBytes : 0),
                       (kWarps * 16 * plan.cols + 128 * (plan.cols + 1)) * 4);
  return plan;
}

// The split counters at the start of the scratch, one per (column tile, row tile); the partials follow.
__host__ __device__ inline int64_t CounterBytes(const Plan& plan) {
  return (static_cast<int64_t>(plan.col_tiles) * plan.row_tiles * 4 + 255) / 256 * 256;
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

// Chunk `chunk` (32 elements) of a block of the runtime type into w.
__device__ __forceinline__ void DecodeChunkOf(WeightType type, const uint8_t* block, int chunk, float (&w)[32]) {
  GGRT_DISPATCH_QUANT(type, Q, DecodeChunk<Q>(block, chunk, w));
}

// T: the weights' type (kQuant: block formats, decoded to f16, T = __half).
template <typename T, int NT, bool kQuant>
__global__ void __launch_bounds__(kThreads, NT <= 8 ? 2 : 1) SmallBatchGemmKernel(SmallBatchGemmParams p, Plan plan) {
  extern __shared__ __align__(16) unsigned char smem[];
  AllowDependentLaunch();
  constexpr int kCols = 8 * NT;
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
  const BlockShape block = kQuant ? BlockShapeOf(p.type) : BlockShape{1, 0};
  const int block_elements = block.elements, block_bytes = block.bytes;
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
      a[u][0] = LoadStreaming16(w + static_cast<int64_t>(g) * p.k + c + 8 * t, policy);
      a[u][1] = LoadStreaming16(w + static_cast<int64_t>(g + 8) * p.k + c + 8 * t, policy);
    } else {
      a[u][0] = a[u][1] = make_uint4(0, 0, 0, 0);
    }
  };
#pragma unroll
  for (int u = 0; u < kRing; ++u) load(u, kb + offset(u));
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
    // warp's rows and kUnroll float4 per row in flight at once.
    constexpr int kUnroll = NT >= 8 ? 1 : 8 / NT;
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
          squares[m] = (((squares[m] + x.x * x.x) + x.y * x.y) + x.z * x.z) + x.w * x.w;
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
              DecodeChunkOf(p.type, wq + row * row_bytes + static_cast<int64_t>(kc / block_elements) * block_bytes,
                            (kc % block_elements) / kChunk, v);
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
  // group summed in order: ct [group_rows * 16][kCols + 1].
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
  constexpr int kCt = kCols + 1;  // Odd: the epilogue's column reads are conflict-free.
  const int tile_rows = plan.group_rows * 16;
  float* ct = parts + kWarps * 16 * kCols;
  for (int i = threadIdx.x; i < tile_rows * kCols; i += kThreads) {
    const int group = i / (16 * kCols), within = i % (16 * kCols);
    float sum = 0.0f;
    for (int q = 0; q < plan.k_groups; ++q) sum += parts[(group * plan.k_groups + q) * 16 * kCols + within];
    ct[(i / kCols) * kCt + i % kCols] = sum;
  }
  __syncthreads();

  if (plan.splits > 1) {
    // Partials of (col_tile, tile): a region per split, [tile rows * kCt | kCols sums]. The last block of the
    // tile to finish (a fenced counter it resets) adds them in split order.
    const int region = tile_rows * kCt + kCols;
    int* counter = static_cast<int*>(p.scratch) + col_tile * plan.row_tiles + tile;
    float* base = reinterpret_cast<float*>(static_cast<char*>(p.scratch) + CounterBytes(plan)) +
                  static_cast<int64_t>(col_tile * plan.row_tiles + tile) * plan.splits * region;
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

  // Epilogue: norm scale, residual or SwiGLU; outputs written along n.
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
    const int c = idx / tile_rows, r = idx % tile_rows;
    const int b = b0 + c;
    int i = 0, n = tile * tile_rows + r;
#pragma unroll
    for (int j = 0; j < 3; ++j) {
      if (i == j && j < p.count && n >= Pick(p.n, j)) n -= Pick(p.n, j), i = j + 1;
    }
    if (b >= p.rows || i >= p.count) continue;
    const int width = Pick(p.n, i);
    float v = ct[r * kCt + c];
    if (norm) v *= rsqrtf(ss[c] / p.k + p.norm.eps);
    if (p.residual != nullptr) v += p.residual[static_cast<int64_t>(b) * width + n];
    Pick(p.y, i)[static_cast<int64_t>(b) * width + n] = v;
  }
}

template <typename T, int NT, bool kQuant>
cudaError_t LaunchFor(const SmallBatchGemmParams& p, const Plan& plan, cudaStream_t stream) {
  static bool configured = false;  // The opt-in above 48 KB, once per instantiation.
  if (!configured) {
    const cudaError_t e = cudaFuncSetAttribute(SmallBatchGemmKernel<T, NT, kQuant>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, 180 * 1024);
    if (e != cudaSuccess) return e;
    configured = true;
  }
  return Launch(SmallBatchGemmKernel<T, NT, kQuant>, dim3(plan.row_tiles, plan.splits, plan.col_tiles), kThreads,
                plan.smem, stream, p, plan);
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

}  // namespace

bool SmallBatchGemmSupports(const SmallBatchGemmParams& p) {
  if (p.rows < 1 || p.rows > kSmallBatchMaxRows || p.k < kChunk || p.k % kChunk != 0) return false;
  if (p.type != WeightType::kF16 && p.type != WeightType::kBF16 && !IsQuantized(p.type)) return false;
  if (IsQuantized(p.type) && p.k % BlockShapeOf(p.type).elements != 0) return false;
  if (p.count < 1 || p.count > 3 || (p.swiglu && (p.count != 2 || p.n[0] != p.n[1]))) return false;
  if (p.residual != nullptr && p.count != 1) return false;
  for (int i = 0; i < p.count; ++i) {
    if (p.n[i] < 16 || p.n[i] % 16 != 0) return false;
  }
  return true;
}

int64_t SmallBatchGemmScratchBytes(const SmallBatchGemmParams& p) {
  const Plan plan = MakePlan(p);
  if (plan.splits == 1) return 0;
  const int64_t region = static_cast<int64_t>(plan.group_rows) * 16 * (plan.cols + 1) + plan.cols;
  return CounterBytes(plan) + static_cast<int64_t>(plan.col_tiles) * plan.row_tiles * plan.splits * region * 4;
}

cudaError_t LaunchSmallBatchGemm(const SmallBatchGemmParams& p, cudaStream_t stream) {
  if (!SmallBatchGemmSupports(p)) return cudaErrorInvalidValue;
  const Plan plan = MakePlan(p);
  if (plan.splits > 1 && p.scratch == nullptr) return cudaErrorInvalidValue;
  if (IsQuantized(p.type)) return LaunchTyped<__half, true>(p, plan, stream);
  return p.type == WeightType::kF16 ? LaunchTyped<__half>(p, plan, stream) : LaunchTyped<__nv_bfloat16>(p, plan, stream);
}

}  // namespace ggrt::cuda
