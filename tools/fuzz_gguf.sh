#!/usr/bin/env bash
# Fuzzes the GGUF parser with libFuzzer (Debian's clang) under AddressSanitizer.
# Usage: tools/fuzz_gguf.sh [seconds]   (default 60). Prints libFuzzer's final stats.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
bazel build //loader:gguf_corpus //loader:gguf_file @com_google_absl//:absl_merged >/dev/null
work="$(mktemp -d)"
absl="bazel-bin/external/com_google_absl/libabsl_all.a"
# Seed corpus: the valid test file and every corrupted variant.
cat > "$work/seeds.cc" <<'CC'
#include <fstream>
#include "loader/gguf_corpus.h"
int main(int, char** argv) {
  int i = 0;
  std::ofstream(std::string(argv[1]) + "/valid") << ggrt::ValidTestGguf();
  for (const auto& c : ggrt::CorruptGgufCorpus()) std::ofstream(std::string(argv[1]) + "/" + c.name) << c.bytes;
  (void)i;
}
CC
flags=(-std=c++20 -O1 -g -I.)
srcs=(loader/gguf_file.cc loader/dtype.cc)
mkdir -p "$work/corpus"
clang++ "${flags[@]}" "$work/seeds.cc" loader/gguf_corpus.cc loader/gguf_writer.cc "${srcs[@]}" "$absl" -o "$work/seeds"
"$work/seeds" "$work/corpus"
clang++ "${flags[@]}" -fsanitize=fuzzer,address loader/gguf_fuzz.cc "${srcs[@]}" "$absl" -o "$work/fuzz"
"$work/fuzz" -max_total_time="$secs" -print_final_stats=1 -max_len=4096 "$work/corpus" 2>&1 | tail -25
