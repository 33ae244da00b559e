// Whether Q8_0's output projection would stream faster from a split layout of ours than from the file's
// blocks (PERF_NOTES "The step's tail", session 27): the int8 quants as [V, E] (E-byte rows, 16-byte aligned)
// and the f16 block scales as [V, E / 32], read straight into registers as the F16 GEMV reads f16, instead of
// 34-byte blocks copied through shared memory and realigned there (ggrt today: 145 MB of Qwen2.5-0.5B's tied
// output in ~51 us with the argmax, ~58 us as logits, on an H200: ~3 TB/s, where F16 streams at 4.5).
//
// Kernel: a warp per group of kRows rows at a time; lane l owns columns 16 l .. 16 l + 15 and, when E > 512,
// 16 (l + 32) .. (one uint4 of quants each), so its 16 or 32 x values stay in registers for every row, and so
// does their sum. A quant byte b (two's complement) becomes the float 2^23 + (b ^ 0x80) by one byte permute
// into 0x4B000000 and then (b ^ 0x80) by one subtraction: sum (q + 128) x - 128 sum x per half block, times the
// block's scale. All of a group's loads are issued before its first product. Results are checked against a
// double CPU reference on a sample of rows (the sums' order differs from the blocks' kernel, so not bit for
// bit).
//
// Not part of the build (a device probe): on this machine
//   mkdir -p .stage2 && nvcc -O3 -std=c++17 -I. -gencode=arch=compute_90a,code=sm_90a -o .stage2/q8_split_probe \
//     tools/device/q8_split_probe.cu
// then a device call that carries .stage2 runs `.stage2/q8_split_probe` beside `kernel_bench --dtype q8_0`
// (whose "output gemv (logits)" row is the blocks' kernel on the same shape): us and GB/s per variant, twice.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "ops/cuda/quant.cuh"
#include "tools/device/probe.h"

namespace {

constexpr int kVocab = 151936;  // Qwen2.5's.
constexpr int kEmbd = 896;      // Qwen2.5-0.5B's.
constexpr int kWarps = 8;
constexpr int kReplays = 50;

__device__ __forceinline__ uint4 LoadStreaming(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// sum over the 16 quants in q (biased by 128, see above) of (q + 128) x.
__device__ __forceinline__ float BiasedDot16(const uint4& q, const float (&x)[16]) {
  const uint32_t words[4] = {q.x ^ 0x80808080u, q.y ^ 0x80808080u, q.z ^ 0x80808080u, q.w ^ 0x80808080u};
  float sum = 0.0f;
#pragma unroll
  for (int w = 0; w < 4; ++w) {
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      // Byte b of the word as the low byte of 0x4B0000__: the float 2^23 + byte.
      const float f = __int_as_float(__byte_perm(words[w], 0x4B000000u, 0x7650 + b)) - 8388608.0f;
      sum = fmaf(f, x[4 * w + b], sum);
    }
  }
  return sum;
}

// y[r] = sum_c q[r][c] * scale[r][c / 32] * x[c], for 512 < E <= 1024 and E a multiple of 32: E / 16 uint4 a
// row, lanes 0..31 the first 32 of them, lanes 0..E / 16 - 33 the rest. `kRows` rows a warp at a time, the
// warps striding over the row groups (one group each when the grid has a warp per group).
template <int kRows>
__global__ void __launch_bounds__(kWarps * 32) SplitQ8Logits(const int8_t* quants, const __half* scales,
                                                             const float* x, int n, int e, float* y) {
  const int lane = threadIdx.x % 32;
  const int chunks = e / 16;  // uint4 of quants a row
  const bool second = lane + 32 < chunks;
  float xa[16], xb[16], sum_a = 0.0f, sum_b = 0.0f;
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    xa[i] = x[16 * lane + i];
    xb[i] = second ? x[16 * (lane + 32) + i] : 0.0f;
    sum_a += xa[i], sum_b += xb[i];
  }
  const int warps = gridDim.x * kWarps;
  for (int group = blockIdx.x * kWarps + threadIdx.x / 32; group * kRows < n; group += warps) {
    uint4 qa[kRows], qb[kRows];
    float sa[kRows], sb[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int row = min(group * kRows + r, n - 1);
      const int8_t* q = quants + static_cast<int64_t>(row) * e;
      qa[r] = LoadStreaming(q + 16 * lane);
      qb[r] = second ? LoadStreaming(q + 16 * (lane + 32)) : make_uint4(0x80808080u, 0x80808080u, 0x80808080u,
                                                                        0x80808080u);
      const __half* s = scales + static_cast<int64_t>(row) * (e / 32);
      sa[r] = __half2float(s[lane / 2]);
      sb[r] = second ? __half2float(s[(lane + 32) / 2]) : 0.0f;
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float dot = sa[r] * (BiasedDot16(qa[r], xa) - 128.0f * sum_a) + sb[r] * (BiasedDot16(qb[r], xb) - 128.0f * sum_b);
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
      if (lane == 0 && group * kRows + r < n) y[group * kRows + r] = dot;
    }
  }
}

// The same product from the file's own layout (rows of E / 32 blocks of 34 bytes: f16 scale, 32 int8), for
// E <= 1024: lane l < E / 32 owns block l of every row, its 32 x values in registers, and reads the block
// straight from global memory as the runtime's DotChunk does (the 9 aligned words around it), kRows rows'
// blocks a warp at a time. If this streams as fast as the split layout, the output projection needs a
// kernel, not a repacked copy of token_embd.
template <int kRows, bool kL1>
__global__ void __launch_bounds__(kWarps * 32) DirectQ8Logits(const uint8_t* w, const float* x, int n, int e,
                                                              float* y) {
  const int lane = threadIdx.x % 32;
  const int blocks = e / 32;
  const bool active = lane < blocks;
  float xs[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) xs[i] = active ? x[32 * lane + i] : 0.0f;
  const int64_t row_bytes = static_cast<int64_t>(blocks) * 34;
  const int warps = gridDim.x * kWarps;
  for (int group = blockIdx.x * kWarps + threadIdx.x / 32; group * kRows < n; group += warps) {
    // Every row's words loaded before the first product: left to itself the compiler interleaved each
    // row's loads with the previous row's arithmetic.
    ggrt::cuda::AlignedBlock<34> block[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int row = min(group * kRows + r, n - 1);
      // Idle lanes (x zero) read their row's last block, so that every lane's loads are unconditional.
      const uint8_t* b = w + row * row_bytes + 34 * min(lane, blocks - 1);
      block[r].shifted = (reinterpret_cast<uintptr_t>(b) & 3) != 0;
      const uint8_t* base = b - (block[r].shifted ? 2 : 0);
#pragma unroll
      for (int i = 0; i < ggrt::cuda::AlignedBlock<34>::kWords; ++i) {
        // Through L1 (kL1), so that the nine loads' common sectors come from L2 once, or around it.
        if constexpr (kL1) {
          asm volatile("ld.global.nc.u32 %0, [%1];" : "=r"(block[r].w[i]) : "l"(base + 4 * i));
        } else {
          asm volatile("ld.global.nc.L1::no_allocate.u32 %0, [%1];" : "=r"(block[r].w[i]) : "l"(base + 4 * i));
        }
      }
    }
    // x passes through an empty volatile statement after the loads, so no product can move above them.
#pragma unroll
    for (int i = 0; i < 32; ++i) asm volatile("" : "+f"(xs[i]));
    float dot[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) dot[r] = ggrt::cuda::DotQ8_0(block[r], xs);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) dot[r] += __shfl_xor_sync(0xffffffffu, dot[r], o);
      if (lane == 0 && group * kRows + r < n) y[group * kRows + r] = dot[r];
    }
  }
}

// Times launch(blocks) (a grid of `blocks`, or a warp per row group when blocks_per_sm is 0) and checks
// its y on a sample of rows against a double reference.
template <int kRows, typename Launch>
void Measure(const char* layout, Launch launch, float* y, int blocks_per_sm, int sms, const std::vector<int8_t>& hq,
             const std::vector<__half>& hs, const std::vector<float>& hx) {
  const int groups = (kVocab + kRows - 1) / kRows;
  const int one_shot = (groups + kWarps - 1) / kWarps;
  const int blocks = blocks_per_sm > 0 ? blocks_per_sm * sms : one_shot;
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaMemset(y, 0, kVocab * sizeof(float)));
  launch(blocks);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<float> got(kVocab);
  CHECK_CUDA(cudaMemcpy(got.data(), y, kVocab * sizeof(float), cudaMemcpyDeviceToHost));
  double worst = 0.0;
  for (int row = 0; row < kVocab; row += 997) {
    double ref = 0.0, scale = 0.0;
    for (int c = 0; c < kEmbd; ++c) {
      const double d = __half2float(hs[row * (kEmbd / 32) + c / 32]);
      const double w = hq[static_cast<size_t>(row) * kEmbd + c] * d;
      ref += w * hx[c];
      scale += std::fabs(w * hx[c]);
    }
    worst = std::fmax(worst, std::fabs(got[row] - ref) / scale);
  }
  CHECK_CUDA(cudaEventRecord(start));
  for (int i = 0; i < kReplays; ++i) launch(blocks);
  CHECK_CUDA(cudaEventRecord(stop));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float ms = 0.0f;
  CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
  const double us = 1000.0 * ms / kReplays;
  const double bytes = static_cast<double>(kVocab) * (kEmbd + kEmbd / 32 * 2);
  std::printf("| %s Q8_0 logits, %d rows a warp, %s | %.2f | %.0f | %.1e |\n", layout, kRows,
              blocks_per_sm > 0 ? (std::to_string(blocks_per_sm) + " blocks an SM, rows strided").c_str()
                                : "one group a warp",
              us, bytes / us / 1e3, worst);
  std::fflush(stdout);
}

template <int kRows>
void MeasureSplit(const int8_t* quants, const __half* scales, const float* x, float* y, int blocks_per_sm, int sms,
                  const std::vector<int8_t>& hq, const std::vector<__half>& hs, const std::vector<float>& hx) {
  Measure<kRows>(
      "split",
      [&](int blocks) { SplitQ8Logits<kRows><<<blocks, kWarps * 32>>>(quants, scales, x, kVocab, kEmbd, y); }, y,
      blocks_per_sm, sms, hq, hs, hx);
}

template <int kRows, bool kL1>
void MeasureDirect(const uint8_t* w, const float* x, float* y, int blocks_per_sm, int sms,
                   const std::vector<int8_t>& hq, const std::vector<__half>& hs, const std::vector<float>& hx) {
  Measure<kRows>(
      kL1 ? "file-layout (L1)" : "file-layout (no L1)",
      [&](int blocks) { DirectQ8Logits<kRows, kL1><<<blocks, kWarps * 32>>>(w, x, kVocab, kEmbd, y); }, y,
      blocks_per_sm, sms, hq, hs, hx);
}

}  // namespace

int main() {
  int sms = 0;
  CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  std::mt19937 rng(1);
  std::vector<int8_t> hq(static_cast<size_t>(kVocab) * kEmbd);
  for (int8_t& q : hq) q = static_cast<int8_t>(rng());
  std::vector<__half> hs(static_cast<size_t>(kVocab) * (kEmbd / 32));
  std::uniform_real_distribution<float> scale(1e-3f, 2e-2f), unit(-1.0f, 1.0f);
  for (__half& s : hs) s = __float2half(scale(rng));
  std::vector<float> hx(kEmbd);
  for (float& v : hx) v = unit(rng);
  int8_t* quants;
  __half* scales;
  float *x, *y;
  CHECK_CUDA(cudaMalloc(&quants, hq.size()));
  CHECK_CUDA(cudaMalloc(&scales, hs.size() * sizeof(__half)));
  CHECK_CUDA(cudaMalloc(&x, kEmbd * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&y, kVocab * sizeof(float)));
  CHECK_CUDA(cudaMemcpy(quants, hq.data(), hq.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(scales, hs.data(), hs.size() * sizeof(__half), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(x, hx.data(), kEmbd * sizeof(float), cudaMemcpyHostToDevice));
  std::printf("| kernel (V = %d, E = %d) | us | GB/s | worst error / sum |x w| |\n|---|---|---|---|\n", kVocab,
              kEmbd);
  // The file's layout of the same weights: per row, E / 32 blocks of an f16 scale and 32 int8 (plus 16 bytes
  // of allocation slack past the last block, as the runtime allocates: DotChunk reads aligned words).
  const int blocks_per_row = kEmbd / 32;
  std::vector<uint8_t> hw(static_cast<size_t>(kVocab) * blocks_per_row * 34 + 16, 0);
  for (size_t b = 0; b < static_cast<size_t>(kVocab) * blocks_per_row; ++b) {
    std::memcpy(&hw[34 * b], &hs[b], 2);
    std::memcpy(&hw[34 * b + 2], &hq[32 * b], 32);
  }
  uint8_t* w;
  CHECK_CUDA(cudaMalloc(&w, hw.size()));
  CHECK_CUDA(cudaMemcpy(w, hw.data(), hw.size(), cudaMemcpyHostToDevice));
  for (int round = 0; round < 2; ++round) {
    MeasureSplit<4>(quants, scales, x, y, 0, sms, hq, hs, hx);
    MeasureSplit<8>(quants, scales, x, y, 2, sms, hq, hs, hx);
    MeasureDirect<4, false>(w, x, y, 2, sms, hq, hs, hx);
    MeasureDirect<4, true>(w, x, y, 0, sms, hq, hs, hx);
    MeasureDirect<4, true>(w, x, y, 2, sms, hq, hs, hx);
    MeasureDirect<4, true>(w, x, y, 4, sms, hq, hs, hx);
    MeasureDirect<8, true>(w, x, y, 2, sms, hq, hs, hx);
  }
  return 0;
}
