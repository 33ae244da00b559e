// CPU reference: RMSNorm, y = x / sqrt(mean(x^2) + eps) * w per row, and the fused residual variant.
#ifndef GGRT_OPS_CPU_RMS_NORM_H_
#define GGRT_OPS_CPU_RMS_NORM_H_

namespace ggrt::cpu {

// x, out [rows, dim]; w [dim]. out may alias x.
void RmsNorm(const float* x, const float* w, int rows, int dim, float eps, float* out);

// sum = x + r; out = RmsNorm(sum). sum may alias x.
void ResidualRmsNorm(const float* x, const float* r, const float* w, int rows, int dim, float eps, float* sum,
                     float* out);

}  // namespace ggrt::cpu

#endif  // GGRT_OPS_CPU_RMS_NORM_H_
