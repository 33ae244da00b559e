// CPU reference: rotary position embedding, KV-cache writes, and the fused bias + RoPE + cache write.
//
// Row s of x [rows, heads * head_dim] is at position pos + s. For pair i < dims/2 the angle is (pos + s) * freq_scale *
// theta^(-2i/dims) / freq_factors[i] (ggml's rope_ext without YaRN); the normal layout rotates (2i, 2i+1), NeoX rotates
// (i, i + dims/2). Head dimensions from `dims` on pass through.
#ifndef GGRT_OPS_CPU_ROPE_H_
#define GGRT_OPS_CPU_ROPE_H_

#include <cstdint>

namespace ggrt::cpu {

struct RopeParams {
  float theta;
  int dims;
  int head_dim;
  bool neox;
  float freq_scale = 1.0f;
  const float* freq_factors = nullptr;  // [dims / 2], or null for all ones.
};

// In place on x [rows, heads * head_dim].
void Rope(const RopeParams& p, float* x, int rows, int heads, int pos);

// The cache row of position pos + s (through the block table, ops/kv_pages.h) = x[s, :] for s < rows; cache
// rows have `cols` floats. With `f16` the values are rounded to half precision, as an f16 cache holds them.
void KvWrite(const float* x, int rows, int cols, int pos, const int32_t* block_table, bool f16, float* cache);

// q_out = rope(q + bq); k_cache[pos..] = rope(k + bk); v_cache[pos..] = v + bv. Biases may be null.
struct BiasRopeParams {
  RopeParams rope;
  int rows;
  int q_heads;
  int kv_heads;
  int pos;
  const int32_t* block_table;
  bool f16_cache;
};
void BiasRopeKv(const BiasRopeParams& p, const float* q, const float* k, const float* v, const float* bq,
                const float* bk, const float* bv, float* q_out, float* k_cache, float* v_cache);

}  // namespace ggrt::cpu

#endif  // GGRT_OPS_CPU_ROPE_H_
