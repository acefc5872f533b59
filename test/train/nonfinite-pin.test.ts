/**
 * Issue 7, part 4: a non-finite step names the training examples at fault, found by
 * recomputing the bad tree node on the main thread leaf by leaf, then example by example —
 * and the clean path never does this work.
 */
import assert from 'node:assert/strict';
import { validate } from '../../src/config';
import { doubling } from '../../src/data/datasets';
import { GradsyncError } from '../../src/errors';
import type { StepRecord } from '../../src/observe/schema';
import { MainExecutor } from '../../src/parallel/main-executor';
import type { Executor } from '../../src/parallel/executor';
import { referenceKernels } from '../../src/tensor/kernels';
import { train } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { tempDir } from '../helpers/paths';

/** The original problem with a linear unit; row 13's input is 1e200, so its own loss overflows. */
const poisoned = (): { cfg: ReturnType<typeof validate>; data: { train: ReturnType<typeof doubling>; heldOut: null } } => {
  const ds = doubling('float64');
  ds.x[13] = 1e200;
  const cfg = validate({
    data: { source: 'doubling', shuffle: true },
    reduction: 'sum',
    batch: 'full',
    microBatch: 4,
    steps: 5,
    threads: 0,
    maxSkips: 2,
    model: { layers: [{ units: 1, activation: 'linear' }], loss: 'half-sse', init: { scheme: 'values', layers: [{ W: [0.5], b: [0.5] }] } },
    optimizer: { kind: 'sgd', lr: 0.01 },
  });
  return { cfg, data: { train: ds, heldOut: null } };
};

const skippedSteps = (records: Record<string, unknown>[]): StepRecord[] =>
  records.filter((r) => r.msg === 'step' && r.skipped !== undefined) as unknown as StepRecord[];

describe('non-finite steps name the examples at fault (issue 7)', () => {
  it('pins a single poisoned example among 20 (shuffled): its training-set row is in the text and the record', async () => {
    const { cfg, data } = poisoned();
    const { logger, records } = collectingLogger();
    await assert.rejects(train(cfg, { logger, runDir: tempDir(), data }), {
      code: 'GS_ERR_NONFINITE',
      message: /2 consecutive steps skipped.*training example 13 \(leaf \d\)$/,
    });
    const sk = skippedSteps(records);
    assert.equal(sk.length, 2);
    for (const r of sk) {
      assert.deepEqual(r.nonFiniteExamples, [13]);
      assert.match(
        r.skipped!,
        /^non-finite value in the loss \(Infinity\) from executor main, tree node \d+:\d+, step \d; non-finite on its own: training example 13 \(leaf \d\)$/,
      );
    }
  });

  it('under nonFinite "stop" the error names the example too', async () => {
    const { cfg, data } = poisoned();
    await assert.rejects(
      train({ ...cfg, nonFinite: 'stop' }, { logger: collectingLogger().logger, runDir: tempDir(), data }),
      (e: unknown) => {
        assert.ok(e instanceof GradsyncError);
        assert.match(e.message, /training example 13 .*nonFinite policy is "stop"/);
        return true;
      },
    );
  });

  it('a node that is finite when recomputed locally is blamed on its executor', async () => {
    const { cfg } = poisoned();
    const clean = doubling('float64');
    const { logger, records } = collectingLogger();
    // an executor that computes correctly, then corrupts one gradient element at step 3
    const liar = (ctx: { spec: never; data: never; microBatch: number }): Executor => {
      const m = new MainExecutor(ctx.spec, referenceKernels('float64'), ctx.data, ctx.microBatch);
      return {
        id: 'liar',
        kind: 'remote',
        compute(task, nodes) {
          const ps = m.computeSync(task, nodes);
          if (task.step === 3) {
            ps[0]!.grads[0] = NaN;
            ps[0]!.bad = 0;
          }
          return Promise.resolve(ps);
        },
        recycle: (p) => m.recycle(p),
        close: () => Promise.resolve(),
      };
    };
    const s = await train(
      { ...cfg, maxSkips: 5 },
      { logger, runDir: tempDir(), data: { train: clean, heldOut: null }, executors: async (ctx) => [liar(ctx as never)] },
    );
    assert.equal(s.skippedSteps, 1);
    const [r] = skippedSteps(records);
    assert.match(
      r!.skipped!,
      /^non-finite value in dJdW\[0\] \(element 0\) from executor liar, tree node \d+:0, step 3; recomputed on the main thread, node \d+:0 is finite: executor liar returned values the kernels do not produce \(a faulty executor\)$/,
    );
    assert.equal(r!.nonFiniteExamples, undefined);
  });

  it('the clean path never recomputes anything on the main thread', async () => {
    const { cfg } = poisoned();
    const proto = MainExecutor.prototype as unknown as { computeSync: (...a: unknown[]) => unknown };
    const real = proto.computeSync;
    let mainCalls = 0;
    const worker = (ctx: { spec: never; data: never; microBatch: number }): Executor => {
      const m = new MainExecutor(ctx.spec, referenceKernels('float64'), ctx.data, ctx.microBatch);
      const compute = real.bind(m) as MainExecutor['computeSync'];
      return {
        id: 'w',
        kind: 'thread',
        compute: (t, n) => Promise.resolve(compute(t, n)),
        recycle: (p) => m.recycle(p),
        close: () => Promise.resolve(),
      };
    };
    proto.computeSync = function (this: unknown, ...a: unknown[]) {
      mainCalls++;
      return real.apply(this, a);
    };
    try {
      const s = await train(
        { ...cfg, steps: 50 },
        {
          logger: collectingLogger().logger,
          runDir: tempDir(),
          data: { train: doubling('float64'), heldOut: null },
          executors: async (ctx) => [worker(ctx as never)],
        },
      );
      assert.equal(s.skippedSteps, 0);
    } finally {
      proto.computeSync = real;
    }
    assert.equal(mainCalls, 0);
  });
});
