// Quoting for names that come from files and flags (tensor names, metadata keys, token texts, paths) before
// they go into a message: control bytes, quotes and backslashes are escaped and long names are cut, so a
// hostile name cannot split an error line or flood a terminal.
#ifndef GGRT_BASE_QUOTE_H_
#define GGRT_BASE_QUOTE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ggrt {

// 'name', C-escaped, at most `max_bytes` of the name shown (then "...(N bytes)").
std::string Quote(absl::string_view name, size_t max_bytes = 120);

}  // namespace ggrt

#endif  // GGRT_BASE_QUOTE_H_
