#!/usr/bin/env bash
# Builds the GPU test binaries and tools with -c opt for Hopper only (sm_90a) and copies them, with the ../shared data they read,
# into .stage/ (git-ignored) for the device machine. Run tools/device/run.sh there.
# `stage.sh --ab` instead packs only the variants kept by variant.sh, the Qwen2.5 vocabulary and run.sh,
# for `run.sh ab` (each variant's bench and kernel_bench); `stage.sh --ab --tests` adds the working tree's
# GPU tests of the runtime, the attention kernels, the GEMVs, the sampler and the small-batch products with
# the data they read, for `run.sh tests` in the same call. `stage.sh --with-variants` is the full stage
# (every mode of run.sh, the server among them) with the variants beside it, for `run.sh ab` and any other
# mode in one call (~28 MB packed plus ~5 MB a variant).
set -euo pipefail
cd "$(dirname "$0")/../.."
families="qwen2 llama3 llama-linear qwen3 phi3 gemma2"
# The ../shared data the GPU tests and `run.sh tests` read. Only the F16 fixture of tiny-qwen2-256 travels
# (the transfer is limited): run.sh quantizes it into the others with our quantizer, which reproduces
# llama-quantize's files byte for byte (//loader:quantize_test).
stage_test_data() {
  mkdir -p .stage/external/shared/models/tiny-qwen2-256 .stage/external/shared/tokenizer .stage/external/shared/text \
    .stage/tests
  cp ../shared/models/stories260K*.gguf ../shared/models/stories260K.greedy256.* ../shared/models/qwen2.5-vocab.gguf \
    .stage/external/shared/models/
  cp ../shared/models/tiny-qwen2-256/tiny-qwen2-256-f16.gguf ../shared/models/tiny-qwen2-256/reference-perplexity.txt \
    .stage/external/shared/models/tiny-qwen2-256/
  cp ../shared/text/gpl-3.txt .stage/external/shared/text/
  for f in $families; do cp "bazel-bin/tests/tiny-$f.gguf" .stage/tests/; done
}
# Copies bazel targets' outputs into .stage/bin, stripped (host symbols only; the GPU code stays).
stage_binaries() {
  mkdir -p .stage/bin
  for t in "$@"; do cp "bazel-bin/$(echo "${t#//}" | tr ':' '/')" .stage/bin/; done
  chmod u+w .stage/bin/*
  strip .stage/bin/*
}
# The device tool carries at most 64 MiB: the binaries travel packed with xz. Each embeds every kernel, so
# most of their bytes repeat from one binary to the next: -9's 64 MiB window finds the repeats (the full stage,
# ~180 MB, packs to ~17 MB; -6's 8 MiB window left 65 MB).
pack() {
  tar -C .stage -cf - . | xz -T2 -9 > .stage.txz
  du -sh .stage.txz
  if (($(stat -c %s .stage.txz) > 64 * 1024 * 1024)); then echo "stage.sh: .stage.txz is over the 64 MiB carry limit" >&2; exit 1; fi
}
# The modes that carry variants (variant.sh) stop before building when there are none.
if [[ ${1:-} == --ab || ${1:-} == --with-variants ]] && ! ls -d .variants/*/ > /dev/null 2>&1; then
  echo "stage.sh $1: no variants; keep some with tools/device/variant.sh" >&2
  exit 1
fi
if [[ ${1:-} == --ab ]]; then
  tests="//ops/cuda:attention_test //ops/cuda:gemv_test //ops/cuda:sampler_test //ops/cuda:small_batch_gemm_test //runtime:cuda_executor_test //runtime:engine_test //tests:family_test //tools:kernel_trace_test //ops/cuda:warp_sums_test"
  [[ ${2:-} == --tests ]] && bazel build -c opt --define=ggrt_sm80=0 $tests //tools:generate //tools:quantize \
    $(for f in $families; do echo "//tests:tiny_$f"; done)
  rm -rf .stage
  mkdir -p .stage
  cp -r .variants .stage/variants
  cp tools/device/run.sh .stage/
  if [[ ${2:-} == --tests ]]; then
    stage_binaries $tests //tools:generate //tools:quantize
    stage_test_data  # The vocabulary among the rest.
  else
    mkdir -p .stage/external/shared/models
    cp ../shared/models/qwen2.5-vocab.gguf .stage/external/shared/models/
  fi
  pack
  exit 0
fi
if [[ -n ${1:-} && $1 != --with-variants ]]; then
  echo "stage.sh: unknown argument '$1' (--ab [--tests] or --with-variants)" >&2
  exit 1
fi
targets=$(bazel query 'attr(tags, "gpu", tests(//...))' 2>/dev/null)
tools="//tools:generate //tools:bench //tools:kernel_bench //tools:perplexity //tools:quantize //tools:server"
bazel build -c opt --define=ggrt_sm80=0 $targets $tools $(for f in $families; do echo "//tests:tiny_$f"; done)
rm -rf .stage
stage_binaries $targets $tools
stage_test_data
# The Hugging Face parity harness (run.sh parity) and its GGUF writer.
mkdir -p .stage/tools
cp tools/device/hf_parity.py tools/device/gguf_writer.py .stage/tools/
# Debian ships cpp-httplib only as a shared library: it travels with its non-glibc dependencies, for
# LD_LIBRARY_PATH=lib (run.sh), with the load generator.
mkdir -p .stage/lib
for lib in $(ldd .stage/bin/server | awk '/libcpp-httplib|libssl|libcrypto|libbrotli|libz\./ {print $3}'); do
  cp -L "$lib" .stage/lib/
done
cp tools/loadgen.py .stage/tools/
cp tools/device/run.sh .stage/
# Only libc, libstdc++ and the CUDA toolkit's cuBLAS may be dynamic: abseil and GoogleTest are static.
for b in .stage/bin/*; do
  if ldd "$b" | grep -qE 'absl|gtest|gmock'; then echo "stage: $b links abseil/gtest dynamically" >&2; exit 1; fi
done
[[ ${1:-} == --with-variants ]] && cp -r .variants .stage/variants
du -sh .stage
pack
