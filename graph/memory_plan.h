// Static memory plan of a graph's intermediate values: each node result gets an offset in one arena, and
// results whose lifetimes (producer to last user, in program order) do not overlap share memory. Results
// that update a state in place take the state's buffer and need no arena space; inputs, params and states
// live outside the arena.
#ifndef GGRT_GRAPH_MEMORY_PLAN_H_
#define GGRT_GRAPH_MEMORY_PLAN_H_

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "graph/graph.h"

namespace ggrt {

struct MemoryPlan {
  int64_t arena_bytes = 0;
  int64_t unshared_bytes = 0;  // What the arena would take without reuse.
  absl::flat_hash_map<const Value*, int64_t> offsets;
};

absl::StatusOr<MemoryPlan> PlanMemory(const Graph& graph, int64_t alignment = 256);

// The value whose buffer `v` uses: the state behind an in-place result, else `v` itself.
const Value* BufferOwner(const Value* v);

}  // namespace ggrt

#endif  // GGRT_GRAPH_MEMORY_PLAN_H_
