// Causal flash attention for prefill: tensor-core (mma.sync m16n8k16, f16 in, f32 accumulate) online softmax over the
// paged f16 KV cache. A batched prefill's sequences are the grid's z axis, each block working within one sequence's
// span of rows exactly as that sequence's own prefill would.
//
// Rows of the M dimension are (position, query head) pairs of one KV head's group, so every K/V tile loaded serves all
// the query heads that share it (GQA). A block of 4 warps takes 64 such rows: it stages their q (scaled, in f16) in
// shared memory once, then walks the keys its rows can see one page (32 positions) at a time: K and V rows of the page
// are copied to shared memory with 16-byte cp.async (the next page's while this one is used), each warp computes its 16
// rows x 32 keys of scores with mma, masks them (causal, sliding window), soft-caps them when asked, updates its
// running max and sum in registers, and multiplies the f16 probabilities by V with mma into an f32 accumulator of 16 x
// head_dim (the V fragments come transposed out of shared memory by ldmatrix, four 8x8 blocks an instruction; q's
// fragments stay in registers up to head size 128). Scores never reach memory, so the cost grows with the work (rows x
// keys) rather than with rows x context traffic, as it does for the flash-decoding kernel.
//
// Shared memory: q [64][D + 8], and two pages' K and V [32][D + 8] halves (the padding makes the fragment loads
// conflict-free), so that the next page's copies (cp.async) are in flight while the block multiplies this one; for D =
// 256 that is 99 KiB, opted into at launch.
#include <cfloat>

#include "ops/cuda/common.cuh"
#include "ops/cuda/flash_attention.h"
#include "ops/cuda/mma.cuh"

namespace ggrt::cuda {
namespace {

constexpr int kRowsPerBlock = 64;  // 4 warps x 16 rows
constexpr int kWarps = 4;
constexpr int kKeys = kKvPageSize;  // Keys per step: one page.

// Rows of each sequence: a batched prefill's span, or all the rows of a prefill.
__host__ __device__ inline int SpanOf(const AttentionParams& p) { return p.pos_stride > 0 ? p.pos_span : p.rows; }

template <int D>
__global__ void __launch_bounds__(kWarps * 32) FlashAttentionKernel(AttentionParams p) {
  constexpr int kStride = D + 8;  // halves per shared row
  extern __shared__ __align__(16) __half smem[];
  __half* q_s = smem;                           // [64][kStride]
  __half* k_s = q_s + kRowsPerBlock * kStride;  // Two buffers of a page's K [32][kStride] then V [32][kStride]
  AllowDependentLaunch();
  GridDependencyWait();

  const int group = p.heads / p.kv_heads;
  const int kv_head = blockIdx.y;
  // A batched prefill: blockIdx.z is the sequence, whose rows are its span of the activations.
  const int span = SpanOf(p);
  const int64_t seq_row0 = static_cast<int64_t>(blockIdx.z) * span;
  const int total = span * group;  // (position, head) rows of this KV head
  const int row0 = blockIdx.x * kRowsPerBlock;
  const int pos0 = RowPosition(p.pos, p.pos_stride, seq_row0, span);
  const int32_t* table = RowBlockTable(p.block_table, p.pos_stride, seq_row0, span);
  const float* q_seq = p.q + seq_row0 * p.heads * D;
  float* out_seq = p.out + seq_row0 * p.heads * D;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, tig = lane % 4;

  // q of the block's rows, scaled, as f16. Row v is position v / group, head kv_head * group + v % group.
  for (int i = threadIdx.x; i < kRowsPerBlock * (D / 2); i += blockDim.x) {
    const int r = i / (D / 2), c = 2 * (i % (D / 2));
    const int v = row0 + r;
    float x0 = 0.0f, x1 = 0.0f;
    if (v < total) {
      const float* q = q_seq + (static_cast<int64_t>(v / group) * p.heads + kv_head * group + v % group) * D + c;
      x0 = q[0] * p.scale, x1 = q[1] * p.scale;
    }
    *reinterpret_cast<__half2*>(q_s + r * kStride + c) = __floats2half2_rn(x0, x1);
  }

  // The keys the block's rows can see.
  const int last_row = min(total, row0 + kRowsPerBlock) - 1;
  const int first_position = pos0 + row0 / group, last_position = pos0 + last_row / group;
  int key_begin = 0;
  if (p.window > 0) key_begin = max(0, first_position - p.window + 1) / kKeys * kKeys;
  const int key_end = last_position + 1;

  // This thread's two rows (g and g + 8 of the warp's 16) and their positions.
  int row_pos[2];
  bool row_valid[2];
  for (int h = 0; h < 2; ++h) {
    const int v = row0 + warp * 16 + g + 8 * h;
    row_valid[h] = v < total;
    row_pos[h] = pos0 + v / group;
  }
  float m[2] = {-1e30f, -1e30f}, l[2] = {0.0f, 0.0f};
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

  // Up to head size 128 the warp's q fragments stay in registers for the whole key loop (64 registers at
  // 256 would spill); they are read from shared memory per page otherwise.
  constexpr bool kQInRegisters = D <= 128;
  uint32_t q_frag[kQInRegisters ? D / 16 : 1][4];
  if constexpr (kQInRegisters) {
    __syncthreads();  // q is staged.
#pragma unroll
    for (int k0 = 0; k0 < D; k0 += 16) QFragment(q_s + (warp * 16) * kStride, kStride, k0, g, tig, q_frag[k0 / 16]);
  }

  const __half* kc = static_cast<const __half*>(p.k_cache);
  const __half* vc = static_cast<const __half*>(p.v_cache);
  const int kv_width = p.kv_heads * D;
  // Copies page `key0`'s K and V rows into buffer `b` (cp.async, zero-filled past the newest position, whose
  // rows may be unwritten). The next page's copies are in flight while the block works on this one.
  auto issue = [&](int key0, int b) {
    const int64_t page = KvSlot(table, key0);
    constexpr int kChunks = D / 8;  // 16-byte chunks per row
    __half* kb = k_s + b * 2 * kKeys * kStride;
    __half* vb = kb + kKeys * kStride;
    for (int i = threadIdx.x; i < kKeys * kChunks; i += blockDim.x) {
      const int r = i / kChunks, c = 8 * (i % kChunks);
      const bool in = key0 + r < key_end;
      const int64_t at = in ? (page + r) * kv_width + kv_head * D + c : 0;
      CopyAsync16(kb + r * kStride + c, kc + at, in ? 16 : 0);
      CopyAsync16(vb + r * kStride + c, vc + at, in ? 16 : 0);
    }
    CopyAsyncCommit();
  };
  if (key_begin < key_end) issue(key_begin, 0);
  for (int key0 = key_begin, b = 0; key0 < key_end; key0 += kKeys, b ^= 1) {
    CopyAsyncWaitPending<0>();
    // This page is in every thread's view, and the other buffer (the previous page) is consumed.
    __syncthreads();
    if (key0 + kKeys < key_end) issue(key0 + kKeys, b ^ 1);
    const __half* k_page = k_s + b * 2 * kKeys * kStride;
    const __half* v_page = k_page + kKeys * kStride;

    // Scores of the warp's 16 rows x 32 keys.
    float s[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int k0 = 0; k0 < D; k0 += 16) {
      uint32_t a[4];
      if constexpr (kQInRegisters) {
#pragma unroll
        for (int e = 0; e < 4; ++e) a[e] = q_frag[k0 / 16][e];
      } else {
        QFragment(q_s + (warp * 16) * kStride, kStride, k0, g, tig, a);
      }
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
        const __half* kr = k_page + (n * 8 + g) * kStride + k0 + 2 * tig;
        Mma(s[n], a, *reinterpret_cast<const uint32_t*>(kr), *reinterpret_cast<const uint32_t*>(kr + 8));
      }
    }

    // Mask, soft-cap, move to base 2; then the online softmax and o += P V.
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int h = e / 2;
        const int key = key0 + n * 8 + 2 * tig + e % 2;
        const bool visible = row_valid[h] && key <= row_pos[h] && (p.window <= 0 || key > row_pos[h] - p.window);
        float x = s[n][e];
        if (p.softcap > 0.0f) x = p.softcap * tanhf(x / p.softcap);
        s[n][e] = visible ? x * kLog2e : -INFINITY;
      }
    }
    OnlineSoftmaxStep<kKeys, D>(s, m, l, o);
    AddProbabilitiesTimesV<kKeys, D>(s, v_page, kStride, lane, o);
  }

  // Normalise and store the warp's rows.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (!row_valid[h]) continue;
    const int v = row0 + warp * 16 + g + 8 * h;
    float* out = out_seq + (static_cast<int64_t>(v / group) * p.heads + kv_head * group + v % group) * D;
    const float inv = l[h] > 0.0f ? 1.0f / l[h] : 0.0f;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      *reinterpret_cast<float2*>(out + n * 8 + 2 * tig) = make_float2(o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
    }
  }
}

template <int D>
cudaError_t LaunchFor(const AttentionParams& p, cudaStream_t stream) {
  const size_t smem = sizeof(__half) * (kRowsPerBlock + 4 * kKeys) * (D + 8);
  static const cudaError_t opted =
      cudaFuncSetAttribute(FlashAttentionKernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (opted != cudaSuccess) return opted;
  const int group = p.heads / p.kv_heads;
  const int span = SpanOf(p);
  const dim3 grid((span * group + kRowsPerBlock - 1) / kRowsPerBlock, p.kv_heads, p.rows / span);
  return Launch(FlashAttentionKernel<D>, grid, kWarps * 32, smem, stream, p);
}

}  // namespace

bool FlashAttentionSupports(const AttentionParams& p) {
  // A prefill, or a batched prefill's spans (not a decode step's single rows).
  const bool prefill = p.pos_stride == 0 || (p.pos_span > 1 && p.rows % p.pos_span == 0);
  return p.rows > 1 && prefill && p.f16_cache && !p.rope.enabled && p.heads % p.kv_heads == 0 &&
         (p.head_dim == 64 || p.head_dim == 128 || p.head_dim == 256);
}

cudaError_t LaunchFlashAttention(const AttentionParams& p, cudaStream_t stream) {
  if (!FlashAttentionSupports(p)) return cudaErrorInvalidValue;
  switch (p.head_dim) {
    case 64: return LaunchFor<64>(p, stream);
    case 128: return LaunchFor<128>(p, stream);
    default: return LaunchFor<256>(p, stream);
  }
}

}  // namespace ggrt::cuda
