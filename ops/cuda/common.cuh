// Device helpers shared by the kernel files: weight loads converted to f32, warp and block reductions.
#ifndef GGRT_OPS_CUDA_COMMON_CUH_
#define GGRT_OPS_CUDA_COMMON_CUH_

#include <cfloat>
#include <climits>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "ops/cuda/launch.h"
#include "ops/cuda/types.h"

namespace ggrt::cuda {

template <WeightType T>
struct WeightTraits;
template <>
struct WeightTraits<WeightType::kF32> {
  using Scalar = float;
};
template <>
struct WeightTraits<WeightType::kF16> {
  using Scalar = __half;
};
template <>
struct WeightTraits<WeightType::kBF16> {
  using Scalar = __nv_bfloat16;
};

__device__ __forceinline__ float ToFloat(float x) { return x; }
__device__ __forceinline__ float ToFloat(__half x) { return __half2float(x); }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 x) { return __bfloat162float(x); }
// Stores a float as a KV-cache element (f32 or f16).
__device__ __forceinline__ void StoreAs(float* dst, float v) { *dst = v; }
__device__ __forceinline__ void StoreAs(__half* dst, float v) { *dst = __float2half(v); }
// Element i of a product's 16-bit input (f16 or bf16, as LaunchConvert rounds it), so that the kernel that
// computes an activation can hand cuBLASLt its input without a conversion launch between them.
__device__ __forceinline__ void Store16(WeightType type, void* dst, int64_t i, float v) {
  if (type == WeightType::kBF16) {
    static_cast<__nv_bfloat16*>(dst)[i] = __float2bfloat16_rn(v);
  } else {
    static_cast<__half*>(dst)[i] = __float2half_rn(v);
  }
}

// 16 bytes of streamed weights: read once, so they skip L1 (leaving it to the activations) and stay raw in
// registers until the FMA converts them (half the registers of converted floats). `policy`: normally
// EvictFirstPolicy(). kPrefetch256: the L2 fetches the 256 bytes around them from DRAM at once, for loads that
// take part of a line each (a small-batch warp reads 64 bytes of each of 8 rows per load, and without the
// hint each half line went to DRAM as its own request: H200, kernel_bench --batch 2, logits 112 -> 83 us,
// gate/up 9.3 -> 8.5; PERF_NOTES.md step 60).
template <bool kPrefetch256 = false>
__device__ __forceinline__ uint4 LoadStreaming16(const void* p, uint64_t policy) {
  uint4 v;
  if constexpr (kPrefetch256) {
    asm volatile("ld.global.nc.L1::no_allocate.L2::cache_hint.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p), "l"(policy));
  } else {
    asm volatile("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p), "l"(policy));
  }
  return v;
}

// An L2 policy that makes streamed weights the first lines to evict: a decode step reads about 1 GB of
// weights exactly once, and under the default policy that stream pushes the KV cache, the activations and
// the small per-layer vectors out of L2 every token.
__device__ __forceinline__ uint64_t EvictFirstPolicy() {
  uint64_t policy;
  asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
  return policy;
}
// The opposite, for data that several blocks read in turn (the small-batch wide kernel's x, read again by
// every row tile of the product).
__device__ __forceinline__ uint64_t EvictLastPolicy() {
  uint64_t policy;
  asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(policy));
  return policy;
}

// 16 bytes at `global` (16-byte aligned) into shared memory, only the first `bytes` of them read (the rest
// zero-filled). `bytes` must be a run-time value: the same copy with a size the compiler knows (16, or 0) faults as an
// illegal instruction on an H200 (PERF_NOTES.md, sessions 7, 28 and 37). compute-sanitizer's memcheck counts the whole
// 16 as read, hence the weights' allocation contract (WeightAllocationBytes, ops/cuda/types.h). Copying a row's last
// word with 2-byte loads and the others with a source size known to be 16 (or none) instead faulted as an illegal
// instruction on an H200 (PERF_NOTES.md, session 7).
__device__ __forceinline__ void CopyAsync16(void* smem, const void* global, int bytes, uint64_t policy) {
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;" ::"r"(
                   static_cast<uint32_t>(__cvta_generic_to_shared(smem))),
               "l"(global), "r"(bytes), "l"(policy));
}
// The same without a cache hint (data other blocks read too), zero-filled past `bytes`.
__device__ __forceinline__ void CopyAsync16(void* smem, const void* global, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(
                   static_cast<uint32_t>(__cvta_generic_to_shared(smem))),
               "l"(global), "r"(bytes));
}
__device__ __forceinline__ void CopyAsyncCommit() { asm volatile("cp.async.commit_group;"); }
// Waits until at most kPending of this thread's most recent copy groups are still in flight.
template <int kPending>
__device__ __forceinline__ void CopyAsyncWaitPending() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}

template <WeightType T>
__device__ __forceinline__ void Convert16(const uint4& v, float* out);
template <>
__device__ __forceinline__ void Convert16<WeightType::kF32>(const uint4& v, float* out) {
  out[0] = __uint_as_float(v.x), out[1] = __uint_as_float(v.y), out[2] = __uint_as_float(v.z);
  out[3] = __uint_as_float(v.w);
}
template <>
__device__ __forceinline__ void Convert16<WeightType::kF16>(const uint4& v, float* out) {
  const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(h[i]);
    out[2 * i] = f.x, out[2 * i + 1] = f.y;
  }
}
template <>
__device__ __forceinline__ void Convert16<WeightType::kBF16>(const uint4& v, float* out) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(h[i]);
    out[2 * i] = f.x, out[2 * i + 1] = f.y;
  }
}

// Elements per 16-byte load.
template <WeightType T>
constexpr int kVec = 16 / sizeof(typename WeightTraits<T>::Scalar);

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// R (a power of two, at most 32) warp sums at once, each lane ending with one of them: WarpSum's butterfly
// (the same pairs in the same order, so the same bits), but at the first log2 R steps each lane sends the
// half of its values that its partner keeps, so R sums cost R - 1 + 5 - log2 R shuffles instead of 5 R.
// Lane l holds sum WarpSumsRow<R>(l).
template <int R>
__device__ __forceinline__ int WarpSumsRow(int lane) {
  static_assert(R >= 1 && R <= 32 && (R & (R - 1)) == 0, "R: a power of two up to 32");
  return R == 1 ? 0 : (lane / (32 / R)) % R;
}
template <int R>
__device__ __forceinline__ float WarpSums(float (&v)[R]) {
  const int lane = threadIdx.x % 32;
  int o = 16;
#pragma unroll
  for (int count = R; count > 1; count /= 2, o /= 2) {
    // Lanes with bit o set keep the upper half of the values, their partners the lower.
    const bool upper = lane & o;
#pragma unroll
    for (int j = 0; j < count / 2; ++j) {
      const float keep = upper ? v[j + count / 2] : v[j], send = upper ? v[j] : v[j + count / 2];
      v[j] = keep + __shfl_xor_sync(0xffffffffu, send, o);
    }
  }
  float s = v[0];
#pragma unroll
  for (; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  return s;
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum or max over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
template <bool kMax>
__device__ __forceinline__ float BlockReduce(float v) {
  __shared__ float partial[32];
  v = kMax ? WarpMax(v) : WarpSum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // partial may still be read by a previous call.
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < blockDim.x / 32 ? partial[lane] : (kMax ? -FLT_MAX : 0.0f);
  return kMax ? WarpMax(v) : WarpSum(v);
}
__device__ __forceinline__ float BlockSum(float v) { return BlockReduce<false>(v); }
__device__ __forceinline__ float BlockMax(float v) { return BlockReduce<true>(v); }

// Larger value wins; on equal values the smaller index (the CPU reference's first maximum).
__device__ __forceinline__ void Better(float& v, int& i, float v2, int i2) {
  if (v2 > v || (v2 == v && i2 < i)) v = v2, i = i2;
}

// The best (value, index) of the block, in thread 0.
__device__ __forceinline__ void BlockBest(float& best, int& best_i) {
  for (int o = 16; o > 0; o >>= 1) {
    Better(best, best_i, __shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, best_i, o));
  }
  __shared__ float vs[32];
  __shared__ int is[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // vs/is may still be read from a previous call.
  if (lane == 0) vs[warp] = best, is[warp] = best_i;
  __syncthreads();
  if (warp == 0) {
    best = lane < blockDim.x / 32 ? vs[lane] : -FLT_MAX;
    best_i = lane < blockDim.x / 32 ? is[lane] : INT_MAX;
    for (int o = 16; o > 0; o >>= 1) {
      Better(best, best_i, __shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, best_i, o));
    }
  }
}

__device__ __forceinline__ float Silu(float x) { return x / (1.0f + __expf(-x)); }
// gelu with the tanh approximation, as PyTorch's gelu(approximate="tanh").
__device__ __forceinline__ float GeluTanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608f;
  return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

// Dispatches a runtime WeightType to a kernel template instantiation.
#define GGRT_DISPATCH_WEIGHT(type, T, ...)            \
  switch (type) {                                     \
    case WeightType::kF32: {                          \
      constexpr WeightType T = WeightType::kF32;      \
      __VA_ARGS__;                                    \
      break;                                          \
    }                                                 \
    case WeightType::kF16: {                          \
      constexpr WeightType T = WeightType::kF16;      \
      __VA_ARGS__;                                    \
      break;                                          \
    }                                                 \
    case WeightType::kBF16: {                         \
      constexpr WeightType T = WeightType::kBF16;     \
      __VA_ARGS__;                                    \
      break;                                          \
    }                                                 \
  }

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_COMMON_CUH_
