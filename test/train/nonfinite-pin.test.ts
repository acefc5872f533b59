/**
 * Issue 7, part 4: a non-finite step names the training examples at fault, found by
 * recomputing the bad tree node on the main thread leaf by leaf, then example by example —
 * and the clean path never does this work.
 */
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate';
import { doubling } from '../../src/data/datasets';
import { GradsyncError } from '../../src/errors';
import type { StepRecord } from '../../src/observe/schema';
import { MainExecutor } from '../../src/parallel/main-executor';
import type { Executor } from '../../src/parallel/executor';
import { referenceKernels } from '../../src/tensor/reference-kernels';
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

  for (const [name, lies] of [
    ['once, at step 3', (step: number) => step === 3],
    ['at every step', () => true],
  ] as const) {
    it(`an executor whose non-finite answer is finite when recomputed here (${name}) is a fault: the step goes on, the same bits`, async () => {
      const { cfg } = poisoned();
      const clean = doubling('float64');
      const data = { train: clean, heldOut: null };
      const reference = await train(cfg, { logger: collectingLogger().logger, runDir: tempDir(), data });
      const { logger, records } = collectingLogger();
      const faults: string[] = [];
      // an executor that computes correctly, then corrupts one gradient element
      const liar = (ctx: { spec: never; data: never; microBatch: number }): Executor => {
        const m = new MainExecutor(ctx.spec, referenceKernels('float64'), ctx.data, ctx.microBatch);
        return {
          id: 'liar',
          kind: 'remote',
          compute(task, nodes) {
            const ps = m.computeSync(task, nodes);
            if (lies(task.step)) {
              ps[0]!.grads[0] = NaN;
              ps[0]!.bad = 0;
            }
            return Promise.resolve(ps);
          },
          recycle: (p) => m.recycle(p),
          close: () => Promise.resolve(),
          fault: (why) => faults.push(why),
        };
      };
      const s = await train(cfg, { logger, runDir: tempDir(), data, executors: async (ctx) => [liar(ctx as never)] });
      assert.equal(s.skippedSteps, 0);
      assert.equal(s.paramsSha256, reference.paramsSha256);
      const st = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
      const lied = st.filter((r) => lies(r.step));
      assert.ok(lied.length >= 1);
      for (const r of lied) {
        const e = r.executors.find((x) => x.id === 'liar')!;
        assert.match(
          e.failed ?? '',
          new RegExp(
            `^returned a non-finite value in dJdW\\[0\\] \\(element 0\\) for tree node \\d+:\\d+ at step ${r.step}, which recomputed on the main thread is finite \\(a faulty executor\\)$`,
          ),
        );
      }
      assert.equal(faults.length, lied.length, 'the executor was told each time (a remote node is closed at the first)');
    });
  }

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
