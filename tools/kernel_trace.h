// The device start and end of every kernel launched between Start() and Stop(), CUDA Graph nodes included,
// from CUPTI's activity API (concurrent-kernel records). bench --trace uses it to show what a captured decode
// step waits on: the per-op events of bench --profile run the step eagerly with a barrier between ops, and
// kernel_bench runs a kernel back to back with itself, and neither predicted the graph (PERF_NOTES.md, step 72).
//
// libcupti is loaded at run time ($GGRT_CUPTI, else libcupti.so.13 on the library path or in
// /usr/local/cuda/lib64), so that every tool still runs where it is absent; Start() says so in its error.
#ifndef GGRT_TOOLS_KERNEL_TRACE_H_
#define GGRT_TOOLS_KERNEL_TRACE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ggrt {

struct KernelSpan {
  std::string name;  // Demangled.
  uint64_t start_ns = 0, end_ns = 0;  // The GPU's timestamps.
  // The API call that launched it (CUPTI's correlation id): every kernel of one graph launch shares it.
  uint32_t launch = 0;
  // Its launch shape and what a block of it holds (0 where unknown).
  int64_t blocks = 0;
  int threads = 0;
  int registers = 0;     // A thread's.
  int shared_bytes = 0;  // A block's, static and dynamic.
};

// One trace at a time in a process (CUPTI's buffers are process-wide).
class KernelTrace {
 public:
  static absl::StatusOr<std::unique_ptr<KernelTrace>> Start();
  ~KernelTrace();
  KernelTrace(const KernelTrace&) = delete;
  KernelTrace& operator=(const KernelTrace&) = delete;

  // Waits for the device, flushes CUPTI's buffers and returns the spans in start order.
  absl::StatusOr<std::vector<KernelSpan>> Stop();

 private:
  KernelTrace() = default;
  bool active_ = true;
};

// `spans` (in start order) as `steps` runs of the same kernel sequence, e.g. decode steps replaying one graph: a
// markdown table with one row per kernel name (its mean time a step, launches, the mean gap before it: from the
// previous kernel's end to its start, negative where they overlap, and what it adds to the step: time plus gap, from
// the previous kernel's end to its own), then one row per position in the step. With `sms` (the device's
// multiprocessors) and the spans' shapes, each position's row also says whether one of its blocks fits an SM's 64K
// registers beside the previous kernel's blocks, spread evenly: a kernel's blocks start (and issue their weights)
// before the previous one ends only where they fit (PERF_NOTES.md step 118). An error when the spans do not split into
// `steps` equal sequences.
absl::StatusOr<std::string> StepTable(const std::vector<KernelSpan>& spans, int steps, int sms = 0);

// Registers a block of `threads` threads at `registers` each takes from an SM's file: a warp's are allocated
// in units of 256.
int BlockRegisters(int threads, int registers);

// The launches of a trace that ran its most common sequence of two or more kernels (ties: the longer one), e.g.
// the decode steps of a trace that also holds a discarded run-ahead step of another graph or kernels launched
// one by one. `spans` keeps those launches' kernels in start order.
struct RepeatedLaunches {
  std::vector<KernelSpan> spans;
  int steps = 0;
  int other_launches = 0, other_kernels = 0;  // Left out.
};
absl::StatusOr<RepeatedLaunches> MostRepeatedLaunch(const std::vector<KernelSpan>& spans);

}  // namespace ggrt

#endif  // GGRT_TOOLS_KERNEL_TRACE_H_
