#!/usr/bin/env python3
"""bench_torch.py — the benchmark workload in PyTorch on one thread, for scripts/bench-kernels.ts.

MLP 784-256-128-10, tanh hidden, softmax cross-entropy (mean over the batch), SGD lr 0.05,
batch 128, float32, random data of Fashion-MNIST's shape (60,000 × 784 in [0, 1), 10 classes).
Prints one JSON line: {"torch": version, "threads": 1, "samples_per_s": ..., "blas": what
scripts/torch_blas.py reports}.
Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (bench-kernels.ts does).
"""
import json
import sys
import time

import torch

from torch_blas import probe

torch.set_num_threads(1)
torch.manual_seed(0)
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
batch = 128
n = 60000
X = torch.rand(n, 784, dtype=torch.float32)
Y = torch.randint(0, 10, (n,))
model = torch.nn.Sequential(
    torch.nn.Linear(784, 256), torch.nn.Tanh(),
    torch.nn.Linear(256, 128), torch.nn.Tanh(),
    torch.nn.Linear(128, 10),
)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
loss_fn = torch.nn.CrossEntropyLoss()  # log-softmax + NLL, mean over the batch


def step(i):
    s = (i * batch) % (n - batch)
    xb, yb = X[s:s + batch], Y[s:s + batch]
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(xb), yb)
    loss.backward()
    opt.step()


for i in range(50):  # warm-up
    step(i)
steps = 0
t0 = time.perf_counter()
while time.perf_counter() - t0 < seconds:
    step(steps)
    steps += 1
dt = time.perf_counter() - t0
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "samples_per_s": steps * batch / dt, "blas": probe()}))
