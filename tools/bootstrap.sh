#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test ggrt. Idempotent: installs nothing that is
# already there. Needs root (or sudo) for apt.
set -euo pipefail

# cpp-httplib's header needs the OpenSSL, zlib and Brotli headers its library was built with; python3 runs
# the load generator (tests/server_loadgen_test).
packages=(bazel-bootstrap libabsl-dev libgtest-dev g++ clang libcpp-httplib-dev nlohmann-json3-dev libssl-dev
          zlib1g-dev libbrotli-dev python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=""
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
  echo "bootstrap: the CUDA 13 toolkit is required at /usr/local/cuda (nvcc, cuBLAS, cuBLASLt);" \
       "install it from NVIDIA's repository first" >&2
  exit 1
fi
if [[ ! -d ../shared/models ]]; then
  echo "bootstrap: warning: ../shared (test models and tokenizer vectors) is not beside the checkout;" \
       "tests that read it will fail" >&2
fi
echo "bootstrap: ok"
