// Test helper: parse IR text, run one pass, verify, print.
#ifndef GGRT_GRAPH_PASSES_PASS_TEST_UTIL_H_
#define GGRT_GRAPH_PASSES_PASS_TEST_UTIL_H_

#include <string>

#include "absl/status/statusor.h"
#include "base/status_macros.h"
#include "graph/parser.h"
#include "graph/passes/pass.h"
#include "graph/printer.h"
#include "graph/verifier.h"

namespace ggrt {

struct PassResult {
  bool changed;
  std::string text;
};

inline absl::StatusOr<PassResult> RunPassOnText(Pass& pass, absl::string_view ir) {
  ASSIGN_OR_RETURN(Graph g, ParseGraph(ir));
  RETURN_IF_ERROR(VerifyGraph(g));
  ASSIGN_OR_RETURN(const bool changed, pass.Run(g));
  RETURN_IF_ERROR(VerifyGraph(g));
  return PassResult{changed, PrintGraph(g)};
}

}  // namespace ggrt

#endif  // GGRT_GRAPH_PASSES_PASS_TEST_UTIL_H_
