// Kernel launches with Programmatic Dependent Launch (Hopper): a kernel may be scheduled while the one
// before it in the stream still runs; it does independent work (weight loads) first and waits for its
// predecessor's results with GridDependencyWait(). Captured into a CUDA Graph, this removes most of the
// gap between consecutive kernels of a decode step.
#ifndef GGRT_OPS_CUDA_LAUNCH_H_
#define GGRT_OPS_CUDA_LAUNCH_H_

#include <utility>

#include <cuda_runtime.h>

namespace ggrt::cuda {

// On by default where the device supports it (compute capability 9.0+); bench turns it off to compare.
void SetProgrammaticLaunch(bool enabled);
bool ProgrammaticLaunchEnabled();

// Multiprocessors of the current device (asked once; kernels size their grids by it).
int SmCount();

template <typename... KernelArgs, typename... Args>
cudaError_t Launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  if (ProgrammaticLaunchEnabled()) {
    config.attrs = &attribute;
    config.numAttrs = 1;
  }
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

#ifdef __CUDACC__
// Lets the next kernel in the stream be scheduled now (it still waits for this one's results).
__device__ __forceinline__ void AllowDependentLaunch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}
// Waits until the previous kernel in the stream has completed and its writes are visible. Every kernel
// launched through Launch() calls it before reading anything an earlier kernel wrote.
__device__ __forceinline__ void GridDependencyWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
#endif

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_LAUNCH_H_
