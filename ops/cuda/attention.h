// Launcher for causal grouped-query attention over the paged f16 or f32 KV cache. Prefill over an f16
// cache goes to flash_attention.h; decode steps are split over the KV length (flash-decoding) in one launch:
// blocks compute partial softmax sums per split, and the last block of each (row, head group) to finish
// combines them. f16 caches at head sizes 64 and 128 take a tensor-core kernel (a block per KV head).
#ifndef GGRT_OPS_CUDA_ATTENTION_H_
#define GGRT_OPS_CUDA_ATTENTION_H_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "ops/cuda/rope.h"
#include "ops/cuda/types.h"

namespace ggrt::cuda {

// The bias + RoPE + cache write folded into decode attention: q, k and v are then the raw projections; each
// block rotates its q heads, and one block per KV head stores the newest position's rotated k and biased v
// in the caches.
struct FusedRope {
  bool enabled = false;
  const float* k = nullptr;  // [kv_heads * head_dim], before bias and RoPE
  const float* v = nullptr;
  const void* bq = nullptr;  // Optional biases of bias_type.
  const void* bk = nullptr;
  const void* bv = nullptr;
  WeightType bias_type = WeightType::kF32;
  RopeShape shape{};
  RopeTable table{};
};

struct AttentionParams {
  const float* q;  // [rows, heads * head_dim]
  void* k_cache;   // [slots, kv_heads * head_dim] of f32, or f16 with f16_cache; written only with the RoPE
  void* v_cache;   // folded in
  float* out;  // [rows, heads * head_dim]
  int rows;
  int heads;
  int kv_heads;
  int head_dim;  // <= 256
  float scale;
  const int32_t* pos;  // Row s attends to positions 0..*pos + s.
  int splits;          // Most parts the KV length is cut into (fixed at capture; fewer run at short lengths).
  void* scratch;       // AttentionScratchBytes(...) bytes, zero-filled once before the first launch; the
                       // kernel leaves it reusable.
  FusedRope rope;      // Rows of a batched step or a single row, not a prefill.
  float softcap = 0.0f;  // > 0: scores become softcap * tanh(score / softcap).
  int window = 0;        // > 0: a row sees only its last `window` positions (sliding-window layers).
  bool f16_cache = false;
  const int32_t* block_table = nullptr;  // Pages of the sequence (ops/kv_pages.h); null: in order.
  // > 0: a batched step, each span of pos_span rows its own sequence from its own position with its own
  // table (ops/kv_pages.h RowPosition, RowBlockTable): one row in a decode step, where padding rows (negative
  // positions) are skipped; S in a batched prefill, where each sequence's rows attend as its prefill would.
  int pos_stride = 0;
  int pos_span = 1;
  // Query heads per block: 1, or heads / kv_heads (AttentionGroupSupported), when each K/V tile then serves
  // the whole group (fewer, fuller blocks: a batched step's many rows). Every result is the same either way.
  int group = 1;
  // Decode over an f16 cache at head sizes 64 and 128 (TensorCoreDecodeSupported) takes the tensor-core kernel:
  // a block per KV head and split, f16 q and probabilities, `group` unused. false keeps the CUDA-core kernel.
  bool tensor_cores = true;
  // The tensor-core kernel lets the next kernels launch only after its dependency wait, not as it starts: the
  // lone decode step's choice (PERF_NOTES.md step 120), where it keeps gate/up's weight loads off norm+QKV.
  bool late_launch = false;
};
constexpr int kMaxAttentionGroup = 8;
bool AttentionGroupSupported(int heads, int kv_heads, int head_dim);
int64_t AttentionScratchBytes(int rows, int heads, int head_dim, int splits);
bool TensorCoreDecodeSupported(int heads, int kv_heads, int head_dim, bool f16_cache);
// A split count for the kernel these shapes take that keeps the SMs busy at `ctx` positions without making
// splits trivially short. It must not depend on the batch: the split fixes a row's order of summation.
int ChooseAttentionSplits(int ctx, int heads, int kv_heads, int head_dim, bool f16_cache);
cudaError_t LaunchAttention(const AttentionParams& p, cudaStream_t stream);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_ATTENTION_H_
