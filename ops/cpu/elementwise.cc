#include "ops/cpu/elementwise.h"

#include <cmath>
#include <cstring>

namespace ggrt::cpu {

void Embedding(const int32_t* ids, int rows, const float* table, int dim, float scale, float* out) {
  for (int s = 0; s < rows; ++s) {
    const float* row = table + static_cast<int64_t>(ids[s]) * dim;
    float* o = out + static_cast<int64_t>(s) * dim;
    for (int i = 0; i < dim; ++i) o[i] = row[i] * scale;
  }
}

void Add(const float* a, const float* b, int rows, int cols, float* out) {
  const int64_t n = static_cast<int64_t>(rows) * cols;
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void AddBias(const float* a, const float* bias, int rows, int cols, float* out) {
  for (int s = 0; s < rows; ++s) {
    for (int c = 0; c < cols; ++c) out[s * cols + c] = a[s * cols + c] + bias[c];
  }
}

void Swiglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = Silu(gate[i]) * up[i];
}

float GeluTanh(float x) {
  constexpr double kSqrt2OverPi = 0.7978845608028654;
  const double xd = x;
  return static_cast<float>(0.5 * xd * (1.0 + std::tanh(kSqrt2OverPi * (xd + 0.044715 * xd * xd * xd))));
}

void Geglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = GeluTanh(gate[i]) * up[i];
}

void Softcap(const float* x, int64_t n, float cap, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(cap * std::tanh(static_cast<double>(x[i]) / cap));
}

int32_t Argmax(const float* x, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

}  // namespace ggrt::cpu
