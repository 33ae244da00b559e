// Structural and type checks of a graph: every operand defined before use (which makes the order
// topological and the graph acyclic), every value defined once, result types as the shape rules say,
// use lists consistent, in-place results aliasing states, and at least one output.
#ifndef GGRT_GRAPH_VERIFIER_H_
#define GGRT_GRAPH_VERIFIER_H_

#include "absl/status/status.h"
#include "graph/graph.h"

namespace ggrt {

absl::Status VerifyGraph(const Graph& graph);

}  // namespace ggrt

#endif  // GGRT_GRAPH_VERIFIER_H_
