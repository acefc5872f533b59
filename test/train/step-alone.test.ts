/**
 * Stepper.runAlone (src/train/step.ts): a step whose only executor is the main thread computes
 * the batch's root without plan, gather and combine. It must give what the planned path gives
 * for the same set — the weights' bytes, the loss, the norms, the layer and executor records
 * (timings aside) — over several steps, one leaf or many. The planned path is taken here by
 * `replicate: 2`, which with no remote node plans the main thread alone, as before.
 */
import assert from 'node:assert/strict';
import { loadDigits } from '../../src/data/datasets';
import { epochOrder } from '../../src/data/batching';
import { initParams, layoutOf, newParams } from '../../src/model/params';
import type { ModelSpec } from '../../src/model/spec';
import { newOptimizerState, type OptimizerSpec } from '../../src/optim/optimizer';
import { MainExecutor } from '../../src/parallel/main-executor';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { Rng } from '../../src/tensor/rng';
import { layerGeometryOf } from '../../src/train/setup';
import { Stepper, type StepResult, type StepSettings } from '../../src/train/step';

const spec: ModelSpec = {
  inputs: 64,
  layers: [
    { units: 5, activation: 'tanh' },
    { units: 10, activation: 'softmax' },
  ],
  loss: 'cross-entropy',
  dtype: 'float32',
};

/** A result without its timings (which differ run to run), the split's keys kept. */
function untimed(r: StepResult): unknown {
  return {
    ...r,
    executors: r.executors.map(({ computeMs: _c, ...e }) => e),
    split: Object.keys(r.split).sort(),
  };
}

describe('Stepper.runAlone: the main thread alone (train/step.ts)', () => {
  const data = loadDigits({ dtype: 'float32', shared: false });
  const layout = layoutOf(spec);
  const order = epochOrder(data.n, 5, 0, true);

  for (const [optimizer, micro, batch] of [
    [{ kind: 'sgd', lr: 0.1 }, 16, 16],
    [{ kind: 'sgd', lr: 0.1 }, 3, 10],
    [{ kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 4, 23],
  ] as [OptimizerSpec, number, number][]) {
    it(`gives the planned path's weights, loss, norms and records (${optimizer.kind}, batch ${batch} in micro-batches of ${micro})`, async () => {
      const kernels = referenceKernels('float32');
      const base: StepSettings = {
        reduction: 'mean',
        weightDecay: 1e-4,
        clipNorm: null,
        optimizer,
        nonFinite: 'skip',
        layers: layerGeometryOf(spec, layout),
      };
      const params = newParams(spec, layout, false) as Float32Array;
      initParams(layout, { scheme: 'glorot-uniform', bias: 0.01 }, new Rng(3), params);
      const planned = new Float32Array(params);
      const mainA = new MainExecutor(spec, kernels, data, micro);
      const mainB = new MainExecutor(spec, kernels, data, micro);
      const alone = new Stepper(base, [mainA], mainA, newOptimizerState(optimizer, 'float32', layout.size), layout.size, params, kernels);
      const plannedStepper = new Stepper(
        { ...base, replicate: 2 },
        [mainB],
        mainB,
        newOptimizerState(optimizer, 'float32', layout.size),
        layout.size,
        planned,
        kernels,
      );
      for (let step = 1; step <= 4; step++) {
        const start = (step - 1) * batch;
        const b = { step, order, start, end: start + batch, microBatch: micro };
        const got = await alone.run({ step, epoch: 0, params, batch: b });
        const want = await plannedStepper.run({ step, epoch: 0, params: planned, batch: b });
        assert.deepEqual(untimed(got), untimed(want), `step ${step}`);
        assert.ok(Object.is(got.loss, want.loss) && Object.is(got.gradNorm, want.gradNorm), `step ${step}: loss and norm bits`);
        assert.deepEqual(got.executors[0]!.leaves, [0, Math.ceil(batch / micro)]);
        assert.equal(Buffer.compare(Buffer.from(params.buffer), Buffer.from(planned.buffer)), 0, `step ${step}: the weights differ`);
      }
    });
  }
});
