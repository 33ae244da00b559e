#include "ops/cuda/launch.h"

#include <atomic>

namespace ggrt::cuda {
namespace {

std::atomic<int> enabled{-1};  // -1: not yet decided from the device.

// The current device's compute capability's major number (0 where it cannot be asked).
int ComputeMajor() {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return major;
}

}  // namespace

void SetProgrammaticLaunch(bool on) { enabled = on ? 1 : 0; }

bool ProgrammaticLaunchEnabled() {
  int e = enabled.load();
  if (e < 0) {
    e = ComputeMajor() >= 9 ? 1 : 0;
    enabled = e;
  }
  return e == 1;
}

bool ClustersSupported() {
  static const bool supported = ComputeMajor() >= 9;
  return supported;
}

bool WarpgroupMmaSupported() {
  static const bool supported = ComputeMajor() == 9;
  return supported;
}

int SharedMemoryPerSm() {
  static const int bytes = [] {
    int device = 0, value = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&value, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device) != cudaSuccess) {
      cudaGetLastError();
      return 228 * 1024;  // An H100/H200.
    }
    return value;
  }();
  return bytes;
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
