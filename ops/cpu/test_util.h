// Random data for CPU op tests.
#ifndef GGRT_OPS_CPU_TEST_UTIL_H_
#define GGRT_OPS_CPU_TEST_UTIL_H_

#include <random>
#include <vector>

namespace ggrt::cpu {

inline std::vector<float> RandomVector(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace ggrt::cpu

#endif  // GGRT_OPS_CPU_TEST_UTIL_H_
