#include "base/memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ggrt {
namespace {

// The value of "key:" in a /proc file of "key: value kB" lines, in bytes; -1 when absent.
int64_t ProcKilobytes(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    int64_t kb = -1;
    fields >> kb;
    return kb < 0 ? -1 : kb * 1024;
  }
  return -1;
}

int64_t ReadNumber(const char* path) {
  std::ifstream in(path);
  std::string text;
  int64_t v = -1;
  if (!(in >> text) || !absl::SimpleAtoi(text, &v)) return -1;  // "max" or missing: no limit.
  return v;
}

}  // namespace

int64_t HostMemoryAvailable() {
  int64_t available = ProcKilobytes("/proc/meminfo", "MemAvailable");
  if (available < 0) available = static_cast<int64_t>(sysconf(_SC_AVPHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
  const int64_t cgroup_max = ReadNumber("/sys/fs/cgroup/memory.max");
  const int64_t cgroup_used = ReadNumber("/sys/fs/cgroup/memory.current");
  if (cgroup_max >= 0 && cgroup_used >= 0) available = std::min(available, cgroup_max - cgroup_used);
  struct rlimit as;
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    const int64_t mapped = std::max<int64_t>(ProcKilobytes("/proc/self/status", "VmSize"), 0);
    available = std::min(available, static_cast<int64_t>(as.rlim_cur) - mapped);
  }
  return std::max<int64_t>(available, 0);
}

absl::Status CheckFits(const std::string& what, int64_t bytes, int64_t available, const std::string& where) {
  if (bytes <= available) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(what, " needs ", FormatBytes(bytes), " but only ",
                                                   FormatBytes(available), " ", where, " is available"));
}

std::string FormatBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return absl::StrFormat("%.2f GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return absl::StrFormat("%.1f MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return absl::StrFormat("%.1f KiB", b / 1024.0);
  return absl::StrCat(bytes, " B");
}

}  // namespace ggrt
