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

int SmCount() {
  static const int sms = [] {
    int device = 0, count = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      cudaGetLastError();
      return 132;  // An H100/H200; only the speed depends on it.
    }
    return count;
  }();
  return sms;
}

}  // namespace ggrt::cuda
