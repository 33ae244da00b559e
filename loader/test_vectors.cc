#include "loader/test_vectors.h"


#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/quote.h"
#include "base/status_macros.h"

namespace ggrt {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  return ReadRegularFile(path, uint64_t{64} << 20, "test-vector file");
}

}  // namespace

absl::StatusOr<std::vector<TokenizerCase>> ReadTokenizerVectors(const std::string& base) {
  ASSIGN_OR_RETURN(const std::string inp, ReadFile(base + ".inp"));
  ASSIGN_OR_RETURN(const std::string out, ReadFile(base + ".out"));
  std::vector<std::string> texts = absl::StrSplit(inp, "\n__ggml_vocab_test__\n");
  if (!texts.empty() && texts.back().empty()) texts.pop_back();  // The file ends with a separator.
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (texts.size() != lines.size()) {
    return absl::InvalidArgumentError(absl::StrCat(base, ": ", texts.size(), " cases in .inp but ",
                                                   lines.size(), " lines in .out"));
  }
  if (texts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(base), ": no test cases in ", base, ".inp"));
  }
  std::vector<TokenizerCase> cases;
  for (size_t i = 0; i < texts.size(); ++i) {
    TokenizerCase c{texts[i], {}};
    for (absl::string_view id : absl::StrSplit(lines[i], ' ', absl::SkipEmpty())) {
      int32_t v;
      if (!absl::SimpleAtoi(id, &v)) {
        return absl::InvalidArgumentError(absl::StrCat(base, ".out line ", i + 1, ": bad id '", id, "'"));
      }
      c.expected.push_back(v);
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

VectorResult RunTokenizerVectors(const Tokenizer& tokenizer, const std::vector<TokenizerCase>& cases) {
  VectorResult r;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto ids = tokenizer.Encode(cases[i].text, EncodeOptions{});
    if (ids.ok() && *ids == cases[i].expected) {
      ++r.passed;
      continue;
    }
    ++r.failed;
    std::string text = cases[i].text;
    for (size_t p = 0; (p = text.find('\n', p)) != std::string::npos;) text.replace(p, 1, "\\n");
    r.failures.push_back(absl::StrCat(
        "case ", i + 1, " '", text, "': got [",
        ids.ok() ? absl::StrJoin(*ids, " ") : std::string(ids.status().message()), "], expected [",
        absl::StrJoin(cases[i].expected, " "), "]"));
  }
  return r;
}

}  // namespace ggrt
