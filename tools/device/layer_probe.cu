// Whether the lone decode step's products get faster when every product kernel is one block an SM that copies
// its whole share of the weights into shared memory before the dependency wait.
//
// Sessions 19-34 (PERF_NOTES.md) found each of a layer's five kernels paying ~3.5 us, of which ~1.6 is the
// boundary itself (boundary_probe.cu) and the rest a latency chain behind the wait; the weights' first round
// is issued before the wait, but only by blocks that fit beside their predecessor's, which gate/up's and
// ffn_down's grids (300-600 blocks at 64-80 registers) do not leave room for. Here each product is a grid of
// at most one block an SM (512 threads, at most 64 registers: two such blocks fit an SM) whose rows are one
// contiguous span of ggrt's Q8_0 row layout (kQ8_0R), fetched by the Tensor Memory Accelerator in four bulk
// copies (a shared-memory barrier each) as soon as the block starts. At Qwen2.5-0.5B's shapes the largest
// share is gate/up's 71 KB, so a product and its successor's prefetch always fit an SM together.
//
// A layer: norm + QKV (1152 x 896) -> an attention stand-in (a block per KV head reading q, k and v and
// writing 448 values: a boundary and a round trip, none of the real attention's work) -> attn_output + residual
// (896 x 896) -> norm + gate/up + SwiGLU (2 x 4864 x 896, gate and up rows interleaved) -> ffn_down + residual
// (896 x 4864); 24 layers with weights of their own (382 MB, so every replay streams them from DRAM), captured
// in one CUDA Graph with programmatic dependent launch, replayed. Variants: the copies issued after the wait
// instead; plain stream order; each product kind knocked out (its kernel returns right after the wait, so its
// boundary stays) to price it. Each product kind is first checked against a double-precision reference.
// Answer (H200, session 35; PERF_NOTES.md, "Which blocks can start early"): no, 22.9 us a layer against the
// runtime's 17.6; what it showed is the per-block timeline that led to step 118.
//
// Not part of the build (a device probe): on this machine
//   mkdir -p .stage2 && nvcc -O3 -std=c++17 --expt-relaxed-constexpr -I. -gencode=arch=compute_90a,code=sm_90a \
//     -o .stage2/layer_probe tools/device/layer_probe.cu
// then a device call that carries .stage2 runs `.stage2/layer_probe`.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "ops/cuda/common.cuh"
#include "ops/cuda/quant.cuh"
#include "ops/cuda/tma.cuh"
#include "ops/cuda/types.h"
#include "tools/device/probe.h"

namespace ggrt::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kStages = 4;
constexpr int kMaxRows = 80;  // A block's rows at most (gate/up: 74 on 132 SMs).
constexpr int kSmem = 100 * 1024;

// Qwen2.5-0.5B.
constexpr int kLayers = 24, kEmbed = 896, kQkv = 1152, kFfn = 4864, kKvHeads = 2, kGroup = 7, kHead = 64;

struct Product {
  const uint8_t* w;  // [n][row_bytes], kQ8_0R rows
  int n, k, row_bytes;
  const float* x;         // [k]
  const float* norm;      // [k] or null
  const float* residual;  // [n] or null
  float* y;               // [n], or [n / 2] with SwiGLU (rows 2i and 2i + 1 are gate and up row i)
  int swiglu;
  int rows_per_block;  // even with SwiGLU
  int prefetch;        // 1: the copies go out before the dependency wait
  int knockout;        // 1: return right after the wait
  unsigned long long* stamps;  // null, or [block][4]: SM, start, wait over, end (global timer, ns)
};

__device__ __forceinline__ unsigned long long Now() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ unsigned SmId() {
  unsigned id;
  asm volatile("mov.u32 %0, %smid;" : "=r"(id));
  return id;
}
__device__ __forceinline__ void Stamp(unsigned long long* stamps, int what, unsigned long long v) {
  if (stamps != nullptr && threadIdx.x == 0) stamps[4 * blockIdx.x + what] = v;
}

__device__ __forceinline__ void BulkCopy(void* dst, const void* src, uint32_t bytes, uint64_t* bar,
                                         uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\n" ::
          "r"(SharedAddress(dst)),
      "l"(src), "r"(bytes), "r"(SharedAddress(bar)), "l"(policy)
      : "memory");
}

__device__ __forceinline__ float Dot16(const uint4& q, const float (&x)[16]) {
  float s = DotBytes4(q.x ^ 0x80808080u, 128.0f, x, 0.0f);
  s = DotBytes4(q.y ^ 0x80808080u, 128.0f, x + 4, s);
  s = DotBytes4(q.z ^ 0x80808080u, 128.0f, x + 8, s);
  return DotBytes4(q.w ^ 0x80808080u, 128.0f, x + 12, s);
}

// Groups of G warps; a group holds all of x (thread t of the group: 16-column chunks t, t + 32 G, ..., X of
// them) and takes every (kWarps / G)-th row of the block; the G warps' sums of a row meet in shared memory.
template <int G, int X>
__global__ void __launch_bounds__(kThreads, 2) ProductKernel(Product p) {
#if defined(__CUDA_ARCH__)  // The barriers are device code only.
  extern __shared__ __align__(128) uint8_t w_s[];
  __shared__ __align__(8) uint64_t bars[kStages];
  __shared__ float parts[kMaxRows][G];
  __shared__ float ss_s[kWarps];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  Stamp(p.stamps, 0, SmId());
  Stamp(p.stamps, 1, Now());
  const int r0 = blockIdx.x * p.rows_per_block;
  const int rows = min(p.rows_per_block, p.n - r0);
  const int per_stage = (rows + kStages - 1) / kStages;
  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) BarrierInit(&bars[s]);
    BarrierInitFence();
  }
  __syncthreads();
  AllowDependentLaunch();
  const auto issue = [&] {
    if (tid != 0) return;
    const uint64_t policy = EvictFirstPolicy();
    for (int s = 0; s < kStages; ++s) {
      const int a = s * per_stage, b = min(rows, a + per_stage);
      if (a >= b) continue;
      const uint32_t bytes = (b - a) * p.row_bytes;
      BarrierArriveExpect(&bars[s], bytes);
      BulkCopy(w_s + a * p.row_bytes, p.w + static_cast<int64_t>(r0 + a) * p.row_bytes, bytes, &bars[s], policy);
    }
  };
  if (p.prefetch) issue();
  GridDependencyWait();
  Stamp(p.stamps, 2, Now());
  if (p.knockout) {
    // The copies must land before the block leaves.
    if (p.prefetch) {
      for (int s = 0; s * per_stage < rows; ++s) BarrierWait(&bars[s], 0);
    }
    return;
  }
  if (!p.prefetch) issue();

  constexpr int T = 32 * G;
  const int group = tid / T, t = tid % T, groups = kThreads / T;
  const int chunks = p.k / 16;
  float xr[X][16];
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < X; ++j) {
    const int c = t + j * T;
#pragma unroll
    for (int e = 0; e < 16; e += 4) {
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (c < chunks) {
        v = *reinterpret_cast<const float4*>(p.x + 16 * c + e);
        ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        if (p.norm != nullptr) {
          const float4 g = *reinterpret_cast<const float4*>(p.norm + 16 * c + e);
          v.x *= g.x, v.y *= g.y, v.z *= g.z, v.w *= g.w;
        }
      }
      xr[j][e] = v.x, xr[j][e + 1] = v.y, xr[j][e + 2] = v.z, xr[j][e + 3] = v.w;
    }
  }
  if (p.norm != nullptr) {
    ss = WarpSum(ss);
    if (lane == 0) ss_s[warp] = ss;
  }
  const float residual = p.residual != nullptr && tid < rows ? p.residual[r0 + tid] : 0.0f;

  for (int lr = group; lr < rows; lr += groups) {
    BarrierWait(&bars[lr / per_stage], 0);
    const uint8_t* row = w_s + lr * p.row_bytes;
    float acc = 0.0f;
#pragma unroll
    for (int j = 0; j < X; ++j) {
      const int c = t + j * T;
      if (c < chunks) {
        const uint4 q = *reinterpret_cast<const uint4*>(row + 16 * c);
        const uint16_t d = *reinterpret_cast<const uint16_t*>(row + p.k + 2 * (c / 2));
        acc += HalfToFloat(d) * Dot16(q, xr[j]);
      }
    }
    acc = WarpSum(acc);
    if (lane == 0) parts[lr][t / 32] = acc;
  }
  __syncthreads();
  float scale = 1.0f;
  if (p.norm != nullptr) {
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < G; ++w) s += ss_s[w];
    scale = rsqrtf(s / p.k + 1e-6f);
  }
  const auto row_sum = [&](int lr) {
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < G; ++w) v += parts[lr][w];
    return v * scale;
  };
  if (!p.swiglu) {
    if (tid < rows) p.y[r0 + tid] = row_sum(tid) + residual;
  } else if (tid < rows / 2) {
    p.y[r0 / 2 + tid] = Silu(row_sum(2 * tid)) * row_sum(2 * tid + 1);
  }
  Stamp(p.stamps, 3, Now());
#endif
}

// A block per KV head: its q heads times k plus v, dimension-wise (a boundary and one round trip).
__global__ void __launch_bounds__(256) AttentionStandIn(const float* qkv, float* o, int knockout,
                                                        unsigned long long* stamps) {
  Stamp(stamps, 0, SmId());
  Stamp(stamps, 1, Now());
  AllowDependentLaunch();
  GridDependencyWait();
  Stamp(stamps, 2, Now());
  if (knockout) return;
  const int b = blockIdx.x;
  for (int i = threadIdx.x; i < kGroup * kHead; i += blockDim.x) {
    const int h = i / kHead, d = i % kHead;
    o[b * kGroup * kHead + i] =
        qkv[(b * kGroup + h) * kHead + d] * qkv[kEmbed + b * kHead + d] +
        qkv[kEmbed + kKvHeads * kHead + b * kHead + d];
  }
  __syncthreads();
  Stamp(stamps, 3, Now());
}

// Random quants and small f16 scales in kQ8_0R rows (the padding zero).
__global__ void FillRows(uint8_t* w, int64_t rows, int k, int row_bytes, uint32_t seed) {
  const int64_t total = rows * row_bytes;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int col = static_cast<int>(i % row_bytes);
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 13, h *= 0x5bd1e995u, h ^= h >> 15;
    if (col < k) {
      w[i] = static_cast<uint8_t>(h);
    } else if (col < k + k / 16 && (col - k) % 2 == 0) {
      const __half s = __float2half(1.0f / 2048.0f * (1 + h % 8));
      *reinterpret_cast<__half*>(w + i) = s;
    } else if (col >= k + k / 16) {
      w[i] = 0;
    }
  }
}

struct Weights {
  uint8_t *qkv, *o, *gate_up, *down;
};

enum Kind { kQkvKind, kOutKind, kGateUpKind, kDownKind, kAttention, kKinds };

struct Step {
  std::vector<Weights> layers;
  float *h, *qkv, *o, *act, *norms;
  int sms;
};

int RowsPerBlock(int units, int sms, int per_unit) { return (units + sms - 1) / sms * per_unit; }

// Dynamic shared memory a launch asks for: kSmem for every product, or (exact) its own rows' bytes.
bool g_exact_smem = false;

void LaunchProduct(const Product& p, bool pdl, cudaStream_t stream) {
  // On a card with fewer SMs a block's share outgrows the kernel's shared arrays and kSmem.
  if (p.rows_per_block > kMaxRows || p.rows_per_block * p.row_bytes > kSmem) {
    std::fprintf(stderr, "layer_probe: %d rows a block (%d bytes) exceed kMaxRows %d or kSmem %d\n", p.rows_per_block,
                 p.rows_per_block * p.row_bytes, kMaxRows, kSmem);
    std::exit(1);
  }
  cudaLaunchAttribute attribute;
  const cudaLaunchConfig_t config =
      ProbeConfig(dim3((p.n + p.rows_per_block - 1) / p.rows_per_block), dim3(kThreads),
                  g_exact_smem ? p.rows_per_block * p.row_bytes : kSmem, pdl, stream, &attribute);
  if (p.k <= 1024) {
    CHECK_CUDA(cudaLaunchKernelEx(&config, ProductKernel<2, 1>, p));
  } else {
    CHECK_CUDA(cudaLaunchKernelEx(&config, ProductKernel<8, 2>, p));
  }
}

Product Make(Kind kind, const Step& s, int layer, bool prefetch, int knockout) {
  Product p;
  const Weights& w = s.layers[layer];
  const float* g1 = s.norms + (2 * layer) * kEmbed;
  const float* g2 = g1 + kEmbed;
  switch (kind) {
    case kQkvKind:
      p = {w.qkv, kQkv, kEmbed, 0, s.h, g1, nullptr, s.qkv, 0, RowsPerBlock(kQkv, s.sms, 1), prefetch, knockout};
      break;
    case kOutKind:
      p = {w.o, kEmbed, kEmbed, 0, s.o, nullptr, s.h, s.h, 0, RowsPerBlock(kEmbed, s.sms, 1), prefetch, knockout};
      break;
    case kGateUpKind:
      p = {w.gate_up, 2 * kFfn, kEmbed, 0, s.h, g2, nullptr, s.act, 1, RowsPerBlock(kFfn, s.sms, 2), prefetch,
           knockout};
      break;
    default:
      p = {w.down, kEmbed, kFfn, 0, s.act, nullptr, s.h, s.h, 0, RowsPerBlock(kEmbed, s.sms, 1), prefetch, knockout};
      break;
  }
  p.row_bytes = static_cast<int>(Q8_0RowBytes(p.k));
  return p;
}

// Mode: PDL with the copies before the wait (prefetch) or after, or plain stream order; `knocked` a Kind whose
// kernels return after the wait (kKinds: none); `attention` false leaves the stand-in out.
constexpr int kMaxBlocks = 256;
constexpr int kKernels = 5 * kLayers;

// When each kernel's blocks started, were released and ended against the previous kernel's last end, by kind
// (layers 1-22 of the last replay).
void PrintTimeline(const std::vector<unsigned long long>& st, const std::vector<int>& kinds,
                   const std::vector<int>& grids) {
  const char* names[kKinds] = {"norm+qkv", "attn_out", "gate/up", "ffn_down", "attention stand-in"};
  double first_start[kKinds] = {}, last_wait[kKinds] = {}, last_end[kKinds] = {}, early[kKinds] = {};
  int count[kKinds] = {}, max_per_sm[kKinds] = {};
  const int kernels = static_cast<int>(kinds.size());
  const int per_layer = kernels / kLayers;
  for (int i = per_layer; i < kernels - per_layer; ++i) {
    const auto at = [&](int kernel, int block, int what) { return st[(kernel * kMaxBlocks + block) * 4 + what]; };
    unsigned long long prev_end = 0;
    for (int b = 0; b < grids[i - 1]; ++b) prev_end = std::max(prev_end, at(i - 1, b, 3));
    unsigned long long start = ~0ull, waited = 0, end = 0;
    int n_early = 0, per_sm[1024] = {};
    for (int b = 0; b < grids[i]; ++b) {
      start = std::min(start, at(i, b, 1));
      waited = std::max(waited, at(i, b, 2));
      end = std::max(end, at(i, b, 3));
      n_early += at(i, b, 1) < prev_end;
      per_sm[at(i, b, 0) % 1024]++;
    }
    const int k = kinds[i];
    first_start[k] += (static_cast<double>(start) - prev_end) / 1e3;
    last_wait[k] += (static_cast<double>(waited) - prev_end) / 1e3;
    last_end[k] += (static_cast<double>(end) - prev_end) / 1e3;
    early[k] += static_cast<double>(n_early) / grids[i];
    max_per_sm[k] = std::max(max_per_sm[k], *std::max_element(per_sm, per_sm + 1024));
    count[k]++;
  }
  std::printf(
      "| kernel | blocks | started before the previous ended | first start | last release | last end (the increment)"
      " | most blocks on one SM |\n|---|---|---|---|---|---|---|\n");
  for (int k = 0; k < kKinds; ++k) {
    if (count[k] == 0) continue;
    int grid = 0;
    for (int i = 0; i < kernels; ++i) grid = kinds[i] == k ? grids[i] : grid;
    std::printf("| %s | %d | %.0f%% | %+.2f us | %+.2f us | %+.2f us | %d |\n", names[k], grid,
                100 * early[k] / count[k],
                first_start[k] / count[k], last_wait[k] / count[k], last_end[k] / count[k], max_per_sm[k]);
  }
}

float UsPerStep(Step& s, bool pdl, bool prefetch, int knocked, bool attention, cudaStream_t stream,
                bool timeline = false) {
  unsigned long long* stamps = nullptr;
  if (timeline) {
    CHECK_CUDA(cudaMalloc(&stamps, sizeof(unsigned long long) * kKernels * kMaxBlocks * 4));
    CHECK_CUDA(cudaMemset(stamps, 0, sizeof(unsigned long long) * kKernels * kMaxBlocks * 4));
  }
  std::vector<int> kinds, grids;
  const auto next_stamps = [&] {
    return stamps == nullptr ? nullptr : stamps + static_cast<size_t>(kinds.size()) * kMaxBlocks * 4;
  };
  cudaGraph_t graph;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  bool first = true;
  for (int l = 0; l < kLayers; ++l) {
    for (int kind = 0; kind < 4; ++kind) {
      Product p = Make(static_cast<Kind>(kind), s, l, prefetch, knocked == kind);
      p.stamps = next_stamps();
      LaunchProduct(p, pdl && !first, stream);
      kinds.push_back(kind);
      grids.push_back((p.n + p.rows_per_block - 1) / p.rows_per_block);
      first = false;
      if (kind == kQkvKind && attention) {
        cudaLaunchAttribute attribute;
        const cudaLaunchConfig_t config = ProbeConfig(dim3(kKvHeads), dim3(256), 0, pdl, stream, &attribute);
        CHECK_CUDA(cudaLaunchKernelEx(&config, AttentionStandIn, static_cast<const float*>(s.qkv), s.o,
                                      knocked == kAttention ? 1 : 0, next_stamps()));
        kinds.push_back(kAttention);
        grids.push_back(kKvHeads);
      }
    }
  }
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  const float ms = MsPerReplay(graph, 20, 200, stream);
  if (timeline) {
    std::vector<unsigned long long> st(static_cast<size_t>(kKernels) * kMaxBlocks * 4);
    CHECK_CUDA(cudaMemcpy(st.data(), stamps, st.size() * sizeof(st[0]), cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaFree(stamps));
    PrintTimeline(st, kinds, grids);
  }
  return 1e3f * ms;
}

// Layer 0's product of `kind` once, on random x, against a double reference from the same bytes.
bool Check(Step& s, Kind kind, cudaStream_t stream) {
  const Product p = Make(kind, s, 0, true, 0);
  std::mt19937 rng(7 + kind);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(p.k), residual(p.n), norm(p.k);
  for (float& v : x) v = u(rng);
  for (float& v : residual) v = u(rng);
  CHECK_CUDA(cudaMemcpy(const_cast<float*>(p.x), x.data(), p.k * 4, cudaMemcpyHostToDevice));
  if (p.residual != nullptr) {
    CHECK_CUDA(cudaMemcpy(const_cast<float*>(p.residual), residual.data(), p.n * 4, cudaMemcpyHostToDevice));
  }
  if (p.norm != nullptr) CHECK_CUDA(cudaMemcpy(norm.data(), p.norm, p.k * 4, cudaMemcpyDeviceToHost));
  std::vector<uint8_t> w(static_cast<size_t>(p.n) * p.row_bytes);
  CHECK_CUDA(cudaMemcpy(w.data(), p.w, w.size(), cudaMemcpyDeviceToHost));
  LaunchProduct(p, false, stream);
  CHECK_CUDA(cudaStreamSynchronize(stream));
  const int outputs = p.swiglu ? p.n / 2 : p.n;
  std::vector<float> y(outputs);
  CHECK_CUDA(cudaMemcpy(y.data(), p.y, outputs * 4, cudaMemcpyDeviceToHost));
  double ss = 0.0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const double scale = p.norm != nullptr ? 1.0 / std::sqrt(ss / p.k + 1e-6) : 1.0;
  std::vector<double> dots(p.n);
  for (int r = 0; r < p.n; ++r) {
    const uint8_t* row = w.data() + static_cast<size_t>(r) * p.row_bytes;
    double acc = 0.0;
    for (int i = 0; i < p.k; ++i) {
      __half_raw raw;
      raw.x = static_cast<uint16_t>(row[p.k + 2 * (i / 32)] | row[p.k + 2 * (i / 32) + 1] << 8);
      const double d = __half2float(__half(raw));
      acc += d * static_cast<int8_t>(row[i]) * x[i] * (p.norm != nullptr ? norm[i] : 1.0f);
    }
    dots[r] = acc * scale;
  }
  double worst = 0.0, largest = 0.0;
  for (int i = 0; i < outputs; ++i) {
    double want = p.swiglu ? dots[2 * i] / (1.0 + std::exp(-dots[2 * i])) * dots[2 * i + 1] : dots[i];
    if (p.residual != nullptr) want += residual[i];
    worst = std::max(worst, std::fabs(want - y[i]));
    largest = std::max(largest, std::fabs(want));
  }
  const bool ok = worst <= 1e-4 * std::max(largest, 1.0);
  std::printf("check %s: max |error| %.3g (largest |y| %.3g): %s\n",
              kind == kQkvKind ? "norm+qkv" : kind == kOutKind ? "attn_out+residual"
                                        : kind == kGateUpKind ? "norm+gate/up+swiglu"
                                                              : "ffn_down+residual",
              worst, largest, ok ? "ok" : "FAILED");
  return ok;
}

}  // namespace
}  // namespace ggrt::cuda

int main() {
  using namespace ggrt::cuda;
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  Step s;
  CHECK_CUDA(cudaDeviceGetAttribute(&s.sms, cudaDevAttrMultiProcessorCount, 0));
  CHECK_CUDA(cudaFuncSetAttribute(ProductKernel<2, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  CHECK_CUDA(cudaFuncSetAttribute(ProductKernel<8, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  for (const void* f : {reinterpret_cast<const void*>(ProductKernel<2, 1>),
                        reinterpret_cast<const void*>(ProductKernel<8, 2>)}) {
    cudaFuncAttributes a;
    CHECK_CUDA(cudaFuncGetAttributes(&a, f));
    int blocks = 0;
    CHECK_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, f, kThreads, kSmem));
    std::printf("kernel: %d registers, %zu static shared bytes, %zu local bytes, %d blocks an SM\n", a.numRegs,
                a.sharedSizeBytes, a.localSizeBytes, blocks);
  }
  const int64_t e_bytes = Q8_0RowBytes(kEmbed), f_bytes = Q8_0RowBytes(kFfn);
  int64_t total = 0;
  for (int l = 0; l < kLayers; ++l) {
    Weights w;
    const int64_t sizes[4] = {kQkv * e_bytes, kEmbed * e_bytes, 2 * kFfn * e_bytes, kEmbed * f_bytes};
    uint8_t** ptrs[4] = {&w.qkv, &w.o, &w.gate_up, &w.down};
    const int rows[4] = {kQkv, kEmbed, 2 * kFfn, kEmbed}, ks[4] = {kEmbed, kEmbed, kEmbed, kFfn};
    for (int i = 0; i < 4; ++i) {
      CHECK_CUDA(cudaMalloc(ptrs[i], sizes[i]));
      FillRows<<<1024, 256, 0, stream>>>(*ptrs[i], rows[i], ks[i], static_cast<int>(Q8_0RowBytes(ks[i])),
                                          0x9e3779b9u * (4 * l + i + 1));
      CHECK_CUDA(cudaGetLastError());
      total += sizes[i];
    }
    s.layers.push_back(w);
  }
  CHECK_CUDA(cudaMalloc(&s.h, kEmbed * 4));
  CHECK_CUDA(cudaMalloc(&s.qkv, kQkv * 4));
  CHECK_CUDA(cudaMalloc(&s.o, kEmbed * 4));
  CHECK_CUDA(cudaMalloc(&s.act, kFfn * 4));
  CHECK_CUDA(cudaMalloc(&s.norms, 2 * kLayers * kEmbed * 4));
  {
    std::vector<float> norms(2 * kLayers * kEmbed), h(kEmbed), o(kEmbed, 0.01f), act(kFfn, 0.01f);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(0.5f, 1.5f);
    for (float& v : norms) v = u(rng);
    for (float& v : h) v = u(rng) - 1.0f;
    CHECK_CUDA(cudaMemcpy(s.norms, norms.data(), norms.size() * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(s.h, h.data(), kEmbed * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(s.o, o.data(), kEmbed * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(s.act, act.data(), kFfn * 4, cudaMemcpyHostToDevice));
  }
  CHECK_CUDA(cudaStreamSynchronize(stream));
  std::printf("weights: %.1f MB over %d layers; %d SMs\n", total / 1e6, kLayers, s.sms);
  bool ok = true;
  for (int kind = 0; kind < 4; ++kind) ok = Check(s, static_cast<Kind>(kind), stream) && ok;
  if (!ok) return 1;

  struct Variant {
    const char* name;
    bool pdl, prefetch, attention;
    int knocked;
    bool exact_smem = false;
  };
  const Variant variants[] = {
      {"PDL, copies before the wait", true, true, true, kKinds},
      {"PDL, copies before the wait, shared memory as needed", true, true, true, kKinds, true},
      {"PDL, copies after the wait, shared memory as needed", true, false, true, kKinds, true},
      {"PDL, copies after the wait", true, false, true, kKinds},
      {"plain stream order", false, false, true, kKinds},
      {"PDL before, no attention stand-in", true, true, false, kKinds},
      {"PDL before, norm+qkv knocked out", true, true, true, kQkvKind},
      {"PDL before, attention stand-in knocked out", true, true, true, kAttention},
      {"PDL before, attn_out knocked out", true, true, true, kOutKind},
      {"PDL before, gate/up knocked out", true, true, true, kGateUpKind},
      {"PDL before, ffn_down knocked out", true, true, true, kDownKind},
  };
  std::printf("\n| variant | us a step (round 1) | round 2 | us a layer |\n|---|---|---|---|\n");
  for (const Variant& v : variants) {
    float t[2];
    g_exact_smem = v.exact_smem;
    for (int round = 0; round < 2; ++round) t[round] = UsPerStep(s, v.pdl, v.prefetch, v.knocked, v.attention, stream);
    std::printf("| %s | %.1f | %.1f | %.2f |\n", v.name, t[0], t[1], std::min(t[0], t[1]) / kLayers);
    std::fflush(stdout);
  }
  for (const Variant& v : {variants[0], variants[1], variants[2], variants[4]}) {
    std::printf("\ntimeline: %s\n", v.name);
    g_exact_smem = v.exact_smem;
    UsPerStep(s, v.pdl, v.prefetch, v.knocked, v.attention, stream, true);
  }
  return 0;
}
