#!/usr/bin/env bash
# Regenerates tests/golden/*.ir after an intended change to lowering or passes. Review the diff before
# committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build //tools:dump_graph
dump=bazel-bin/tools/dump_graph
$dump -m ../shared/models/stories260K-qwen2.gguf --greedy --ctx-size 256 > tests/golden/stories260K_qwen2_decode.ir
$dump -m ../shared/models/stories260K.gguf --prefill 8 --ctx-size 256 > tests/golden/stories260K_prefill8.ir
git diff --stat tests/golden
