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

// Thread block clusters (compute capability 9.0+).
bool ClustersSupported();
// Warpgroup matrix multiply-accumulate (wgmma): Hopper's (9.0) alone; kernels that use it are built for sm_90a.
bool WarpgroupMmaSupported();

// Multiprocessors of the current device (asked once; kernels size their grids by it).
int SmCount();

// Shared memory a multiprocessor can give its blocks (the current device's, asked once).
int SharedMemoryPerSm();
// The most dynamic shared memory one block may opt in to (the current device's, asked once).
int SharedMemoryPerBlock();

// `cluster`: blocks per thread block cluster (Hopper), which share their shared memory; (1, 1, 1) for none.
// `shared_percent`: the share of each SM's unified L1 and shared memory the launch asks to be shared memory
// (-1: the driver's choice).
template <typename... KernelArgs, typename... Args>
cudaError_t LaunchClustered(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, dim3 cluster, size_t smem,
                            int shared_percent, cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attributes[3];
  unsigned count = 0;
  if (ProgrammaticLaunchEnabled()) {
    attributes[count].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attributes[count++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (cluster.x * cluster.y * cluster.z > 1) {
    attributes[count].id = cudaLaunchAttributeClusterDimension;
    attributes[count].val.clusterDim.x = cluster.x;
    attributes[count].val.clusterDim.y = cluster.y;
    attributes[count++].val.clusterDim.z = cluster.z;
  }
  if (shared_percent >= 0) {
    attributes[count].id = cudaLaunchAttributePreferredSharedMemoryCarveout;
    attributes[count++].val.sharedMemCarveout = shared_percent;
  }
  config.attrs = attributes;
  config.numAttrs = count;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

template <typename... KernelArgs, typename... Args>
cudaError_t Launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   Args&&... args) {
  return LaunchClustered(kernel, grid, block, dim3(1, 1, 1), smem, -1, stream, std::forward<Args>(args)...);
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
