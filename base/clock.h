// Elapsed time on the steady clock, for the timings the tools print and the counters the engine and server
// report.
#ifndef GGRT_BASE_CLOCK_H_
#define GGRT_BASE_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace ggrt {

using SteadyTime = std::chrono::steady_clock::time_point;

inline SteadyTime SteadyNow() { return std::chrono::steady_clock::now(); }

inline double SecondsSince(SteadyTime t0) { return std::chrono::duration<double>(SteadyNow() - t0).count(); }

inline int64_t NanosSince(SteadyTime t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyNow() - t0).count();
}

}  // namespace ggrt

#endif  // GGRT_BASE_CLOCK_H_
