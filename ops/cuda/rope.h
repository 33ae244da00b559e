// Launchers for RoPE, KV-cache writes and the fused bias + RoPE + KV-cache write. The position is read from
// device memory (`pos`), so a captured graph serves every step.
#ifndef GGRT_OPS_CUDA_ROPE_H_
#define GGRT_OPS_CUDA_ROPE_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "ops/cuda/types.h"
#include "ops/kv_pages.h"

namespace ggrt::cuda {

struct RopeShape {
  float theta;
  int dims;      // Rotated dimensions per head.
  int head_dim;
  bool neox;
};

constexpr int kMaxRopePairs = 128;  // head_dim <= 256.

// theta^(-2i/dims) for each pair, computed once on the host in double and passed by value, so the kernels
// do one double multiply and a range reduction per angle instead of a pow and a double sincos.
struct RopeTable {
  double inv_freq[kMaxRopePairs];
};
// The frequencies are multiplied by `freq_scale` (linear scaling) and divided by `freq_factors[i]` when given
// (Llama 3's rope_freqs, dims/2 values).
RopeTable MakeRopeTable(const RopeShape& shape, float freq_scale = 1.0f, const float* freq_factors = nullptr);

#ifdef __CUDACC__
// sin and cos of position * theta^(-2i/dims): formed in double and reduced to [-pi, pi] in double before a
// float sincos, so positions in the tens of thousands keep the CPU reference's precision.
__device__ __forceinline__ void RopeSinCos(const RopeTable& table, int i, int position, float* s, float* c) {
  const double angle = position * table.inv_freq[i];
  constexpr double kTwoPi = 6.283185307179586;
  sincosf(static_cast<float>(angle - rint(angle / kTwoPi) * kTwoPi), s, c);
}
#endif

struct RopeParams {
  RopeShape rope;
  RopeTable table;
  const float* x;  // [rows, heads * head_dim]
  float* out;      // may equal x
  int rows;
  int heads;
  const int32_t* pos;  // Row s is at position *pos + s,
  int pos_stride = 0;  // or, when > 0, its span's (ops/kv_pages.h RowPosition).
  int pos_span = 1;    // Rows per record when pos_stride > 0: 1 in a decode step.
};
cudaError_t LaunchRope(const RopeParams& p, cudaStream_t stream);

struct KvWriteParams {
  const float* x;  // [rows, cols]
  int rows;
  int cols;
  const int32_t* pos;
  void* cache;  // [slots, cols] of f32, or f16 with `f16`; each row is written at its position
  bool f16;
  const int32_t* block_table;  // Pages of the sequence (ops/kv_pages.h); null: in order.
  int pos_stride = 0;          // > 0: each span of pos_span rows is its own sequence (RowPosition, RowBlockTable).
  int pos_span = 1;
};
cudaError_t LaunchKvWrite(const KvWriteParams& p, cudaStream_t stream);

// q_out = rope(q + bq); k_cache[pos + s] = rope(k + bk); v_cache[pos + s] = v + bv. Biases are optional.
struct BiasRopeKvParams {
  RopeShape rope;
  RopeTable table;
  const float* q;  // [rows, q_heads * head_dim]
  const float* k;  // [rows, kv_heads * head_dim]
  const float* v;
  const void* bq;  // [q_heads * head_dim] of bias_type, or null
  const void* bk;
  const void* bv;
  WeightType bias_type;
  int rows;
  int q_heads;
  int kv_heads;
  const int32_t* pos;
  float* q_out;
  void* k_cache;  // [slots, kv_heads * head_dim], f32 or f16 with `f16_cache`
  void* v_cache;
  bool f16_cache;
  const int32_t* block_table;  // Pages of the sequence (ops/kv_pages.h); null: in order.
  int pos_stride = 0;          // > 0: each span of pos_span rows is its own sequence (RowPosition, RowBlockTable).
  int pos_span = 1;
};
cudaError_t LaunchBiasRopeKv(const BiasRopeKvParams& p, cudaStream_t stream);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_ROPE_H_
