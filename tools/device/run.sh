#!/usr/bin/env bash
# Runs on the device machine from the staged folder: every GPU test, then the standard bench. Logs go to
# $OUT when set (the device tool brings them back), else to ./out.
#   bash .stage/run.sh [tests|bench|all]
set -uo pipefail
cd "$(dirname "$0")"
out="${OUT:-out}"
mkdir -p "$out"
what="${1:-all}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv | tee "$out/gpu.txt"
passed=0 failed=0
if [[ $what == tests || $what == all ]]; then
  for t in bin/*_test; do
    if "$t" > "$out/$(basename "$t").log" 2>&1; then
      passed=$((passed + 1)); echo "PASS $(basename "$t")"
    else
      failed=$((failed + 1)); echo "FAIL $(basename "$t")"; tail -30 "$out/$(basename "$t").log"
    fi
  done
  # The generate tool itself on the GPU: greedy from BOS must print the reference text.
  for m in stories260K stories260K-f16 stories260K-qwen2; do
    for flags in "" "--no-fuse" "--no-cuda-graph"; do
      if bin/generate -m external/shared/models/$m.gguf --backend cuda --temp 0 -n 256 $flags \
          2>>"$out/generate.log" | cmp -s - external/shared/models/stories260K.greedy256.txt; then
        passed=$((passed + 1)); echo "PASS generate $m $flags"
      else
        failed=$((failed + 1)); echo "FAIL generate $m $flags"
      fi
    done
  done
  echo "$passed passed, $failed failed" | tee "$out/tests_summary.txt"
fi
if [[ $what == bench || $what == all ]] && [[ -x bin/bench ]]; then
  bin/bench --synthetic=qwen2.5-0.5b --dtype=f16 -p 512 -n 128 -r 5 --vocab external/shared/models/qwen2.5-vocab.gguf \
    2>&1 | tee "$out/bench_qwen2.5-0.5b_f16.md"
  # The same model (written by the run above) after a long prompt, and sampled on the device.
  model=/tmp/ggrt-synthetic-qwen2.5-0.5b-f16.gguf
  for flags in "-d 4096" "--temp 0.8" "--temp 0.8 --repeat-penalty 1.1"; do
    bin/bench -m $model -p 0 -n 128 -r 3 --cuda-graph on $flags 2>&1 | grep tg128
  done | tee "$out/bench_qwen2.5-0.5b_f16_more.md"
fi
