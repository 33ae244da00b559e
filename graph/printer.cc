#include "graph/printer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace ggrt {
namespace {

// Nine significant digits round-trip any float.
std::string Float(float f) { return absl::StrFormat("%.9g", f); }

// Attributes at their defaults (no scaling, no soft-capping, no window) are left out, so the families that
// do not use them print as they always have.
std::string Rope(const RopeAttrs& a) {
  return absl::StrCat("theta=", Float(a.theta), ", dims=", a.dims, ", head_dim=", a.head_dim,
                      ", neox=", a.neox ? "true" : "false",
                      a.freq_scale != 1.0f ? absl::StrCat(", freq_scale=", Float(a.freq_scale)) : "");
}
std::string AttentionExtras(const AttentionAttrs& a) {
  return absl::StrCat(a.softcap != 0.0f ? absl::StrCat(", softcap=", Float(a.softcap)) : "",
                      a.window != 0 ? absl::StrCat(", window=", a.window) : "");
}

struct AttrPrinter {
  std::string operator()(std::monostate) const { return ""; }
  std::string operator()(const RmsNormAttrs& a) const { return absl::StrCat("[eps=", Float(a.eps), "]"); }
  std::string operator()(const RopeAttrs& a) const { return absl::StrCat("[", Rope(a), "]"); }
  std::string operator()(const AttentionAttrs& a) const {
    return absl::StrCat("[heads=", a.heads, ", kv_heads=", a.kv_heads, ", head_dim=", a.head_dim,
                        ", scale=", Float(a.scale), AttentionExtras(a), "]");
  }
  std::string operator()(const RopeAttentionAttrs& a) const {
    return absl::StrCat("[", Rope(a.rope), ", heads=", a.attention.heads, ", kv_heads=", a.attention.kv_heads,
                        ", scale=", Float(a.attention.scale), AttentionExtras(a.attention), "]");
  }
  std::string operator()(const EmbeddingAttrs& a) const { return absl::StrCat("[scale=", Float(a.scale), "]"); }
  std::string operator()(const SoftcapAttrs& a) const { return absl::StrCat("[cap=", Float(a.cap), "]"); }
};

}  // namespace

std::string PrintAttrs(const Attrs& attrs) { return std::visit(AttrPrinter{}, attrs); }

std::string PrintNode(const Node& node) {
  std::vector<std::string> results, operands, types;
  for (const Value* r : node.results) {
    results.push_back(absl::StrCat("%", r->name));
    types.push_back(TypeToString(r->type));
  }
  for (const Value* o : node.operands) operands.push_back(absl::StrCat("%", o->name));
  return absl::StrCat(absl::StrJoin(results, ", "), " = ", OpName(node.op), PrintAttrs(node.attrs), "(",
                      absl::StrJoin(operands, ", "), ") : ", absl::StrJoin(types, ", "));
}

std::string PrintGraph(const Graph& graph) {
  std::string out = absl::StrCat("graph ", graph.name(), " {\n");
  auto declare = [&](const char* kind, const std::vector<Value*>& values) {
    for (const Value* v : values) absl::StrAppend(&out, "  ", kind, " %", v->name, " : ", TypeToString(v->type), "\n");
  };
  declare("input", graph.inputs());
  declare("param", graph.params());
  declare("state", graph.states());
  for (const Node* n : graph.nodes()) absl::StrAppend(&out, "  ", PrintNode(*n), "\n");
  for (const Value* v : graph.outputs()) absl::StrAppend(&out, "  output %", v->name, "\n");
  return out + "}\n";
}

}  // namespace ggrt
