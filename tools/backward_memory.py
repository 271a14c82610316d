#!/usr/bin/env python3
"""Bytes allocated by the backward pass of W4's MLP: ember vs PyTorch, measured the same way.

ember: `crates/ember-bench/examples/backward_memory.rs` wraps the global allocator and counts
every allocation made during `backward()` (bytes requested, and peak live bytes above the start).
PyTorch: the profiler with `profile_memory=True` reports each allocation and free of its CPU
allocator; we sum the allocations made during `loss.backward()` and track the running peak.

Both start from parameters whose `.grad` is None (zero_grad with set_to_none), so both count the
gradient buffers they create. Usage (PyTorch from a virtualenv, e.g. /work/.venv-torch):

    python tools/backward_memory.py [--ember-bin PATH]
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torch_backward_bytes():
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    x = torch.randn(128, 784)
    y = torch.randint(0, 10, (128,))
    result = None
    for _ in range(4):  # warm-up steps, the last one is reported
        model.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
            loss.backward()
        allocated = 0
        count = 0
        live = 0
        peak = 0
        # the raw allocator events (one per allocation or free, in time order)
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        for ev in sorted(events, key=lambda e: e.start_ns()):
            delta = ev.nbytes()
            if delta > 0:
                allocated += delta
                count += 1
            live += delta
            peak = max(peak, live)
        result = {"allocated_bytes": allocated, "allocations": count, "peak_bytes_above_start": peak}
    grad_bytes = sum(p.numel() * 4 for p in model.parameters())
    return dict(framework="pytorch", workload="W4-backward-memory", parameter_grad_bytes=grad_bytes, **result)


def ember_backward_bytes(binary):
    if binary:
        cmd = [binary]
    else:
        cmd = ["cargo", "run", "--quiet", "--release", "-p", "ember-bench", "--example", "backward_memory"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ember-bin", help="a built backward_memory example (default: cargo run)")
    args = ap.parse_args()
    t = torch_backward_bytes()
    e = ember_backward_bytes(args.ember_bin)
    print(json.dumps(t))
    print(json.dumps(e))
    for key in ("allocated_bytes", "peak_bytes_above_start", "allocations"):
        ratio = e[key] / t[key] if t[key] else float("nan")
        print(f"{key:>24}: ember {e[key]:>12,}  pytorch {t[key]:>12,}  ratio {ratio:.2f}x")
    print(f"{'parameter grads':>24}: {t['parameter_grad_bytes']:,} bytes (the least any backward must allocate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
