// The lone products over ggrt's kQ8_0R rows (ops/cuda/q8_0_rows.h: a Q8_0 matrix repacked at load, each row
// its k int8 quants, then its k / 32 f16 scales): the vocabulary's, the lone step's logits (with the final
// norm folded in, as the sampled step asks) and the output projection's per-block argmax partials (greedy);
// and a layer's long rows (ffn_down), in Q8_0RowsLayerKernel below.
//
// Layout in registers. A warp takes 8 rows at a time; lane l owns the 16 columns 16 l .. 16 l + 15 and, for
// k > 512, 16 (l + 32) .. (k <= 1024, so at most two 16-byte chunks a row), so its x values stay in registers
// for every row of the product and each row costs the lane one or two 16-byte chunks of quants and one or
// two f16 scales. A block's 8 warps walk one contiguous range of rows, so argmax partials come in row order
// and ties keep the first row, as the block formats' kernel keeps them. A group's 8 row sums take one
// WarpSums (common.cuh: 9 shuffles, where 8 WarpSum take 40; the same bits), which leaves lane l with row
// l / 4: H200, kernel_bench, output + argmax 49.5 -> 45.8 us, logits 37.6 -> 36.3.
//
// Memory pipeline. The logits kernel loads a group's chunks straight into registers, all of them issued
// before the first multiply, and the next group's after it (two blocks an SM, 16 warps). The argmax kernel,
// with the same loads, took 45.8 us where the logits took 36.3 (the schedule ptxas gave it, PERF_NOTES.md step
// 114): its rows reach each warp through a ring of two group slots in shared memory instead (one block an SM,
// 120 KB at k = 896), so the next group is in flight while a warp multiplies one: H200, kernel_bench 45.7 ->
// 37.2 us, tg128 Q8_0 2151 -> 2196 (PERF_NOTES.md step 121). The same ring took the logits 36.3 -> 39.2 us, so
// they keep the registers. Both kernels' sums are the same, in the same order.
//
// Why not the blocks: the file's 34-byte Q8_0 blocks are 2-byte aligned, so the block formats' kernel
// copies them through shared memory and realigns them there; these rows are 16-byte aligned. H200,
// Qwen2.5's 151936 x 896: 57.5 us from the blocks, 41 us from these rows in tools/device/q8_split_probe.cu
// (PERF_NOTES.md, "The sampled step's logits").
#include <algorithm>
#include <cfloat>
#include <climits>

#include "ops/cuda/gemv_common.cuh"
#include "ops/cuda/quant.cuh"

namespace ggrt::cuda {
namespace {

constexpr int kGroupRows = 8;          // Rows a warp multiplies at a time.
constexpr int kLogitsBlocksPerSm = 2;  // 128 registers a thread.
constexpr int kRingSlots = 2;          // Groups an argmax warp's ring holds (H200: three measured the same).
constexpr uint32_t kBiasedZero = 0x80808080u;  // Four zero quants after the bias flip.

// Lane l's x: columns 16 l .. (a) and 16 (l + 32) .. (b), times the norm weight when there is a norm, and
// the norm's row scale (1 without), which each warp reduces for itself: x is at most 1024 floats.
struct LaneX {
  float a[16], b[16];
  float scale;
};

__device__ __forceinline__ float4 LoadLane4(const float* v, bool has, int i) {
  return has ? *reinterpret_cast<const float4*>(v + i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

// After the dependency wait: x (times the norm weights) into the lane's columns and the row scale; x and the
// weights in one round trip.
__device__ __forceinline__ void LoadLaneX(const float* x, int k, const NormPrologue& norm, LaneX& lx) {
  const int lane = threadIdx.x % 32;
  const bool first = 16 * lane < k, second = 16 * (lane + 32) < k;
  const float* g = static_cast<const float*>(norm.weight);
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < 16; i += 4) {
    float4 va = LoadLane4(x, first, 16 * lane + i), vb = LoadLane4(x, second, 16 * (lane + 32) + i);
    ss += va.x * va.x + va.y * va.y + va.z * va.z + va.w * va.w + vb.x * vb.x + vb.y * vb.y + vb.z * vb.z +
          vb.w * vb.w;
    if (g != nullptr) {
      const float4 ga = LoadLane4(g, first, 16 * lane + i), gb = LoadLane4(g, second, 16 * (lane + 32) + i);
      va.x *= ga.x, va.y *= ga.y, va.z *= ga.z, va.w *= ga.w;
      vb.x *= gb.x, vb.y *= gb.y, vb.z *= gb.z, vb.w *= gb.w;
    }
    lx.a[i] = va.x, lx.a[i + 1] = va.y, lx.a[i + 2] = va.z, lx.a[i + 3] = va.w;
    lx.b[i] = vb.x, lx.b[i + 1] = vb.y, lx.b[i + 2] = vb.z, lx.b[i + 3] = vb.w;
  }
  lx.scale = g != nullptr ? rsqrtf(WarpSum(ss) / k + norm.eps) : 1.0f;
}

// sum over 16 quants (one uint4) of q x, the quants flipped to unsigned and the bias taken back per element
// (quant.cuh's DotBytes4, as Q8_0's DotChunk does).
__device__ __forceinline__ float Dot16(const uint4& q, const float (&x)[16]) {
  float s = DotBytes4(q.x ^ kBiasedZero, 128.0f, x, 0.0f);
  s = DotBytes4(q.y ^ kBiasedZero, 128.0f, x + 4, s);
  s = DotBytes4(q.z ^ kBiasedZero, 128.0f, x + 8, s);
  return DotBytes4(q.w ^ kBiasedZero, 128.0f, x + 12, s);
}

// R rows' lane chunks and scales, as a lane multiplies them.
template <int R>
struct Group {
  uint4 qa[R], qb[R];
  uint32_t scales[R];  // The two f16 scales (a low, b high): half the registers of two floats.

  __device__ __forceinline__ float Dot(int r, const LaneX& lx) const {
    return HalfToFloat(scales[r] & 0xffff) * Dot16(qa[r], lx.a) + HalfToFloat(scales[r] >> 16) * Dot16(qb[r], lx.b);
  }
};

// A group from its rows' starts, in the weights (the logits kernel: `load16` a streaming load) or in a ring
// slot (the argmax kernel: a shared-memory load).
template <int R, typename Load16>
__device__ __forceinline__ void LoadGroup(const uint8_t* const (&rows)[R], int k, Load16 load16, Group<R>& g) {
  const int lane = threadIdx.x % 32;
  const bool has_a = 16 * lane < k, has_b = 16 * (lane + 32) < k;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    g.qa[r] = has_a ? load16(rows[r] + 16 * lane) : make_uint4(kBiasedZero, kBiasedZero, kBiasedZero, kBiasedZero);
    g.qb[r] = has_b ? load16(rows[r] + 16 * (lane + 32))
                    : make_uint4(kBiasedZero, kBiasedZero, kBiasedZero, kBiasedZero);
    // Lane l's 16 columns are half of block l / 2.
    const uint32_t sa = has_a ? *reinterpret_cast<const uint16_t*>(rows[r] + k + 2 * (lane / 2)) : 0;
    const uint32_t sb = has_b ? *reinterpret_cast<const uint16_t*>(rows[r] + k + 2 * ((lane + 32) / 2)) : 0;
    g.scales[r] = sa | (sb << 16);
  }
}

// The logits kernel's group of 8 rows from `first`, the last of the block's range repeated past its end.
__device__ __forceinline__ void LoadVocabularyGroup(const uint8_t* w, int k, int first, int end, uint64_t policy,
                                                    Group<kGroupRows>& g) {
  const uint8_t* rows[kGroupRows];
#pragma unroll
  for (int r = 0; r < kGroupRows; ++r) rows[r] = w + min(first + r, end - 1) * Q8_0RowBytes(k);
  LoadGroup(rows, k, [policy](const uint8_t* p) { return LoadStreaming16(p, policy); }, g);
}

// Block b's rows: a contiguous range of whole groups.
__device__ __forceinline__ void BlockRange(int n, int* begin, int* end) {
  const int groups = (n + kGroupRows - 1) / kGroupRows;
  const int per_block = (groups + gridDim.x - 1) / gridDim.x;
  *begin = min(n, static_cast<int>(blockIdx.x) * per_block * kGroupRows);
  *end = min(n, *begin + per_block * kGroupRows);
}

// y = W (x * g) * scale, the logits of a lone step.
__global__ void __launch_bounds__(kWarps * 32, kLogitsBlocksPerSm) Q8_0RowsLogitsKernel(GemvParams p) {
  const uint8_t* w = static_cast<const uint8_t*>(p.w[0]);
  int begin, end;
  BlockRange(p.n[0], &begin, &end);
  const int warp = threadIdx.x / 32;
  const uint64_t policy = EvictFirstPolicy();
  Group<kGroupRows> g;
  int first = begin + warp * kGroupRows;
  if (first < end) LoadVocabularyGroup(w, p.k, first, end, policy, g);  // The weights do not wait for x.
  AllowDependentLaunch();
  GridDependencyWait();
  LaneX lx;
  LoadLaneX(p.x, p.k, p.norm, lx);
  const int lane = threadIdx.x % 32, slot = WarpSumsRow<kGroupRows>(lane);
  for (; first < end; first += kWarps * kGroupRows) {
    float dots[kGroupRows];
#pragma unroll
    for (int r = 0; r < kGroupRows; ++r) dots[r] = g.Dot(r, lx);
    const float dot = WarpSums(dots) * lx.scale;
    if (lane % (32 / kGroupRows) == 0 && first + slot < end) p.y[0][first + slot] = dot;
    if (first + kWarps * kGroupRows < end) LoadVocabularyGroup(w, p.k, first + kWarps * kGroupRows, end, policy, g);
  }
}

// A warp's ring of shared-memory slots, each a group of kGroupRows rows as they lie in the weights (row_bytes
// apart, so a group is one contiguous span), filled with cp.async in 16-byte units, lane l taking units l,
// l + 32, ...: a slot is ready for the warp once every lane's copies have landed and the warp has met
// (__syncwarp). The warp's groups are rows first, first + stride, ...; a group that ends past the block's
// range copies its rows in the range only, and the slot's other rows (stale) give sums nobody keeps.
template <int S>
struct VocabularyRing {
  uint8_t* slots;  // [S][kGroupRows][row_bytes], this warp's.
  const uint8_t* w;
  int k, row_bytes, first, stride, end;
  uint64_t policy;

  // Group i's copies into slot i % S, as one commit group (an empty one past the warp's last group, so that
  // the count of groups in flight stays S - 1).
  __device__ __forceinline__ void Issue(int i) {
    const int row0 = first + i * stride;
    if (row0 < end) {
      uint8_t* slot = slots + (i % S) * kGroupRows * row_bytes;
      const uint8_t* span = w + static_cast<int64_t>(row0) * row_bytes;
      const int bytes = min(kGroupRows, end - row0) * row_bytes;
      // The size is the span's bytes left, capped at 16 (common.cuh: a size known at compile time faults).
      for (int at = 16 * (threadIdx.x % 32); at < bytes; at += 16 * 32) {
        CopyAsync16(slot + at, span + at, min(16, bytes - at), policy);
      }
    }
    CopyAsyncCommit();
  }

  // Group i from its slot, once Issue(i)'s copies have landed in every lane.
  __device__ __forceinline__ void Read(int i, Group<kGroupRows>& g) const {
    const uint8_t* rows[kGroupRows];
#pragma unroll
    for (int r = 0; r < kGroupRows; ++r) rows[r] = slots + ((i % S) * kGroupRows + r) * row_bytes;
    LoadGroup(rows, k, [](const uint8_t* p) { return *reinterpret_cast<const uint4*>(p); }, g);
  }
};

// The block's (value, row) argmax partial of W x; ties keep the lower row. Each warp walks its groups through
// its ring: the first S - 1 groups' copies go out before the dependency wait (the weights do not wait for x),
// then the copies of the group S - 1 ahead of the one it multiplies.
template <int S>
__global__ void __launch_bounds__(kWarps * 32, 1) Q8_0RowsOutputArgmaxKernel(OutputArgmaxParams p) {
  extern __shared__ __align__(16) uint8_t ring_slots[];
  int begin, end;
  BlockRange(p.n, &begin, &end);
  const int warp = threadIdx.x / 32, row_bytes = static_cast<int>(Q8_0RowBytes(p.k));
  VocabularyRing<S> ring{ring_slots + warp * S * kGroupRows * row_bytes, static_cast<const uint8_t*>(p.w), p.k,
                         row_bytes, begin + warp * kGroupRows, kWarps * kGroupRows, end, EvictFirstPolicy()};
  const int groups = ring.first < end ? (end - ring.first + ring.stride - 1) / ring.stride : 0;
#pragma unroll
  for (int i = 0; i < S - 1; ++i) ring.Issue(i);
  AllowDependentLaunch();
  GridDependencyWait();
  LaneX lx;
  LoadLaneX(p.x, p.k, NormPrologue{}, lx);
  // Each lane keeps the best of the rows its WarpSums slot takes (ascending), then the block's lanes meet;
  // their rows interleave, so ties are broken by row (BlockBest), not by slot or warp.
  const int slot = WarpSumsRow<kGroupRows>(threadIdx.x % 32);
  float best = -FLT_MAX;
  int best_row = INT_MAX;
  for (int i = 0; i < groups; ++i) {
    __syncwarp();  // Every lane is done with slot (i - 1) % S, which Issue(i + S - 1) refills.
    ring.Issue(i + S - 1);
    CopyAsyncWaitPending<S - 1>();
    __syncwarp();  // The units other lanes copied.
    Group<kGroupRows> g;
    ring.Read(i, g);
    float dots[kGroupRows];
#pragma unroll
    for (int r = 0; r < kGroupRows; ++r) dots[r] = g.Dot(r, lx);
    const float dot = WarpSums(dots);
    const int row = ring.first + i * ring.stride + slot;
    if (row < end && dot > best) best = dot, best_row = row;
  }
  BlockBest(best, best_row);
  if (threadIdx.x == 0) {
    // A block with no rows (more blocks than groups) offers -FLT_MAX at a row past any other.
    p.partial_values[blockIdx.x] = best;
    p.partial_indices[blockIdx.x] = best_row == INT_MAX ? p.n - 1 : best_row;
  }
}

// y = W x (+ residual) for a layer's product whose rows are too long for the vocabulary kernels' registers
// (k > kQ8_0RowsMaxK: Qwen2.5's ffn_down, k = 4864), in the float GEMV's shape (gemv.cu): each row split over
// P warps, lane l of part j holding chunks 32 (j + P u) + l of the row (16 quants each, and the scale of
// their block) for u < U, so that a round covers the row and goes out whole before the dependency wait; x is
// read in place (from L1) as the chunks are multiplied, and the parts meet in shared memory. The block
// formats' kernel copies the 34-byte blocks through shared memory and stages x there after the wait.
template <int P, int U>
__global__ void __launch_bounds__(kWarps * 32) Q8_0RowsLayerKernel(GemvParams p) {
  const int warp = threadIdx.x / 32;
  const int row = blockIdx.x * (kWarps / P) + warp / P;
  const bool valid = row < p.n[0];
  const uint8_t* w = static_cast<const uint8_t*>(p.w[0]) + static_cast<int64_t>(valid ? row : 0) * Q8_0RowBytes(p.k);
  const int chunks = p.k / 16, stride = 32 * P;
  int base = (warp % P) * 32 + threadIdx.x % 32;
  const uint64_t policy = EvictFirstPolicy();
  uint4 q[U];
  uint16_t d[U];
  const auto load = [&] {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int i = base + u * stride;
      if (i < chunks) {
        q[u] = LoadStreaming16(w + 16 * i, policy);
        d[u] = *reinterpret_cast<const uint16_t*>(w + p.k + 2 * (i / 2));  // Chunk i is half of block i / 2.
      }
    }
  };
  load();  // The weights do not wait for x.
  AllowDependentLaunch();
  GridDependencyWait();
  const float residual = p.residual != nullptr && valid ? p.residual[row] : 0.0f;
  float acc = 0.0f;
  while (true) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int i = base + u * stride;
      if (i < chunks) {
        float xv[16];
#pragma unroll
        for (int e = 0; e < 16; e += 4) {
          const float4 v = *reinterpret_cast<const float4*>(p.x + 16 * i + e);
          xv[e] = v.x, xv[e + 1] = v.y, xv[e + 2] = v.z, xv[e + 3] = v.w;
        }
        acc += HalfToFloat(d[u]) * Dot16(q[u], xv);
      }
    }
    base += stride * U;
    if (base >= chunks) break;
    load();
  }
  float dot = WarpSum(acc);
  if (!CombineParts<P>(&dot) || !valid) return;
  p.y[0][row] = dot + residual;
}

// Rows the vocabulary kernels' lanes hold whole (at most two 16-byte chunks a lane), 16-byte aligned.
bool Q8_0RowsReadable(int k, const void* w) {
  return Q8_0RowsFit(k) && reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

// A layer product's warps a row, P, and chunks a lane, U: the fewest warps whose round of at most four
// chunks a lane covers the row (eight warps, then eight chunks, then more rounds), U no more than the round
// needs: Qwen2.5's ffn_down (304 chunks over 4 warps) at U = 3 holds 52 registers instead of 60, which leaves
// the next layer's QKV blocks room to start beside it (H200: tg128 Q8_0 +0.7%, PERF_NOTES.md step 118).
cudaError_t LaunchQ8_0RowsLayer(const GemvParams& p, cudaStream_t stream) {
  const int chunks = p.k / 16;
  int parts = 1;
  while (parts < kWarps && chunks > parts * 32 * 4) parts *= 2;
  const int per_lane = (chunks + parts * 32 - 1) / (parts * 32);
  cudaError_t launched = cudaErrorInvalidValue;
  auto go = [&](auto parts_tag, auto loads_tag) {
    constexpr int P = decltype(parts_tag)::value, U = decltype(loads_tag)::value;
    launched = Launch(Q8_0RowsLayerKernel<P, U>, (p.n[0] + kWarps / P - 1) / (kWarps / P), kWarps * 32, 0, stream, p);
  };
  auto by_loads = [&](auto parts_tag) {
    if (per_lane <= 2) {
      go(parts_tag, std::integral_constant<int, 2>{});
    } else if (per_lane <= 3) {
      go(parts_tag, std::integral_constant<int, 3>{});
    } else if (per_lane <= 4) {
      go(parts_tag, std::integral_constant<int, 4>{});
    } else {
      go(parts_tag, std::integral_constant<int, 8>{});
    }
  };
  ByParts(parts, by_loads);
  return launched;
}

// A vocabulary kernel's grid: `per_sm` blocks an SM, no more blocks than groups of rows.
int VocabularyGrid(int n, int per_sm) { return std::min(per_sm * SmCount(), (n + kGroupRows - 1) / kGroupRows); }

}  // namespace

int Q8_0RowsGrid(int n) { return VocabularyGrid(n, 1); }

cudaError_t LaunchQ8_0RowsGemv(const GemvParams& p, cudaStream_t stream) {
  if (p.count != 1 || (p.norm.weight != nullptr && p.norm.type != WeightType::kF32)) return cudaErrorInvalidValue;
  if (p.residual == nullptr && Q8_0RowsReadable(p.k, p.w[0])) {
    return Launch(Q8_0RowsLogitsKernel, VocabularyGrid(p.n[0], kLogitsBlocksPerSm), kWarps * 32, 0, stream, p);
  }
  // A layer's product (the runtime repacks no layer matrix that has a norm before it).
  if (p.k % 32 != 0 || p.norm.weight != nullptr || reinterpret_cast<uintptr_t>(p.w[0]) % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  return LaunchQ8_0RowsLayer(p, stream);
}

cudaError_t LaunchQ8_0RowsOutputArgmax(const OutputArgmaxParams& p, cudaStream_t stream) {
  // A block a group of rows at most: no more partials than OutputArgmaxPartials(n) (gemv.h), which the
  // caller's buffer holds.
  if (!Q8_0RowsReadable(p.k, p.w) || p.n < 1) return cudaErrorInvalidValue;
  // kRingSlots where a block's shared memory holds them (k = 1024: 136 KB), else one.
  const int stage = kWarps * kGroupRows * static_cast<int>(Q8_0RowBytes(p.k));
  const bool ring = kRingSlots * stage <= SharedMemoryPerBlock();
  const auto kernel = ring ? Q8_0RowsOutputArgmaxKernel<kRingSlots> : Q8_0RowsOutputArgmaxKernel<1>;
  const int smem = (ring ? kRingSlots : 1) * stage;
  const cudaError_t opted = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (opted != cudaSuccess) return opted;
  return Launch(kernel, Q8_0RowsGrid(p.n), kWarps * 32, smem, stream, p);
}

}  // namespace ggrt::cuda
