// CUDA and cuBLAS return codes as absl::Status, naming the failed call. Host code only.
#ifndef GGRT_OPS_CUDA_CUDA_STATUS_H_
#define GGRT_OPS_CUDA_CUDA_STATUS_H_

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ggrt::cuda {

inline absl::Status CudaError(cudaError_t e, const char* expr) {
  const std::string msg = absl::StrCat(expr, ": ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
  if (e == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(absl::StrCat("CUDA out of memory: ", msg));
  return absl::InternalError(absl::StrCat("CUDA error: ", msg));
}

inline absl::Status CublasError(cublasStatus_t s, const char* expr) {
  const std::string msg = absl::StrCat(expr, ": cuBLAS status ", static_cast<int>(s));
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(absl::StrCat("cuBLAS out of memory: ", msg));
  return absl::InternalError(msg);
}

}  // namespace ggrt::cuda

#define CUDA_RETURN_IF_ERROR(expr)                                              \
  do {                                                                          \
    const cudaError_t ggrt_cuda_error_ = (expr);                                \
    if (ggrt_cuda_error_ != cudaSuccess) return ::ggrt::cuda::CudaError(ggrt_cuda_error_, #expr); \
  } while (0)

#define CUBLAS_RETURN_IF_ERROR(expr)                                            \
  do {                                                                          \
    const cublasStatus_t ggrt_cublas_status_ = (expr);                          \
    if (ggrt_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                         \
      return ::ggrt::cuda::CublasError(ggrt_cublas_status_, #expr);             \
    }                                                                           \
  } while (0)

#endif  // GGRT_OPS_CUDA_CUDA_STATUS_H_
