// Token sampling on the host from one row of logits, in llama.cpp's order: repetition penalty, top-k,
// top-p, min-p, temperature, then a draw from a seeded generator. Temperature <= 0 is greedy.
#ifndef GGRT_RUNTIME_SAMPLER_H_
#define GGRT_RUNTIME_SAMPLER_H_

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "absl/types/span.h"

namespace ggrt {

struct SamplerOptions {
  float temperature = 0.8f;
  int top_k = 40;          // <= 0: off.
  float top_p = 0.95f;     // >= 1: off.
  float min_p = 0.05f;     // <= 0: off.
  float repeat_penalty = 1.0f;  // 1: off.
  int repeat_last_n = 64;
  uint64_t seed = 0;

  bool greedy() const { return temperature <= 0.0f && repeat_penalty == 1.0f; }
  bool operator==(const SamplerOptions&) const = default;
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options) : options_(options), rng_(options.seed) {}

  int32_t Sample(absl::Span<const float> logits);
  // Records a token (prompt or generated) for the repetition penalty.
  void Accept(int32_t token);

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace ggrt

#endif  // GGRT_RUNTIME_SAMPLER_H_
