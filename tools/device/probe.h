// What the standalone device probes (boundary_probe.cu, cp_async_probe.cu, layer_probe.cu, q8_split_probe.cu)
// share. They are built by one nvcc line each, without ops/cuda's launch helpers (which need launch.cc linked;
// cp_async_probe.cu takes common.cuh's inline copies only), so their CUDA errors end the probe here: a probe has
// no caller to hand a Status to.
#ifndef GGRT_TOOLS_DEVICE_PROBE_H_
#define GGRT_TOOLS_DEVICE_PROBE_H_

#include <cstdio>
#include <cstdlib>

#include <cuda_runtime.h>

#define CHECK_CUDA(call)                                                                        \
  do {                                                                                          \
    const cudaError_t e = (call);                                                               \
    if (e != cudaSuccess) {                                                                     \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e)); \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

// A launch configuration, with programmatic dependent launch when `pdl` (`attribute` holds it: it must outlive
// the launch).
inline cudaLaunchConfig_t ProbeConfig(dim3 grid, dim3 block, size_t smem, bool pdl, cudaStream_t stream,
                                      cudaLaunchAttribute* attribute) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  attribute->id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute->val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = pdl ? 1 : 0;
  return config;
}

// Milliseconds a replay of `graph` (which it then destroys) takes: `warmups` replays, then `replays` timed.
inline float MsPerReplay(cudaGraph_t graph, int warmups, int replays, cudaStream_t stream) {
  cudaGraphExec_t exec;
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  for (int i = 0; i < warmups; ++i) CHECK_CUDA(cudaGraphLaunch(exec, stream));
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaEventRecord(start, stream));
  for (int i = 0; i < replays; ++i) CHECK_CUDA(cudaGraphLaunch(exec, stream));
  CHECK_CUDA(cudaEventRecord(stop, stream));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float ms = 0.0f;
  CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
  CHECK_CUDA(cudaEventDestroy(start));
  CHECK_CUDA(cudaEventDestroy(stop));
  CHECK_CUDA(cudaGraphExecDestroy(exec));
  CHECK_CUDA(cudaGraphDestroy(graph));
  return ms / replays;
}

#endif  // GGRT_TOOLS_DEVICE_PROBE_H_
