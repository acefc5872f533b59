#!/usr/bin/env python3
"""make-cnn-reference.py — PyTorch float64 reference gradients for gradsync's convolutional layers.

Writes test/fixtures/cnn-reference.json (committed; the tests do not need torch). Each case is a
model in gradsync's spec format (model/spec.ts), its flat parameters (per layer with parameters
W then b, PyTorch's layout: conv (out, in, kh, kw), dense (out, in)), `rows` examples x (NCHW
rows) with one-hot targets y, and what PyTorch computes in float64 for the summed
cross-entropy: the loss and every dJdW / dJdWb (sums over the examples).
  conv:     a ragged 7x5 input, conv 3 filters 3x3 stride 2 padding 1 tanh
  maxpool:  conv 2 filters 3x3 padding 1 tanh, maxpool 2
  avgpool:  conv 2 filters 3x3 padding 1 sigmoid, avgpool 3 stride 1 (overlapping windows)
  dropout:  dense 12 tanh, dropout 0.4 with gradsync's mask (tensor/rng.ts Rng.keyed, written
            here again from its definition), dense
  lenet:    [1, 12, 12] conv 6 5x5 pad 2 relu, maxpool 2, conv 9 5x5 pad 2 relu, maxpool 2,
            flatten, dense 13 relu, dense 4 softmax
each case ending flatten (where needed) + dense softmax. Floats are written with repr(), which
round-trips float64 exactly.
Run: python3 scripts/make-cnn-reference.py  (from the repository root; Debian's python3-torch)
"""
import json, os
import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M32 = 0xFFFFFFFF

# ---- gradsync's keyed generator (tensor/rng.ts): splitmix32 expansion + xoshiro128** ----
def imul(a, b):
    return (a * b) & M32

def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32

def keyed_seed(keys):
    h = 0x243F6A88
    for k in keys:
        h = (h ^ (k & M32)) & M32
        h = (h + 0x9E3779B9) & M32
        h = imul(h ^ (h >> 16), 0x85EBCA6B)
        h = imul(h ^ (h >> 13), 0xC2B2AE35)
        h = (h ^ (h >> 16)) & M32
    return h

class Rng:
    def __init__(self, seed):
        s = seed & M32
        st = []
        for _ in range(4):
            s = (s + 0x9E3779B9) & M32
            z = s
            z = imul(z ^ (z >> 16), 0x85EBCA6B)
            z = imul(z ^ (z >> 13), 0xC2B2AE35)
            st.append((z ^ (z >> 16)) & M32)
        if st == [0, 0, 0, 0]:
            st[0] = 1
        self.s = st

    def next_u32(self):
        s0, s1, s2, s3 = self.s
        result = imul(rotl(imul(s1, 5), 7), 9)
        t = (s1 << 9) & M32
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
        s3 = rotl(s3, 11)
        self.s = [s0, s1, s2, s3]
        return result

def dropout_mask(rows, n, rate, seed, step, order, layer):
    thr = int(round(rate * 4294967296))
    scale = 1 / (1 - rate)
    m = np.zeros((rows, n))
    for r in range(rows):
        g = Rng(keyed_seed([seed, step, order[r], layer]))
        for j in range(n):
            m[r, j] = 0.0 if g.next_u32() < thr else scale
    return m

# ---- a model from a spec ----
def shapes(spec):
    s = [tuple(spec.get('input', [spec['inputs']]))]
    for l in spec['layers']:
        t = l.get('type', 'dense')
        c = s[-1]
        if t == 'dense': s.append((l['units'],))
        elif t == 'conv2d':
            st, p, k = l.get('stride', 1), l.get('padding', 0), l['kernel']
            s.append((l['filters'], (c[1] + 2 * p - k) // st + 1, (c[2] + 2 * p - k) // st + 1))
        elif t in ('maxpool2d', 'avgpool2d'):
            st = l.get('stride', l['size'])
            s.append((c[0], (c[1] - l['size']) // st + 1, (c[2] - l['size']) // st + 1))
        elif t == 'flatten': s.append((int(np.prod(c)),))
        else: s.append(c)
    return s

def case(spec, rows, seed, dropout_ctx=None):
    rng = np.random.default_rng(seed)
    sh = shapes(spec)
    params = []  # torch leaves, W then b per layer with parameters
    flat = []
    for i, l in enumerate(spec['layers']):
        t = l.get('type', 'dense')
        if t == 'dense': wshape = (l['units'], sh[i][0])
        elif t == 'conv2d': wshape = (l['filters'], sh[i][0], l['kernel'], l['kernel'])
        else: continue
        fan_in = int(np.prod(wshape[1:]))
        W = rng.uniform(-1, 1, wshape) * np.sqrt(3 / fan_in) * 1.5
        b = rng.uniform(-0.3, 0.3, wshape[0])
        flat += W.ravel().tolist() + b.tolist()
        params.append((torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)))
    x = rng.uniform(-1, 1, (rows, spec['inputs']))
    n_out = spec['layers'][-1]['units']
    labels = np.arange(rows) % n_out
    y = np.eye(n_out)[labels]
    a = torch.tensor(x).reshape((rows,) + sh[0])
    p = 0
    for i, l in enumerate(spec['layers']):
        t = l.get('type', 'dense')
        if t in ('dense', 'conv2d'):
            W, b = params[p]; p += 1
            z = F.linear(a, W, b) if t == 'dense' else F.conv2d(a, W, b, stride=l.get('stride', 1), padding=l.get('padding', 0))
            f = l['activation']
            if f == 'softmax': a = z  # the loss takes the logits
            elif f == 'linear': a = z
            else: a = {'tanh': torch.tanh, 'sigmoid': torch.sigmoid, 'relu': torch.relu}[f](z)
        elif t == 'maxpool2d': a = F.max_pool2d(a, l['size'], l.get('stride', l['size']))
        elif t == 'avgpool2d': a = F.avg_pool2d(a, l['size'], l.get('stride', l['size']))
        elif t == 'flatten': a = a.reshape(rows, -1)
        elif t == 'dropout':
            m = dropout_mask(rows, int(np.prod(sh[i])), l['rate'], l['seed'], dropout_ctx['step'], dropout_ctx['order'], i)
            a = a * torch.tensor(m).reshape(a.shape)
    loss = F.cross_entropy(a, torch.tensor(labels), reduction='sum')
    loss.backward()
    grads = []
    for W, b in params:
        grads.append({'dJdW': W.grad.numpy().ravel().tolist(), 'dJdWb': b.grad.numpy().tolist()})
    out = {'spec': spec, 'rows': rows, 'params': flat, 'x': x.ravel().tolist(), 'y': y.ravel().tolist(), 'loss': float(loss), 'grads': grads}
    if dropout_ctx: out['dropout'] = dropout_ctx
    return out

def model(inp, layers, n_out=3):
    spec = {'inputs': int(np.prod(inp)), 'layers': layers + [{'units': n_out, 'activation': 'softmax'}], 'loss': 'cross-entropy', 'dtype': 'float64'}
    if len(inp) == 3: spec['input'] = list(inp)
    return spec

def main():
    flat = [{'type': 'flatten'}]
    ref = {
        'generator': 'scripts/make-cnn-reference.py', 'torch': torch.__version__,
        'conv': case(model([2, 7, 5], [{'type': 'conv2d', 'filters': 3, 'kernel': 3, 'stride': 2, 'padding': 1, 'activation': 'tanh'}] + flat), 3, 1),
        'maxpool': case(model([1, 6, 6], [{'type': 'conv2d', 'filters': 2, 'kernel': 3, 'padding': 1, 'activation': 'tanh'}, {'type': 'maxpool2d', 'size': 2}] + flat), 3, 2),
        'avgpool': case(model([1, 6, 6], [{'type': 'conv2d', 'filters': 2, 'kernel': 3, 'padding': 1, 'activation': 'sigmoid'}, {'type': 'avgpool2d', 'size': 3, 'stride': 1}] + flat), 3, 3),
        'dropout': case(model([5], [{'units': 12, 'activation': 'tanh'}, {'type': 'dropout', 'rate': 0.4, 'seed': 3}]), 4, 4, {'step': 7, 'order': [11, 3, 40, 5]}),
        'lenet': case(model([1, 12, 12], [
            {'type': 'conv2d', 'filters': 6, 'kernel': 5, 'padding': 2, 'activation': 'relu'}, {'type': 'maxpool2d', 'size': 2},
            {'type': 'conv2d', 'filters': 9, 'kernel': 5, 'padding': 2, 'activation': 'relu'}, {'type': 'maxpool2d', 'size': 2},
            {'type': 'flatten'}, {'units': 13, 'activation': 'relu'}], 4), 4, 5),
    }
    out = os.path.join(ROOT, 'test', 'fixtures', 'cnn-reference.json')
    with open(out, 'w') as f:
        json.dump(ref, f)
    print('wrote', os.path.relpath(out, ROOT))

if __name__ == '__main__':
    main()
