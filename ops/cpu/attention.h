// CPU reference: causal grouped-query attention over the KV cache.
//
// Row s of q [rows, heads * head_dim] is at position pos + s and attends to positions 0..pos+s (with a sliding window,
// only the last `window` of them), found in the caches' pages through the block table (ops/kv_pages.h). Query head h
// reads KV head h / (heads / kv_heads). Caches are [slots, kv_heads * head_dim]. Scores are scale * q.k, soft-capped to
// softcap * tanh(x / softcap) when softcap > 0.
#ifndef GGRT_OPS_CPU_ATTENTION_H_
#define GGRT_OPS_CPU_ATTENTION_H_

#include <cstdint>

namespace ggrt::cpu {

struct AttentionParams {
  int rows;
  int heads;
  int kv_heads;
  int head_dim;
  int pos;
  float scale;
  float softcap = 0.0f;
  int window = 0;
  const int32_t* block_table = nullptr;
};

void Attention(const AttentionParams& p, const float* q, const float* k_cache, const float* v_cache, float* out);

}  // namespace ggrt::cpu

#endif  // GGRT_OPS_CPU_ATTENTION_H_
