#!/usr/bin/env python3
"""PyTorch's side of the GPU bench rows: W1, W4, W5, W6 with device="cuda", the same models and
sizes as `ember-bench --device cuda` (crates/ember-bench/src/workloads/on_device.rs), printing
the same JSON lines. Run both on the same GPU:

    cargo run --release -p ember-bench --features cuda -- --device cuda
    python3 tools/bench_torch_cuda.py            # needs torch with CUDA

TF32 stays off (PyTorch's default for matmul), as in ember unless `set_allow_tf32(true)`.
"""
import json
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
    for n in (128, 512, 1024, 2048, 4096):
        a, b = torch.randn(n, n, device=DEV), torch.randn(n, n, device=DEV)
        t = bench(lambda: a @ b, warmup=3)
        emit("W1", f"n={n}", 2 * n ** 3 / t / 1e9, "GFLOP/s", median_ms=t * 1e3)


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
    train("W6", "TransformerEncoderLayer AdamW", layer, torch.optim.AdamW(layer.parameters(), 1e-3),
          torch.randn(16, 128, 256, device=DEV), lambda out: out.mean())


if __name__ == "__main__":
    main()
