// The shared greedy reference of stories260K (256 tokens after BOS), for tests that compare against it.
#ifndef GGRT_TESTS_REFERENCE_H_
#define GGRT_TESTS_REFERENCE_H_

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace ggrt {

// The first `n` reference ids (all of them for n < 0), read from the shared data.
inline std::vector<int32_t> ReferenceIds(int n = -1) {
  std::ifstream in("external/shared/models/stories260K.greedy256.ids");
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<int32_t> ids;
  for (absl::string_view t : absl::StrSplit(ss.str(), absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    int32_t id;
    if (absl::SimpleAtoi(t, &id) && (n < 0 || static_cast<int>(ids.size()) < n)) ids.push_back(id);
  }
  return ids;
}

// Writes `bytes` to a file in the test's temporary folder and returns its path.
inline std::string WriteTestFile(const std::string& name, const std::string& bytes) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace ggrt

#endif  // GGRT_TESTS_REFERENCE_H_
