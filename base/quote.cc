#include "base/quote.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ggrt {

std::string Quote(absl::string_view name, size_t max_bytes) {
  std::string out = absl::StrCat("'", absl::CHexEscape(name.substr(0, max_bytes)), "'");
  if (name.size() > max_bytes) absl::StrAppend(&out, "...(", name.size(), " bytes)");
  return out;
}

}  // namespace ggrt
