#!/usr/bin/env python3
"""bench_torch_train.py — the project's benchmark workload trained in PyTorch, for scripts/bench.ts.

Fashion-MNIST from the IDX files in DIR (pixels / 255), MLP 784-256-128-10, tanh hidden,
softmax cross-entropy averaged over the batch (nn.CrossEntropyLoss), SGD lr 0.05, batch 128,
float32, Glorot-uniform weights (xavier_uniform_) and zero biases, a fresh shuffle each epoch.
Times each epoch's training loop (no evaluation inside it); prints one JSON line:
{"torch": version, "threads": T, "epochs": [samples/s, ...], "accuracy": test accuracy,
"blas": what scripts/torch_blas.py reports}.

usage: bench_torch_train.py DIR [--epochs 3] [--threads 1] [--batch 128] [--steps N]
Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (bench.ts does).
"""
import argparse
import gzip
import json
import os
import struct
import time

import torch

from torch_blas import probe


def idx(path):
    with (gzip.open if path.endswith('.gz') else open)(path, 'rb') as f:
        raw = f.read()
    magic, = struct.unpack('>I', raw[:4])
    dims = [struct.unpack('>I', raw[4 + 4 * i:8 + 4 * i])[0] for i in range(magic & 0xff)]
    data = torch.frombuffer(bytearray(raw[4 + 4 * len(dims):]), dtype=torch.uint8)
    return data.reshape(dims)


def find(d, stem):
    for name in (stem + '.gz', stem):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise SystemExit(f'bench_torch_train: {stem}[.gz] not in {d}')


def fit(model, opt, x, y, tx, ty, a):
    """Trains `a.epochs` epochs (or `a.steps` steps) of cross-entropy in batches of `a.batch`, a
    fresh shuffle each epoch; returns the samples/s of each epoch's loop and the test accuracy."""
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x.shape[0]
    rates = []
    done = 0
    for _ in range(a.epochs):
        order = torch.randperm(n)
        t0 = time.perf_counter()
        seen = 0
        for s in range(0, n, a.batch):
            if a.steps and done >= a.steps:
                break
            b = order[s:s + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[b]), y[b])
            loss.backward()
            opt.step()
            seen += b.shape[0]
            done += 1
        if seen:
            rates.append(seen / (time.perf_counter() - t0))
    with torch.no_grad():
        acc = (model(tx).argmax(1) == ty).float().mean().item()
    return rates, acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--steps', type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = idx(find(a.dir, 'train-images-idx3-ubyte')).reshape(-1, 784).float() / 255
    y = idx(find(a.dir, 'train-labels-idx1-ubyte')).long()
    tx = idx(find(a.dir, 't10k-images-idx3-ubyte')).reshape(-1, 784).float() / 255
    ty = idx(find(a.dir, 't10k-labels-idx1-ubyte')).long()
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.Tanh(),
        torch.nn.Linear(256, 128), torch.nn.Tanh(),
        torch.nn.Linear(128, 10),
    )
    for m in model:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rates, acc = fit(model, opt, x, y, tx, ty, a)
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'epochs': rates, 'accuracy': acc, 'blas': probe()}))


if __name__ == '__main__':
    main()
