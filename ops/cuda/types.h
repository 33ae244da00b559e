// Element types the CUDA kernels read weights in (the file's dtype stays on the device).
#ifndef GGRT_OPS_CUDA_TYPES_H_
#define GGRT_OPS_CUDA_TYPES_H_

namespace ggrt::cuda {

enum class WeightType { kF32, kF16, kBF16 };

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_TYPES_H_
