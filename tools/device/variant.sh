#!/usr/bin/env bash
# Keeps the current working tree's bench and kernel_bench (-c opt, sm_90a, stripped) as variant NAME in
# .variants/NAME/ (git-ignored), for `stage.sh --ab` and `run.sh ab`: build one variant, change the code,
# build the next, and compare them all in one device call.
#   bash tools/device/variant.sh NAME
set -euo pipefail
cd "$(dirname "$0")/../.."
name="${1:?usage: variant.sh NAME}"
[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "variant.sh: a variant name is letters, digits, '_', '.' or '-'" >&2; exit 1; }
bazel build -c opt --define=ggrt_sm80=0 //tools:bench //tools:kernel_bench
rm -rf ".variants/$name"
mkdir -p ".variants/$name"
cp bazel-bin/tools/bench bazel-bin/tools/kernel_bench ".variants/$name/"
chmod u+w ".variants/$name"/*
strip ".variants/$name"/*
git log -1 --format='%h %s' > ".variants/$name/commit.txt"
git diff --stat >> ".variants/$name/commit.txt"
echo "variant $name: $(head -1 ".variants/$name/commit.txt")$(git diff --quiet || echo ' (+ uncommitted changes)')"
