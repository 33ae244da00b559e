// GGRT_CHECK: aborts with a message on a broken invariant. For programmer errors only; anything a file, a
// flag or a request can cause is an absl::Status instead.
#ifndef GGRT_BASE_CHECK_H_
#define GGRT_BASE_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace ggrt::internal {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* cond, const std::string& message) {
  std::fprintf(stderr, "%s:%d: check failed: %s %s\n", file, line, cond, message.c_str());
  std::abort();
}

}  // namespace ggrt::internal

#define GGRT_CHECK(cond, ...)                                                                     \
  do {                                                                                            \
    if (!(cond)) ::ggrt::internal::CheckFailed(__FILE__, __LINE__, #cond, ::absl::StrCat(__VA_ARGS__)); \
  } while (0)

#endif  // GGRT_BASE_CHECK_H_
