// A test-only launcher for common.cuh's warp reductions, so that their device code is checked on its own.
#ifndef GGRT_OPS_CUDA_WARP_SUMS_PROBE_H_
#define GGRT_OPS_CUDA_WARP_SUMS_PROBE_H_

#include <cuda_runtime.h>

namespace ggrt::cuda {

// One warp: lane l holds in[r * 32 + l] for r < rows (1, 2, 4, ... 32). Writes WarpSums' result of lane l to
// sums[l] and its row (WarpSumsRow) to row_of_lane[l], and WarpSum of each row r to each_sum[r].
cudaError_t LaunchWarpSumsProbe(const float* in, int rows, float* sums, int* row_of_lane, float* each_sum,
                                cudaStream_t stream);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_WARP_SUMS_PROBE_H_
