#!/usr/bin/env python3
"""make-reference.py — independent numpy references for gradsync's tests.

Writes test/fixtures/reference.json (committed; CI does not need numpy):
  doubling: the original question's numpy program (1 input, 1 tanh unit, W = b = 0.5,
            lr 0.07, 10,000 full-batch steps, J = 1/2 sum (y - yhat)^2), its step-1 gradient,
            the gradient norm at step 1,000, and the final W, b and loss.
  mlp:      a 64-16-12-10 network (tanh, sigmoid, softmax + cross-entropy) on the first 24
            digits rows (pixels / 16) with seeded weights: the loss sum and every dJdW/dJdWb
            as sums over the examples, then the losses of 5 SGD steps (lr 0.05, sum).
  mlp_sse:  the same first layers with a linear output and 1/2 squared error on one-hot targets.
Floats are written with repr(), which round-trips float64 exactly.
Run: python3 scripts/make-reference.py  (from the repository root)
"""
import gzip, json, os
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def doubling():
    X = np.array([[0.025 * (i + 1)] for i in range(20)])
    y = 2 * X
    W = np.array([[0.5]]); Wb = np.array([[0.5]])
    lr = 0.07
    out = {}
    for step in range(1, 10001):
        z = X @ W + Wb
        yhat = np.tanh(z)
        delta = -(y - yhat) * (1 - np.tanh(z) ** 2)
        dJdW = X.T @ delta
        dJdWb = np.ones((1, 20)) @ delta
        if step == 1:
            out['grad_step1'] = [float(dJdW[0, 0]), float(dJdWb[0, 0])]
        if step == 1000:
            out['grad_norm_step1000'] = float(np.sqrt(dJdW[0, 0] ** 2 + dJdWb[0, 0] ** 2))
        W = W - lr * dJdW
        Wb = Wb - lr * dJdWb
    yhat = np.tanh(X @ W + Wb)
    out['final'] = {'W': float(W[0, 0]), 'b': float(Wb[0, 0]), 'loss': float(0.5 * np.sum((y - yhat) ** 2))}
    return out

def act(name, z):
    if name == 'tanh': return np.tanh(z)
    if name == 'sigmoid': return 1 / (1 + np.exp(-z))
    if name == 'linear': return z
    if name == 'softmax':
        e = np.exp(z - z.max(axis=1, keepdims=True)); return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)

def dact(name, a):
    if name == 'tanh': return 1 - a * a
    if name == 'sigmoid': return a * (1 - a)
    if name == 'linear': return np.ones_like(a)
    raise ValueError(name)

def mlp_case(X, Y, sizes, acts, loss, seed, steps):
    rng = np.random.default_rng(seed)
    Ws, bs = [], []
    n_in = X.shape[1]
    for n_out in sizes:
        lim = np.sqrt(6 / (n_in + n_out))
        Ws.append(rng.uniform(-lim, lim, (n_out, n_in))); bs.append(rng.uniform(-0.1, 0.1, n_out))
        n_in = n_out
    init = {'layers': [{'W': W.ravel().tolist(), 'b': b.tolist()} for W, b in zip(Ws, bs)]}
    losses = []
    grads0 = None
    for step in range(steps + 1):
        a = [X]; zs = []
        for W, b, f in zip(Ws, bs, acts):
            z = a[-1] @ W.T + b; zs.append(z); a.append(act(f, z))
        yhat = a[-1]
        if loss == 'cross-entropy':
            z = zs[-1]; m = z.max(axis=1, keepdims=True)
            lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
            L = float(np.sum(Y * (lse[:, None] - z)))
            delta = yhat - Y
        else:
            L = float(0.5 * np.sum((Y - yhat) ** 2))
            delta = -(Y - yhat) * dact(acts[-1], yhat)
        losses.append(L)
        dWs, dbs = [None] * len(Ws), [None] * len(Ws)
        for l in range(len(Ws) - 1, -1, -1):
            dWs[l] = delta.T @ a[l]; dbs[l] = delta.sum(axis=0)
            if l > 0:
                delta = (delta @ Ws[l]) * dact(acts[l - 1], a[l])
        if step == 0:
            grads0 = {'loss': L, 'layers': [{'dJdW': dW.ravel().tolist(), 'dJdWb': db.tolist()} for dW, db in zip(dWs, dbs)]}
        if step < steps:
            Ws = [W - 0.05 * dW for W, dW in zip(Ws, dWs)]; bs = [b - 0.05 * db for b, db in zip(bs, dbs)]
    return {'sizes': sizes, 'activations': acts, 'loss': loss, 'rows': int(X.shape[0]), 'init': init, 'step0': grads0, 'sgd_losses': losses}

def main():
    with gzip.open(os.path.join(ROOT, 'config', 'data', 'digits.csv.gz'), 'rt') as f:
        rows = [list(map(float, line.split(','))) for line in f if line.strip()]
    data = np.array(rows[:24])
    X = data[:, :64] / 16
    Y = np.eye(10)[data[:, 64].astype(int)]
    ref = {
        'generator': 'scripts/make-reference.py', 'numpy': np.__version__,
        'doubling': doubling(),
        'mlp': mlp_case(X, Y, [16, 12, 10], ['tanh', 'sigmoid', 'softmax'], 'cross-entropy', 7, 5),
        'mlp_sse': mlp_case(X, Y, [16, 10], ['tanh', 'linear'], 'half-sse', 11, 5),
    }
    out = os.path.join(ROOT, 'test', 'fixtures', 'reference.json')
    with open(out, 'w') as f:
        json.dump(ref, f)
    print('wrote', os.path.relpath(out, ROOT))

if __name__ == '__main__':
    main()
