// Launcher for causal flash-attention prefill over the paged f16 KV cache (tensor cores).
#ifndef GGRT_OPS_CUDA_FLASH_ATTENTION_H_
#define GGRT_OPS_CUDA_FLASH_ATTENTION_H_

#include <cuda_runtime_api.h>

#include "ops/cuda/attention.h"

namespace ggrt::cuda {

// Whether FlashAttention handles `p`: several rows over an f16 cache with head_dim 64, 128 or 256.
bool FlashAttentionSupports(const AttentionParams& p);
// The attention of AttentionParams (scratch and splits unused), for the shapes FlashAttentionSupports.
cudaError_t LaunchFlashAttention(const AttentionParams& p, cudaStream_t stream);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_FLASH_ATTENTION_H_
