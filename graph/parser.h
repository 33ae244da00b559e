// Reads the text form written by PrintGraph. Errors give the line number and what was expected.
#ifndef GGRT_GRAPH_PARSER_H_
#define GGRT_GRAPH_PARSER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/graph.h"

namespace ggrt {

absl::StatusOr<Graph> ParseGraph(absl::string_view text);

}  // namespace ggrt

#endif  // GGRT_GRAPH_PARSER_H_
