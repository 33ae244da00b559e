// How much host memory this process can still take: what the kernel reports available, within the cgroup's
// limit and the address-space limit (ulimit -v). Sizes taken from files and flags are checked against it
// before anything is allocated, so an oversized request is an error that says how much it needs, not an
// OOM kill or std::bad_alloc.
#ifndef GGRT_BASE_MEMORY_H_
#define GGRT_BASE_MEMORY_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace ggrt {

int64_t HostMemoryAvailable();

// OK when `bytes` fit in `available`; otherwise ResourceExhausted naming `what`, both sizes and `where`.
absl::Status CheckFits(const std::string& what, int64_t bytes, int64_t available, const std::string& where);

// "1.50 GiB", "12.0 MiB", "512 B".
std::string FormatBytes(int64_t bytes);

}  // namespace ggrt

#endif  // GGRT_BASE_MEMORY_H_
