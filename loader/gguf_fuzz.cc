// libFuzzer entry point for model loading: any byte string must parse, configure and load its tokenizer or
// fail with a Status, never crash, hang or allocate without bound. A file that loads also has its
// vocabulary exercised (encoding with special tokens, every token's bytes). Build and run with
// tools/fuzz_gguf.sh (clang -fsanitize=fuzzer,address).
#include <cstddef>
#include <cstdint>

#include "loader/gguf_file.h"
#include "loader/load_tokenizer.h"
#include "loader/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = ggrt::GgufFile::Parse(absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  if (!f.ok()) return 0;
  for (const auto& t : (*f)->tensors()) {
    // Touch the first and last byte of every tensor: offsets were validated against the size.
    volatile uint8_t sink = t.data[0] ^ t.data[t.bytes - 1];
    (void)sink;
  }
  (void)ggrt::ModelConfigFromGguf(**f);
  auto tokenizer = ggrt::LoadTokenizer(**f);
  if (!tokenizer.ok()) return 0;
  const ggrt::Tokenizer& t = **tokenizer;
  (void)t.Encode("Hello <s> w\xc3\xb6rld </s>\n\xf0\x9f\xa6\x99 <|im_start|>", {.add_bos = true, .parse_special = true});
  std::vector<int32_t> all;
  for (int32_t id = 0; id < t.n_vocab(); ++id) all.push_back(id);
  (void)t.Decode(all);
  return 0;
}
