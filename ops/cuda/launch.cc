#include "ops/cuda/launch.h"

#include <atomic>

namespace ggrt::cuda {
namespace {

std::atomic<int> enabled{-1};  // -1: not yet decided from the device.

}  // namespace

void SetProgrammaticLaunch(bool on) { enabled = on ? 1 : 0; }

bool ProgrammaticLaunchEnabled() {
  int e = enabled.load();
  if (e < 0) {
    int device = 0, major = 0;
    e = cudaGetDevice(&device) == cudaSuccess &&
                cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
                major >= 9
            ? 1
            : 0;
    enabled = e;
  }
  return e == 1;
}

}  // namespace ggrt::cuda
