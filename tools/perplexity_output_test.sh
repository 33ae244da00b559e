#!/usr/bin/env bash
# The perplexity tool's output lines (llama-perplexity's), including a KL-divergence run against its own
# base: a model compared with itself has zero divergence and the same top token everywhere.
set -euo pipefail
tool="$1" model="$2" text="$3"
base="${TEST_TMPDIR:-/tmp}/base.logprobs"
out=$("$tool" -m "$model" -f "$text" -c 128 -b 64 --chunks 3 --backend cpu --kl-divergence-base "$base")
echo "$out"
grep -q '^perplexity: calculating perplexity over 3 chunks, n_ctx=128, batch_size=64, n_seq=1$' <<<"$out"
grep -qE '^\[1\][0-9.]+,\[2\][0-9.]+,\[3\][0-9.]+,$' <<<"$out"
grep -qE '^Final estimate: PPL = [0-9]+\.[0-9]{4} \+/- [0-9]+\.[0-9]{5}$' <<<"$out"
out=$("$tool" -m "$model" --kl-divergence-base "$base" --kl-divergence --chunks 3 --backend cpu)
echo "$out"
grep -qE '^Mean    KLD:   0\.000000 ±   0\.000000$' <<<"$out"
grep -qE '^Same top p: 100\.000 ± 0\.000 %$' <<<"$out"
grep -qE '^Mean PPL\(Q\)/PPL\(base\)         :   1\.000000 ±   0\.000000$' <<<"$out"
# A base file that is not one is a named error.
if "$tool" -m "$model" --kl-divergence-base "$text" --kl-divergence 2>err.txt; then exit 1; fi
grep -q 'not a ggrt KL-divergence base' err.txt
echo PASS
