import assert from 'node:assert/strict';
import { gradcheck } from '../../../src/model/gradcheck';
import { Model } from '../../../src/model/model';
import { DropoutLayer } from '../../../src/model/layers/dropout';
import { initParams, layoutOf } from '../../../src/model/params';
import type { ModelSpec } from '../../../src/model/spec';
import { referenceKernels } from '../../../src/tensor/reference-kernels';
import { Rng } from '../../../src/tensor/rng';

const k64 = referenceKernels('float64');

function layer(rate: number, seed = 7, index = 2, size = 1000, rows = 4): DropoutLayer {
  return new DropoutLayer({ type: 'dropout', rate, seed }, index, [size], [size], k64, rows);
}

function mask(l: DropoutLayer, rows: number, step: number, order: number[], from = 0): Float64Array {
  const m = new Float64Array(rows * l.inSize);
  l.drawMask(rows, step, Uint32Array.from(order), from, m);
  return m;
}

describe('dropout', () => {
  it("an example's mask depends on (seed, step, example, layer), not on its row or leaf", () => {
    const l = layer(0.5);
    const a = mask(l, 2, 3, [10, 42]);
    const b = mask(l, 1, 3, [5, 6, 42], 2);
    assert.deepEqual(Array.from(a.subarray(1000)), Array.from(b));
    assert.notDeepEqual(Array.from(mask(l, 1, 4, [42])), Array.from(b), 'another step');
    assert.notDeepEqual(Array.from(mask(layer(0.5, 8), 1, 3, [42])), Array.from(b), 'another seed');
    assert.notDeepEqual(Array.from(mask(layer(0.5, 7, 3), 1, 3, [42])), Array.from(b), 'another layer');
    assert.notDeepEqual(Array.from(a.subarray(0, 1000)), Array.from(b), 'another example');
  });

  it('drops about `rate` of the elements and scales the others by 1/(1 − rate)', () => {
    const m = mask(layer(0.3, 1, 0, 20000, 1), 1, 1, [0]);
    const dropped = m.filter((v) => v === 0).length;
    assert.ok(dropped > 5700 && dropped < 6300, `${dropped} of 20000 dropped`);
    assert.ok(m.every((v) => v === 0 || v === 1 / 0.7));
    assert.ok(
      mask(layer(0, 1, 0, 5000, 1), 1, 1, [0]).every((v) => v === 1),
      'rate 0 keeps every element',
    );
  });

  it('is inactive at evaluation: forward without a training context passes the input through', () => {
    const spec: ModelSpec = {
      inputs: 4,
      layers: [
        { type: 'dropout', rate: 0.9, seed: 1 },
        { units: 4, activation: 'linear' },
      ],
      loss: 'half-sse',
      dtype: 'float64',
    };
    const m = new Model(spec, k64, 1);
    const params = Float64Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    m.input().set([1, 2, 3, 4]);
    assert.deepEqual(Array.from(m.forward(params, 1)), [1, 2, 3, 4]);
    const trained = Array.from(m.forward(params, 1, { train: { step: 1, order: Uint32Array.of(0), from: 0 } }));
    assert.notDeepEqual(trained, [1, 2, 3, 4]);
    assert.ok(trained.every((v, i) => v === 0 || Math.abs(v - (i + 1) * 10) < 1e-12));
  });

  it('gradients through a fixed mask agree with finite differences (dense → dropout → dense)', () => {
    const spec: ModelSpec = {
      inputs: 5,
      layers: [
        { units: 12, activation: 'tanh' },
        { type: 'dropout', rate: 0.4, seed: 3 },
        { units: 3, activation: 'softmax' },
      ],
      loss: 'cross-entropy',
      dtype: 'float64',
    };
    const lay = layoutOf(spec);
    const rng = new Rng(2);
    const params = new Float64Array(lay.size);
    initParams(lay, { scheme: 'glorot-uniform', gain: 1.5 }, rng, params);
    const rows = 4;
    const x = Float64Array.from({ length: rows * 5 }, () => rng.uniform(-1, 1));
    const y = new Float64Array(rows * 3);
    for (let r = 0; r < rows; r++) y[r * 3 + (r % 3)] = 1;
    const r = gradcheck(spec, params, x, y, rows, { samplesPerTensor: 1000 });
    for (const t of r.tensors) assert.ok(t.pass, `${t.tensor}: ${t.maxRelError}`);
    // the mask matters: dropped units of layer 0 get no gradient for that example; over 4 examples some W rows are still 0-free
    const m = new Model(spec, k64, rows);
    m.input().set(x);
    m.target().set(y);
    const ctx = { train: { step: 1, order: Uint32Array.from([0, 1, 2, 3]), from: 0 } };
    m.forward(params, rows, ctx);
    const g1 = new Float64Array(lay.size);
    m.backward(params, rows, g1);
    m.forward(params, rows);
    const g0 = new Float64Array(lay.size);
    m.backward(params, rows, g0);
    assert.notDeepEqual(Array.from(g1), Array.from(g0), 'training and evaluation gradients differ');
  });
});
