#include "ops/cpu/attention.h"

#include <cmath>
#include <vector>

#include "ops/kv_pages.h"

namespace ggrt::cpu {

void Attention(const AttentionParams& p, const float* q, const float* k_cache, const float* v_cache, float* out) {
  const int d = p.head_dim;
  const int kvd = p.kv_heads * d;
  const int group = p.heads / p.kv_heads;
  std::vector<double> scores;
  for (int s = 0; s < p.rows; ++s) {
    const int n = p.pos + s + 1;  // Causal: positions 0..pos+s.
    const int first = p.window > 0 ? std::max(0, n - p.window) : 0;
    scores.assign(n, 0.0);
    for (int h = 0; h < p.heads; ++h) {
      const float* qh = q + (static_cast<long>(s) * p.heads + h) * d;
      const int kvh = h / group;
      double max_score = -INFINITY;
      for (int t = first; t < n; ++t) {
        const float* kt = k_cache + KvSlot(p.block_table, t) * kvd + kvh * d;
        double dot = 0.0;
        for (int i = 0; i < d; ++i) dot += static_cast<double>(qh[i]) * kt[i];
        scores[t] = dot * p.scale;
        if (p.softcap > 0) scores[t] = p.softcap * std::tanh(scores[t] / p.softcap);
        max_score = std::max(max_score, scores[t]);
      }
      double sum = 0.0;
      for (int t = first; t < n; ++t) sum += scores[t] = std::exp(scores[t] - max_score);
      float* o = out + (static_cast<long>(s) * p.heads + h) * d;
      for (int i = 0; i < d; ++i) {
        double acc = 0.0;
        for (int t = first; t < n; ++t) acc += scores[t] * v_cache[KvSlot(p.block_table, t) * kvd + kvh * d + i];
        o[i] = static_cast<float>(acc / sum);
      }
    }
  }
}

}  // namespace ggrt::cpu
