#include "ops/cuda/launch.h"

#include <atomic>

namespace ggrt::cuda {
namespace {

std::atomic<int> enabled{-1};  // -1: not yet decided from the device.

// An attribute of the current device, or `fallback` where it cannot be asked.
int DeviceAttribute(cudaDeviceAttr attribute, int fallback) {
  int device = 0, value = 0;
  if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&value, attribute, device) != cudaSuccess) {
    cudaGetLastError();
    return fallback;
  }
  return value;
}

// The current device's compute capability's major number (0 where it cannot be asked).
int ComputeMajor() { return DeviceAttribute(cudaDevAttrComputeCapabilityMajor, 0); }

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
  // Without an answer, an H100/H200's (only the speed depends on it, as on SmCount's).
  static const int bytes = DeviceAttribute(cudaDevAttrMaxSharedMemoryPerMultiprocessor, 228 * 1024);
  return bytes;
}

int SharedMemoryPerBlock() {
  static const int bytes = DeviceAttribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, 227 * 1024);
  return bytes;
}

int SmCount() {
  static const int sms = DeviceAttribute(cudaDevAttrMultiProcessorCount, 132);
  return sms;
}

}  // namespace ggrt::cuda
