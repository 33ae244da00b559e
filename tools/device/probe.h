// What the standalone device probes (boundary_probe.cu, q8_split_probe.cu) share. They are built by one nvcc
// line each, without ops/cuda (whose launch helpers need launch.cc linked), so their CUDA errors end the
// probe here: a probe has no caller to hand a Status to.
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

#endif  // GGRT_TOOLS_DEVICE_PROBE_H_
