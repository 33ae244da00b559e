// Tensor-core building blocks of the attention kernels (flash_attention.cu, attention.cu): mma.sync
// m16n8k16 with f16 inputs and f32 accumulators, its fragments, and transposed fragment loads.
#ifndef GGRT_OPS_CUDA_MMA_CUH_
#define GGRT_OPS_CUDA_MMA_CUH_

#include <cmath>
#include <cstdint>

#include <cuda_fp16.h>

namespace ggrt::cuda {

// Softmax runs in base 2 (exp2f): scores are scaled by log2(e) once.
constexpr float kLog2e = 1.4426950408889634f;

// Two floats as an f16 pair, `lo` in the low half (the element of the lower column in a fragment).
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

// A warp's online-softmax step over a tile of kKeys keys for its 16 rows (this lane's rows g and g + 8, as
// the mma fragments hold them): `s` holds the tile's scores in base 2 (masked ones -inf) and becomes the
// probabilities; the rows' running max m and sum l advance and the accumulators o are rescaled.
template <int kKeys, int D>
__device__ __forceinline__ void OnlineSoftmaxStep(float (&s)[kKeys / 8][4], float (&m)[2], float (&l)[2],
                                                  float (&o)[D / 8][4]) {
  float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
    for (int e = 0; e < 4; ++e) tile_max[e / 2] = fmaxf(tile_max[e / 2], s[n][e]);
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
}

// o += P V for a warp's 16 rows: the probabilities `s` of kKeys keys are already in the A-fragment layout
// (two key blocks of 16 an mma), and V's rows, `stride` halves apart in shared memory, come transposed out
// of it by ldmatrix.
template <int kKeys, int D>
__device__ __forceinline__ void AddProbabilitiesTimesV(const float (&s)[kKeys / 8][4], const __half* v_s, int stride,
                                                       int lane, float (&o)[D / 8][4]) {
#pragma unroll
  for (int kb = 0; kb < kKeys / 16; ++kb) {
    const uint32_t a[4] = {Pack(s[2 * kb][0], s[2 * kb][1]), Pack(s[2 * kb][2], s[2 * kb][3]),
                           Pack(s[2 * kb + 1][0], s[2 * kb + 1][1]), Pack(s[2 * kb + 1][2], s[2 * kb + 1][3])};
    // Lane L addresses row L % 16 of the 16 keys, in the dim block n or n + 1 by L / 16.
    const __half* v_row = v_s + (kb * 16 + lane % 16) * stride + (lane / 16) * 8;
#pragma unroll
    for (int n = 0; n < D / 8; n += 2) {
      uint32_t b[4];
      LoadMatrixX4Trans(v_row + n * 8, b);
      Mma(o[n], a, b[0], b[1]);
      Mma(o[n + 1], a, b[2], b[3]);
    }
  }
}

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_MMA_CUH_
