#!/usr/bin/env bash
# Regenerates tests/golden/*.ir after an intended change to lowering or passes. Review the diff before
# committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build //tools:dump_graph //tools:tiny_model
dump=bazel-bin/tools/dump_graph
$dump -m ../shared/models/stories260K-qwen2.gguf --greedy --ctx-size 256 > tests/golden/stories260K_qwen2_decode.ir
$dump -m ../shared/models/stories260K-qwen2.gguf --greedy --batch 4 --ctx-size 256 --kv-pool 1024 \
  > tests/golden/stories260K_qwen2_decode_b4.ir
$dump -m ../shared/models/stories260K.gguf --prefill 8 --ctx-size 256 > tests/golden/stories260K_prefill8.ir
$dump -m ../shared/models/stories260K-qwen2.gguf --prefill 8 --batch 3 --ctx-size 256 --kv-pool 1024 \
  > tests/golden/stories260K_qwen2_prefill8_b3.ir
for family in qwen2 llama3 llama-linear qwen3 phi3 gemma2; do
  model="$(mktemp --suffix=.gguf)"
  bazel-bin/tools/tiny_model "$family" "$model"
  $dump -m "$model" --greedy > "tests/golden/tiny_${family}_decode.ir"
  rm -f "$model"
done
git diff --stat tests/golden
