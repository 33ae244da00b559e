#!/usr/bin/env bash
# Compares dump_graph's IR of a shared model with a checked-in golden file.
# Usage: golden_ir_test.sh DUMP_GRAPH GOLDEN MODEL [dump_graph flags...]
# To update after an intended change: tests/update_golden_ir.sh
set -euo pipefail
dump="$1" golden="$2" model="$3"
shift 3
out="${TEST_TMPDIR:-/tmp}/ir.txt"
"$dump" -m "$model" "$@" > "$out" 2>/dev/null
if ! diff -u "$golden" "$out"; then
  echo "IR differs from $golden (see diff above)"
  exit 1
fi
