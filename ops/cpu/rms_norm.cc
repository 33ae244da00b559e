#include "ops/cpu/rms_norm.h"

#include <cmath>

namespace ggrt::cpu {

void RmsNorm(const float* x, const float* w, int rows, int dim, float eps, float* out) {
  for (int s = 0; s < rows; ++s) {
    const float* xs = x + static_cast<long>(s) * dim;
    double ss = 0.0;
    for (int i = 0; i < dim; ++i) ss += static_cast<double>(xs[i]) * xs[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / dim + eps));
    float* o = out + static_cast<long>(s) * dim;
    for (int i = 0; i < dim; ++i) o[i] = xs[i] * scale * w[i];
  }
}

void ResidualRmsNorm(const float* x, const float* r, const float* w, int rows, int dim, float eps, float* sum,
                     float* out) {
  const long n = static_cast<long>(rows) * dim;
  for (long i = 0; i < n; ++i) sum[i] = x[i] + r[i];
  RmsNorm(sum, w, rows, dim, eps, out);
}

}  // namespace ggrt::cpu
