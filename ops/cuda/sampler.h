// Token sampling on the device: only the chosen id leaves the GPU.
#ifndef GGRT_OPS_CUDA_SAMPLER_H_
#define GGRT_OPS_CUDA_SAMPLER_H_

#include <cstdint>

#include <cuda_runtime_api.h>

namespace ggrt::cuda {

// Lives in device memory; the host rewrites it only when the settings change.
struct SamplerConfig {
  float temperature = 0.8f;  // > 0 (greedy decoding uses argmax instead).
  int top_k = 40;            // <= 0: off (the kMaxSampleCandidates most likely tokens still bound the draw).
  float top_p = 0.95f;       // >= 1: off.
  float min_p = 0.05f;       // <= 0: off.
  uint64_t seed = 0;
  float repeat_penalty = 1.0f;  // 1: off. Each distinct token of the window: logit / p if > 0, else * p.
  int repeat_last_n = 64;       // The window: tokens at the last n positions, <= kMaxRepeatWindow.
};

constexpr int kMaxRepeatWindow = 1024;

// At most this many of the most likely tokens are candidates (top-k is clamped to it).
constexpr int kMaxSampleCandidates = 1024;

struct SampleParams {
  const float* logits;  // [n]
  int n;
  const SamplerConfig* config;  // Device memory.
  const int32_t* pos;           // The first position consumed: with the seed it keys the random draw.
  int32_t* token;
  void* scratch;  // SampleScratchBytes(n): the candidates between the two launches.
  // The tokens this graph consumed (positions *pos .. *pos + seq_len - 1) and the device history of
  // earlier positions (history[q] = token at position q), for the repetition penalty; the launch records
  // the consumed tokens in the history.
  const int32_t* tokens;
  int seq_len;
  int32_t* history;  // [context length]
  // A batched decode step: `rows` sequences, row r sampling logits[r] with config[r] into token[r], keyed by
  // its own position (ops/kv_pages.h RowPosition with `pos_stride`); padding rows (negative positions) are
  // skipped. Its repetition window is a ring keyed by position instead of tokens/history: the token at
  // position q sits at windows[r * kBatchRepeatWindow + q % kBatchRepeatWindow], and the last window_lens[r]
  // positions up to the row's own are filled (so a step that moves a row on writes one entry, never shifts).
  // Each row has its own SampleScratchBytes(n) of scratch.
  int rows = 1;
  int pos_stride = 0;
  const int32_t* windows = nullptr;
  const int32_t* window_lens = nullptr;
};

// The most recent tokens a batched step's row penalises repetitions of.
constexpr int kBatchRepeatWindow = 256;

// Scratch for n logits: kMaxSampleCandidates value/id slots per 1024 logits.
int64_t SampleScratchBytes(int n);

// The host Sampler's chain (repetition penalty, top-k, then top-p and min-p on the temperature-1
// probabilities, then a draw at the temperature) with a counter-based generator: the same seed and
// settings give the same tokens. Two launches: each block's share of the top k, then one block for the
// final choice.
cudaError_t LaunchSample(const SampleParams& p, cudaStream_t stream);

// The uniform number in [0, 1) the sampler draws for (seed, position): Philox4x32-10, exposed for tests.
float SampleUniform(uint64_t seed, uint32_t position);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_SAMPLER_H_
