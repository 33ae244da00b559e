// Causal flash attention for prefill: tensor-core (mma.sync m16n8k16, f16 in, f32 accumulate) online
// softmax over the paged f16 KV cache.
//
// Rows of the M dimension are (position, query head) pairs of one KV head's group, so every K/V tile loaded
// serves all the query heads that share it (GQA). A block of 4 warps takes 64 such rows: it stages their q
// (scaled, in f16) in shared memory once, then walks the keys its rows can see one page (32 positions) at a
// time: K and V rows of the page are copied to shared memory with 16-byte loads, each warp computes its 16
// rows x 32 keys of scores with mma, masks them (causal, sliding window), soft-caps them when asked, updates
// its running max and sum in registers, and multiplies the f16 probabilities by V with mma into an f32
// accumulator of 16 x head_dim (the V fragments come transposed out of shared memory by ldmatrix, four 8x8
// blocks an instruction; q's fragments stay in registers up to head size 128). Scores never reach memory, so the cost grows with the work (rows x keys)
// rather than with rows x context traffic, as it does for the flash-decoding kernel.
//
// Shared memory: q [64][D + 8], K and V [32][D + 8] halves (the padding makes the fragment loads
// conflict-free); for D = 256 that is 64 KiB, opted into at launch.
#include <cfloat>

#include "ops/cuda/common.cuh"
#include "ops/cuda/flash_attention.h"

namespace ggrt::cuda {
namespace {

constexpr int kRowsPerBlock = 64;  // 4 warps x 16 rows
constexpr int kWarps = 4;
constexpr int kKeys = kKvPageSize;  // Keys per step: one page.
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ uint32_t Pack(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Four 8x8 b16 matrices from shared memory, transposed: lanes 8i..8i+7 give the row addresses of matrix i, and
// r[i] receives its elements (2 (lane % 4), lane / 4) and (2 (lane % 4) + 1, lane / 4): from a row-major
// [key][dim] tile, the B fragments of two 8-dim column blocks over 16 keys.
__device__ __forceinline__ void LoadMatrixX4Trans(const __half* row, uint32_t (&r)[4]) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// d[4] += a[4] (16x16, row) * b[2] (16x8, col).
__device__ __forceinline__ void Mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The A fragment (16 rows x 16 dims from k0) of a warp's q rows, rows `stride` halves apart in shared memory.
__device__ __forceinline__ void QFragment(const __half* qw, int stride, int k0, int g, int tig, uint32_t (&a)[4]) {
  a[0] = *reinterpret_cast<const uint32_t*>(qw + g * stride + k0 + 2 * tig);
  a[1] = *reinterpret_cast<const uint32_t*>(qw + (g + 8) * stride + k0 + 2 * tig);
  a[2] = *reinterpret_cast<const uint32_t*>(qw + g * stride + k0 + 8 + 2 * tig);
  a[3] = *reinterpret_cast<const uint32_t*>(qw + (g + 8) * stride + k0 + 8 + 2 * tig);
}

template <int D>
__global__ void __launch_bounds__(kWarps * 32) FlashAttentionKernel(AttentionParams p) {
  constexpr int kStride = D + 8;  // halves per shared row
  extern __shared__ __align__(16) __half smem[];
  __half* q_s = smem;                                // [64][kStride]
  __half* k_s = q_s + kRowsPerBlock * kStride;       // [32][kStride]
  __half* v_s = k_s + kKeys * kStride;               // [32][kStride]
  AllowDependentLaunch();
  GridDependencyWait();

  const int group = p.heads / p.kv_heads;
  const int kv_head = blockIdx.y;
  const int total = p.rows * group;  // (position, head) rows of this KV head
  const int row0 = blockIdx.x * kRowsPerBlock;
  const int pos0 = *p.pos;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, tig = lane % 4;

  // q of the block's rows, scaled, as f16. Row v is position v / group, head kv_head * group + v % group.
  for (int i = threadIdx.x; i < kRowsPerBlock * (D / 2); i += blockDim.x) {
    const int r = i / (D / 2), c = 2 * (i % (D / 2));
    const int v = row0 + r;
    float x0 = 0.0f, x1 = 0.0f;
    if (v < total) {
      const float* q = p.q + (static_cast<int64_t>(v / group) * p.heads + kv_head * group + v % group) * D + c;
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
  for (int key0 = key_begin; key0 < key_end; key0 += kKeys) {
    __syncthreads();  // q is staged / the previous page is consumed.
    const int64_t page = KvSlot(p.block_table, key0);
    constexpr int kChunks = D / 8;  // 16-byte chunks per row
    for (int i = threadIdx.x; i < kKeys * kChunks; i += blockDim.x) {
      const int r = i / kChunks, c = 8 * (i % kChunks);
      const int64_t at = (page + r) * kv_width + kv_head * D + c;
      const bool in = key0 + r < key_end;  // Rows past the newest position may be unwritten.
      const uint4 zero = {0, 0, 0, 0};
      *reinterpret_cast<uint4*>(k_s + r * kStride + c) = in ? *reinterpret_cast<const uint4*>(kc + at) : zero;
      *reinterpret_cast<uint4*>(v_s + r * kStride + c) = in ? *reinterpret_cast<const uint4*>(vc + at) : zero;
    }
    __syncthreads();

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
        const __half* kr = k_s + (n * 8 + g) * kStride + k0 + 2 * tig;
        Mma(s[n], a, *reinterpret_cast<const uint32_t*>(kr), *reinterpret_cast<const uint32_t*>(kr + 8));
      }
    }

    // Mask, soft-cap, move to base 2; the rows' new maxima.
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int h = e / 2;
        const int key = key0 + n * 8 + 2 * tig + e % 2;
        const bool visible = row_valid[h] && key <= row_pos[h] && (p.window <= 0 || key > row_pos[h] - p.window);
        float x = s[n][e];
        if (p.softcap > 0.0f) x = p.softcap * tanhf(x / p.softcap);
        x = visible ? x * kLog2e : -INFINITY;
        s[n][e] = x;
        tile_max[h] = fmaxf(tile_max[h], x);
      }
    }
    float correction[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(0xffffffffu, tile_max[h], 1));
      tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(0xffffffffu, tile_max[h], 2));
      const float m_new = fmaxf(m[h], tile_max[h]);
      correction[h] = exp2f(m[h] - m_new);
      m[h] = m_new;
    }
    float sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[n][e] = exp2f(s[n][e] - m[e / 2]);
        sum[e / 2] += s[n][e];
      }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 1);
      sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 2);
      l[h] = l[h] * correction[h] + sum[h];
    }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= correction[0], o[n][1] *= correction[0];
      o[n][2] *= correction[1], o[n][3] *= correction[1];
    }

    // o += P V: the probabilities are already in the A-fragment layout, two key blocks of 16.
#pragma unroll
    for (int kb = 0; kb < kKeys / 16; ++kb) {
      uint32_t a[4];
      a[0] = Pack(s[2 * kb][0], s[2 * kb][1]);
      a[1] = Pack(s[2 * kb][2], s[2 * kb][3]);
      a[2] = Pack(s[2 * kb + 1][0], s[2 * kb + 1][1]);
      a[3] = Pack(s[2 * kb + 1][2], s[2 * kb + 1][3]);
      // Lane L addresses row L % 16 of the 16 keys, in the dim block n or n + 1 by L / 16.
      const __half* v_row = v_s + (kb * 16 + lane % 16) * kStride + (lane / 16) * 8;
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t b[4];
        LoadMatrixX4Trans(v_row + n * 8, b);
        Mma(o[n], a, b[0], b[1]);
        Mma(o[n + 1], a, b[2], b[3]);
      }
    }
  }

  // Normalise and store the warp's rows.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (!row_valid[h]) continue;
    const int v = row0 + warp * 16 + g + 8 * h;
    float* out = p.out + (static_cast<int64_t>(v / group) * p.heads + kv_head * group + v % group) * D;
    const float inv = l[h] > 0.0f ? 1.0f / l[h] : 0.0f;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      *reinterpret_cast<float2*>(out + n * 8 + 2 * tig) = make_float2(o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
    }
  }
}

template <int D>
cudaError_t LaunchFor(const AttentionParams& p, cudaStream_t stream) {
  const size_t smem = sizeof(__half) * (kRowsPerBlock + 2 * kKeys) * (D + 8);
  static const cudaError_t opted =
      cudaFuncSetAttribute(FlashAttentionKernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (opted != cudaSuccess) return opted;
  const int group = p.heads / p.kv_heads;
  const dim3 grid((p.rows * group + kRowsPerBlock - 1) / kRowsPerBlock, p.kv_heads);
  return Launch(FlashAttentionKernel<D>, grid, kWarps * 32, smem, stream, p);
}

}  // namespace

bool FlashAttentionSupports(const AttentionParams& p) {
  return p.rows > 1 && p.pos_stride == 0 && p.f16_cache && !p.rope.enabled && p.heads % p.kv_heads == 0 &&
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
