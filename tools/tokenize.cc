// Tokenizes stdin with a GGUF vocabulary and prints the ids, or checks llama.cpp-format test vectors.
//   tokenize --vocab FILE.gguf [--test-vectors BASE] [--bos] [--special] [--bench N]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/strings/str_join.h"
#include "loader/gguf_file.h"
#include "loader/load_tokenizer.h"
#include "loader/test_vectors.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: tokenize --vocab FILE.gguf [--test-vectors BASE] [--bos] [--special] [--bench N]\n"
               "  without --test-vectors, tokenizes stdin and prints the ids\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string vocab, vectors;
  bool bos = false, special = false;
  int bench = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--vocab" && i + 1 < argc) vocab = argv[++i];
    else if (a == "--test-vectors" && i + 1 < argc) vectors = argv[++i];
    else if (a == "--bos") bos = true;
    else if (a == "--special") special = true;
    else if (a == "--bench" && i + 1 < argc) bench = std::atoi(argv[++i]);
    else return Usage();
  }
  if (vocab.empty()) return Usage();
  auto file = ggrt::GgufFile::Open(vocab);
  if (!file.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(file.status().message()).c_str());
    return 1;
  }
  auto tokenizer = ggrt::LoadTokenizer(**file);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(tokenizer.status().message()).c_str());
    return 1;
  }
  if (!vectors.empty()) {
    auto cases = ggrt::ReadTokenizerVectors(vectors);
    if (!cases.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(cases.status().message()).c_str());
      return 1;
    }
    const ggrt::VectorResult r = ggrt::RunTokenizerVectors(**tokenizer, *cases);
    for (const std::string& f : r.failures) std::printf("FAIL %s\n", f.c_str());
    if (bench > 0) {
      const auto start = std::chrono::steady_clock::now();
      for (int k = 0; k < bench; ++k) (void)ggrt::RunTokenizerVectors(**tokenizer, *cases);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "encoded all %zu cases %d times: %.3f ms per pass\n", cases->size(), bench,
                   1e3 * s / bench);
    }
    std::printf("%d passed, %d failed\n", r.passed, r.failed);
    return r.failed == 0 ? 0 : 1;
  }
  std::stringstream ss;
  ss << std::cin.rdbuf();
  auto ids = (*tokenizer)->Encode(ss.str(), {.add_bos = bos, .parse_special = special});
  if (!ids.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(ids.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", absl::StrJoin(*ids, " ").c_str());
  return 0;
}
