#include "graph/dot.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "graph/printer.h"

namespace ggrt {

std::string PrintDot(const Graph& g) {
  std::string out = absl::StrCat("digraph \"", g.name(), "\" {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n");
  absl::flat_hash_map<const Value*, std::string> source;  // Dot node that defines each value.
  int i = 0;
  for (const auto* list : {&g.inputs(), &g.states()}) {
    for (const Value* v : *list) {
      const std::string id = absl::StrCat("v", i++);
      absl::StrAppend(&out, "  ", id, " [shape=ellipse, label=\"%", v->name, "\"];\n");
      source[v] = id;
    }
  }
  int n = 0;
  for (const Node* node : g.nodes()) {
    const std::string id = absl::StrCat("n", n++);
    absl::StrAppend(&out, "  ", id, " [shape=box", IsFused(node->op) ? ", style=filled, fillcolor=lightblue" : "",
                    ", label=\"", node->name(), "\\n", OpName(node->op), "\"];\n");
    for (const Value* o : node->operands) {
      auto it = source.find(o);
      if (it == source.end()) continue;  // A weight.
      absl::StrAppend(&out, "  ", it->second, " -> ", id, " [label=\"", TypeToString(o->type), "\"];\n");
    }
    for (const Value* r : node->results) source[r] = id;
  }
  for (const Value* o : g.outputs()) {
    absl::StrAppend(&out, "  out_", o->id, " [shape=doublecircle, label=\"%", o->name, "\"];\n  ",
                    source[o], " -> out_", o->id, ";\n");
  }
  return out + "}\n";
}

}  // namespace ggrt
