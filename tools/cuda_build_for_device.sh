#!/usr/bin/env bash
# Build the CUDA test binaries and `ember-bench --features cuda` for a GPU machine without
# registry access, into DIR (default `.gpu/`, ignored by git): portable x86-64-v3 code (the
# repository's `.cargo/config.toml` targets this machine's own CPU, which the GPU host may not
# have), in a target dir of its own. Then, on the GPU machine:
#
#   bash tools/cuda_device_check.sh .gpu
#   .gpu/ember-bench --device cuda && python3 tools/bench_torch_cuda.py
#
# or all of it, and the opt-in paths measured, in one call: `bash tools/cuda_gpu_session.sh`
# (with the device tool: carry `.gpupack`).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.gpu}"
export RUSTFLAGS="-C target-cpu=x86-64-v3" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/device}"
SUITES="cuda_kernels cuda_device cuda_device_ops cuda_memory cuda_opinfo"
mkdir -p "$out"
# shellcheck disable=SC2046
cargo test -p ember-core --features cuda --release --no-run $(printf -- '--test %s ' $SUITES) \
    --message-format json 2>/dev/null |
    python3 -c '
import json, shutil, sys
out = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        name = m["target"]["name"]
        shutil.copy(m["executable"], out + "/" + name)
        print("built", name)
' "$out"
cargo build --release -p ember-bench --features cuda
cargo build --release -p ember-cli --features cuda
cp "$CARGO_TARGET_DIR/release/ember-bench" "$CARGO_TARGET_DIR/release/ember" "$out/"
strip "$out"/* 2>/dev/null || true
ls -la "$out"
# the device tool carries at most 64 MiB with the working tree: ship the binaries gzipped
# (about 17 MB) as `.gpupack/gpu.tgz`; tools/cuda_gpu_session.sh unpacks them into .gpu/
mkdir -p .gpupack
tar czf .gpupack/gpu.tgz -C "$(dirname "$out")" "$(basename "$out")"
ls -la .gpupack
