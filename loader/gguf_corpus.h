// Test helper: a valid small GGUF image and a corpus of corrupted variants, each with the text its error
// must contain. Used by gguf_file_test and as the seed corpus of the fuzzer.
#ifndef GGRT_LOADER_GGUF_CORPUS_H_
#define GGRT_LOADER_GGUF_CORPUS_H_

#include <string>
#include <vector>

namespace ggrt {

struct CorruptGguf {
  std::string name;
  std::string bytes;
  std::string expected_error;  // Substring of the error message.
};

// A valid file: metadata of every value type (nested arrays included) and two tensors.
std::string ValidTestGguf();

std::vector<CorruptGguf> CorruptGgufCorpus();

}  // namespace ggrt

#endif  // GGRT_LOADER_GGUF_CORPUS_H_
