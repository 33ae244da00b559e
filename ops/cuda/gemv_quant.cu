// Decode-step GEMV over weights in GGUF block formats (Q8_0 ... Q6_K): y = W x with W [n, k] stored as the
// file stores it, x and y in f32.
//
// Memory pipeline. A warp owns a tile of M rows (2 or 4, fewer bytes per element -> more rows) by a range
// of whole blocks, and walks it in rounds of 32 chunks of 32 elements per row. A round's bytes of each row
// are contiguous in the file; blocks are only 2-byte aligned (Q8_0 is 34 bytes), so the warp copies the
// 16-byte-aligned span around them into its shared-memory slot with 16-byte cp.async (LDGSTS, L1 bypassed,
// L2 evict-first, the span's partial last word zero-filled rather than read past the row), and decodes
// from there at the offset the alignment left. The first two rounds' copies (a slot each) are issued
// before the kernel waits for its predecessor (programmatic dependent launch), so a warp of a one- or
// two-round tile has all of its bytes in flight at once -- the 2-byte-load design this replaces had one
// segment of one row in flight per warp and reached 0.75 TB/s on the output projection.
//
// Compute. Lane l takes chunk column l of the round for all M rows: it loads the 32 x values once and
// reuses them M times, through the type's DotChunk (ops/cuda/quant.cuh, shared with the other kernels that
// read blocks). Long rows are split over up to 8 warps of a block (whole blocks each, summed in shared
// memory) so that a warp walks at most a round or two. Only the weights' own bytes move: no dequantized
// copy exists.
//
// x. Lane l reads 32 consecutive floats, so a warp's x load touches 32 different 128-byte lines: read from
// L1 that is 32 wavefronts per instruction, and it was what held the output projection to 0.8 TB/s. The
// block therefore stages x (normalised, when the product has an RMSNorm prologue; the row scale is
// applied at the end, as in the float family) in shared memory with each 32-float chunk padded to 36, which
// spreads the lanes' 16-byte reads over all banks. x longer than kMaxQuantStagedK is read in place. The
// same fusions as the float kernels: up to three weights sharing x (fused QKV, a tile's rows may span two
// of them), a residual epilogue, gate/up with SwiGLU, and the output projection reduced to per-block argmax
// partials.
#include <algorithm>
#include <cfloat>

#include "ops/cuda/gemv_common.cuh"
#include "ops/cuda/quant.cuh"

namespace ggrt::cuda {
namespace {

// x staged in shared memory (at most 27 KB, padded) before the warps' slots.
constexpr int kMaxQuantStagedK = 6144;
static_assert(kMaxQuantStagedK % (4 * kWarps * 32) == 0, "x is staged in whole rounds of float4 per thread");
constexpr int kMaxStages = 2;

// Staged x: chunk c's 32 floats start at float 36 c.
constexpr int kPaddedChunk = 36;
__host__ __device__ constexpr int StagedXBytes(int k) { return k / 32 * kPaddedChunk * 4; }

// Rows per warp tile: enough that one x chunk's 128 bytes are amortised over at least ~64 weight bytes.
// Q5_0 and Q5_1 take two all the same: their chunk decode (the fifth bits gathered from a 32-bit mask) at four
// rows spills in gate/up, and two rows made tg128 of Q4_K_M, whose 896-wide rows are Q5_0, 11% faster (H200,
// PERF_NOTES step 74). Q5_K (the same 22 bytes a chunk) stays at four: its ffn_down took 5.1 -> 6.6 us at two.
// Q6_K (26 bytes a chunk) takes four too: its products have long rows (k a multiple of 256; Qwen2.5's ffn_down,
// k = 4864, in 8 parts, so a block a tile), and every block stages all of x, so a block of four rows stages it
// once for twice the weights: 448 -> 224 blocks at 92 registers, ffn_down 5.43 -> 4.38 us, tg128 Q6_K 1903 ->
// 1963 and Q4_K_M 1940 -> 1981 (H200, PERF_NOTES step 119).
template <WeightType T>
constexpr int RowsPerTile() {
  if (T == WeightType::kQ5_0 || T == WeightType::kQ5_1) return 2;
  if (T == WeightType::kQ6_K) return 4;
  return QuantTraits<T>::kBytes * 32 / QuantTraits<T>::kElements >= 26 ? 2 : 4;
}

// gate/up's tiles (gate rows, then the matching up rows): Q8_0 takes four rows where its other products take
// two. At two, the 4864-row gate/up of Qwen2.5-0.5B was 608 blocks, of which an H200 holds 396 at once (66
// registers a thread: three blocks per SM), so a second wave; at four, 304 blocks (73 registers) in one: H200,
// gate/up 5.65 -> 5.02 us, tg128 1932 -> 1998. Q5_0 (Q4_K_M's and Q5_K_M's gate/up) and Q6_K measured slower
// at four rows, though also in one wave (tg128 -4% and -1%; PERF_NOTES.md step 78; Q5_0's again in step 119:
// tg128 Q4_K_M 1940 -> 1861), so Q6_K's gate/up keeps two where its other products take four.
template <WeightType T>
constexpr int GateUpRowsPerTile() {
  if (T == WeightType::kQ6_K) return 2;
  return T == WeightType::kQ8_0 ? 4 : RowsPerTile<T>();
}

template <WeightType T>
struct Round {
  using Q = QuantTraits<T>;
  static constexpr int kBytes = 32 / Q::kChunks * Q::kBytes;  // One row's bytes of 32 chunks.
  // Plus up to 15 bytes of alignment slack, and the 4 past the last block that DotChunk may read.
  static constexpr int kSlot = (kBytes + 15 + 4 + 15) / 16 * 16;
};

// Chunks of each part when rows of k elements are split into `parts` of whole blocks.
template <WeightType T>
__host__ __device__ inline int ShareChunks(int k, int parts) {
  using Q = QuantTraits<T>;
  return (k / 32 / Q::kChunks + parts - 1) / parts * Q::kChunks;
}
// Slots a warp cycles through: two when its share takes more than one round, so the next round's copy
// overlaps the current one's decode.
template <WeightType T>
__host__ __device__ inline int StagesFor(int k, int parts) {
  return ShareChunks<T>(k, parts) > 32 ? kMaxStages : 1;
}
// The output projection's tiles: 4 rows whatever the type, so that each block's staging of x and its
// argmax partial serve twice the weights of a 2-row tile (PERF_NOTES.md, step 71).
constexpr int kOutputRowsPerTile = 4;
template <WeightType T>
constexpr int OutputRowsPerTile() {
  return kOutputRowsPerTile;
}
// Rows from which a lone product takes the output projection's tiles (QuantLogitsKernel): vocabularies, not
// the layers' products, where 2-row tiles measured faster for the types that have them (step 78).
constexpr int kLogitsRows = 32768;

// The block's slot bytes (kWarps warps of M rows).
template <WeightType T, int M = RowsPerTile<T>()>
size_t SlotBytes(int k, int parts) {
  return static_cast<size_t>(kWarps) * StagesFor<T>(k, parts) * M * Round<T>::kSlot;
}

// One warp's tile: M row pointers and a chunk range [begin, end) of whole blocks, walked in rounds.
template <WeightType T, int M>
struct TileWalk {
  using Q = QuantTraits<T>;
  const uint8_t* rows[M];
  int begin, end;
  int stages;
  uint8_t* slots;  // [stages][M][Round<T>::kSlot], this warp's.
  uint64_t policy;

  // Issues the first rounds' copies; one commit group per round plus, with a single stage, an empty one,
  // so that "all groups but the newest" is always the round being decoded.
  __device__ __forceinline__ void Start(const uint8_t* const (&row_ptrs)[M], int k, int part, int parts,
                                        uint8_t* warp_slots) {
    const int row_chunks = k / 32, share = ShareChunks<T>(k, parts);
    begin = min(row_chunks, part * share);
    end = min(row_chunks, begin + share);
    stages = StagesFor<T>(k, parts);
#pragma unroll
    for (int r = 0; r < M; ++r) rows[r] = row_ptrs[r];
    slots = warp_slots;
    policy = EvictFirstPolicy();
    Issue(0);
    if (stages == 2) {
      Issue(1);
    } else {
      CopyAsyncCommit();
    }
  }
  __device__ __forceinline__ int First(int round) const { return begin + 32 * round; }
  __device__ __forceinline__ const uint8_t* Source(int r, int first) const {
    return rows[r] + static_cast<int64_t>(first / Q::kChunks) * Q::kBytes;
  }
  __device__ __forceinline__ uint8_t* Slot(int round, int r) const {
    return slots + ((stages == 1 ? 0 : round & 1) * M + r) * Round<T>::kSlot;
  }

  // Copies round `round`'s bytes of every row (nothing past the round) and commits them as one group
  // (empty when the tile has no such round, so that the group count stays one per round).
  __device__ __forceinline__ void Issue(int round) {
    const int first = First(round);
    if (first < end) {
      const int bytes = min(32, end - first) / Q::kChunks * Q::kBytes;
#pragma unroll
      for (int r = 0; r < M; ++r) {
        const uint8_t* start = Source(r, first);
        const uint8_t* aligned = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(start) & ~uintptr_t{15});
        const int span = static_cast<int>(start + bytes - aligned);
        for (int w = threadIdx.x % 32; 16 * w < span; w += 32) {
          CopyAsync16(Slot(round, r) + 16 * w, aligned + 16 * w, min(16, span - 16 * w), policy);
        }
      }
    }
    CopyAsyncCommit();
  }

  // Adds this lane's share of dot(row_r, x') to acc[r] over the whole tile. kStaged: x' is staged (padded
  // chunks); otherwise x is read in place, and kNormInline multiplies it by the norm weight.
  template <bool kStaged, bool kNormInline>
  __device__ __forceinline__ void Dot(const float* x, const NormPrologue& norm, float (&acc)[M]) {
    const int lane = threadIdx.x % 32;
#pragma unroll
    for (int r = 0; r < M; ++r) acc[r] = 0.0f;
    for (int round = 0; First(round) < end; ++round) {
      CopyAsyncWaitPending<1>();  // This round's group; the next round's may still be in flight.
      __syncwarp();
      const int first = First(round), c = first + lane;
      if (c < end) {
        float xv[32];
#pragma unroll
        for (int i = 0; i < 32; i += 4) {
          float4 v = *reinterpret_cast<const float4*>(x + (kStaged ? kPaddedChunk : 32) * c + i);
          if constexpr (kNormInline) {
            const float4 g = *reinterpret_cast<const float4*>(static_cast<const float*>(norm.weight) + 32 * c + i);
            v.x *= g.x, v.y *= g.y, v.z *= g.z, v.w *= g.w;
          }
          xv[i] = v.x, xv[i + 1] = v.y, xv[i + 2] = v.z, xv[i + 3] = v.w;
        }
        const int block = (c - first) / Q::kChunks;
#pragma unroll
        for (int r = 0; r < M; ++r) {
          const int offset = static_cast<int>(reinterpret_cast<uintptr_t>(Source(r, first)) & 15);
          acc[r] += DotChunk<T>(Slot(round, r) + offset + block * Q::kBytes, c % Q::kChunks, xv);
        }
      }
      __syncwarp();  // The slot is refilled next.
      Issue(round + stages);
    }
  }
};

template <WeightType T>
__device__ __forceinline__ const uint8_t* RowOf(const void* w, int row, int k) {
  return static_cast<const uint8_t*>(w) + static_cast<int64_t>(row) * (k / QuantTraits<T>::kElements) *
                                              QuantTraits<T>::kBytes;
}

// After the dependency wait: x for the dot products and the norm's row scale. With kStaged the block
// stages x (normalised) in padded chunks in shared memory (every thread must call this); otherwise x stays
// in place and a norm, if any, is applied inline (its scale computed by each warp).
template <bool kStaged>
__device__ __forceinline__ const float* PrepareX(const float* x, int k, const NormPrologue& norm, float* smem,
                                                 float* scale) {
  GridDependencyWait();  // x is the previous kernel's output.
  if constexpr (kStaged) {
    // Every load of a thread's share goes out before the first is used: a loop of dependent rounds cost a
    // memory latency per 1024 elements of x (five for ffn_down) on the critical path. Also for x of one
    // round: the same code with a single load (the registers of six removed) was 1-4% slower end to end on
    // an H200 for all but Q4_0, though faster alone in kernel_bench (PERF_NOTES.md, step 39).
    constexpr int kLoads = kMaxQuantStagedK / (4 * kWarps * 32);
    const bool normed = norm.weight != nullptr;
    float4 v[kLoads], g[kLoads];
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {
      const int i = 4 * (threadIdx.x + j * kWarps * 32);
      if (i < k) {
        v[j] = *reinterpret_cast<const float4*>(x + i);
        if (normed) g[j] = *reinterpret_cast<const float4*>(static_cast<const float*>(norm.weight) + i);
      }
    }
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {
      const int i = 4 * (threadIdx.x + j * kWarps * 32);
      if (i >= k) break;
      ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
      if (normed) v[j].x *= g[j].x, v[j].y *= g[j].y, v[j].z *= g[j].z, v[j].w *= g[j].w;
      *reinterpret_cast<float4*>(smem + i / 32 * kPaddedChunk + i % 32) = v[j];
    }
    *scale = 1.0f;
    if (norm.weight != nullptr) *scale = rsqrtf(BlockSum(ss) / k + norm.eps);
    __syncthreads();
    return smem;
  } else {
    *scale = norm.weight != nullptr ? NormScale(x, k, norm.eps) : 1.0f;
    return x;
  }
}

// The tile's M row dot products (warp sums, times the norm's row scale), every lane holding them.
template <WeightType T, int M, bool kStaged>
__device__ __forceinline__ void Dots(TileWalk<T, M>& walk, const float* x_in, int k, const NormPrologue& norm,
                                     float* smem, float (&dots)[M]) {
  float scale;
  const float* x = PrepareX<kStaged>(x_in, k, norm, smem, &scale);
  if (!kStaged && norm.weight != nullptr) {
    walk.template Dot<false, true>(x, norm, dots);
  } else {
    walk.template Dot<kStaged, false>(x, norm, dots);
  }
#pragma unroll
  for (int r = 0; r < M; ++r) dots[r] = WarpSum(dots[r]) * scale;
}

// This warp's slots, after the staged x.
template <WeightType T, int M, bool kStaged>
__device__ __forceinline__ uint8_t* WarpSlots(uint8_t* smem, int k, int parts) {
  return smem + (kStaged ? StagedXBytes(k) : 0) + (threadIdx.x / 32) * StagesFor<T>(k, parts) * M * Round<T>::kSlot;
}

// Block `block`'s tiles of weights first .. last - 1 (of type T; `first` a constant where it is not 0: a
// run-time index into p's arrays would copy p to local memory, PERF_NOTES.md step 14).
template <WeightType T, bool kStaged, int P, int M = RowsPerTile<T>()>
__device__ __forceinline__ void QuantGemvTiles(const GemvParams& p, int first, int last, int block) {
  extern __shared__ float4 smem4[];
  uint8_t* smem = reinterpret_cast<uint8_t*>(smem4);
  const int warp = threadIdx.x / 32;
  const int tile = block * (kWarps / P) + warp / P;
  // Rows past the end walk row 0 of the first weight (the block's barriers need every warp) and are not
  // stored.
  int seg[M], row[M];
  const uint8_t* rows[M];
#pragma unroll
  for (int r = 0; r < M; ++r) {
    row[r] = tile * M + r;
    seg[r] = LocateRow(p, &row[r], first, last);
    rows[r] = seg[r] < last ? RowOf<T>(Pick(p.w, seg[r]), row[r], p.k) : RowOf<T>(Pick(p.w, first), 0, p.k);
  }
  TileWalk<T, M> walk;
  walk.Start(rows, p.k, warp % P, P, WarpSlots<T, M, kStaged>(smem, p.k, P));
  AllowDependentLaunch();
  // With the first copies in flight, the residual is read as soon as it may be, so that its round trip
  // overlaps the product instead of following the parts' combine (PrepareX's wait then returns at once).
  // Not where x is read in place: those kernels' registers are full (they spill 40 bytes more).
  float residual[M] = {};
  if (kStaged && p.residual != nullptr) {
    GridDependencyWait();
#pragma unroll
    for (int r = 0; r < M; ++r) {
      if (seg[r] < last) residual[r] = p.residual[row[r]];
    }
  }
  float dot[M];
  Dots<T, M, kStaged>(walk, p.x, p.k, p.norm, reinterpret_cast<float*>(smem), dot);
  if (!CombineRowParts<P>(dot)) return;
#pragma unroll
  for (int r = 0; r < M; ++r) {
    if (seg[r] >= last) continue;
    if (p.residual != nullptr) dot[r] += kStaged ? residual[r] : p.residual[row[r]];
    Pick(p.y, seg[r])[row[r]] = dot[r];
  }
}

// Blocks an SM ptxas is asked to fit (0: no bound) for the one-part products with x staged (QKV and
// attn_output at Qwen2.5's k = 896). A layer's first product follows the previous layer's ffn_down, whose
// blocks hold most of every SM's registers (Qwen2.5, Q8_0: 448 blocks of 256 threads at 52 registers); at 64
// registers instead of 70-79, a block fits beside three of them, so it starts, and issues its weights,
// before ffn_down ends (programmatic dependent launch) instead of after. H200 (PERF_NOTES.md step 118): tg128
// Q8_0 +2%, Q4_K_M and Q5_K_M +0.5%, Q6_K -0.8% (its layers' Q8_0 QKV took the bound too but found no room
// beside the Q6_K ffn_down's 2-row tiles; the 4-row tiles of step 119 leave it room). Only the types that do
// not spill at 64.
template <WeightType T, int P, bool kStaged>
constexpr int GemvMinBlocks() {
  return P == 1 && kStaged && (T == WeightType::kQ8_0 || T == WeightType::kQ5_0 || T == WeightType::kQ5_1) ? 4 : 0;
}

template <WeightType T, bool kStaged, int P>
__global__ void __launch_bounds__(kWarps * 32, GemvMinBlocks<T, P, kStaged>()) QuantGemvKernel(GemvParams p) {
  QuantGemvTiles<T, kStaged, P>(p, 0, p.count, blockIdx.x);
}

// A vocabulary-sized product (the sampled step's logits): the output projection's 4-row tiles for every type,
// so that each block's staging of x serves twice the rows of a 2-row tile, as in QuantOutputArgmaxKernel.
// A row's sum is the same either way (its lanes' chunks and the warp sum do not depend on the tile's height).
template <WeightType T, bool kStaged, int P>
__global__ void __launch_bounds__(kWarps * 32) QuantLogitsKernel(GemvParams p) {
  QuantGemvTiles<T, kStaged, P, kOutputRowsPerTile>(p, 0, p.count, blockIdx.x);
}

// Two block formats in one launch (x staged, a warp per row): the first `blocks0` blocks take weights
// 0 .. kSplit - 1 (of T0), the others the rest (of T1).
template <WeightType T0, WeightType T1, int kSplit>
__global__ void __launch_bounds__(kWarps * 32, GemvMinBlocks<T0, 1, true>())
    QuantGemvPairKernel(GemvParams p, int blocks0) {
  if (static_cast<int>(blockIdx.x) < blocks0) {
    QuantGemvTiles<T0, true, 1>(p, 0, kSplit, blockIdx.x);
  } else {
    QuantGemvTiles<T1, true, 1>(p, kSplit, p.count, blockIdx.x - blocks0);
  }
}

// Gate rows 0..M/2-1 and the same up rows M/2..M-1 of the tile.
template <WeightType T, bool kStaged, int P>
__global__ void __launch_bounds__(kWarps * 32) QuantGateUpKernel(GateUpParams p) {
  constexpr int M = GateUpRowsPerTile<T>(), H = M / 2;
  extern __shared__ float4 smem4[];
  uint8_t* smem = reinterpret_cast<uint8_t*>(smem4);
  const int warp = threadIdx.x / 32;
  const int tile = blockIdx.x * (kWarps / P) + warp / P;
  const uint8_t* rows[M];
#pragma unroll
  for (int r = 0; r < H; ++r) {
    const int row = min(tile * H + r, p.n - 1);
    rows[r] = RowOf<T>(p.w_gate, row, p.k);
    rows[H + r] = RowOf<T>(p.w_up, row, p.k);
  }
  TileWalk<T, M> walk;
  walk.Start(rows, p.k, warp % P, P, WarpSlots<T, M, kStaged>(smem, p.k, P));
  AllowDependentLaunch();
  float gu[M];
  Dots<T, M, kStaged>(walk, p.x, p.k, p.norm, reinterpret_cast<float*>(smem), gu);
  if (!CombineRowParts<P>(gu)) return;
#pragma unroll
  for (int r = 0; r < H; ++r) {
    if (tile * H + r < p.n) p.y[tile * H + r] = Silu(gu[r]) * gu[H + r];
  }
}

// Tiles of M rows, one (value, index) partial per block of kWarps tiles.
template <WeightType T, bool kStaged>
__global__ void __launch_bounds__(kWarps * 32) QuantOutputArgmaxKernel(OutputArgmaxParams p) {
  constexpr int M = kOutputRowsPerTile;
  extern __shared__ float4 smem4[];
  uint8_t* smem = reinterpret_cast<uint8_t*>(smem4);
  const int first = (blockIdx.x * kWarps + threadIdx.x / 32) * M;
  const uint8_t* rows[M];
#pragma unroll
  for (int r = 0; r < M; ++r) rows[r] = RowOf<T>(p.w, min(first + r, p.n - 1), p.k);
  TileWalk<T, M> walk;
  walk.Start(rows, p.k, 0, 1, WarpSlots<T, M, kStaged>(smem, p.k, 1));
  AllowDependentLaunch();
  float dot[M];
  Dots<T, M, kStaged>(walk, p.x, p.k, NormPrologue{}, reinterpret_cast<float*>(smem), dot);
  float best = -FLT_MAX;
  int best_row = first;
#pragma unroll
  for (int r = 0; r < M; ++r) {
    if (first + r < p.n && dot[r] > best) best = dot[r], best_row = first + r;  // Ties keep the first row.
  }
  BlockArgmaxPartial(best, best_row, p);
}

// Rows must be whole blocks, and the weights 16-byte aligned (the copies read aligned spans).
template <WeightType T>
bool Readable(int k, std::initializer_list<const void*> weights) {
  for (const void* w : weights) {
    if (reinterpret_cast<uintptr_t>(w) % 16 != 0) return false;
  }
  return k > 0 && k % QuantTraits<T>::kElements == 0;
}

// Warps per row: enough that no warp walks more than one round, within whole blocks. (Splitting further so
// that small products fill every multiprocessor was slower: 896 x 896 Q8_0 2.3 -> 4.0 us on an H200, the
// block barrier of the split and a whole staged x per block costing more than the idle SMs.) Then, from 4
// parts (the case measured: 8 -> 4), half as many, two rounds a warp, where the grid of `tiles` tiles still
// has a block per SM: every block stages all of x, so ffn_down (k = 4864 in 8 parts, a block per Q8_0 tile
// of 2 rows) read twice its weights' bytes in x. H200, tg128: Q8_0 1668 -> 1721 (PERF_NOTES.md, step 39).
// Only for the 32-element blocks: halved, Q6_K's ffn_down (19 super-blocks a row, so 5 a part and a short
// second round) was the slower: tg128 Q6_K 1877 -> 1900 and Q4_K_M 1902 -> 1915 at 8 parts (step 103).
template <WeightType T>
int QuantPartsFor(int k, int tiles) {
  const int blocks_per_row = k / QuantTraits<T>::kElements;
  int parts = 1;
  while (parts < kWarps && parts * 2 <= blocks_per_row && k / 32 / parts > 32) parts *= 2;
  if (QuantTraits<T>::kElements == 32 && parts >= 4 && k / 32 / (parts / 2) <= 64 &&
      tiles / (2 * kWarps / parts) >= SmCount()) {
    parts /= 2;
  }
  return parts;
}

// Launches with `smem` bytes of dynamic shared memory. The default limit is 48 KB including the kernel's
// static shared memory (a few hundred bytes here), so the limit is raised a little before that.
template <typename Kernel, typename... Args>
cudaError_t LaunchWithSmem(Kernel kernel, int blocks, size_t smem, cudaStream_t stream, const Args&... args) {
  if (smem + 1024 > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (e != cudaSuccess) return e;
  }
  return Launch(kernel, blocks, kWarps * 32, smem, stream, args...);
}

// Instantiates `kernel` for the quantized type, staging (x up to kMaxQuantStagedK floats) and warps per
// row (QuantPartsFor), over tiles_of_m(M) tiles of rows_per_tile<T>() rows M.
#define GGRT_LAUNCH_QUANT_FAMILY(kernel, rows_per_tile, params, tiles_of_m, ...)                               \
  GGRT_DISPATCH_QUANT(params.type, T, {                                                                        \
    if (!Readable<T>(params.k, {__VA_ARGS__})) return cudaErrorInvalidValue;                                   \
    const bool staged = params.k <= kMaxQuantStagedK;                                                          \
    constexpr int M = rows_per_tile<T>();                                                                      \
    const int tiles = tiles_of_m(M);                                                                           \
    ByParts(QuantPartsFor<T>(params.k, tiles), [&](auto parts_tag) {                                           \
      constexpr int P = decltype(parts_tag)::value;                                                            \
      const int blocks = (tiles + kWarps / P - 1) / (kWarps / P);                                              \
      const size_t slots = SlotBytes<T, M>(params.k, P);                                                       \
      launched = staged ? LaunchWithSmem(kernel<T, true, P>, blocks, slots + StagedXBytes(params.k), stream,   \
                                         params)                                                               \
                        : LaunchWithSmem(kernel<T, false, P>, blocks, slots, stream, params);                  \
    });                                                                                                        \
  })

// Weights first .. last - 1 of p as a product of their own, of type `type`.
GemvParams Part(const GemvParams& p, int first, int last, WeightType type) {
  GemvParams q = p;
  q.type = type;
  q.count = last - first;
  for (int i = 0; i < q.count; ++i) q.w[i] = p.w[first + i], q.y[i] = p.y[first + i], q.n[i] = p.n[first + i];
  q.other_from = 3;
  return q;
}

// a's weights, then b's, as one product of a.type and b.type (b's from a.count on).
GemvParams Join(const GemvParams& a, const GemvParams& b) {
  GemvParams q = a;
  for (int i = 0; i < b.count; ++i) q.w[a.count + i] = b.w[i], q.y[a.count + i] = b.y[i], q.n[a.count + i] = b.n[i];
  q.count = a.count + b.count;
  q.other_from = a.count;
  q.other_type = b.type;
  return q;
}

template <WeightType T>
using TypeTag = std::integral_constant<WeightType, T>;

// The pairs of block formats that share a launch, as llama-quantize's mixes pair q and k with v: Q2_K with
// Q3_K or Q4_K, Q3_K_M's Q3_K with Q4_K or Q5_K, Q4_K_M's and Q5_K_M's Q4_K and Q5_K with Q6_K, and their
// fallbacks for rows that are no whole super-blocks (Q5_0 and Q5_1 with Q8_0). `go(T0, T1)` is called with
// the pair in its listed order, if {a, b} is one.
template <typename F>
bool ForPair(WeightType a, WeightType b, F&& go) {
  auto pair = [&](auto t0, auto t1) {
    constexpr WeightType T0 = decltype(t0)::value, T1 = decltype(t1)::value;
    if ((a == T0 && b == T1) || (a == T1 && b == T0)) {
      go(t0, t1);
      return true;
    }
    return false;
  };
  using W = WeightType;
  return pair(TypeTag<W::kQ2_K>{}, TypeTag<W::kQ3_K>{}) || pair(TypeTag<W::kQ2_K>{}, TypeTag<W::kQ4_K>{}) ||
         pair(TypeTag<W::kQ3_K>{}, TypeTag<W::kQ4_K>{}) || pair(TypeTag<W::kQ3_K>{}, TypeTag<W::kQ5_K>{}) ||
         pair(TypeTag<W::kQ4_K>{}, TypeTag<W::kQ6_K>{}) || pair(TypeTag<W::kQ5_K>{}, TypeTag<W::kQ6_K>{}) ||
         pair(TypeTag<W::kQ5_0>{}, TypeTag<W::kQ8_0>{}) || pair(TypeTag<W::kQ5_1>{}, TypeTag<W::kQ8_0>{});
}

// Two block formats (p.type, then p.other_type from p.other_from): one launch where the pair has a kernel and
// each type's rows take a warp per row with x staged (short rows: the q, k, v of small models), else one launch
// per type. Both give the same results: each row's sum is its type's.
cudaError_t LaunchQuantGemvMixed(const GemvParams& p, cudaStream_t stream) {
  const GemvParams a = Part(p, 0, p.other_from, p.type), b = Part(p, p.other_from, p.count, p.other_type);
  cudaError_t launched = cudaErrorNotSupported;
  ForPair(p.type, p.other_type, [&](auto t0, auto t1) {
    constexpr WeightType T0 = decltype(t0)::value, T1 = decltype(t1)::value;
    const GemvParams q = p.type == T0 ? p : Join(b, a);  // The pair's first type first.
    int rows0 = 0, rows1 = 0;
    for (int i = 0; i < q.count; ++i) (i < q.other_from ? rows0 : rows1) += q.n[i];
    constexpr int M0 = RowsPerTile<T0>(), M1 = RowsPerTile<T1>();
    const int tiles0 = (rows0 + M0 - 1) / M0, tiles1 = (rows1 + M1 - 1) / M1;
    if (q.k > kMaxQuantStagedK || q.residual != nullptr || QuantPartsFor<T0>(q.k, tiles0) != 1 ||
        QuantPartsFor<T1>(q.k, tiles1) != 1 || (q.other_from != 1 && q.other_from != 2) ||
        !Readable<T0>(q.k, {q.w[0], q.other_from > 1 ? q.w[1] : nullptr}) ||
        !Readable<T1>(q.k, {q.w[q.other_from], q.other_from + 1 < q.count ? q.w[q.other_from + 1] : nullptr})) {
      return;
    }
    const int blocks0 = (tiles0 + kWarps - 1) / kWarps, blocks1 = (tiles1 + kWarps - 1) / kWarps;
    const size_t smem = StagedXBytes(q.k) + std::max(SlotBytes<T0>(q.k, 1), SlotBytes<T1>(q.k, 1));
    launched = q.other_from == 1
                   ? LaunchWithSmem(QuantGemvPairKernel<T0, T1, 1>, blocks0 + blocks1, smem, stream, q, blocks0)
                   : LaunchWithSmem(QuantGemvPairKernel<T0, T1, 2>, blocks0 + blocks1, smem, stream, q, blocks0);
  });
  if (launched != cudaErrorNotSupported) return launched;
  const cudaError_t e = LaunchQuantGemv(a, stream);
  return e != cudaSuccess ? e : LaunchQuantGemv(b, stream);
}

}  // namespace

// Norm weights are f32, as GGUF files store them.
cudaError_t LaunchQuantGemv(const GemvParams& p, cudaStream_t stream) {
  if (p.type == WeightType::kQ8_0R) return LaunchQ8_0RowsGemv(p, stream);
  if (p.norm.weight != nullptr && p.norm.type != WeightType::kF32) return cudaErrorInvalidValue;
  if (p.other_from < p.count && p.other_type != p.type) {
    if (p.other_from < 1 || !IsQuantized(p.other_type)) return cudaErrorInvalidValue;
    return LaunchQuantGemvMixed(p, stream);
  }
  int rows = 0;
  for (int i = 0; i < p.count; ++i) rows += p.n[i];
  cudaError_t launched = cudaErrorInvalidValue;
  if (p.count == 1 && rows >= kLogitsRows) {
    GGRT_LAUNCH_QUANT_FAMILY(QuantLogitsKernel, OutputRowsPerTile, p, [&](int m) { return (rows + m - 1) / m; },
                             p.w[0]);
    return launched;
  }
  GGRT_LAUNCH_QUANT_FAMILY(QuantGemvKernel, RowsPerTile, p, [&](int m) { return (rows + m - 1) / m; }, p.w[0],
                           p.count > 1 ? p.w[1] : nullptr, p.count > 2 ? p.w[2] : nullptr);
  return launched;
}

cudaError_t LaunchQuantGateUpSwiglu(const GateUpParams& p, cudaStream_t stream) {
  if (p.norm.weight != nullptr && p.norm.type != WeightType::kF32) return cudaErrorInvalidValue;
  cudaError_t launched = cudaErrorInvalidValue;
  GGRT_LAUNCH_QUANT_FAMILY(QuantGateUpKernel, GateUpRowsPerTile, p,
                           [&](int m) { return (p.n + m / 2 - 1) / (m / 2); }, p.w_gate, p.w_up);
  return launched;
}

int QuantOutputArgmaxPartials(const OutputArgmaxParams& p) {
  if (p.type == WeightType::kQ8_0R) return Q8_0RowsGrid(p.n);
  return (p.n + kWarps * kOutputRowsPerTile - 1) / (kWarps * kOutputRowsPerTile);
}

cudaError_t LaunchQuantOutputArgmax(const OutputArgmaxParams& p, cudaStream_t stream) {
  if (p.type == WeightType::kQ8_0R) return LaunchQ8_0RowsOutputArgmax(p, stream);
  cudaError_t launched = cudaErrorInvalidValue;
  GGRT_DISPATCH_QUANT(p.type, T, {
    if (!Readable<T>(p.k, {p.w})) return cudaErrorInvalidValue;
    const int blocks = QuantOutputArgmaxPartials(p);
    launched = p.k <= kMaxQuantStagedK
                   ? LaunchWithSmem(QuantOutputArgmaxKernel<T, true>, blocks,
                                    SlotBytes<T, kOutputRowsPerTile>(p.k, 1) + StagedXBytes(p.k), stream, p)
                   : LaunchWithSmem(QuantOutputArgmaxKernel<T, false>, blocks, SlotBytes<T, kOutputRowsPerTile>(p.k, 1),
                                    stream, p);
  });
  return launched;
}

}  // namespace ggrt::cuda
