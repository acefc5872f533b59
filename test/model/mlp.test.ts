import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { Model } from '../../src/model/model';
import { initParams, layoutOf } from '../../src/model/params';
import type { ModelSpec } from '../../src/model/spec';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import type { Activation, KernelSet } from '../../src/tensor/kernels';
import { Rng } from '../../src/tensor/rng';
import { assertClose } from '../helpers/close';
import { readReference, repoRoot, type MlpCase } from '../helpers/paths';
import * as path from 'node:path';

function digitsRows(n: number): { x: number[]; y: number[] } {
  const text = zlib.gunzipSync(fs.readFileSync(path.join(repoRoot(), 'config', 'data', 'digits.csv.gz'))).toString('utf8');
  const x: number[] = [];
  const y: number[] = [];
  for (const line of text.split('\n').slice(0, n)) {
    const v = line.split(',').map(Number);
    x.push(...v.slice(0, 64).map((p) => p / 16));
    const onehot = new Array(10).fill(0);
    onehot[v[64]!] = 1;
    y.push(...onehot);
  }
  return { x, y };
}

function caseModel(c: MlpCase): { m: Model; params: Float64Array } {
  const spec: ModelSpec = {
    inputs: 64,
    layers: c.sizes.map((u, i) => ({ units: u, activation: c.activations[i] as Activation })),
    loss: c.loss,
    dtype: 'float64',
  };
  const m = new Model(spec, referenceKernels('float64'), c.rows);
  const params = new Float64Array(m.layout.size);
  initParams(m.layout, { scheme: 'values', layers: c.init.layers }, new Rng(1), params);
  const { x, y } = digitsRows(c.rows);
  m.input().set(x);
  m.target().set(y);
  return { m, params };
}

describe('Model: forward and backward against independent numpy references', () => {
  const ref = readReference();

  it('reproduces the original doubling network: step-1 gradient, |g| at step 1,000, final W, b and loss', () => {
    const spec: ModelSpec = { inputs: 1, layers: [{ units: 1, activation: 'tanh' }], loss: 'half-sse', dtype: 'float64' };
    const m = new Model(spec, referenceKernels('float64'), 20);
    for (let i = 0; i < 20; i++) {
      m.input()[i] = 0.025 * (i + 1);
      m.target()[i] = 2 * m.input()[i]!;
    }
    const p = new Float64Array([0.5, 0.5]);
    const g = new Float64Array(2);
    let loss = NaN;
    for (let s = 1; s <= 10000; s++) {
      m.forward(p, 20);
      loss = m.backward(p, 20, g);
      if (s === 1) assertClose(g, ref.doubling.grad_step1, { rtol: 1e-12, label: 'step-1 (dJdW, dJdWb)' });
      if (s === 1000) assertClose(Math.hypot(g[0]!, g[1]!), ref.doubling.grad_norm_step1000, { rtol: 1e-8, label: 'norm at step 1000' });
      p[0] = p[0]! - 0.07 * g[0]!;
      p[1] = p[1]! - 0.07 * g[1]!;
    }
    m.forward(p, 20);
    assertClose(p[0]!, ref.doubling.final.W, { rtol: 1e-12, label: 'W' });
    assertClose(p[1]!, ref.doubling.final.b, { rtol: 1e-10, label: 'b' });
    assertClose(m.loss(20), ref.doubling.final.loss, { rtol: 1e-12, label: 'final loss' });
    assert.ok(Math.abs(loss - 0.0282127746) < 1e-10);
    // the published digits
    assert.equal(p[0]!.toFixed(11), '2.80867981960');
    assert.equal(p[1]!.toFixed(10), '-0.0841866306');
  });

  for (const key of ['mlp', 'mlp_sse'] as const) {
    it(`matches numpy's loss and every dJdW, dJdWb (sums over examples) for the ${key} case`, () => {
      const c = ref[key];
      const { m, params } = caseModel(c);
      const grads = new Float64Array(m.layout.size);
      m.forward(params, c.rows);
      const loss = m.backward(params, c.rows, grads);
      assertClose(loss, c.step0.loss, { rtol: 1e-12, label: 'loss' });
      m.layout.layers.forEach((s, l) => {
        assertClose(grads.subarray(s.w, s.w + s.wSize), c.step0.layers[l]!.dJdW, { rtol: 1e-9, atol: 1e-13, label: `dJdW[${l}]` });
        assertClose(grads.subarray(s.b, s.b + s.bSize), c.step0.layers[l]!.dJdWb, { rtol: 1e-9, atol: 1e-13, label: `dJdWb[${l}]` });
      });
    });
    it(`matches numpy's losses over 5 SGD steps for the ${key} case`, () => {
      const c = ref[key];
      const { m, params } = caseModel(c);
      const grads = new Float64Array(m.layout.size);
      c.sgd_losses.forEach((expected, step) => {
        m.forward(params, c.rows);
        const loss = m.backward(params, c.rows, grads);
        assertClose(loss, expected, { rtol: 1e-11, label: `loss at step ${step}` });
        for (let i = 0; i < params.length; i++) params[i] = params[i]! - 0.05 * grads[i]!;
      });
    });
  }

  it('gradients of disjoint example sets add up to the gradient of their union', () => {
    const c = ref.mlp;
    const { m, params } = caseModel(c);
    const whole = new Float64Array(m.layout.size);
    m.forward(params, c.rows);
    m.backward(params, c.rows, whole);
    const { x, y } = digitsRows(c.rows);
    const half = c.rows / 2;
    const a = new Float64Array(m.layout.size);
    const b = new Float64Array(m.layout.size);
    m.input().set(x.slice(0, half * 64));
    m.target().set(y.slice(0, half * 10));
    m.forward(params, half);
    m.backward(params, half, a);
    m.input().set(x.slice(half * 64));
    m.target().set(y.slice(half * 10));
    m.forward(params, half);
    m.backward(params, half, b);
    assertClose(
      a.map((v, i) => v + b[i]!),
      whole,
      { rtol: 1e-12, atol: 1e-15, label: 'sum of halves' },
    );
  });

  it('counts saturated tanh units and active relu units in the stats buffer', () => {
    const spec: ModelSpec = {
      inputs: 1,
      layers: [
        { units: 2, activation: 'tanh' },
        { units: 2, activation: 'relu' },
      ],
      loss: 'half-sse',
      dtype: 'float64',
    };
    const m = new Model(spec, referenceKernels('float64'), 2);
    const lay = layoutOf(spec);
    const p = new Float64Array(lay.size);
    // unit 0 of layer 0: z = 10·x (saturated), unit 1: z = 0.1·x (not)
    p.set([10, 0.1], lay.layers[0]!.w);
    // relu layer: unit 0 gets +a, unit 1 gets −a − 5 (always dead)
    p.set([1, 0, -1, 0], lay.layers[1]!.w);
    p.set([0, -5], lay.layers[1]!.b);
    m.input().set([1, 2]);
    m.target().set([0, 0, 0, 0]);
    const stats = new Float64Array(m.statsLayout.size);
    m.forward(p, 2);
    m.backward(p, 2, new Float64Array(lay.size), stats);
    const o0 = m.statsLayout.offsets[0]!;
    const o1 = m.statsLayout.offsets[1]!;
    assert.equal(stats[o0], 2, 'two saturated (unit, example) pairs in layer 0');
    assert.deepEqual(Array.from(stats.subarray(o1 + 1, o1 + 3)), [2, 0], 'relu unit 0 active twice, unit 1 never');
  });

  it('backward(…, check): lastBad is the first non-finite gradient in layout order (an earlier layer first, its W before its b)', () => {
    const spec: ModelSpec = {
      inputs: 6,
      layers: [
        { units: 5, activation: 'tanh' },
        { units: 4, activation: 'tanh' },
        { units: 3, activation: 'softmax' },
      ],
      loss: 'cross-entropy',
      dtype: 'float64',
    };
    const lay = layoutOf(spec);
    const r = referenceKernels('float64');
    const rng = new Rng(9);
    const params = new Float64Array(lay.size).map(() => rng.uniform(-0.5, 0.5));
    // NaN planted where the kernels write a layer's dJdW (gemmTNCheck) or dJdWb (colSum), by
    // the layer's sizes (distinct here): the first non-finite gradient is known exactly
    const run = (
      w: Map<number, number>,
      b: Map<number, number>,
      check: 'local' | 'shared' = 'local',
    ): { grads: Float64Array; bad: number } => {
      const planted: KernelSet = {
        ...r,
        gemmTNCheck: (m, n, k, A, B, C) => {
          r.gemmTN(m, n, k, A, B, C);
          const at = w.get(m * n);
          if (at !== undefined) C[at] = NaN;
          return r.firstNonFinite(m * n, C);
        },
        colSum: (m, n, A, out) => {
          r.colSum(m, n, A, out);
          const at = b.get(n);
          if (at !== undefined) out[at] = NaN;
        },
      };
      const mlp = new Model(spec, planted, 4);
      for (let i = 0; i < 4 * 6; i++) mlp.input()[i] = rng.uniform(-1, 1);
      mlp.target().set([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]);
      const grads = new Float64Array(lay.size);
      mlp.forward(params, 4);
      mlp.backward(params, 4, grads, undefined, check);
      return { grads, bad: mlp.lastBad };
    };
    const [l0, l1, l2] = lay.layers;
    const none = run(new Map(), new Map());
    assert.equal(none.bad, -1);
    const cases: [string, Map<number, number>, Map<number, number>, number][] = [
      ["layer 1's W only", new Map([[4 * 5, 7]]), new Map(), l1!.w + 7],
      ["layer 2's b only", new Map(), new Map([[3, 2]]), l2!.b + 2],
      ["layer 0's b and layer 1's W", new Map([[4 * 5, 0]]), new Map([[5, 3]]), l0!.b + 3],
      ["layer 0's W and b", new Map([[5 * 6, 29]]), new Map([[5, 0]]), l0!.w + 29],
      ["layer 2's W and b", new Map([[3 * 4, 11]]), new Map([[3, 0]]), l2!.w + 11],
    ];
    for (const [label, w, b, want] of cases) {
      for (const check of ['local', 'shared'] as const) {
        const got = run(w, b, check);
        assert.equal(got.bad, want, `${label} (${check})`);
        assert.equal(got.bad, r.firstNonFinite(got.grads.length, got.grads), `${label} (${check}): a scan agrees`);
      }
    }
  });

  it('backward(…, check) writes the same bits as backward()', () => {
    const c = ref.mlp;
    const { m, params } = caseModel(c);
    const want = new Float64Array(m.layout.size);
    m.forward(params, c.rows);
    const lw = m.backward(params, c.rows, want);
    for (const check of ['local', 'shared'] as const) {
      const got = new Float64Array(m.layout.size).fill(NaN);
      m.forward(params, c.rows);
      const lg = m.backward(params, c.rows, got, undefined, check);
      assert.equal(lg, lw);
      assert.deepEqual(Array.from(got), Array.from(want));
      assert.equal(m.lastBad, -1);
    }
  });

  it('refuses a workspace overflow and a kernel of the wrong dtype', () => {
    const spec: ModelSpec = { inputs: 2, layers: [{ units: 1, activation: 'linear' }], loss: 'half-sse', dtype: 'float64' };
    const m = new Model(spec, referenceKernels('float64'), 4);
    assert.throws(() => m.forward(new Float64Array(3), 5), { name: 'RangeError', message: /5 rows exceed the workspace's 4/ });
    assert.throws(() => new Model(spec, referenceKernels('float32'), 4), {
      name: 'TypeError',
      message: /kernels are float32, model is float64/,
    });
    assert.throws(() => new Model({ ...spec, loss: 'cross-entropy' }, referenceKernels('float64'), 4), {
      code: 'GS_ERR_SHAPE',
      message: /needs the last layer's activation to be "softmax"/,
    });
  });
});
