import assert from 'node:assert/strict';
import { gradcheck } from '../../src/model/gradcheck';
import { initParams, layoutOf } from '../../src/model/params';
import type { LossKind, ModelSpec } from '../../src/model/spec';
import { ACTIVATIONS, type Activation, type KernelSet } from '../../src/tensor/kernels';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { Rng } from '../../src/tensor/rng';

function problem(
  hidden: Activation,
  out: Activation,
  loss: LossKind,
  seed = 3,
): { spec: ModelSpec; params: Float64Array; x: Float64Array; y: Float64Array; rows: number } {
  const spec: ModelSpec = {
    inputs: 4,
    layers: [
      { units: 5, activation: hidden },
      { units: 3, activation: out },
    ],
    loss,
    dtype: 'float64',
  };
  const lay = layoutOf(spec);
  const rng = new Rng(seed);
  const params = new Float64Array(lay.size);
  initParams(lay, { scheme: 'glorot-uniform', gain: 1.5 }, rng, params);
  for (let i = 0; i < params.length; i++) if (params[i] === 0) params[i] = rng.uniform(-0.3, 0.3); // non-zero biases
  const rows = 6;
  const x = Float64Array.from({ length: rows * 4 }, () => rng.uniform(-1, 1));
  const y = new Float64Array(rows * 3);
  for (let r = 0; r < rows; r++) {
    if (loss === 'cross-entropy') y[r * 3 + rng.nextInt(3)] = 1;
    else for (let j = 0; j < 3; j++) y[r * 3 + j] = rng.uniform(0, 0.9);
  }
  return { spec, params, x, y, rows };
}

describe('gradcheck: backward() against central differences', () => {
  for (const hidden of ACTIVATIONS) {
    for (const out of ACTIVATIONS) {
      for (const decay of [0, 0.1]) {
        it(`passes for ${hidden} hidden, ${out} output, half-sse${decay ? ', weight decay 0.1' : ''}`, () => {
          const p = problem(hidden, out, 'half-sse');
          const r = gradcheck(p.spec, p.params, p.x, p.y, p.rows, { weightDecay: decay, samplesPerTensor: 100 });
          for (const t of r.tensors)
            assert.ok(
              t.pass,
              `${t.tensor}: max relative error ${t.maxRelError} (analytic ${t.worst.analytic}, numeric ${t.worst.numeric})`,
            );
          assert.ok(r.pass);
        });
      }
    }
    for (const reduction of ['sum', 'mean'] as const) {
      it(`passes for ${hidden} hidden, softmax + cross-entropy, ${reduction} reduction, with and without decay`, () => {
        const p = problem(hidden, 'softmax', 'cross-entropy');
        for (const decay of [0, 0.05]) {
          const r = gradcheck(p.spec, p.params, p.x, p.y, p.rows, { weightDecay: decay, reduction });
          assert.ok(r.pass, JSON.stringify(r.tensors.filter((t) => !t.pass)));
        }
      });
    }
  }

  it('fails, naming the tensor, when a derivative is deliberately wrong', () => {
    const ref = referenceKernels('float64');
    // tanh′ written as 1 − a instead of 1 − a²: the classic hand-written backprop slip
    const broken: KernelSet = {
      ...ref,
      activateBackward(f, m, n, z, a, g) {
        if (f !== 'tanh') return ref.activateBackward(f, m, n, z, a, g);
        for (let i = 0; i < m * n; i++) g[i] = g[i]! * (1 - a[i]!);
      },
    };
    const p = problem('tanh', 'softmax', 'cross-entropy');
    const r = gradcheck(p.spec, p.params, p.x, p.y, p.rows, { kernels: broken });
    assert.equal(r.pass, false);
    const failed = r.tensors.filter((t) => !t.pass).map((t) => t.tensor);
    assert.deepEqual(failed, ['dJdW[0]', 'dJdWb[0]'], 'only the layer behind the wrong derivative fails');
    assert.ok(r.tensors.find((t) => t.tensor === 'dJdW[0]')!.maxRelError > 1e-2);
  });

  it('samples large tensors deterministically and reports an ε sweep with the V shape', () => {
    const spec: ModelSpec = {
      inputs: 30,
      layers: [
        { units: 20, activation: 'tanh' },
        { units: 2, activation: 'linear' },
      ],
      loss: 'half-sse',
      dtype: 'float64',
    };
    const lay = layoutOf(spec);
    const params = new Float64Array(lay.size);
    initParams(lay, { scheme: 'glorot-uniform' }, new Rng(1), params);
    const x = Float64Array.from({ length: 90 }, (_, i) => Math.sin(i));
    const y = Float64Array.from({ length: 6 }, (_, i) => Math.cos(i));
    const a = gradcheck(spec, params, x, y, 3, { samplesPerTensor: 10, sweep: [1e-2, 1e-6, 1e-11] });
    const b = gradcheck(spec, params, x, y, 3, { samplesPerTensor: 10 });
    assert.equal(a.tensors[0]!.checked, 10);
    assert.equal(a.tensors[0]!.size, 600);
    assert.deepEqual(
      a.tensors.map((t) => t.worst.index),
      b.tensors.map((t) => t.worst.index),
    );
    const w = (e: number): number => a.sweep.find((s) => s.eps === e)!.maxRelError['dJdW[0]']!;
    assert.ok(w(1e-6) < w(1e-2), 'truncation error dominates at large ε');
    assert.ok(w(1e-6) < w(1e-11), 'rounding error dominates at tiny ε');
  });

  it('skips and counts entries whose perturbation crosses a ReLU kink', () => {
    const spec: ModelSpec = {
      inputs: 1,
      layers: [
        { units: 1, activation: 'relu' },
        { units: 1, activation: 'linear' },
      ],
      loss: 'half-sse',
      dtype: 'float64',
    };
    // z = w·x + b with x = 1, w = 0.5, b = −0.5: z = 0 exactly, a kink
    const params = new Float64Array([0.5, -0.5, 1, 0]);
    const r = gradcheck(spec, params, new Float64Array([1]), new Float64Array([1]), 1);
    assert.equal(r.tensors[0]!.kinks, 1);
    assert.equal(r.tensors[1]!.kinks, 1);
  });
});
