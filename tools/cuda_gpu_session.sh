#!/usr/bin/env bash
# Everything a session with a GPU should run, in one call of a few minutes (the GPU machines are
# lent for 15 minutes a session, start included): the GPU test suites, the bench rows beside
# PyTorch on the same GPU (ember's defaults, then the opt-in paths that still wait for a GPU to
# be measured), and `ember train mnist --device cuda` with a resume. Build first, on a machine
# with registry access: `bash tools/cuda_build_for_device.sh` (into `.gpu/`, and gzipped into
# `.gpupack/gpu.tgz`, which the device tool carries within its 64 MiB: `carry: [".gpupack"]`).
#
#   bash tools/cuda_gpu_session.sh [OUT_DIR]      # logs go to OUT_DIR (default: $OUT, or /tmp)
#
# Each step has its own time limit (565 s in all at worst, inside the device tool's 600 s per
# call; typical runs take far less) and a failing step does not stop the others; the summary at
# the end names every step's exit status. Opt-in paths measured: EMBER_BENCH_FUSED_ADAM=1
# (one-kernel Adam/AdamW), EMBER_BENCH_FUSED_LAYER_NORM=1 (fused layer norm), EMBER_CUBLASLT=1
# (bf16/f16 products through cuBLASLt). Their correctness tests are in the suites of step 1
# (`fused_adam_step_matches_cpu`, `fused_layer_norm_matches_cpu`; cuBLASLt runs the suite
# cuda_device again, whose `half_precision_products_match_cpu` then goes through it), so flip a
# default only where those passed.
set -uo pipefail
cd "$(dirname "$0")/.."
log="${1:-${OUT:-/tmp}}"
mkdir -p "$log"
summary=()
step() { # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "==== $name (limit ${limit}s)"
    local t0=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$log/$name.log"
    local rc=${PIPESTATUS[0]}
    summary+=("$name: exit $rc in $((SECONDS - t0)) s")
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$log/gpu.txt"
if [ ! -x .gpu/ember-bench ] && [ -f .gpupack/gpu.tgz ]; then
    tar xzf .gpupack/gpu.tgz
fi
[ -x .gpu/ember-bench ] || { echo "no .gpu/ build: run tools/cuda_build_for_device.sh first"; exit 2; }

# 1. correctness: the device suites with the opt-in kernels tested inside them
EMBER_SUITE_TIMEOUT=100 step tests 200 bash tools/cuda_device_check.sh .gpu
EMBER_CUBLASLT=1 EMBER_REQUIRE_CUDA=1 CARGO_MANIFEST_DIR="$PWD/crates/ember-core" \
    step tests_cublaslt 45 sh -c 'cd crates/ember-core && ../../.gpu/cuda_device --test-threads 1'

# 2. the bench rows, both frameworks on this GPU, defaults first
step bench_ember 75 .gpu/ember-bench --device cuda
EMBER_BENCH_FUSED_ADAM=1 EMBER_BENCH_FUSED_LAYER_NORM=1 EMBER_CUBLASLT=1 EMBER_BENCH_PHASES=1 \
    step bench_ember_optin 75 .gpu/ember-bench --device cuda
EMBER_BENCH_PHASES=1 step bench_torch 90 python3 tools/bench_torch_cuda.py

# 3. the command-line tool on the GPU: train, then resume
run_dir=$(mktemp -d)
step train_gpu 40 .gpu/ember train mnist --device cuda --epochs 1 --limit-train 3200 --limit-test 1000 --out "$run_dir" --json
step resume_gpu 40 .gpu/ember train mnist --device cuda --epochs 2 --limit-train 3200 --limit-test 1000 --out "$run_dir" --json --resume

echo "==== summary"
printf '%s\n' "${summary[@]}" | tee "$log/summary.txt"
