// CPU reference: embedding gather, adds, SwiGLU, last row, argmax. Plain loops over f32 rows.
#ifndef GGRT_OPS_CPU_ELEMENTWISE_H_
#define GGRT_OPS_CPU_ELEMENTWISE_H_

#include <cstdint>

namespace ggrt::cpu {

// out[s, :] = scale * table[ids[s], :]; table [vocab, dim]. Ids are checked by the caller.
void Embedding(const int32_t* ids, int rows, const float* table, int dim, float scale, float* out);

// out = a + b for a, b [rows, cols].
void Add(const float* a, const float* b, int rows, int cols, float* out);
// out[s, :] = a[s, :] + bias[:]
void AddBias(const float* a, const float* bias, int rows, int cols, float* out);

inline float Silu(float x) { return x / (1.0f + __builtin_expf(-x)); }
// out = silu(gate) * up, [n] elements.
void Swiglu(const float* gate, const float* up, int64_t n, float* out);

// gelu with the tanh approximation (PyTorch's gelu(approximate="tanh"), Gemma's gelu_pytorch_tanh).
float GeluTanh(float x);
// out = gelu(gate) * up, [n] elements.
void Geglu(const float* gate, const float* up, int64_t n, float* out);

// out = cap * tanh(x / cap), [n] elements.
void Softcap(const float* x, int64_t n, float cap, float* out);

// Index of the largest element (the first one on ties).
int32_t Argmax(const float* x, int n);

}  // namespace ggrt::cpu

#endif  // GGRT_OPS_CPU_ELEMENTWISE_H_
