#!/usr/bin/env python3
"""bench_torch_cnn.py — config/fashion-cnn.json's CNN trained in PyTorch, for scripts/bench-cnn.ts.

Fashion-MNIST from the IDX files in DIR (pixels / 255), [1, 28, 28]: conv 16 5x5 pad 2 relu,
maxpool 2, conv 32 5x5 pad 2 relu, maxpool 2, flatten, dense 128 relu, dense 10, softmax
cross-entropy averaged over the batch, SGD lr 0.05 momentum 0.9, batch 128, float32, He-uniform
weights (kaiming_uniform_ with a = 0: U(+-sqrt(6/fan_in))) and zero biases, a fresh shuffle each
epoch. Times each epoch's training loop (no evaluation inside it); prints one JSON line:
{"torch": version, "threads": T, "epochs": [samples/s, ...], "accuracy": test accuracy}.

usage: bench_torch_cnn.py DIR [--epochs 1] [--threads 1] [--batch 128] [--steps N]
"""
import argparse
import json

import torch

from bench_torch_train import find, fit, idx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--steps', type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = idx(find(a.dir, 'train-images-idx3-ubyte')).reshape(-1, 1, 28, 28).float() / 255
    y = idx(find(a.dir, 'train-labels-idx1-ubyte')).long()
    tx = idx(find(a.dir, 't10k-images-idx3-ubyte')).reshape(-1, 1, 28, 28).float() / 255
    ty = idx(find(a.dir, 't10k-labels-idx1-ubyte')).long()
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    for m in model:
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            # relu's gain sqrt(2) times sqrt(3/fan_in): U(+-sqrt(6/fan_in)), gradsync's he-uniform
            nn.init.kaiming_uniform_(m.weight, a=0, nonlinearity='relu')
            nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rates, acc = fit(model, opt, x, y, tx, ty, a)
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'epochs': rates, 'accuracy': acc}))


if __name__ == '__main__':
    main()
