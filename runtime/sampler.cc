#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>

namespace ggrt {

void Sampler::Accept(int32_t token) {
  if (options_.repeat_last_n <= 0) return;
  recent_.push_back(token);
  while (static_cast<int>(recent_.size()) > options_.repeat_last_n) recent_.pop_front();
}

int32_t Sampler::Sample(absl::Span<const float> logits) {
  if (options_.greedy() && !logits.empty()) {
    // Greedy without a penalty: the first largest logit, as the ordering below picks it, without building
    // the candidates (a 150k vocabulary's are ~1 MB per token).
    size_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i) {
      if (logits[i] > logits[best]) best = i;
    }
    return static_cast<int32_t>(best);
  }
  candidates_.clear();
  candidates_.reserve(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) candidates_.push_back({logits[i], static_cast<int32_t>(i)});
  if (options_.repeat_penalty != 1.0f) {
    // Each distinct recent token is penalised once, whatever its count.
    std::vector<int32_t> distinct(recent_.begin(), recent_.end());
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (int32_t t : distinct) {
      if (t < 0 || t >= static_cast<int32_t>(logits.size())) continue;
      float& l = candidates_[t].first;
      l = l > 0 ? l / options_.repeat_penalty : l * options_.repeat_penalty;
    }
  }
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  if (options_.temperature <= 0.0f) {
    return std::min_element(candidates_.begin(), candidates_.end(), by_logit)->second;
  }
  size_t keep = candidates_.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < keep) keep = options_.top_k;
  std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), by_logit);
  candidates_.resize(keep);

  // Probabilities at temperature 1 decide the top-p and min-p cut-offs.
  auto softmax = [&](float temperature) {
    std::vector<double> p(candidates_.size());
    const double max_logit = candidates_[0].first;
    double sum = 0;
    for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((candidates_[i].first - max_logit) / temperature);
    for (double& x : p) x /= sum;
    return p;
  };
  std::vector<double> p = softmax(1.0f);
  if (options_.top_p < 1.0f) {
    double cumulative = 0;
    size_t n = 0;
    while (n < p.size()) {
      cumulative += p[n++];
      if (cumulative >= options_.top_p) break;
    }
    candidates_.resize(std::max<size_t>(n, 1));
    p.resize(candidates_.size());
  }
  if (options_.min_p > 0.0f) {
    size_t n = 1;
    while (n < p.size() && p[n] >= options_.min_p * p[0]) ++n;
    candidates_.resize(n);
  }
  p = softmax(options_.temperature);
  std::discrete_distribution<size_t> draw(p.begin(), p.end());
  return candidates_[draw(rng_)].second;
}

}  // namespace ggrt
