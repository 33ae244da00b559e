// Test-only: runs WarpSums and WarpSum (common.cuh) over the same values in one warp.
#include "ops/cuda/warp_sums_probe.h"

#include "ops/cuda/common.cuh"

namespace ggrt::cuda {
namespace {

template <int R>
__global__ void WarpSumsProbeKernel(const float* in, float* sums, int* row_of_lane, float* each_sum) {
  const int lane = threadIdx.x;
  float v[R];
#pragma unroll
  for (int r = 0; r < R; ++r) v[r] = in[r * 32 + lane];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float s = WarpSum(v[r]);
    if (lane == 0) each_sum[r] = s;
  }
  sums[lane] = WarpSums(v);
  row_of_lane[lane] = WarpSumsRow<R>(lane);
}

}  // namespace

cudaError_t LaunchWarpSumsProbe(const float* in, int rows, float* sums, int* row_of_lane, float* each_sum,
                                cudaStream_t stream) {
  switch (rows) {
#define GGRT_PROBE_CASE(R)                                                                  \
  case R:                                                                                   \
    WarpSumsProbeKernel<R><<<1, 32, 0, stream>>>(in, sums, row_of_lane, each_sum);           \
    return cudaGetLastError();
    GGRT_PROBE_CASE(1)
    GGRT_PROBE_CASE(2)
    GGRT_PROBE_CASE(4)
    GGRT_PROBE_CASE(8)
    GGRT_PROBE_CASE(16)
    GGRT_PROBE_CASE(32)
#undef GGRT_PROBE_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace ggrt::cuda
