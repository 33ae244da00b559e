// What a kernel boundary costs in a captured decode-like chain, and whether a software dependency (a counter
// each block of the producer bumps, which each block of the consumer polls) releases a dependent kernel
// sooner than programmatic dependent launch's grid-wide `griddepcontrol.wait`.
//
// A CUDA Graph of `kLength` kernels, each reading the whole of its predecessor's output (16 KB, as a decode
// GEMV stages x) and writing its own, replayed `kReplays` times; the time a kernel is the replays' time over
// the kernels. Modes: plain stream order; PDL with griddepcontrol.wait (ggrt's kernels today); PDL with
// counters, bumped by a fence and an atomic or by one red.release (the counters zeroed by a memset node at the
// graph's start). Each at several grid sizes. Standalone (its own launches rather than ops/cuda/launch.h's,
// which needs launch.cc linked; probe.h's error macro), so that one nvcc line builds it.
//
// Not part of the build (a device probe): on this machine
//   mkdir -p .stage2 && nvcc -O3 -std=c++17 -I. -gencode=arch=compute_90a,code=sm_90a -o .stage2/boundary_probe \
//     tools/device/boundary_probe.cu
// then a device call that carries .stage2 (git-ignored; stage.sh rebuilds .stage from scratch) runs
// `.stage2/boundary_probe`: a table of us a kernel, a row per grid size, each twice.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <cuda_runtime.h>

#include "tools/device/probe.h"

namespace {

constexpr int kThreads = 256;
constexpr int kLength = 120;  // Five products a layer, 24 layers.
constexpr int kReplays = 200;
constexpr int kFloats = 4096;  // What each block reads of its predecessor's output.

// kCounterRelease: the producer's count as one `red.release.gpu` instead of a fence and an atomic.
enum Mode { kPlain, kGridWait, kCounter, kCounterRelease };

__device__ __forceinline__ unsigned LoadAcquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// `wait`: the predecessor's counter and the count that means it is done (nullptr: none to wait on).
__global__ void __launch_bounds__(kThreads) Step(const float* in, float* out, int mode, const unsigned* wait,
                                                 unsigned target, unsigned* signal) {
  if (mode != kPlain) asm volatile("griddepcontrol.launch_dependents;");
  if (mode == kGridWait) {
    asm volatile("griddepcontrol.wait;" ::: "memory");
  } else if (mode >= kCounter && wait != nullptr) {
    if (threadIdx.x == 0) {
      // A wait that never ends (a dependent grid scheduled where its producer cannot run) aborts the probe
      // instead of hanging it.
      const long long deadline = clock64() + 4000000000LL;
      while (LoadAcquire(wait) < target) {
        if (clock64() > deadline) __trap();
      }
    }
    __syncthreads();
  }
  float s = 0.0f;
#pragma unroll 4
  for (int i = threadIdx.x; i < kFloats; i += kThreads) s += __ldcg(in + i);
  out[blockIdx.x * kThreads + threadIdx.x] = s * 0.5f + 1.0f;
  if (mode >= kCounter) {
    __syncthreads();  // Every thread's store, before the block counts itself done.
    if (threadIdx.x == 0) {
      if (mode == kCounter) {
        __threadfence();
        atomicAdd(signal, 1u);
      } else {
        asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(signal) : "memory");
      }
    }
  }
}

float UsPerKernel(int mode, int blocks, cudaStream_t stream) {
  const size_t floats = std::max<size_t>(static_cast<size_t>(blocks) * kThreads, kFloats);
  float* buf[2];
  unsigned* counters;
  CHECK_CUDA(cudaMalloc(&buf[0], floats * 4));
  CHECK_CUDA(cudaMalloc(&buf[1], floats * 4));
  CHECK_CUDA(cudaMemset(buf[0], 0, floats * 4));
  CHECK_CUDA(cudaMemset(buf[1], 0, floats * 4));
  CHECK_CUDA(cudaMalloc(&counters, kLength * sizeof(unsigned)));
  cudaGraph_t graph;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  CHECK_CUDA(cudaMemsetAsync(counters, 0, kLength * sizeof(unsigned), stream));
  for (int k = 0; k < kLength; ++k) {
    cudaLaunchAttribute attribute;
    const cudaLaunchConfig_t config =
        ProbeConfig(dim3(blocks), dim3(kThreads), 0, mode != kPlain && k > 0, stream, &attribute);
    const unsigned* wait = k == 0 ? nullptr : counters + k - 1;
    CHECK_CUDA(cudaLaunchKernelEx(&config, Step, static_cast<const float*>(buf[k % 2]), buf[(k + 1) % 2], mode, wait,
                                  static_cast<unsigned>(blocks), counters + k));
  }
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  const float ms = MsPerReplay(graph, 10, kReplays, stream);
  CHECK_CUDA(cudaFree(buf[0]));
  CHECK_CUDA(cudaFree(buf[1]));
  CHECK_CUDA(cudaFree(counters));
  return 1e3f * ms / kLength;
}

}  // namespace

int main() {
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  int sms = 0;
  CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  std::printf("| blocks | plain stream order, us a kernel | PDL + griddepcontrol.wait | PDL + counters (fence + atomic) | PDL + counters (red.release) |\n|---|---|---|---|---|\n");
  for (const int blocks : {1, sms, 2 * sms, 608}) {
    // Twice, alternating, so that a drift of the clocks shows.
    for (int round = 0; round < 2; ++round) {
      std::printf("| %d |", blocks);
      for (const int mode : {kPlain, kGridWait, kCounter, kCounterRelease}) {
        std::printf(" %.2f |", UsPerKernel(mode, blocks, stream));
        std::fflush(stdout);  // What was measured survives a mode that aborts.
      }
      std::printf("\n");
    }
  }
  return 0;
}
