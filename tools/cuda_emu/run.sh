#!/usr/bin/env bash
# Check CUDA kernels' logic on the CPU (no GPU, no CUDA toolkit): compile a kernel source with
# g++ against the emulation in shim.h and compare its results with a reference. Covers the
# kernels written in sessions without a GPU (norm.cu); CI runs it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
kernels="$here/../../crates/ember-core/src/cuda/kernels"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
g++ -O1 -std=c++17 -pthread -I "$here" -I "$kernels" "$here/norm_check.cpp" -o "$out/norm_check"
"$out/norm_check"
