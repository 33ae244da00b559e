// Which form of a warp's cp.async copies faulted as an illegal instruction on an H200 in session 37's first two
// builds of step 121 (PERF_NOTES.md), so that later kernels avoid the form rather than the instruction.
//
// Each warp copies a group of 8 kQ8_0R-shaped rows (k quants, then k / 16 bytes of scales, padded to 16; the
// rows contiguous) from global memory into its shared-memory slot with common.cuh's CopyAsync16, waits, meets
// (__syncwarp) and sums the slot's bytes the rows cover, which the host checks against its own sum. Modes:
//   units    the kept form: the group as one contiguous span, lane l taking 16-byte units l, l + 32, ...,
//            every size a run-time value (bytes left, capped at 16)
//   pieces16 the first build's: lane l its chunks 16 l and 16 (l + 32) of each row, then lane 4 r + p piece p
//            of row r's scales at k + 16 p, every size 16 known at compile time
//   piecesN  the second build's: the same, every size a run-time value (the chunks' bytes left in the row,
//            the scales' bytes left, each capped at 16)
//   scales   the pieces alone (no chunk copies), size known at compile time
// A fault ends the process (the context is lost), so run each mode in its own process, and under
// compute-sanitizer's memcheck for where:
//   for m in units pieces16 piecesN scales; do .stage2/cp_async_probe $m; done
//
// Not part of the build (a device probe): on this machine
//   mkdir -p .stage2 && nvcc -O3 -std=c++17 -I. -gencode=arch=compute_90a,code=sm_90a -o .stage2/cp_async_probe \
//     tools/device/cp_async_probe.cu
// then a device call that carries .stage2 runs it.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "ops/cuda/common.cuh"
#include "tools/device/probe.h"

namespace {

constexpr int kWarps = 8, kGroupRows = 8, kBlocks = 132;
enum Mode { kUnits, kPieces16, kPiecesN, kScales };

int RowBytes(int k) { return (k + k / 16 + 15) / 16 * 16; }

// Block b, warp w: rows 8 (8 b + w) ..; out[8 b + w] = the sum of the bytes the copies were to bring.
template <Mode M>
__global__ void CopyKernel(const uint8_t* w, int k, int row_bytes, uint32_t* out) {
  extern __shared__ __align__(16) uint8_t slots[];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, group = blockIdx.x * kWarps + warp;
  uint8_t* slot = slots + warp * kGroupRows * row_bytes;
  const uint8_t* span = w + static_cast<int64_t>(group) * kGroupRows * row_bytes;
  const uint64_t policy = ggrt::cuda::EvictFirstPolicy();
  const int scale_end = k + k / 16;
  if constexpr (M == kUnits) {
    const int bytes = kGroupRows * row_bytes;
    for (int at = 16 * lane; at < bytes; at += 16 * 32) {
      ggrt::cuda::CopyAsync16(slot + at, span + at, min(16, bytes - at), policy);
    }
  } else {
    if constexpr (M != kScales) {
      const bool has_a = 16 * lane < k, has_b = 16 * (lane + 32) < k;
      const int a_bytes = M == kPieces16 ? 16 : min(16, k - 16 * lane);
      const int b_bytes = M == kPieces16 ? 16 : min(16, k - 16 * (lane + 32));
      for (int r = 0; r < kGroupRows; ++r) {
        const int a = r * row_bytes + 16 * lane, b = r * row_bytes + 16 * (lane + 32);
        if (has_a) ggrt::cuda::CopyAsync16(slot + a, span + a, a_bytes, policy);
        if (has_b) ggrt::cuda::CopyAsync16(slot + b, span + b, b_bytes, policy);
      }
    }
    const int r = lane / 4, piece = k + 16 * (lane % 4);
    if (piece < scale_end) {
      const int size = M == kPiecesN ? min(16, scale_end - piece) : 16;
      ggrt::cuda::CopyAsync16(slot + r * row_bytes + piece, span + r * row_bytes + piece, size, policy);
    }
  }
  ggrt::cuda::CopyAsyncCommit();
  ggrt::cuda::CopyAsyncWaitPending<0>();
  __syncwarp();
  // The bytes each mode brings: the quants (not in kScales) and the scales of every row.
  uint32_t sum = 0;
  for (int r = 0; r < kGroupRows; ++r) {
    for (int i = lane; i < scale_end; i += 32) {
      if (M != kScales || i >= k) sum += slot[r * row_bytes + i];
    }
  }
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (lane == 0) out[group] = sum;
}

template <Mode M>
void Run(const char* name, int k) {
  const int row_bytes = RowBytes(k), groups = kBlocks * kWarps;
  std::vector<uint8_t> host(static_cast<size_t>(groups) * kGroupRows * row_bytes);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  uint8_t* w;
  uint32_t* out;
  CHECK_CUDA(cudaMalloc(&w, host.size()));
  CHECK_CUDA(cudaMalloc(&out, groups * sizeof(uint32_t)));
  CHECK_CUDA(cudaMemcpy(w, host.data(), host.size(), cudaMemcpyHostToDevice));
  const int smem = kWarps * kGroupRows * row_bytes;
  CHECK_CUDA(cudaFuncSetAttribute(CopyKernel<M>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  CopyKernel<M><<<kBlocks, kWarps * 32, smem>>>(w, k, row_bytes, out);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<uint32_t> got(groups);
  CHECK_CUDA(cudaMemcpy(got.data(), out, groups * sizeof(uint32_t), cudaMemcpyDeviceToHost));
  int wrong = 0;
  for (int g = 0; g < groups; ++g) {
    uint32_t want = 0;
    for (int r = 0; r < kGroupRows; ++r) {
      const uint8_t* row = host.data() + (static_cast<size_t>(g) * kGroupRows + r) * row_bytes;
      for (int i = M == kScales ? k : 0; i < k + k / 16; ++i) want += row[i];
    }
    wrong += got[g] != want;
  }
  std::printf("%-8s k %4d: %s (%d of %d groups wrong)\n", name, k, wrong == 0 ? "ok" : "WRONG", wrong, groups);
  CHECK_CUDA(cudaFree(w));
  CHECK_CUDA(cudaFree(out));
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "units";
  for (int k : {32, 96, 896}) {
    if (!std::strcmp(mode, "units")) {
      Run<kUnits>(mode, k);
    } else if (!std::strcmp(mode, "pieces16")) {
      Run<kPieces16>(mode, k);
    } else if (!std::strcmp(mode, "piecesN")) {
      Run<kPiecesN>(mode, k);
    } else if (!std::strcmp(mode, "scales")) {
      Run<kScales>(mode, k);
    } else {
      std::fprintf(stderr, "cp_async_probe: unknown mode '%s' (units, pieces16, piecesN, scales)\n", mode);
      return 2;
    }
  }
  return 0;
}
