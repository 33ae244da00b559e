#include "graph/verifier.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace ggrt {
namespace {

// The state a value stands for, following in-place results back to their state operand; nullptr if none.
const Value* UnderlyingState(const Value* v) {
  while (v->kind == ValueKind::kResult) {
    const int operand = AliasedOperand(v->producer->op, v->result_index);
    if (operand < 0) return nullptr;
    v = v->producer->operands[operand];
  }
  return v->kind == ValueKind::kState ? v : nullptr;
}

}  // namespace

absl::Status VerifyGraph(const Graph& g) {
  absl::flat_hash_set<const Value*> defined;
  absl::flat_hash_set<std::string> names;
  auto define = [&](const Value* v) -> absl::Status {
    RET_CHECK(defined.insert(v).second, "%", v->name, " is defined twice");
    RET_CHECK(names.insert(v->name).second, "two values are named %", v->name);
    return absl::OkStatus();
  };
  for (const auto* list : {&g.inputs(), &g.params(), &g.states()}) {
    for (const Value* v : *list) RETURN_IF_ERROR(define(v));
  }
  for (const Value* v : g.inputs()) RET_CHECK(v->kind == ValueKind::kInput, "%", v->name, " is not an input");
  for (const Value* v : g.params()) RET_CHECK(v->kind == ValueKind::kParam, "%", v->name, " is not a param");
  for (const Value* v : g.states()) RET_CHECK(v->kind == ValueKind::kState, "%", v->name, " is not a state");

  for (const Node* n : g.nodes()) {
    const std::string where = absl::StrCat("node '%", n->name(), "' (", OpName(n->op), ")");
    for (const Value* o : n->operands) {
      RET_CHECK(defined.contains(o), where, " uses %", o->name, " before it is defined");
      const int uses = static_cast<int>(std::count(n->operands.begin(), n->operands.end(), o));
      RET_CHECK(std::count(o->users.begin(), o->users.end(), n) == uses, where, ": use list of %", o->name,
                " is inconsistent");
    }
    auto types = InferResultTypes(n->op, std::vector<const Value*>(n->operands.begin(), n->operands.end()),
                                  n->attrs);
    RET_CHECK(types.ok(), where, ": ", types.status().message());
    RET_CHECK(types->size() == n->results.size(), where, " has ", n->results.size(), " results, expected ",
              types->size());
    for (size_t i = 0; i < n->results.size(); ++i) {
      const Value* r = n->results[i];
      RET_CHECK(r->producer == n && r->result_index == static_cast<int>(i), where, ": result %", r->name,
                " does not point back at its node");
      RET_CHECK(r->type == (*types)[i], where, ": %", r->name, " is ", TypeToString(r->type), ", expected ",
                TypeToString((*types)[i]));
      const int aliased = AliasedOperand(n->op, static_cast<int>(i));
      if (aliased >= 0) {
        RET_CHECK(UnderlyingState(n->operands[aliased]) != nullptr, where, " writes %",
                  n->operands[aliased]->name, " in place, but it is not a state");
      }
      RETURN_IF_ERROR(define(r));
    }
  }
  RET_CHECK(!g.outputs().empty(), "graph '", g.name(), "' has no output");
  for (const Value* o : g.outputs()) RET_CHECK(defined.contains(o), "output %", o->name, " is not defined");
  return absl::OkStatus();
}

}  // namespace ggrt
