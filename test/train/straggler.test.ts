/**
 * Issue 4, part 4: a straggling remote node's range is duplicated on the main thread and the
 * first valid answer wins — the result does not change, the step does not wait for it, and
 * the node sits out the steps until its late answer arrives.
 */
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate';
import type { StepRecord } from '../../src/observe/schema';
import { MainExecutor } from '../../src/parallel/main-executor';
import type { Executor } from '../../src/parallel/executor';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { train } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { tempDir } from '../helpers/paths';

const SLOW_STEP = 6;

const cfg = (duplicateStragglers: boolean): ReturnType<typeof validate> =>
  validate({
    data: { source: 'digits', heldOut: 0 },
    dtype: 'float32',
    batch: 32,
    microBatch: 8,
    steps: 30,
    threads: 0,
    duplicateStragglers,
    model: {
      layers: [
        { units: 16, activation: 'tanh' },
        { units: 10, activation: 'softmax' },
      ],
      loss: 'cross-entropy',
    },
    optimizer: { kind: 'momentum', lr: 0.05, momentum: 0.9 },
  });

/** A 'remote' executor that computes exactly like the main thread, but holds its answer at SLOW_STEP until `release` is called. */
function laggard(ctx: { spec: never; data: never; microBatch: number }): { exec: Executor; release: () => void; answeredAtStep: number[] } {
  const m = new MainExecutor(ctx.spec, referenceKernels('float32'), ctx.data, ctx.microBatch);
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const answeredAtStep: number[] = [];
  const exec: Executor = {
    id: 'remote-laggard',
    kind: 'remote',
    compute: async (t, n) => {
      const partials = m.computeSync(t, n);
      if (t.step === SLOW_STEP) await held;
      answeredAtStep.push(t.step);
      return partials;
    },
    recycle: (p) => m.recycle(p),
    close: () => Promise.resolve(),
  };
  return { exec, release: () => release(), answeredAtStep };
}

const steps = (records: Record<string, unknown>[]): StepRecord[] => records.filter((r) => r.msg === 'step') as unknown as StepRecord[];

describe('straggler duplication (issue 4)', () => {
  it('a remote node that holds its answer is duplicated on the main thread: same paramsSha256, the step does not wait, the node sits out until it answers', async () => {
    const reference = (await train(cfg(false), { runDir: tempDir(), kernels: 'ref' })).paramsSha256;
    const { logger, records } = collectingLogger();
    let lag: ReturnType<typeof laggard> | null = null;
    const s = await train(cfg(true), {
      logger,
      runDir: tempDir(),
      kernels: 'ref',
      executors: async (ctx) => {
        lag = laggard(ctx as never);
        return [lag.exec];
      },
      // the held answer is let go three steps later
      onStep: (r) => {
        if (r.step === SLOW_STEP + 3) lag!.release();
      },
    });
    assert.equal(s.paramsSha256, reference);
    const st = steps(records);
    const slow = st[SLOW_STEP - 1]!;
    assert.equal(slow.executors.length, 1);
    assert.equal(slow.executors[0]!.id, 'remote-laggard');
    assert.match(
      String(slow.executors[0]!.straggler),
      /^still computing after [\d.]+ ms \(expected [\d.]+ ms\): duplicated on the main thread in [\d.]+ ms, its late answer dropped$/,
    );
    // while its answer was held the node had no work: the main thread computed alone
    for (let k = SLOW_STEP + 1; k <= SLOW_STEP + 3; k++)
      assert.deepEqual(
        st[k - 1]!.executors.map((e) => e.id),
        ['main'],
        `step ${k}`,
      );
    // its late answer came, was dropped, and the node worked again
    assert.ok(lag!.answeredAtStep.includes(SLOW_STEP));
    assert.ok(
      st.slice(SLOW_STEP + 3).some((r) => r.executors[0]!.id === 'remote-laggard'),
      'the node works again once its late answer is in',
    );
  });

  it('with duplicateStragglers false the step waits for the node', async () => {
    const { logger, records } = collectingLogger();
    let lag: ReturnType<typeof laggard> | null = null;
    const timer = setTimeout(() => lag!.release(), 200);
    const s = await train(cfg(false), {
      logger,
      runDir: tempDir(),
      kernels: 'ref',
      executors: async (ctx) => {
        lag = laggard(ctx as never);
        return [lag.exec];
      },
    });
    clearTimeout(timer);
    const st = steps(records);
    assert.equal(st[SLOW_STEP - 1]!.executors[0]!.straggler, undefined);
    assert.ok(
      st.every((r) => r.executors[0]!.id === 'remote-laggard'),
      'the node did every step',
    );
    assert.equal(s.steps, 30);
  });

  it('config: duplicateStragglers must be a boolean', () => {
    assert.throws(() => validate({ data: { source: 'digits' }, duplicateStragglers: 'yes' }), {
      code: 'GS_ERR_CONFIG',
      message: /duplicateStragglers.*must be true or false/,
    });
  });
});
