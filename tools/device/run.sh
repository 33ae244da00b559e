#!/usr/bin/env bash
# Runs on the device machine from the staged folder: every GPU test, then the standard bench. Logs go to
# $OUT/logs.tgz when $OUT is set (the device tool brings it back), else to ./out/logs.tgz.
#   bash .stage/run.sh [tests|parity|bench|batch|sanitize|serve|kernels|profile|trace|all], or several joined
#   with commas;
#   bash .stage/run.sh ab on a `stage.sh --ab` stage
set -uo pipefail
cd "$(dirname "$0")"
# The device tool brings back only a few files: every log goes under logs/, packed into logs.tgz on exit.
final="${OUT:-out}"
out="$final/logs"
mkdir -p "$out"
trap 'tar -C "$final" -czf "$final/logs.tgz" logs && rm -rf "$out"' EXIT
what="${1:-all}"
# Modes may be joined with commas (tests,sanitize); "all" is every mode but sanitize, serve, kernels, profile
# and trace.
want() {
  [[ ",$what," == *",$1,"* ]] ||
    { [[ $what == all ]] && [[ $1 != sanitize && $1 != serve && $1 != kernels && $1 != profile && $1 != trace ]]; }
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv | tee "$out/gpu.txt"
if [[ $what == ab ]]; then
  # Every variant (variants/NAME, tools/device/variant.sh) on the same card in this call: tg128 of the
  # synthetic Qwen2.5-0.5B per weight type (AB_TYPES; empty for none) after each prompt depth (AB_DEPTHS,
  # bench's -d), greedy or, with AB_TEMP (e.g. 0.8), sampled on the device as generate samples by default
  # (the logits product and the sampler instead of the output + argmax), and with AB_BATCH (e.g. 1,16,64)
  # the batched decode bench (F16, 128-token prompts, 128 new tokens each), two rounds in alternating order;
  # then kernel_bench.
  variants=$(ls variants | tr '\n' ' ')  # One line: each round below reads its order from one.
  [[ -n $variants ]] || { echo "run.sh ab: no variants/ here (stage.sh --ab)"; exit 1; }
  types="${AB_TYPES-f16 q8_0 q4_k_m q6_k q4_0}"
  depths="${AB_DEPTHS:-0}"
  for v in $variants; do echo "$v: $(head -1 variants/$v/commit.txt)"; done | tee "$out/ab_variants.txt"
  vocab=external/shared/models/qwen2.5-vocab.gguf
  rounds() {  # Prints each round's variants, the second in reverse order.
    echo "1 $variants"
    echo "2 $(echo $variants | tr ' ' '\n' | tac | tr '\n' ' ')"
  }
  {
    for t in $types; do
      rounds | while read -r round order; do
        for v in $order; do
          # One line per depth: "TYPE@TEST VARIANT ROUND TOKENS/S", TEST as bench names it (tg128, tg128@d4096).
          variants/$v/bench --synthetic=qwen2.5-0.5b --dtype=$t -p 0 -d "${depths// /,}" -n 128 -r 3 --cuda-graph on ${AB_TEMP:+--temp $AB_TEMP} \
              --vocab $vocab 2>>"$out/ab_bench.log" | grep '| tg' \
            | awk -F'|' -v t="$t" -v v="$v" -v r="$round" '{gsub(/ /, "", $5); split($7, a, " "); print t "@" $5, v, r, a[1]}'
        done
      done
    done
    if [[ -n ${AB_BATCH:-} ]]; then
      rounds | while read -r round order; do
        for v in $order; do
          # One line per batch size: "batch@B VARIANT ROUND AGGREGATE-DECODE-TOKENS/S".
          variants/$v/bench --synthetic=qwen2.5-0.5b --batch "$AB_BATCH" -p 128 -n 128 -r 2 --vocab $vocab \
              2>>"$out/ab_bench.log" | grep -E '^\| qwen' \
            | awk -F'|' -v v="$v" -v r="$round" '{gsub(/ /, "", $6); gsub(/ /, "", $8); print "batch@" $6, v, r, $8}'
        done
      done
    fi
  } | tee "$out/ab_runs.txt"
  # One table: a row per type and depth, each variant's mean of its two rounds.
  {
    echo "| tokens/s | $(echo $variants | sed 's/ / | /g') |"
    echo "|---|$(for _ in $variants; do printf -- '---|'; done)"
    for key in $(awk '{print $1}' "$out/ab_runs.txt" | awk '!seen[$0]++'); do
      printf '| %s |' "$key"
      for v in $variants; do
        awk -v k="$key" -v v="$v" '$1 == k && $2 == v && $4 + 0 > 0 {s += $4; n++} END {printf " %s |", n ? sprintf("%.0f", s / n) : "failed"}' \
          "$out/ab_runs.txt"
      done
      echo
    done
  } | tee "$out/ab.md"
  for t in $types; do
    kt=${t%_[sml]}  # kernel_bench takes the block format of a mix (q4_k_m: q4_k).
    for v in $variants; do
      echo "== $v $kt"; variants/$v/kernel_bench --dtype $kt 2>&1 | grep -E '^\| [a-z]'
    done
  done > "$out/ab_kernels.txt" 2>&1
  # AB_KERNEL_ARGS: one more kernel_bench run per variant with these arguments (e.g. --batch 1 --ctx 4096).
  if [[ -n ${AB_KERNEL_ARGS:-} ]]; then
    for v in $variants; do
      echo "== $v $AB_KERNEL_ARGS"; variants/$v/kernel_bench $AB_KERNEL_ARGS 2>&1 | grep -E '^\| [a-z]'
    done >> "$out/ab_kernels.txt" 2>&1
  fi
  exit 0
fi
passed=0 failed=0
fixtures=external/shared/models/tiny-qwen2-256
for q in Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K; do
  [[ -f $fixtures/tiny-qwen2-256-$q.gguf ]] || bin/quantize $fixtures/tiny-qwen2-256-f16.gguf $fixtures/tiny-qwen2-256-$q.gguf $q 2>/dev/null
done
if want tests; then
  for t in bin/*_test; do
    if "$t" > "$out/$(basename "$t").log" 2>&1; then
      # A pass with skipped tests says how many (e.g. kernel_trace_test without a loadable libcupti).
      skipped=$(grep -m1 -o '^\[  SKIPPED \] [0-9]* test' "$out/$(basename "$t").log" | grep -o '[0-9]*')
      passed=$((passed + 1)); echo "PASS $(basename "$t")${skipped:+ ($skipped skipped)}"
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
  # Perplexity on the GPU against llama.cpp's figures, and KL divergence of quantized fixtures from F16 (not on a
  # `stage.sh --ab --tests` stage, which carries no perplexity tool).
  text=external/shared/text/gpl-3.txt
  [[ -x bin/perplexity ]] && {
    bin/perplexity -m external/shared/models/stories260K.gguf -f $text -c 128 -b 128 --backend cuda | grep Final
    bin/perplexity -m $fixtures/tiny-qwen2-256-f16.gguf -f $text -c 128 -b 128 --backend cuda \
      --kl-divergence-base /tmp/tiny-f16.logprobs | grep Final
    for q in Q8_0 Q4_0 Q2_K Q3_K_M Q4_K_M Q6_K; do
      echo "== $q"
      bin/perplexity -m $fixtures/tiny-qwen2-256-$q.gguf --kl-divergence-base /tmp/tiny-f16.logprobs --kl-divergence \
        --backend cuda | grep -E "Mean    KLD|Same top"
    done
  } 2>&1 | tee "$out/perplexity_cuda.txt"
  echo "$passed passed, $failed failed" | tee "$out/tests_summary.txt"
fi
if want parity; then
  # Every family against Hugging Face transformers (tokens and logits, CUDA and CPU).
  python3 tools/hf_parity.py --generate bin/generate --out "$out" 2>&1 | tee "$out/hf_parity.log"
fi
if want sanitize; then
  # Out-of-bounds accesses and shared-memory races in the kernels, through their tests (small cases).
  san=/usr/local/cuda/bin/compute-sanitizer
  for t in attention_test elementwise_test rope_test small_batch_gemm_test; do
    for tool in memcheck racecheck; do
      $san --tool $tool --error-exitcode 1 bin/$t > "$out/sanitize_${t}_$tool.log" 2>&1 \
        && echo "PASS $tool $t" || { echo "FAIL $tool $t"; tail -20 "$out/sanitize_${t}_$tool.log"; }
    done
  done
  for t in family_test engine_test sampler_test; do
    $san --tool memcheck --error-exitcode 1 bin/$t > "$out/sanitize_${t}_memcheck.log" 2>&1 \
      && echo "PASS memcheck $t" || { echo "FAIL memcheck $t"; tail -20 "$out/sanitize_${t}_memcheck.log"; }
  done
  # Batched prefill (flash attention over each sequence's span, the last-rows gather) and the device
  # sampler's top-k (its filters case alone: the whole sampler_test takes racecheck over ten minutes).
  # racecheck also reports cuBLASLt's own nvjet kernels, whose synchronisation it does not see: only the
  # hazards in our kernels count (grep the log).
  # Bounded: racecheck ran past 150 s on it (H200, session 12), and a cut run proves nothing.
  for tool in memcheck racecheck; do
    timeout 300 $san --tool $tool bin/engine_test --gtest_filter='*BatchedPrefill*cuda*' \
      > "$out/sanitize_engine_prefill_$tool.log" 2>&1
    if [[ $? == 124 ]]; then
      echo "TIMEOUT $tool engine_test (batched prefill, 300 s): not checked"
    elif grep -E "Race reported|Invalid|\[  FAILED  \]" "$out/sanitize_engine_prefill_$tool.log" | grep -qv nvjet; then
      echo "FAIL $tool engine_test (batched prefill)"; grep -E "Race reported|Invalid" "$out/sanitize_engine_prefill_$tool.log" | grep -v nvjet | head
    else
      echo "PASS $tool engine_test (batched prefill; cuBLASLt's own reports aside)"
    fi
  done
  $san --tool racecheck --error-exitcode 1 bin/sampler_test --gtest_filter='*Filters*' > "$out/sanitize_sampler_racecheck.log" 2>&1 \
    && echo "PASS racecheck sampler_test (filters)" || { echo "FAIL racecheck sampler_test"; tail -20 "$out/sanitize_sampler_racecheck.log"; }
  # The quantized GEMV's cp.async slots (weights allocated by WeightAllocationBytes, ops/cuda/types.h).
  for tool in memcheck racecheck; do
    $san --tool $tool --error-exitcode 1 bin/gemv_test --gtest_filter='*QuantizedMultiOutput*:*QuantizedNormPrologue*' \
      > "$out/sanitize_gemv_test_$tool.log" 2>&1 \
      && echo "PASS $tool gemv_test (quantized)" || { echo "FAIL $tool gemv_test"; tail -20 "$out/sanitize_gemv_test_$tool.log"; }
  done
fi
if want batch && [[ -x bin/bench ]]; then
  # Batched decode through the engine (llama-batched-bench's shape: 128-token prompts, 128 new tokens).
  for dtype in f16 q4_k_m; do
    batches=1,4,16,64,128
    [[ $dtype == f16 ]] || batches=16,64
    bin/bench --synthetic=qwen2.5-0.5b --dtype=$dtype --batch $batches -p 128 -n 128 -r 2 \
      --vocab external/shared/models/qwen2.5-vocab.gguf 2>&1 | tee "$out/bench_batched_$dtype.md"
  done
  # The same F16 steps uploaded one by one (no run-ahead), for comparison in the same call.
  bin/bench -m /tmp/ggrt-synthetic-qwen2.5-0.5b-f16.gguf --batch 1,4,16 -p 128 -n 128 -r 2 --no-run-ahead 2>&1 \
    | tee "$out/bench_batched_f16_no_run_ahead.md"
fi
if want profile && [[ -x bin/kernel_bench ]]; then
  # Nsight Compute's full set on the first launch of each kernel_bench row named in PROFILE_ROWS (';'-separated
  # parts of row names, e.g. "logits) [narrow];attn_out + residual [narrow]") with PROFILE_ARGS (e.g.
  # "--batch 2"), and its SASS with each instruction's warp stall samples (profile_N.csv).
  i=0
  IFS=';' read -ra rows <<< "${PROFILE_ROWS:-}"
  for row in "${rows[@]}"; do
    i=$((i + 1))
    echo "== $i: $row ${PROFILE_ARGS:-}" | tee -a "$out/profile.txt"
    rm -f /tmp/profile_$i.ncu-rep  # A row that matched no launch must not report the previous call's kernel.
    timeout 120 /usr/local/cuda/bin/ncu --set full --import-source no --launch-count 1 -o /tmp/profile_$i \
      --kernel-name regex:"${PROFILE_KERNEL:-.}" bin/kernel_bench ${PROFILE_ARGS:-} --only "$row" > /dev/null 2>&1
    timeout 60 /usr/local/cuda/bin/ncu -i /tmp/profile_$i.ncu-rep >> "$out/profile.txt" 2>&1
    timeout 60 /usr/local/cuda/bin/ncu -i /tmp/profile_$i.ncu-rep --page source --print-source sass --csv \
      > "$out/profile_$i.csv" 2>&1
  done
fi
if want trace; then
  # Each kernel's device time and the gap before it in 16 replays of the decode graph (bench --trace, CUPTI
  # activity records), per weight type in TRACE_TYPES, for F16 batches of TRACE_BATCH and F16 prefills of
  # TRACE_PREFILL tokens, for bin/bench or, on an --ab stage, every variant.
  if [[ -z ${GGRT_CUPTI:-} && ! -e /usr/local/cuda/lib64/libcupti.so.13 ]]; then
    GGRT_CUPTI=$(timeout 60 find / -name 'libcupti.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)
    export GGRT_CUPTI
  fi
  for b in bin/bench variants/*/bench; do
    [[ -x $b ]] || continue
    for t in ${TRACE_TYPES:-f16 q8_0}; do
      echo "== $b $t"
      $b --synthetic=qwen2.5-0.5b --dtype=$t -p 0 -n 16 -r 1 --cuda-graph on --trace \
        --vocab external/shared/models/qwen2.5-vocab.gguf 2>&1
    done
    if [[ -n ${TRACE_BATCH:-} ]]; then
      echo "== $b batch $TRACE_BATCH"
      $b --synthetic=qwen2.5-0.5b --batch "$TRACE_BATCH" -p 128 -n 32 -r 1 --trace \
        --vocab external/shared/models/qwen2.5-vocab.gguf 2>&1
    fi
    # A prompt's prefill, launched and replayed from a captured graph (as the server replays its batched ones).
    if [[ -n ${TRACE_PREFILL:-} ]]; then
      for flags in "" "--prefill-graph"; do
        echo "== $b prefill $TRACE_PREFILL $flags"
        $b --synthetic=qwen2.5-0.5b -p "$TRACE_PREFILL" -n 0 -r 2 --trace $flags \
          --vocab external/shared/models/qwen2.5-vocab.gguf 2>&1
      done
    fi
  done > "$out/trace.md"
  grep -E '^==|steps of|rror' "$out/trace.md"
fi
if want kernels && [[ -x bin/kernel_bench ]]; then
  # Each decode kernel alone (f16 and block formats, one row and batched), then Nsight Compute's full set on
  # the quantized gate/up GEMV (one launch) for its stall reasons.
  {
    bin/kernel_bench
    for t in q8_0 q5_0 q4_0 q4_k q6_k; do bin/kernel_bench --dtype $t; done
    bin/kernel_bench --batch 1,16,64 --dtype q4_k
  } 2>&1 | tee "$out/kernel_bench.md"
  timeout 300 /usr/local/cuda/bin/ncu --kernel-name regex:QuantGateUp --launch-count 1 --set full \
    bin/kernel_bench --dtype q8_0 > "$out/ncu_quant_gate_up.txt" 2>&1 || echo "ncu: see $out/ncu_quant_gate_up.txt"
fi
if want serve; then
  # The HTTP server on the synthetic Qwen2.5-0.5B F16 with the load generator: 64 streaming clients
  # (128-token prompts, 128 tokens each), then one client alone against generate's tokens/s.
  model=/tmp/ggrt-synthetic-qwen2.5-0.5b-f16.gguf
  [[ -f $model ]] || bin/bench --synthetic=qwen2.5-0.5b --dtype=f16 -p 0 -n 2 -r 1 --cuda-graph on \
    --vocab external/shared/models/qwen2.5-vocab.gguf > /dev/null 2>&1
  # SERVER=bin/other to measure another build; SERVE_BENCH=0 for the loads alone.
  start_server() {  # [server flags]
    LD_LIBRARY_PATH=lib ${SERVER:-bin/server} -m $model --port 18080 --parallel 64 --ctx-size 512 "$@" >> "$out/server.log" 2>&1 &
    server=$!
    for _ in $(seq 300); do
      python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:18080/health")' 2>/dev/null && break
      sleep 0.2
    done
  }
  # Each load with the server's counters it moved (prefill and decode time, rows per decode step): the first
  # on a fresh server (graphs built as they are first needed), then warm, a longer run, 256 clients, one
  # client; then the lone decode step's tokens/s (generate's), the one-client figure's yardstick.
  metrics() { python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:18080/metrics").read().decode())' | grep -v '^#'; }
  load() {  # NAME CLIENTS REQUESTS [loadgen flags]
    local name=$1 clients=$2 requests=$3; shift 3
    metrics > /tmp/m0
    timeout 150 python3 tools/loadgen.py --url http://127.0.0.1:18080 --clients $clients --prompt-tokens 128 \
      --max-tokens 128 --requests $requests --duration 120 "$@" 2>&1 | sed "s/^/[$name] /"
    metrics > /tmp/m1
    join <(sort /tmp/m0) <(sort /tmp/m1) | awk -v n="$name" '$1 ~ /total$/ {printf "[%s] %s %.6g\n", n, $1, $3 - $2}'
  }
  {
    start_server
    load "64 cold" 64 128
    load "64" 64 128
    load "64 x8" 64 512
    load "256" 256 512
    load "1" 1 4
    kill -TERM $server; wait $server; echo "server exit $?"
  } | tee "$out/serve.txt"
  bin/bench -m $model -p 0 -n 128 -r 3 --cuda-graph on 2>&1 | grep tg128 | tee -a "$out/serve.txt"
  [[ ${SERVE_BENCH:-1} == 0 ]] && exit 0
  # What a server step is made of: one prompt's prefill at the lengths it sees (kernel by kernel, and as a
  # captured graph), and the batched decode step.
  for flags in "" "--prefill-graph"; do
    bin/bench -m $model -p 16,64,140,512 -n 0 -r 5 --cuda-graph on $flags 2>&1 | grep "| pp"
  done | tee -a "$out/serve.txt"
  bin/bench -m $model --batch 1,16,64,128 -p 128 -n 128 -r 2 2>&1 | grep -E "^\|" | tee -a "$out/serve.txt"
fi
if want bench && [[ -x bin/bench ]]; then
  bin/bench --synthetic=qwen2.5-0.5b --dtype=f16 -p 512 -n 128 -r 5 --vocab external/shared/models/qwen2.5-vocab.gguf \
    2>&1 | tee "$out/bench_qwen2.5-0.5b_f16.md"
  # The same model (written by the run above) after a long prompt, and sampled on the device.
  for q in q8_0 q4_0 q4_k_m q5_k_m q6_k; do
    bin/bench --synthetic=qwen2.5-0.5b --dtype=$q -p 512 -n 128 -r 3 --cuda-graph on \
      --vocab external/shared/models/qwen2.5-vocab.gguf 2>&1 | grep -E "tg128|pp512|roofline|device memory"
    # Sampled, as generate decodes by default: the logits product and the device sampler replace the
    # output projection's argmax (written by the run above).
    [[ $q == q8_0 || $q == q4_k_m ]] && bin/bench --synthetic=qwen2.5-0.5b --dtype=$q -p 0 -n 128 -r 3 \
      --cuda-graph on --temp 0.8 --vocab external/shared/models/qwen2.5-vocab.gguf 2>&1 | grep tg128
  done | tee "$out/bench_qwen2.5-0.5b_quant.md"
  model=/tmp/ggrt-synthetic-qwen2.5-0.5b-f16.gguf
  {
    # Long prompts (chunked prefill, flash attention) and decode after them; a 32k prompt with its memory;
    # the f32 cache for comparison; sampled decode.
    bin/bench -m $model -p 2048,8192 -n 128 -d 4096,16384 -r 3 --cuda-graph on 2>&1 | grep -E "pp|tg"
    bin/bench -m $model -p 32768 -n 0 -r 1 --ctx-size 32800 2>&1 | grep -E "pp|device memory"
    for cache in f16 f32; do
      bin/bench -m $model -p 0 -n 128 -d 0,4096 -r 3 --cuda-graph on --cache-type $cache 2>&1 | grep tg | sed "s/^/$cache /"
    done
    for flags in "--temp 0.8" "--temp 0.8 --repeat-penalty 1.1"; do
      bin/bench -m $model -p 0 -n 128 -r 3 --cuda-graph on $flags 2>&1 | grep tg128
    done
  } | tee "$out/bench_qwen2.5-0.5b_f16_more.md"
fi
