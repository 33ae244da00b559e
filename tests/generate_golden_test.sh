#!/usr/bin/env bash
# Runs //tools:generate greedily from BOS and compares stdout with the shared reference text.
# Usage: generate_golden_test.sh GENERATE MODEL REFERENCE [extra generate flags...]
set -euo pipefail
generate="$1" model="$2" reference="$3"
shift 3
out="${TEST_TMPDIR:-/tmp}/out.txt"
"$generate" -m "$model" --temp 0 -n 256 --backend cpu "$@" > "$out"
if ! cmp -s "$out" "$reference"; then
  echo "output differs from $reference:"
  diff "$out" "$reference" || true
  exit 1
fi
echo "identical to $reference"
