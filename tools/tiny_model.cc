// Writes a tiny random-weight model of one family (see TinyFamilySpec) for tests and golden IR:
//   tiny_model FAMILY OUT.gguf     FAMILY: qwen2 llama3 llama-linear qwen3 phi3 gemma2
#include <fstream>
#include <string>
#include <vector>

#include "base/status_macros.h"
#include "loader/gguf_corpus.h"
#include "tools/flags.h"

namespace ggrt {
namespace {

absl::Status Main(int argc, char** argv) {
  Flags flags;
  std::vector<std::string> args;
  RETURN_IF_ERROR(flags.Parse(argc, argv, {}, &args));
  RET_CHECK(args.size() == 2, "usage: tiny_model FAMILY OUT.gguf (qwen2 llama3 llama-linear qwen3 phi3 gemma2)");
  ASSIGN_OR_RETURN(const TinyModelSpec spec, TinyFamilySpec(args[0]));
  const std::string bytes = TinyModelGguf(spec);
  std::ofstream out(args[1], std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  RET_CHECK(out.good(), "cannot write ", args[1]);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
