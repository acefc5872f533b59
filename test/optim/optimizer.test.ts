import assert from 'node:assert/strict';
import { newOptimizerState, optimizerStep } from '../../src/optim/optimizer';
import { clipByGlobalNorm } from '../../src/optim/clip';
import { referenceKernels } from '../../src/tensor/reference-kernels';

describe('optimizers', () => {
  it('SGD is exactly the original: W −= lr·dJdW', () => {
    const p = new Float64Array([0.5, 0.5]);
    const g = new Float64Array([-0.29367280556017394, 0.7016772742641302]);
    const u = new Float64Array(2);
    optimizerStep({ kind: 'sgd', lr: 0.07 }, newOptimizerState({ kind: 'sgd', lr: 0.07 }, 'float64', 2), p, g, u);
    assert.equal(p[0], 0.5 - 0.07 * -0.29367280556017394);
    assert.equal(p[1], 0.5 - 0.07 * 0.7016772742641302);
    assert.equal(u[0], 0.07 * -0.29367280556017394);
  });

  it('momentum follows PyTorch: v₁ = g, then v = μ·v + g, p −= lr·v', () => {
    const spec = { kind: 'momentum' as const, lr: 0.1, momentum: 0.9, nesterov: false };
    const st = newOptimizerState(spec, 'float64', 1);
    const p = new Float64Array([1]);
    const u = new Float64Array(1);
    optimizerStep(spec, st, p, new Float64Array([2]), u);
    assert.equal(p[0], 1 - 0.1 * 2);
    optimizerStep(spec, st, p, new Float64Array([1]), u);
    assert.equal(p[0], 1 - 0.1 * 2 - 0.1 * (0.9 * 2 + 1));
  });

  it('Adam matches torch.optim.Adam on a hand-computed two-step example', () => {
    const spec = { kind: 'adam' as const, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    const st = newOptimizerState(spec, 'float64', 1);
    const p = new Float64Array([1]);
    const u = new Float64Array(1);
    optimizerStep(spec, st, p, new Float64Array([0.5]), u);
    // step 1: m̂ = g, v̂ = g², update = lr·g/(|g| + eps)
    assert.ok(Math.abs(p[0]! - (1 - (0.01 * 0.5) / (0.5 + 1e-8))) < 1e-15);
    optimizerStep(spec, st, p, new Float64Array([-1]), u);
    const m = 0.9 * 0.1 * 0.5 + 0.1 * -1;
    const v = 0.999 * 0.001 * 0.25 + 0.001 * 1;
    const expected = 1 - (0.01 * 0.5) / (0.5 + 1e-8) - (0.01 * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.998001)) + 1e-8);
    assert.ok(Math.abs(p[0]! - expected) < 1e-14, `${p[0]} vs ${expected}`);
    assert.equal(st.t, 2);
  });

  it('float32 parameters are rounded once per update', () => {
    const p = new Float32Array([1]);
    optimizerStep(
      { kind: 'sgd', lr: 0.1 },
      newOptimizerState({ kind: 'sgd', lr: 0.1 }, 'float32', 1),
      p,
      new Float32Array([Math.fround(0.3)]),
      new Float32Array(1),
    );
    assert.equal(p[0], Math.fround(1 - Math.fround(0.1 * Math.fround(0.3))));
  });

  it('refuses a state of another optimizer', () => {
    assert.throws(
      () =>
        optimizerStep(
          { kind: 'sgd', lr: 1 },
          newOptimizerState({ kind: 'adam', lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8 }, 'float64', 1),
          new Float64Array(1),
          new Float64Array(1),
          new Float64Array(1),
        ),
      /optimizer state is adam, spec is sgd/,
    );
  });
});

describe('reduction, weight decay, clipping', () => {
  it("weight decay is the original's dJdW += λ·W, on biases too", () => {
    const g = new Float64Array([1, 2]);
    referenceKernels('float64').reduceGrad(2, g, new Float64Array([10, -10]), 1, 0.1, new Float64Array(2));
    assert.deepEqual(Array.from(g), [2, 1]);
  });
  it('mean reduction divides by the example count', () => {
    const g = new Float64Array([3, 6]);
    referenceKernels('float64').reduceGrad(2, g, new Float64Array(2), 3, 0, new Float64Array(2));
    assert.deepEqual(Array.from(g), [1, 2]);
  });
  it('clips by the global norm like torch.nn.utils.clip_grad_norm_ and leaves small gradients alone', () => {
    const g = new Float64Array([3, 4]);
    assert.equal(Math.hypot(...g), 5);
    assert.equal(clipByGlobalNorm(g, 5, 10), false);
    assert.deepEqual(Array.from(g), [3, 4]);
    assert.equal(clipByGlobalNorm(g, 5, 1), true);
    assert.ok(Math.abs(Math.hypot(...g) - 1) < 1e-6);
  });
});
