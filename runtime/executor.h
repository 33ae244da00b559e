// What a backend offers the generation loop: run the prefill graph over a prompt and the decode-step graph
// over one token, each at a position in the KV cache the executor owns.
#ifndef GGRT_RUNTIME_EXECUTOR_H_
#define GGRT_RUNTIME_EXECUTOR_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "graph/graph.h"

namespace ggrt {

// Builds the optimised graph that processes `seq_len` positions (lowering + pass pipeline).
using GraphFactory = std::function<absl::StatusOr<Graph>(int seq_len)>;

// Output of the last position: the token id when the graph samples greedily on its own, else the logits
// (valid until the next call).
struct StepOutput {
  int32_t token = -1;
  absl::Span<const float> logits;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual absl::string_view name() const = 0;
  virtual int ctx_size() const = 0;
  // Accepts positions below `ctx` only: the KV pages hold whole pages, so the cache may have room for a few
  // positions more than the context asked for. `ctx` must not exceed the cache.
  virtual absl::Status LimitContext(int ctx) = 0;
  // Processes tokens at positions [pos, pos + tokens.size()).
  virtual absl::StatusOr<StepOutput> Prefill(absl::Span<const int32_t> tokens, int pos) = 0;
  // One decode step: `token` at position `pos`.
  virtual absl::StatusOr<StepOutput> Decode(int32_t token, int pos) = 0;
};

}  // namespace ggrt

#endif  // GGRT_RUNTIME_EXECUTOR_H_
