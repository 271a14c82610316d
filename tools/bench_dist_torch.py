"""PyTorch counterpart of ember-dist-bench: torch.distributed with the gloo back-end under mpirun.

    mpirun --allow-run-as-root --oversubscribe -np 2 /work/.venv-torch/bin/python tools/bench_dist_torch.py allreduce
    mpirun ... -np 2 -x OMP_NUM_THREADS=1 .../python tools/bench_dist_torch.py w5
    OMP_NUM_THREADS=2 .../python tools/bench_dist_torch.py w5          # one process, 2 threads

Ranks come from Open MPI's environment (OMPI_COMM_WORLD_RANK / _SIZE); the gloo rendezvous uses
MASTER_ADDR / MASTER_PORT (default 127.0.0.1:29533). Prints JSON lines like ember-dist-bench.
"""
import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
os.environ.setdefault("MASTER_PORT", "29533")
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
dist.init_process_group("gloo", rank=rank, world_size=world)


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def allreduce():
    for mib in [1, 4, 16, 64, 256]:
        t = torch.ones(mib * 1024 * 1024 // 4)
        iters = max(5, min(50, 512 // mib))
        times = []
        for i in range(iters + 2):
            dist.barrier()
            s = time.perf_counter()
            dist.all_reduce(t)
            e = time.perf_counter() - s
            t.fill_(1.0)
            if i >= 2:
                times.append(e)
        if rank == 0:
            print(json.dumps({"bench": "allreduce", "impl": "torch-gloo", "mib": mib, "ranks": world,
                              "gb_s": round(mib / 1024 / median(times), 3)}), flush=True)


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(1600, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def w5(steps=60):
    torch.manual_seed(0)
    model = Cnn()
    ddp = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    per_rank = 64 // world
    torch.manual_seed(1 + rank)
    x = torch.randn(per_rank, 1, 28, 28)
    y = torch.randint(0, 10, (per_rank,))
    times = []
    for i in range(steps + 5):
        dist.barrier()
        s = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(ddp(x), y).backward()
        opt.step()
        if i >= 5:
            times.append(time.perf_counter() - s)
    if rank == 0:
        print(json.dumps({"bench": "w5_ddp", "impl": "torch-gloo", "ranks": world,
                          "threads_per_rank": torch.get_num_threads(), "global_batch": per_rank * world,
                          "median_ms_per_step": round(1e3 * median(times), 3),
                          "examples_per_s": round(per_rank * world * steps / sum(times), 1)}), flush=True)


if __name__ == "__main__":
    {"allreduce": allreduce, "w5": w5}[sys.argv[1]]()
    dist.destroy_process_group()
