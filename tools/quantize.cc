// Quantizes a GGUF model as llama-quantize does without an importance matrix (same argument order):
//   quantize IN.gguf OUT.gguf TYPE     TYPE: Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K
#include <cstdio>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status_macros.h"
#include "loader/gguf_file.h"
#include "loader/quantize.h"
#include "tools/flags.h"

namespace ggrt {
namespace {

absl::Status Main(int argc, char** argv) {
  Flags flags;
  std::vector<std::string> args;
  RETURN_IF_ERROR(flags.Parse(argc, argv, {}, &args));
  RET_CHECK(args.size() == 3,
            "usage: quantize IN.gguf OUT.gguf TYPE (Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K)");
  ASSIGN_OR_RETURN(const QuantMix mix, QuantMixFromName(args[2]));
  RET_CHECK(args[0] != args[1], "the output must be another file than the input");
  ASSIGN_OR_RETURN(const std::unique_ptr<GgufFile> in, GgufFile::Open(args[0]));
  const SteadyTime start = SteadyNow();
  RETURN_IF_ERROR(QuantizeModel(*in, mix, args[1]));
  ASSIGN_OR_RETURN(const std::unique_ptr<GgufFile> out, GgufFile::Open(args[1]));
  std::fprintf(stderr, "quantize: %s -> %s as %s: %.1f MB -> %.1f MB in %.1f s\n", args[0].c_str(), args[1].c_str(),
               QuantMixName(mix).c_str(), in->file_size() / 1e6, out->file_size() / 1e6,
               SecondsSince(start));
  return absl::OkStatus();
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
