#include "base/memory.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

TEST(MemoryTest, AvailableIsPositiveAndBoundedByTheAddressSpaceLimit) {
  const int64_t free_now = HostMemoryAvailable();
  EXPECT_GT(free_now, 0);
  // In a child, so the limit does not leak into other tests.
  const pid_t pid = fork();
  if (pid == 0) {
    struct rlimit lim = {1ull << 30, 1ull << 30};
    setrlimit(RLIMIT_AS, &lim);
    _exit(HostMemoryAvailable() <= (int64_t{1} << 30) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(MemoryTest, CheckFitsSaysHowMuch) {
  EXPECT_TRUE(CheckFits("x", 10, 10, "here").ok());
  const absl::Status s = CheckFits("the KV cache", int64_t{3} << 30, int64_t{1} << 20, "of host memory");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "the KV cache needs 3.00 GiB but only 1.0 MiB of host memory is available");
}

}  // namespace
}  // namespace ggrt
