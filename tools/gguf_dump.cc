// Prints a GGUF file's metadata (long arrays abbreviated) and its tensor table.
//   gguf_dump FILE.gguf [--max-array N]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "loader/gguf_file.h"

int main(int argc, char** argv) {
  std::string path;
  int max_items = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--max-array" && i + 1 < argc) {
      max_items = std::atoi(argv[++i]);
    } else if (!arg.empty() && arg[0] != '-' && path.empty()) {
      path = arg;
    } else {
      std::fprintf(stderr, "usage: gguf_dump FILE.gguf [--max-array N]\n");
      return 2;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: gguf_dump FILE.gguf [--max-array N]\n");
    return 2;
  }
  auto file = ggrt::GgufFile::Open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(file.status().message()).c_str());
    return 1;
  }
  const ggrt::GgufFile& f = **file;
  std::printf("file: %s\nversion: %u  alignment: %lu  data offset: %lu  size: %lu bytes\n", f.path().c_str(),
              f.version(), f.alignment(), f.data_offset(), f.file_size());
  std::printf("\nmetadata (%zu keys):\n", f.metadata().size());
  for (const auto& [key, value] : f.metadata()) {
    std::string type(ggrt::GgufTypeName(value.type));
    if (const auto* arr = std::get_if<ggrt::GgufArray>(&value.data)) {
      type = absl::StrCat("array<", ggrt::GgufTypeName(arr->element_type()), ">[", arr->size(), "]");
    }
    std::printf("  %-40s %-22s %s\n", key.c_str(), type.c_str(),
                ggrt::GgufValueToString(value, max_items).c_str());
  }
  std::printf("\ntensors (%zu):\n  %-36s %-6s %-20s %12s %12s\n", f.tensors().size(), "name", "dtype",
              "shape", "offset", "bytes");
  int64_t total = 0;
  for (const ggrt::GgufTensorInfo& t : f.tensors()) {
    std::printf("  %-36s %-6s %-20s %12lu %12ld\n", t.name.c_str(), std::string(ggrt::DTypeName(t.dtype)).c_str(),
                absl::StrCat("[", absl::StrJoin(t.dims, ", "), "]").c_str(), t.offset, t.bytes);
    total += t.bytes;
  }
  std::printf("  total tensor bytes: %ld\n", total);
  return 0;
}
