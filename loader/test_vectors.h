// Tokenizer test vectors in llama.cpp's format: BASE.inp holds cases separated by lines
// "__ggml_vocab_test__"; BASE.out holds one line of space-separated ids per case.
#ifndef GGRT_LOADER_TEST_VECTORS_H_
#define GGRT_LOADER_TEST_VECTORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/tokenizer.h"

namespace ggrt {

struct TokenizerCase {
  std::string text;
  std::vector<int32_t> expected;
};

absl::StatusOr<std::vector<TokenizerCase>> ReadTokenizerVectors(const std::string& base);

struct VectorResult {
  int passed = 0;
  int failed = 0;
  std::vector<std::string> failures;  // One line per failing case.
};

// Encodes every case without BOS and without special-token parsing, as the vectors were made.
VectorResult RunTokenizerVectors(const Tokenizer& tokenizer, const std::vector<TokenizerCase>& cases);

}  // namespace ggrt

#endif  // GGRT_LOADER_TEST_VECTORS_H_
