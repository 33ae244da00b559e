// What a backend offers the generation loop: run the prefill graph over a prompt and the decode-step graph
// over one token, each at a position in the KV cache the executor owns.
#ifndef GGRT_RUNTIME_EXECUTOR_H_
#define GGRT_RUNTIME_EXECUTOR_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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
  // Positions the executor accepts: the KV cache's, until LimitContext.
  int ctx_size() const { return ctx_size_; }
  // Accepts positions below `ctx` only: the KV pages hold whole pages, so the cache may have room for a few
  // positions more than the context asked for. `ctx` must not exceed the cache.
  absl::Status LimitContext(int ctx) {
    if (ctx < 1 || ctx > ctx_size_) {
      return absl::InvalidArgumentError(absl::StrCat("context ", ctx, " exceeds the KV cache of ", ctx_size_));
    }
    ctx_size_ = ctx;
    return absl::OkStatus();
  }
  // Processes tokens at positions [pos, pos + tokens.size()).
  virtual absl::StatusOr<StepOutput> Prefill(absl::Span<const int32_t> tokens, int pos) = 0;
  // One decode step: `token` at position `pos`.
  virtual absl::StatusOr<StepOutput> Decode(int32_t token, int pos) = 0;

 protected:
  int ctx_size_ = 0;  // Set by the executor from its KV cache when it prepares its first graph.
};

}  // namespace ggrt

#endif  // GGRT_RUNTIME_EXECUTOR_H_
