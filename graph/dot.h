// Graphviz rendering of a graph: nodes numbered in program order (stable across runs), edges labelled with
// the value's type. Weights are left out to keep the picture readable.
#ifndef GGRT_GRAPH_DOT_H_
#define GGRT_GRAPH_DOT_H_

#include <string>

#include "graph/graph.h"

namespace ggrt {

std::string PrintDot(const Graph& graph);

}  // namespace ggrt

#endif  // GGRT_GRAPH_DOT_H_
