#include "base/clock.h"

#include <thread>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

TEST(ClockTest, MeasuresASleep) {
  const SteadyTime t0 = SteadyNow();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t nanos = NanosSince(t0);
  const double seconds = SecondsSince(t0);
  EXPECT_GE(nanos, 20'000'000);
  EXPECT_GE(seconds, 0.02);
  EXPECT_GE(seconds * 1e9, static_cast<double>(nanos));  // Read later.
}

}  // namespace
}  // namespace ggrt
