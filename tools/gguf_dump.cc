// Prints a GGUF file's metadata (long arrays abbreviated) and its tensor table.
//   gguf_dump FILE.gguf [--max-array N]
#include <cstdio>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "loader/gguf_file.h"
#include "tools/flags.h"

namespace ggrt {
namespace {

absl::Status Main(int argc, char** argv) {
  Flags flags;
  std::vector<std::string> paths;
  RETURN_IF_ERROR(flags.Parse(argc, argv, {{{"--max-array"}}}, &paths));
  RET_CHECK(paths.size() == 1, "usage: gguf_dump FILE.gguf [--max-array N]");
  int max_items = 8;
  RETURN_IF_ERROR(flags.GetInt("--max-array", &max_items, 0, 1 << 20));
  ASSIGN_OR_RETURN(const std::unique_ptr<GgufFile> file, GgufFile::Open(paths[0]));
  const GgufFile& f = *file;
  std::printf("file: %s\nversion: %u  alignment: %lu  data offset: %lu  size: %lu bytes\n", f.path().c_str(),
              f.version(), f.alignment(), f.data_offset(), f.file_size());
  std::printf("\nmetadata (%zu keys):\n", f.metadata().size());
  for (const auto& [key, value] : f.metadata()) {
    std::string type(GgufTypeName(value.type));
    if (const auto* arr = std::get_if<GgufArray>(&value.data)) {
      type = absl::StrCat("array<", GgufTypeName(arr->element_type()), ">[", arr->size(), "]");
    }
    std::printf("  %-40s %-22s %s\n", absl::CHexEscape(key).c_str(), type.c_str(),
                GgufValueToString(value, max_items).c_str());
  }
  std::printf("\ntensors (%zu):\n  %-36s %-6s %-20s %12s %12s\n", f.tensors().size(), "name", "dtype",
              "shape", "offset", "bytes");
  int64_t total = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    std::printf("  %-36s %-6s %-20s %12lu %12ld\n", absl::CHexEscape(t.name).c_str(), std::string(DTypeName(t.dtype)).c_str(),
                absl::StrCat("[", absl::StrJoin(t.dims, ", "), "]").c_str(), t.offset, t.bytes);
    total += t.bytes;
  }
  std::printf("  total tensor bytes: %ld\n", total);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
