// Launcher for the batched decode step's matrix products: Y_i = X W_i^T for a few activation rows (one per
// sequence, 1..256) against f16, bf16 or block-format weights [n, k], on tensor cores, reading every weight
// once per step whatever the batch. It carries the decode GEMV's fusions, so a batched layer takes as many
// launches as a lone one: up to three weights sharing X (fused QKV), an RMSNorm prologue, a residual
// epilogue, and gate/up with SwiGLU.
//
// Row b of the result does not depend on the other rows, nor on how many there are: the tiling and the order
// of every sum are fixed by (n, k) alone, so a sequence gets bit-identical logits alone or in any batch.
#ifndef GGRT_OPS_CUDA_SMALL_BATCH_GEMM_H_
#define GGRT_OPS_CUDA_SMALL_BATCH_GEMM_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "ops/cuda/gemv.h"
#include "ops/cuda/types.h"

namespace ggrt::cuda {

constexpr int kSmallBatchMaxRows = 256;

// The kernel that runs a product: narrow (x staged per block, GEMV-like) or wide (a pipelined GEMM over x
// converted once; f16/bf16 weights). Both give the same bits; kAuto takes the faster for the shape and batch.
enum class SmallBatchPath { kAuto, kNarrow, kWide };

struct SmallBatchGemmParams {
  const float* x;  // [rows, k]
  int rows;        // 1..kSmallBatchMaxRows
  int k;           // A multiple of 32.
  WeightType type;  // f16, bf16, or a GGUF block format (k whole blocks; decoded to f16 as it streams)
  int count;        // Weights sharing x: 1..3 (2 with swiglu).
  const void* w[3];  // [n_i, k], n_i a multiple of 16
  float* y[3];       // [rows, n_i]; with swiglu only y[0], [rows, n_0]
  int n[3];
  NormPrologue norm;                 // x is normalised first when it has a weight.
  const float* residual = nullptr;   // [rows, n_0], added to y[0]; count 1 only.
  bool swiglu = false;               // y[0] = silu(x w_0^T) * (x w_1^T); count 2, n_0 == n_1.
  // SmallBatchGemmScratchBytes bytes, zeroed once. It starts with the split counters (a fixed region that
  // each launch leaves at zero), so products launched one after another may share it.
  void* scratch = nullptr;
};
// 128 bytes: a larger kernel parameter struct made ptxas copy it to local memory and spill (CUDA 13.0).
static_assert(sizeof(SmallBatchGemmParams) <= 128);

// Whether the kernel takes this product (else the caller uses the general GEMM).
bool SmallBatchGemmSupports(const SmallBatchGemmParams& p);
// Scratch for the split counters, the partials of k split over blocks and, on the wide path, x converted
// once per product and, for block formats (Hopper, past 32 rows), their weights decoded to f16 (at most
// 64 MB a product).
int64_t SmallBatchGemmScratchBytes(const SmallBatchGemmParams& p, SmallBatchPath path = SmallBatchPath::kAuto);
cudaError_t LaunchSmallBatchGemm(const SmallBatchGemmParams& p, cudaStream_t stream,
                                 SmallBatchPath path = SmallBatchPath::kAuto);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_SMALL_BATCH_GEMM_H_
