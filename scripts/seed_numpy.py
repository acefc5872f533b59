"""seed_numpy.py — the seed network as its author wrote it: numpy's np.matrix, 10,000 full-batch
steps of one tanh unit fitting y = 2x on 20 points (config/doubling.json's run). Prints one JSON
line: the final W, b and loss, and the loop's seconds. Run by scripts/bench-seed.ts beside gradsync."""
import json
import time

import numpy as np

X = np.matrix([[0.025 * (i + 1)] for i in range(20)])
y = 2 * X
W = np.matrix([[0.5]])
Wb = np.matrix([[0.5]])
ones = np.matrix(np.ones((1, 20)))
lr = 0.07
t0 = time.perf_counter()
for step in range(10000):
    z = X * W + Wb
    yhat = np.tanh(z)
    delta = np.multiply(-(y - yhat), 1 - np.power(np.tanh(z), 2))
    dJdW = X.T * delta
    dJdWb = ones * delta
    W = W - lr * dJdW
    Wb = Wb - lr * dJdWb
seconds = time.perf_counter() - t0
yhat = np.tanh(X * W + Wb)
loss = float(0.5 * np.sum(np.power(y - yhat, 2)))
print(json.dumps({"W": float(W[0, 0]), "b": float(Wb[0, 0]), "loss": loss, "seconds": seconds}))
