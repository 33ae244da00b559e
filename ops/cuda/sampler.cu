// Device sampling in one block of 1024 threads.
//
// 1. Radix select (four 8-bit passes over order-preserving keys of the logits) finds the k-th largest
//    logit, k = min(top_k, 1024); the candidates above it, and enough equal to it, are gathered into shared
//    memory. 2. A bitonic sort orders them (value descending, index ascending: deterministic). 3. One
//    thread applies top-p and min-p to the temperature-1 probabilities, as the host sampler does, and draws
//    at the temperature with Philox4x32-10 keyed by (seed, position). A 151936-entry vocabulary costs four
//    passes of ~150 loads per thread, tens of microseconds, against copying 600 KB of logits to the host.
#include <cfloat>

#include "ops/cuda/common.cuh"
#include "ops/cuda/sampler.h"

namespace ggrt::cuda {
namespace {

constexpr int kThreads = 1024;
static_assert(kMaxSampleCandidates == kThreads, "one candidate per thread in the sort");

// Larger float -> larger key.
__device__ __forceinline__ uint32_t Key(float x) {
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__host__ __device__ inline uint32_t Philox(uint64_t seed, uint32_t position) {
  uint32_t c0 = position, c1 = 0, c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c0;
}

__host__ __device__ inline float ToUniform(uint32_t bits) { return (bits >> 8) * (1.0f / 16777216.0f); }

__global__ void __launch_bounds__(kThreads) SampleKernel(SampleParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const SamplerConfig c = *p.config;
  const int k = min(p.n, c.top_k > 0 ? min(c.top_k, kMaxSampleCandidates) : kMaxSampleCandidates);
  const int tid = threadIdx.x;

  // 1. Radix select of the k-th largest key.
  __shared__ uint32_t hist[256];
  __shared__ uint32_t prefix, mask;
  __shared__ int remaining;  // How many of the k still to find among keys matching prefix under mask.
  if (tid == 0) prefix = 0, mask = 0, remaining = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (tid < 256) hist[tid] = 0;
    __syncthreads();
    for (int i = tid; i < p.n; i += kThreads) {
      const uint32_t key = Key(p.logits[i]);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255], 1u);
    }
    __syncthreads();
    if (tid == 0) {
      int above = 0;
      for (int b = 255; b >= 0; --b) {
        if (above + static_cast<int>(hist[b]) >= remaining) {
          remaining -= above;
          prefix |= static_cast<uint32_t>(b) << shift;
          mask |= 255u << shift;
          break;
        }
        above += hist[b];
      }
    }
    __syncthreads();
  }

  // 2. Gather: every key above the threshold, then `remaining` keys equal to it.
  __shared__ float values[kThreads];
  __shared__ int indices[kThreads];
  __shared__ int n_above, n_equal;
  if (tid == 0) n_above = 0, n_equal = 0;
  values[tid] = -FLT_MAX;
  indices[tid] = INT_MAX;
  __syncthreads();
  const int above_total = k - remaining;
  for (int i = tid; i < p.n; i += kThreads) {
    const float x = p.logits[i];
    const uint32_t key = Key(x);
    if (key > prefix) {
      const int slot = atomicAdd(&n_above, 1);
      values[slot] = x, indices[slot] = i;
    } else if (key == prefix) {
      const int slot = atomicAdd(&n_equal, 1);
      if (slot < remaining) values[above_total + slot] = x, indices[above_total + slot] = i;
    }
  }
  __syncthreads();

  // 3. Bitonic sort: value descending, then index ascending.
  for (int size = 2; size <= kThreads; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      const int partner = tid ^ stride;
      if (partner > tid) {
        const bool descending = (tid & size) == 0;
        const bool first_after = values[tid] < values[partner] ||
                                 (values[tid] == values[partner] && indices[tid] > indices[partner]);
        if (first_after == descending) {
          const float v = values[tid];
          values[tid] = values[partner], values[partner] = v;
          const int ix = indices[tid];
          indices[tid] = indices[partner], indices[partner] = ix;
        }
      }
      __syncthreads();
    }
  }

  // 4. Filters and the draw, as the host sampler does them.
  if (tid != 0) return;
  const float top = values[0];
  double total = 0;
  for (int i = 0; i < k; ++i) total += exp(static_cast<double>(values[i] - top));
  int keep = k;
  if (c.top_p < 1.0f) {
    double cumulative = 0;
    int n = 0;
    while (n < k) {
      cumulative += exp(static_cast<double>(values[n++] - top)) / total;
      if (cumulative >= c.top_p) break;
    }
    keep = max(n, 1);
  }
  if (c.min_p > 0.0f) {
    // p_i >= min_p * p_0, with p_0 the largest: exp(v_i - top) >= min_p.
    int n = 1;
    while (n < keep && exp(static_cast<double>(values[n] - top)) >= c.min_p) ++n;
    keep = n;
  }
  double weights = 0;
  for (int i = 0; i < keep; ++i) weights += exp(static_cast<double>(values[i] - top) / c.temperature);
  const double u = ToUniform(Philox(c.seed, static_cast<uint32_t>(*p.pos))) * weights;
  double cumulative = 0;
  int chosen = keep - 1;
  for (int i = 0; i < keep; ++i) {
    cumulative += exp(static_cast<double>(values[i] - top) / c.temperature);
    if (u < cumulative) {
      chosen = i;
      break;
    }
  }
  *p.token = indices[chosen];
}

}  // namespace

float SampleUniform(uint64_t seed, uint32_t position) { return ToUniform(Philox(seed, position)); }

cudaError_t LaunchSample(const SampleParams& p, cudaStream_t stream) {
  if (p.n < 1) return cudaErrorInvalidValue;
  return Launch(SampleKernel, 1, kThreads, 0, stream, p);
}

}  // namespace ggrt::cuda
