// Rotary position embedding on the device. One block per token row; each thread owns rotation pairs of
// all heads. The angle position * theta^(-2i/dims) is formed in double from a host-computed table and
// reduced to [-pi, pi] in double before a float sincos, so positions in the tens of thousands keep the
// CPU reference's precision at the cost of one double multiply-add per angle.
//
// The fused kernel reads q, k and v once, adds the biases, rotates q and k, writes q to its output and
// k, v straight into the KV cache rows at the row's position. A row's position is *pos + s in a prefill, or
// its own record's in a batched decode step (RowPosition); padding rows of a batch bucket are skipped.
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/cuda/rope.h"

namespace ggrt::cuda {
namespace {

constexpr int kThreads = 512;  // One pass over the pairs of a Qwen2.5 row (16 heads x 32 pairs).

// Rotates pair `i` (i < dims/2) of every head of one row, reading from `in` and writing `out` (activations,
// or a KV-cache row of f32 or f16).
template <typename Out>
__device__ __forceinline__ void RotatePairs(const RopeShape& r, const RopeTable& table, const float* in, Out* out,
                                           int heads, int position) {
  const int half = r.dims / 2;
  for (int t = threadIdx.x; t < heads * half; t += blockDim.x) {
    const int h = t / half, i = t % half;
    float s, c;
    RopeSinCos(table, i, position, &s, &c);
    const int a = h * r.head_dim + (r.neox ? i : 2 * i);
    const int b = h * r.head_dim + (r.neox ? i + half : 2 * i + 1);
    const float x0 = in[a], x1 = in[b];
    StoreAs(out + a, x0 * c - x1 * s);
    StoreAs(out + b, x0 * s + x1 * c);
  }
  // Dimensions past `dims` pass through.
  const int rest = r.head_dim - r.dims;
  for (int t = threadIdx.x; t < heads * rest; t += blockDim.x) {
    const int idx = (t / rest) * r.head_dim + r.dims + t % rest;
    StoreAs(out + idx, in[idx]);
  }
}

__global__ void RopeKernel(RopeParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int s = blockIdx.x;
  const int width = p.heads * p.rope.head_dim;
  const int position = RowPosition(p.pos, p.pos_stride, s, p.pos_span);
  if (position < 0) return;
  RotatePairs(p.rope, p.table, p.x + static_cast<int64_t>(s) * width, p.out + static_cast<int64_t>(s) * width,
              p.heads, position);
}

template <typename KV>
__global__ void KvWriteKernel(KvWriteParams p) {
  AllowDependentLaunch();
  GridDependencyWait();
  const int s = blockIdx.x;
  const int position = RowPosition(p.pos, p.pos_stride, s, p.pos_span);
  if (position < 0) return;
  const int32_t* table = RowBlockTable(p.block_table, p.pos_stride, s, p.pos_span);
  KV* dst = static_cast<KV*>(p.cache) + KvSlot(table, position) * p.cols;
  const float* src = p.x + static_cast<int64_t>(s) * p.cols;
  for (int i = threadIdx.x; i < p.cols; i += blockDim.x) StoreAs(dst + i, src[i]);
}

template <WeightType T, typename KV>
__global__ void BiasRopeKvKernel(BiasRopeKvParams p) {
  using S = typename WeightTraits<T>::Scalar;
  extern __shared__ float biased[];  // q and k of this row with biases applied: [(q_heads + kv_heads) * hd]
  AllowDependentLaunch();
  GridDependencyWait();
  const int s = blockIdx.x;
  const int hd = p.rope.head_dim;
  const int qw = p.q_heads * hd, kw = p.kv_heads * hd;
  const int position = RowPosition(p.pos, p.pos_stride, s, p.pos_span);
  if (position < 0) return;
  const float* q = p.q + static_cast<int64_t>(s) * qw;
  const float* k = p.k + static_cast<int64_t>(s) * kw;
  const float* v = p.v + static_cast<int64_t>(s) * kw;
  const S* bq = static_cast<const S*>(p.bq);
  const S* bk = static_cast<const S*>(p.bk);
  const S* bv = static_cast<const S*>(p.bv);
  for (int i = threadIdx.x; i < qw; i += blockDim.x) biased[i] = q[i] + (bq ? ToFloat(bq[i]) : 0.0f);
  for (int i = threadIdx.x; i < kw; i += blockDim.x) biased[qw + i] = k[i] + (bk ? ToFloat(bk[i]) : 0.0f);
  const int64_t slot = KvSlot(RowBlockTable(p.block_table, p.pos_stride, s, p.pos_span), position);
  KV* v_row = static_cast<KV*>(p.v_cache) + slot * kw;
  for (int i = threadIdx.x; i < kw; i += blockDim.x) StoreAs(v_row + i, v[i] + (bv ? ToFloat(bv[i]) : 0.0f));
  __syncthreads();
  RotatePairs(p.rope, p.table, biased, p.q_out + static_cast<int64_t>(s) * qw, p.q_heads, position);
  RotatePairs(p.rope, p.table, biased + qw, static_cast<KV*>(p.k_cache) + slot * kw, p.kv_heads, position);
}

}  // namespace

RopeTable MakeRopeTable(const RopeShape& shape, float freq_scale, const float* freq_factors) {
  RopeTable t{};
  for (int i = 0; i < shape.dims / 2 && i < kMaxRopePairs; ++i) {
    t.inv_freq[i] = static_cast<double>(freq_scale) * std::pow(static_cast<double>(shape.theta), -2.0 * i / shape.dims) /
                    (freq_factors != nullptr ? freq_factors[i] : 1.0);
  }
  return t;
}

cudaError_t LaunchRope(const RopeParams& p, cudaStream_t stream) {
  if (p.rope.dims / 2 > kMaxRopePairs) return cudaErrorInvalidValue;
  return Launch(RopeKernel, p.rows, kThreads, 0, stream, p);
}

cudaError_t LaunchKvWrite(const KvWriteParams& p, cudaStream_t stream) {
  if (p.f16) return Launch(KvWriteKernel<__half>, p.rows, kThreads, 0, stream, p);
  return Launch(KvWriteKernel<float>, p.rows, kThreads, 0, stream, p);
}

cudaError_t LaunchBiasRopeKv(const BiasRopeKvParams& p, cudaStream_t stream) {
  if (p.rope.dims / 2 > kMaxRopePairs) return cudaErrorInvalidValue;
  const size_t smem = sizeof(float) * (p.q_heads + p.kv_heads) * p.rope.head_dim;
  cudaError_t e = cudaErrorInvalidValue;
  if (p.f16_cache) {
    GGRT_DISPATCH_WEIGHT(p.bias_type, T, e = Launch(BiasRopeKvKernel<T, __half>, p.rows, kThreads, smem, stream, p));
  } else {
    GGRT_DISPATCH_WEIGHT(p.bias_type, T, e = Launch(BiasRopeKvKernel<T, float>, p.rows, kThreads, smem, stream, p));
  }
  return e;
}

}  // namespace ggrt::cuda
