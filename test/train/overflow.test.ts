/**
 * A step whose partials are each finite but whose sum overflows is skipped, naming why, with
 * the weights exactly as they were before it.
 */
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate';
import { doubling } from '../../src/data/datasets';
import type { StepRecord } from '../../src/observe/schema';
import type { Executor } from '../../src/parallel/executor';
import { MainExecutor } from '../../src/parallel/main-executor';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { train } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { tempDir } from '../helpers/paths';

const config = (over: Record<string, unknown> = {}): ReturnType<typeof validate> =>
  validate({
    data: { source: 'doubling', shuffle: false },
    reduction: 'sum',
    batch: 'full',
    microBatch: 4,
    steps: 6,
    threads: 0,
    maxSkips: 3,
    model: {
      layers: [
        { units: 3, activation: 'tanh' },
        { units: 1, activation: 'linear' },
      ],
      loss: 'half-sse',
      init: { scheme: 'glorot-uniform' },
    },
    optimizer: { kind: 'sgd', lr: 0.01 },
    ...over,
  });

const steps = (records: Record<string, unknown>[]): StepRecord[] => records.filter((r) => r.msg === 'step') as unknown as StepRecord[];

/** An executor that computes its nodes correctly, except that at step `at` one gradient is 1e200: finite, but its square is not. */
const huge =
  (at: number) =>
  (ctx: { spec: never; data: never; microBatch: number }): Executor => {
    const m = new MainExecutor(ctx.spec, referenceKernels('float64'), ctx.data, ctx.microBatch);
    return {
      id: 'huge',
      kind: 'remote',
      compute(task, nodes) {
        const ps = m.computeSync(task, nodes);
        if (task.step === at) ps[0]!.grads[0] = 1e200;
        return Promise.resolve(ps);
      },
      recycle: (p) => m.recycle(p),
      close: () => Promise.resolve(),
    };
  };

describe('a step whose sum overflows', () => {
  it('a step whose finite partials sum to a non-finite norm is skipped with the weights exactly as before it', async () => {
    // the last of 6 steps overflows: the weights must be those after 5 clean steps
    const { logger, records } = collectingLogger();
    const s = await train(config(), {
      logger,
      runDir: tempDir(),
      data: { train: doubling('float64'), heldOut: null },
      executors: async (ctx) => [huge(6)(ctx as never)],
    });
    const clean = await train(config({ steps: 5 }), {
      logger: collectingLogger().logger,
      runDir: tempDir(),
      data: { train: doubling('float64'), heldOut: null },
    });
    assert.equal(s.skippedSteps, 1);
    const last = steps(records).at(-1)!;
    assert.match(
      last.skipped!,
      /^the summed gradient is not finite \(norm Infinity\) at step 6: the partials were finite, their sum overflowed$/,
    );
    assert.equal(s.paramsSha256, clean.paramsSha256);
  });
});
