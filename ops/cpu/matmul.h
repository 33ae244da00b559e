// CPU reference matrix products with f32 weights stored [out, in] (GGUF layout), accumulating in double.
#ifndef GGRT_OPS_CPU_MATMUL_H_
#define GGRT_OPS_CPU_MATMUL_H_

#include <cstdint>

namespace ggrt::cpu {

// y[s, n] = sum_k x[s, k] * w[n, k]; x [rows, k], w [n, k], y [rows, n].
void Matmul(const float* x, const float* w, int rows, int k, int n, float* y);

// y = silu(x w_gate^T) * (x w_up^T), without storing either product. w_* [n, k].
void GateUpSwiglu(const float* x, const float* w_gate, const float* w_up, int rows, int k, int n, float* y);

// argmax_n of x w^T for one row x [k]; w [n, k]. Keeps a running maximum instead of the n logits.
int32_t OutputArgmax(const float* x, const float* w, int k, int n);

// y = r + x w^T. y may alias r.
void MatmulResidual(const float* x, const float* w, const float* r, int rows, int k, int n, float* y);

}  // namespace ggrt::cpu

#endif  // GGRT_OPS_CPU_MATMUL_H_
