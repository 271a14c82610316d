#!/usr/bin/env bash
# The GPU check of the CUDA backend, in one run on a machine with an NVIDIA GPU: every kernel
# compiles (NVRTC), every launcher's kernel exists, the device suites compare each op's GPU
# values and gradients with the CPU's, the OpInfo registry runs on the GPU against PyTorch's
# fixtures, and the allocator / gradient scaler work on the device. EMBER_REQUIRE_CUDA=1 turns
# a skipped CUDA test (no usable GPU) into a failure, so this cannot pass without the GPU.
#
#   bash tools/cuda_device_check.sh              # from the repository root, with cargo
#   bash tools/cuda_device_check.sh DIR          # run test binaries built elsewhere, from DIR
#
# The GPU machines have no registry access: build the binaries on a machine that has, portable
# to the GPU host's CPU, and copy them into DIR (see `tools/cuda_build_for_device.sh`).
set -uo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
export EMBER_REQUIRE_CUDA=1 EMBER_REQUIRE_NVRTC=1
SUITES="cuda_kernels cuda_device cuda_device_ops cuda_memory cuda_opinfo"
status=0
if [ $# -eq 0 ]; then
    # one test thread: failures print in order and kernels do not compete for the device
    # shellcheck disable=SC2046
    cargo test -p ember-core --features cuda --release $(printf -- '--test %s ' $SUITES) \
        -- --test-threads 1 2>&1 | grep -vE '^test .* ok$'
    exit "${PIPESTATUS[0]}"
fi
dir=$(cd "$1" && pwd)
# test binaries find their fixtures through CARGO_MANIFEST_DIR, as under cargo
export CARGO_MANIFEST_DIR="$PWD/crates/ember-core"
for suite in $SUITES; do
    echo "== $suite"
    (cd crates/ember-core && timeout "${EMBER_SUITE_TIMEOUT:-900}" "$dir/$suite" --test-threads 1 2>&1 | grep -vE '^test .* ok$')
    rc=${PIPESTATUS[0]}
    echo "== $suite: exit $rc"
    [ "$rc" -eq 0 ] || status=1
done
exit $status
