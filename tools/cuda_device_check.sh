#!/usr/bin/env bash
# The GPU check of the CUDA backend, in one run on a machine with an NVIDIA GPU: every kernel
# compiles (NVRTC), every launcher's kernel exists, and the device suites compare each op's GPU
# values and gradients with the CPU's. EMBER_REQUIRE_CUDA=1 turns a skipped CUDA instance (no
# usable GPU) into a failure, so this cannot pass without running on the GPU.
#
#   bash tools/cuda_device_check.sh            # from the repository root
#
# Without network access on the GPU machine, build the test binaries elsewhere with
# `cargo test -p ember-core --features cuda --release --no-run --test cuda_kernels --test
# cuda_device --test cuda_device_ops` and run those binaries with the same environment.
set -uo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
export EMBER_REQUIRE_CUDA=1 EMBER_REQUIRE_NVRTC=1
# one test thread: failures print in order and kernels do not compete for the device
cargo test -p ember-core --features cuda --release \
    --test cuda_kernels --test cuda_device --test cuda_device_ops -- --test-threads 1 2>&1 |
    grep -vE '^test .* ok$'
exit "${PIPESTATUS[0]}"
