// Launchers for the small kernels: embedding gather, adds, SwiGLU, last row, argmax, activation conversion
// for cuBLASLt, and the step that advances the device-side token and position.
#ifndef GGRT_OPS_CUDA_ELEMENTWISE_H_
#define GGRT_OPS_CUDA_ELEMENTWISE_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "ops/cuda/types.h"

namespace ggrt::cuda {

struct EmbeddingParams {
  const int32_t* tokens;  // [rows], device
  int rows;
  const void* table;  // [vocab, dim] of `type`
  WeightType type;
  int dim;
  float* out;  // [rows, dim]
  float scale = 1.0f;  // Rows are multiplied by it (Gemma).
};
cudaError_t LaunchEmbedding(const EmbeddingParams& p, cudaStream_t stream);

// Rows of a quantized matrix [rows, k] decoded to f16 (the prefill products' weight tile for cuBLASLt).
struct DequantizeParams {
  const void* src;  // [rows, k] of `type` (a GGUF block format)
  WeightType type;
  int64_t rows;
  int k;
  void* dst;  // [rows, k] f16
};
cudaError_t LaunchDequantize(const DequantizeParams& p, cudaStream_t stream);

struct AddParams {
  const float* a;     // [rows, cols]
  const void* b;      // [rows, cols] f32, or a [cols] bias of `bias_type` when `bias` is set
  bool bias;
  WeightType bias_type;
  int rows;
  int cols;
  float* out;
};
cudaError_t LaunchAdd(const AddParams& p, cudaStream_t stream);

struct SwigluParams {
  const float* gate;
  const float* up;
  int64_t n;
  float* out;  // silu(gate) * up, or gelu(gate) * up with `gelu`; or null with out16
  bool gelu = false;  // The tanh approximation (GeGLU).
  // Optional: the same rounded to out16_type (f16 or bf16) as LaunchConvert rounds it (the next prefill
  // product's cuBLASLt input).
  void* out16 = nullptr;
  WeightType out16_type = WeightType::kF16;
};
cudaError_t LaunchSwiglu(const SwigluParams& p, cudaStream_t stream);

// out = cap * tanh(x / cap), n elements (Gemma 2's final logits).
cudaError_t LaunchSoftcap(const float* x, int64_t n, float cap, float* out, cudaStream_t stream);

// The rows that predict: x is `sequences` spans of `span` rows of `cols` floats; row b of y is row last[b] of
// span b, or the span's last row without `last` (a prefill's last position).
struct LastRowsParams {
  const float* x;  // [sequences * span, cols]
  int cols;
  int span;
  int sequences;
  const int32_t* last;  // [sequences] on the device, or null
  float* y;             // [sequences, cols]
};
cudaError_t LaunchLastRows(const LastRowsParams& p, cudaStream_t stream);

// Index of the largest of n values (first on ties), written to token[row]. One block per row, or, with
// `scratch`, a row split over blocks whose last one to finish picks among their winners (a batched step's
// logits: one block would read a whole 150k-entry row alone). The winner does not depend on the split.
struct ArgmaxParams {
  const float* values;     // [rows, n]
  const int32_t* indices;  // Optional: the index each value stands for (partials of a split argmax; one row).
  int n;
  int32_t* token;          // [rows]
  int rows = 1;
  void* scratch = nullptr;  // ArgmaxScratchBytes(rows, n), zero-filled once; left reusable. Not with indices.
};
int64_t ArgmaxScratchBytes(int rows, int n);
cudaError_t LaunchArgmax(const ArgmaxParams& p, cudaStream_t stream);

// f32 activations -> f16/bf16 (the cuBLASLt A/B type of the weights).
cudaError_t LaunchConvert(const float* src, int64_t n, WeightType type, void* dst, cudaStream_t stream);

// After a step: tokens[0] = *next_token (when given) and *pos += step, all on the device, so a captured
// decode graph feeds itself. With `host_ring` (mapped pinned memory, two slots) the token is also written
// to host_ring[old *pos % 2], where the host reads it without a copy node, even while the next step runs.
struct AdvanceParams {
  const int32_t* next_token;
  int32_t* tokens;
  int32_t* pos;
  int step;
  int32_t* host_ring = nullptr;
};
cudaError_t LaunchAdvance(const AdvanceParams& p, cudaStream_t stream);

// The same after a batched decode step (rows ops/kv_pages.h records of `pos_stride` ints): each live row's
// token becomes its next input at its next position, and enters its sampler window (sampler.h's ring keyed
// by position), so that the captured step can run again with no upload. A row whose next position has no
// page in its table (entries past the sequence's pages are -1) is masked instead (position -1). Every row's
// token is also written to ring[slot * ring_stride + r] (mapped pinned memory), the slot being the parity of
// *steps, which the launch then advances: the host reads step s's tokens while step s + 1 runs. One block.
struct BatchAdvanceParams {
  const int32_t* next_tokens;  // [rows]
  int32_t* tokens;             // [rows]: the step's %tokens input
  int32_t* pos;                // [rows, pos_stride]: the %pos records
  int pos_stride;
  int rows;                    // <= 1024
  int32_t* ring;               // [2, ring_stride]
  int ring_stride;
  int32_t* steps;              // Device: batched steps run so far.
  int32_t* windows = nullptr;  // Optional: [rows, window] rings and [rows] lengths (sampler.h)
  int32_t* window_lens = nullptr;
  int window = 0;
};
cudaError_t LaunchBatchAdvance(const BatchAdvanceParams& p, cudaStream_t stream);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_ELEMENTWISE_H_
