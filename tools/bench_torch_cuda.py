#!/usr/bin/env python3
"""PyTorch's side of the GPU bench rows: W1, W4, W5, W6 with device="cuda", the same models and
sizes as `ember-bench --device cuda` (crates/ember-bench/src/workloads/on_device.rs), printing
the same JSON lines. Run both on the same GPU:

    cargo run --release -p ember-bench --features cuda -- --device cuda
    python3 tools/bench_torch_cuda.py            # needs torch with CUDA

TF32 stays off (PyTorch's default for matmul), as in ember unless `set_allow_tf32(true)`.
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DEV = "cuda"


def bench(step, warmup=5, samples=21):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def emit(workload, param, value, unit, **extra):
    rec = {"framework": "torch", "workload": workload, "param": param, "value": round(value, 4), "unit": unit,
           "device": DEV, **extra}
    print(json.dumps(rec), flush=True)


def w1():
    sizes = (128, 512, 1024, 2048, 4096)
    runs = [(n, torch.float32, f"n={n}") for n in sizes] + [(n, torch.bfloat16, f"bf16 n={n}") for n in sizes[2:]]
    for n, dtype, label in runs:
        a = torch.randn(n, n, device=DEV).to(dtype)
        b = torch.randn(n, n, device=DEV).to(dtype)
        t = bench(lambda: a @ b, warmup=3)
        emit("W1", label, 2 * n ** 3 / t / 1e9, "GFLOP/s", median_ms=t * 1e3)


def train(workload, label, model, opt, x, loss_fn):
    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x)).backward()
        opt.step()

    step()
    emit(workload, label, bench(step) * 1e3, "ms/step")


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
        self.fc1, self.fc2 = nn.Linear(1600, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def main():
    if not torch.cuda.is_available():
        sys.exit("no CUDA device visible to PyTorch")
    torch.manual_seed(0)
    w1()
    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10)).to(DEV)
    y = torch.randint(0, 10, (128,), device=DEV)
    train("W4", "MLP Adam", mlp, torch.optim.Adam(mlp.parameters(), 1e-3), torch.randn(128, 784, device=DEV),
          lambda out: F.cross_entropy(out, y))
    cnn = Cnn().to(DEV)
    y5 = torch.randint(0, 10, (64,), device=DEV)
    train("W5", "CNN SGD-momentum", cnn, torch.optim.SGD(cnn.parameters(), 0.01, momentum=0.9),
          torch.randn(64, 1, 28, 28, device=DEV), lambda out: F.cross_entropy(out, y5))
    layer = nn.TransformerEncoderLayer(256, 8, dim_feedforward=1024, dropout=0.0, batch_first=True).to(DEV)
    opt = torch.optim.AdamW(layer.parameters(), 1e-3)
    x6 = torch.randn(16, 128, 256, device=DEV)
    train("W6", "TransformerEncoderLayer AdamW", layer, opt, x6, lambda out: out.mean())
    if os.environ.get("EMBER_BENCH_PHASES"):
        phases("W6", layer, opt, x6, lambda out: out.mean())


def phases(workload, model, opt, x, loss_fn, steps=30):
    """Where a step's time goes: forward, backward and the optimizer, each ended by a sync."""
    times = ([], [], [])
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x))
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        loss.backward()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        opt.step()
        torch.cuda.synchronize()
        t3 = time.perf_counter()
        for v, d in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            v.append(d * 1e3)
    for name, v in zip(("forward", "backward", "optimizer"), times):
        emit(workload, f"phase {name}", statistics.median(v), "ms")


if __name__ == "__main__":
    main()
