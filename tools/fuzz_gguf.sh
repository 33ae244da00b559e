#!/usr/bin/env bash
# Fuzzes model loading (GGUF parse + model config + tokenizer load and use) with libFuzzer (Debian's clang)
# under AddressSanitizer, with an RSS limit so that runaway allocations count as findings.
# Usage: tools/fuzz_gguf.sh [seconds] [runs] [workers]   (defaults 60 s, no run limit, 1 worker).
# Prints libFuzzer's final stats; exits non-zero when a crash, leak, timeout or OOM was found.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
runs="${2:--1}"
workers="${3:-1}"
bazel build //loader:gguf_corpus //loader:gguf_file @com_google_absl//:absl_merged >/dev/null
work="$(mktemp -d)"
absl="bazel-bin/external/com_google_absl/libabsl_all.a"
# Seed corpus: the valid test file, every corrupted variant and two small models.
cat > "$work/seeds.cc" <<'CC'
#include <fstream>
#include "loader/gguf_corpus.h"
int main(int, char** argv) {
  int i = 0;
  for (const std::string& s : ggrt::FuzzSeeds()) std::ofstream(std::string(argv[1]) + "/seed" + std::to_string(i++)) << s;
}
CC
flags=(-std=c++20 -O1 -g -I.)
# The harness's sources as Bazel knows them (a hand-kept list went stale when the tokenizer gained
# unicode_regex.cc): every .cc of ours that the libraries gguf_fuzz.cc calls depend on.
mapfile -t srcs < <(bazel query 'kind("source file", deps(//loader:gguf_file) union deps(//loader:load_tokenizer)
                                  union deps(//loader:model_config))' 2>/dev/null |
                    sed -nE 's#^//(loader|base):(.*\.cc)$#\1/\2#p')
((${#srcs[@]} > 0)) || { echo "fuzz_gguf.sh: bazel query found no sources" >&2; exit 1; }
mkdir -p "$work/corpus"
clang++ "${flags[@]}" "$work/seeds.cc" loader/gguf_corpus.cc loader/gguf_writer.cc "${srcs[@]}" "$absl" -o "$work/seeds"
"$work/seeds" "$work/corpus"
clang++ "${flags[@]}" -fsanitize=fuzzer,address loader/gguf_fuzz.cc "${srcs[@]}" "$absl" -o "$work/fuzz"
cd "$work"
status=0
./fuzz -max_total_time="$secs" -runs="$runs" -workers="$workers" -jobs="$workers" -print_final_stats=1 \
  -max_len=16384 -rss_limit_mb=2048 -timeout=10 corpus > fuzz.log 2>&1 || status=$?
for f in fuzz.log fuzz-*.log; do [[ -f $f ]] && tail -20 "$f"; done
ls crash-* leak-* timeout-* oom-* 2>/dev/null && status=1
exit $status
