#include "ops/cpu/matmul.h"

#include "ops/cpu/elementwise.h"

namespace ggrt::cpu {
namespace {

// Accumulates in double, in four independent sums so that the additions pipeline (one chain would wait on
// each add's latency); the rounding of a double sum is far below the float result's.
float Dot(const float* a, const float* b, int k) {
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  int i = 0;
  for (; i + 4 <= k; i += 4) {
    for (int j = 0; j < 4; ++j) acc[j] += static_cast<double>(a[i + j]) * b[i + j];
  }
  for (; i < k; ++i) acc[0] += static_cast<double>(a[i]) * b[i];
  return static_cast<float>((acc[0] + acc[1]) + (acc[2] + acc[3]));
}

}  // namespace

void Matmul(const float* x, const float* w, int rows, int k, int n, float* y) {
  for (int s = 0; s < rows; ++s) {
    for (int j = 0; j < n; ++j) y[static_cast<long>(s) * n + j] = Dot(x + static_cast<long>(s) * k, w + static_cast<long>(j) * k, k);
  }
}

void GateUpSwiglu(const float* x, const float* w_gate, const float* w_up, int rows, int k, int n, float* y) {
  for (int s = 0; s < rows; ++s) {
    const float* xs = x + static_cast<long>(s) * k;
    for (int j = 0; j < n; ++j) {
      const float g = Dot(xs, w_gate + static_cast<long>(j) * k, k);
      const float u = Dot(xs, w_up + static_cast<long>(j) * k, k);
      y[static_cast<long>(s) * n + j] = Silu(g) * u;
    }
  }
}

void MatmulResidual(const float* x, const float* w, const float* r, int rows, int k, int n, float* y) {
  for (int s = 0; s < rows; ++s) {
    for (int j = 0; j < n; ++j) {
      const long at = static_cast<long>(s) * n + j;
      y[at] = r[at] + Dot(x + static_cast<long>(s) * k, w + static_cast<long>(j) * k, k);
    }
  }
}

int32_t OutputArgmax(const float* x, const float* w, int k, int n) {
  int32_t best = 0;
  float best_value = Dot(x, w, k);
  for (int j = 1; j < n; ++j) {
    const float v = Dot(x, w + static_cast<long>(j) * k, k);
    if (v > best_value) best_value = v, best = j;
  }
  return best;
}

}  // namespace ggrt::cpu
