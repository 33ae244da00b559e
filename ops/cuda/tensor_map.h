// Tensor maps for the Tensor Memory Accelerator (TMA, Hopper): the descriptor a kernel hands to
// cp.async.bulk.tensor to copy a box of a row-major matrix into shared memory, in one instruction from one
// thread, swizzled for bank-conflict-free (or wgmma-ready) reads.
#ifndef GGRT_OPS_CUDA_TENSOR_MAP_H_
#define GGRT_OPS_CUDA_TENSOR_MAP_H_

#include <cstdint>

#include <cuda.h>
#include <cuda_runtime_api.h>

namespace ggrt::cuda {

struct TensorMapShape {
  const void* base;       // 16-byte aligned
  bool bf16;              // else f16: the 2-byte element type
  uint64_t cols, rows;    // The matrix [rows, cols], rows `cols` elements apart (cols * 2 a multiple of 16).
  uint32_t box_cols, box_rows;  // The box one copy moves; box_cols * 2 within the swizzle's span.
  CUtensorMapSwizzle swizzle;
  CUtensorMapL2promotion l2_promotion;
};

// Encodes `shape` into `map` (through the driver's entry point, so nothing links libcuda). Errors: the
// driver refused the shape (cudaErrorInvalidValue) or has no TMA (cudaErrorNotSupported).
cudaError_t MakeTensorMap(const TensorMapShape& shape, CUtensorMap* map);

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_TENSOR_MAP_H_
