#!/usr/bin/env python3
"""Run ember's bench binary and PyTorch's anchors on the same workloads, interleaved in one
run, and print a table of ratios (these machines are noisy: only same-run ratios mean much).

usage: tools/bench_compare.py [--threads 2] [--only W1,W2,W3] [--python .venv-bench/bin/python]
                              [--anchors ../shared/bench/anchors] [--rounds 1] [--json out.jsonl]

The PyTorch side needs a Python with torch installed:
    python3 -m venv .venv-bench && .venv-bench/bin/pip install numpy torch
Ratios: for GFLOP/s rows `ember/torch` (higher is better); for time rows `ember/torch`
(lower is better: 0.5x means ember takes half PyTorch's time).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_lines(cmd, env=None):
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    out = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="W1,W2,W3")
    ap.add_argument("--python", default=os.path.join(ROOT, ".venv-bench", "bin", "python"))
    ap.add_argument("--anchors", default=os.path.join(ROOT, "..", "shared", "bench", "anchors"))
    ap.add_argument("--rounds", type=int, default=1, help="repeat the interleaved pair; best of rounds")
    ap.add_argument("--json", default=None, help="also write every record here")
    a = ap.parse_args()
    works = [w.strip().upper() for w in a.only.split(",") if w.strip()]
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ember-bench"], cwd=ROOT, check=True)
    exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "ember-bench")
    records = []
    for _ in range(a.rounds):
        for w in works:  # interleave per workload so both see the same machine state
            records += run_lines([exe, w, "--threads", str(a.threads)])
            records += run_lines([a.python, os.path.join(a.anchors, "bench_torch.py"), "--threads",
                                  str(a.threads), "--mode", "eager", "--only", w])
    if a.json:
        with open(a.json, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
    best = {}
    for r in records:
        if r.get("workload") == "meta" or r.get("value") is None:
            continue
        key = (r["framework"], r["workload"], r["param"])
        higher_better = r["unit"] == "GFLOP/s"
        if key not in best or (r["value"] > best[key]["value"]) == higher_better:
            best[key] = r
    print(f"| workload | param | ember | PyTorch | unit | ratio ember/PyTorch |")
    print(f"|---|---|---|---|---|---|")
    for (fw, w, p), r in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if fw != "ember":
            continue
        # PyTorch labels may carry a suffix ("MLP Adam (default optimizer)"): match by prefix
        cands = [t for (f2, w2, p2), t in best.items() if f2 == "torch" and w2 == w and p2.startswith(p)]
        if not cands:
            print(f"| {w} | {p} | {r['value']} | - | {r['unit']} | - |")
            continue
        t = min(cands, key=lambda t: len(t["param"]))
        ratio = r["value"] / t["value"] if t["value"] else float("nan")
        print(f"| {w} | {p} | {r['value']:.4g} | {t['value']:.4g} | {r['unit']} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
