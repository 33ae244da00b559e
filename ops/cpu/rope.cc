#include "ops/cpu/rope.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "base/fp16.h"
#include "ops/kv_pages.h"

namespace ggrt::cpu {

void Rope(const RopeParams& p, float* x, int rows, int heads, int pos) {
  const int half = p.dims / 2;
  for (int s = 0; s < rows; ++s) {
    for (int i = 0; i < half; ++i) {
      const double angle = (pos + s) * static_cast<double>(p.freq_scale) *
                           std::pow(static_cast<double>(p.theta), -2.0 * i / p.dims) /
                           (p.freq_factors != nullptr ? p.freq_factors[i] : 1.0);
      const float c = static_cast<float>(std::cos(angle));
      const float sn = static_cast<float>(std::sin(angle));
      for (int h = 0; h < heads; ++h) {
        float* head = x + (static_cast<long>(s) * heads + h) * p.head_dim;
        const int a = p.neox ? i : 2 * i;
        const int b = p.neox ? i + half : 2 * i + 1;
        const float x0 = head[a], x1 = head[b];
        head[a] = x0 * c - x1 * sn;
        head[b] = x0 * sn + x1 * c;
      }
    }
  }
}

void KvWrite(const float* x, int rows, int cols, int pos, const int32_t* block_table, bool f16, float* cache) {
  for (int s = 0; s < rows; ++s) {
    float* row = cache + KvSlot(block_table, pos + s) * cols;
    for (int c = 0; c < cols; ++c) {
      const float v = x[static_cast<long>(s) * cols + c];
      row[c] = f16 ? Fp16ToFloat(FloatToFp16(v)) : v;
    }
  }
}

void BiasRopeKv(const BiasRopeParams& p, const float* q, const float* k, const float* v, const float* bq,
                const float* bk, const float* bv, float* q_out, float* k_cache, float* v_cache) {
  const int qd = p.q_heads * p.rope.head_dim, kvd = p.kv_heads * p.rope.head_dim;
  std::vector<float> k_rot(static_cast<size_t>(p.rows) * kvd), v_biased(k_rot.size());
  for (int s = 0; s < p.rows; ++s) {
    for (int c = 0; c < qd; ++c) q_out[s * qd + c] = q[s * qd + c] + (bq ? bq[c] : 0.0f);
    for (int c = 0; c < kvd; ++c) {
      k_rot[s * kvd + c] = k[s * kvd + c] + (bk ? bk[c] : 0.0f);
      v_biased[s * kvd + c] = v[s * kvd + c] + (bv ? bv[c] : 0.0f);
    }
  }
  Rope(p.rope, q_out, p.rows, p.q_heads, p.pos);
  Rope(p.rope, k_rot.data(), p.rows, p.kv_heads, p.pos);
  KvWrite(k_rot.data(), p.rows, kvd, p.pos, p.block_table, p.f16_cache, k_cache);
  KvWrite(v_biased.data(), p.rows, kvd, p.pos, p.block_table, p.f16_cache, v_cache);
}

}  // namespace ggrt::cpu
