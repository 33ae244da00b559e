// Tokenizes stdin with a GGUF vocabulary and prints the ids, or checks llama.cpp-format test vectors.
//   tokenize --vocab FILE.gguf [--test-vectors BASE] [--bos] [--special] [--bench N]
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/strings/str_join.h"
#include "base/clock.h"
#include "base/status_macros.h"
#include "loader/gguf_file.h"
#include "loader/load_tokenizer.h"
#include "loader/test_vectors.h"
#include "tools/flags.h"

namespace ggrt {
namespace {

constexpr char kUsage[] =
    "usage: tokenize --vocab FILE.gguf [--test-vectors BASE] [--bos] [--special] [--bench N]\n"
    "  without --test-vectors, tokenizes stdin and prints the ids\n";

absl::Status Main(int argc, char** argv) {
  Flags flags;
  RETURN_IF_ERROR(flags.Parse(argc, argv,
                              {{{"--vocab"}}, {{"--test-vectors"}}, {{"--bos"}, false}, {{"--special"}, false},
                               {{"--bench"}}, {{"-h", "--help"}, false}}));
  if (flags.Has("--help") || !flags.Has("--vocab")) {
    std::fputs(kUsage, flags.Has("--help") ? stdout : stderr);
    return flags.Has("--help") ? absl::OkStatus() : absl::InvalidArgumentError("--vocab is required");
  }
  int bench = 0;
  RETURN_IF_ERROR(flags.GetInt("--bench", &bench, 0, 1000000));
  ASSIGN_OR_RETURN(auto file, GgufFile::Open(flags.Get("--vocab")));
  ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(*file));
  if (flags.Has("--test-vectors")) {
    ASSIGN_OR_RETURN(const std::vector<TokenizerCase> cases, ReadTokenizerVectors(flags.Get("--test-vectors")));
    const VectorResult r = RunTokenizerVectors(*tokenizer, cases);
    for (const std::string& f : r.failures) std::printf("FAIL %s\n", f.c_str());
    if (bench > 0) {
      const SteadyTime start = SteadyNow();
      for (int k = 0; k < bench; ++k) (void)RunTokenizerVectors(*tokenizer, cases);
      const double s = SecondsSince(start);
      std::fprintf(stderr, "encoded all %zu cases %d times: %.3f ms per pass\n", cases.size(), bench,
                   1e3 * s / bench);
    }
    std::printf("%d passed, %d failed\n", r.passed, r.failed);
    if (r.failed != 0) return absl::InvalidArgumentError(absl::StrCat(r.failed, " test vectors failed"));
    return absl::OkStatus();
  }
  std::stringstream ss;
  ss << std::cin.rdbuf();
  ASSIGN_OR_RETURN(const std::vector<int32_t> ids,
                   tokenizer->Encode(ss.str(), {.add_bos = flags.Has("--bos"), .parse_special = flags.Has("--special")}));
  std::printf("%s\n", absl::StrJoin(ids, " ").c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
