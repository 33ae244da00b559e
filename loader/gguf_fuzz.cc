// libFuzzer entry point for the GGUF parser: any byte string must parse or fail with a Status, never crash.
// Build and run with tools/fuzz_gguf.sh (clang -fsanitize=fuzzer,address).
#include <cstddef>
#include <cstdint>

#include "loader/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = ggrt::GgufFile::Parse(absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  if (f.ok()) {
    for (const auto& t : (*f)->tensors()) {
      // Touch the first and last byte of every tensor: offsets were validated against the size.
      volatile uint8_t sink = t.data[0] ^ t.data[t.bytes - 1];
      (void)sink;
    }
  }
  return 0;
}
