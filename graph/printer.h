// Deterministic text form of a graph (one declaration or node per line, program order, no pointers), which
// ParseGraph reads back:
//   graph decode {
//     input %tokens : i32[1]
//     param %blk.0.attn_norm.weight : f32[64]
//     state %blk.0.k_cache : f32[512,32]
//     %blk.0.attn_norm = rms_norm[eps=1e-05](%inp_embd, %blk.0.attn_norm.weight) : f32[1,64]
//     output %token
//   }
#ifndef GGRT_GRAPH_PRINTER_H_
#define GGRT_GRAPH_PRINTER_H_

#include <string>

#include "graph/graph.h"

namespace ggrt {

std::string PrintGraph(const Graph& graph);
std::string PrintAttrs(const Attrs& attrs);  // "" or "[k=v, ...]"
std::string PrintNode(const Node& node);     // One line, without indentation.

}  // namespace ggrt

#endif  // GGRT_GRAPH_PRINTER_H_
