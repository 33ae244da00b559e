#!/usr/bin/env bash
# Builds the GPU test binaries and tools with -c opt for Hopper only (sm_90a) and copies them, with the ../shared data they read,
# into .stage/ (git-ignored) for the device machine. Run tools/device/run.sh there.
set -euo pipefail
cd "$(dirname "$0")/../.."
targets=$(bazel query 'attr(tags, "gpu", tests(//...))' 2>/dev/null)
tools="//tools:generate //tools:bench //tools:kernel_bench"
bazel build -c opt --define=ggrt_sm80=0 $targets $tools
rm -rf .stage
mkdir -p .stage/bin .stage/external/shared/models .stage/external/shared/tokenizer
for t in $targets $tools; do
  path="bazel-bin/$(echo "${t#//}" | tr ':' '/')"
  cp "$path" .stage/bin/
done
cp ../shared/models/stories260K*.gguf ../shared/models/stories260K.greedy256.* ../shared/models/qwen2.5-vocab.gguf \
  .stage/external/shared/models/
strip .stage/bin/*  # Host symbols only; the GPU code stays.
cp tools/device/run.sh .stage/
# Only libc, libstdc++ and the CUDA toolkit's cuBLAS may be dynamic: abseil and GoogleTest are static.
for b in .stage/bin/*; do
  if ldd "$b" | grep -qE 'absl|gtest|gmock'; then echo "stage: $b links abseil/gtest dynamically" >&2; exit 1; fi
done
du -sh .stage
