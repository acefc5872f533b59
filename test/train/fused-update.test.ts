/**
 * SGD without clipping runs its update inside the reduce pass (kernels.reduceSgd): the same
 * bits as the reduce then the update, and a step whose sum overflows leaves the weights
 * exactly as they were (put back from the copy the pass keeps). With the whole batch on one
 * thread, its root's last add is fused into that pass too.
 */
import assert from 'node:assert/strict';
import { validate } from '../../src/config';
import { doubling } from '../../src/data/datasets';
import type { StepRecord } from '../../src/observe/schema';
import type { Executor } from '../../src/parallel/executor';
import { MainExecutor } from '../../src/parallel/main-executor';
import { nodeKey, ReductionTree } from '../../src/parallel/tree';
import { referenceKernels } from '../../src/tensor/kernels';
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

describe('the SGD update fused into the reduce pass', () => {
  it('runs for SGD without clipping, and gives the bits of the separate passes (clipping that never clips)', async () => {
    const a = collectingLogger();
    const fused = await train(config(), { logger: a.logger, runDir: tempDir(), data: { train: doubling('float64'), heldOut: null } });
    const b = collectingLogger();
    const apart = await train(config({ clipNorm: 1e30 }), {
      logger: b.logger,
      runDir: tempDir(),
      data: { train: doubling('float64'), heldOut: null },
    });
    assert.ok(steps(a.records).length === 6 && steps(a.records).every((r) => r.split?.fusedUpdate === true));
    // no shared tail: the previous record is written during the gather, so its time lies within computeMs (schema.ts)
    for (const r of steps(a.records)) {
      const sp = r.split!;
      assert.ok(
        sp.recordInReduce === undefined && sp.recordMs! <= sp.computeMs,
        `the record's time within the phase the split names: ${JSON.stringify(sp)}`,
      );
    }
    assert.ok(steps(b.records).length === 6 && steps(b.records).every((r) => r.split?.fusedUpdate === undefined && r.clipped === false));
    assert.equal(fused.paramsSha256, apart.paramsSha256);
    // momentum is not fused
    const c = collectingLogger();
    await train(config({ optimizer: { kind: 'momentum', lr: 0.01, momentum: 0.9 } }), {
      logger: c.logger,
      runDir: tempDir(),
      data: { train: doubling('float64'), heldOut: null },
    });
    assert.ok(steps(c.records).every((r) => r.split?.fusedUpdate === undefined));
  });

  it("one thread with the whole batch computes the root's two children, their add left to the reduce pass", async () => {
    const seen: string[][] = [];
    const original = MainExecutor.prototype.computeSync;
    MainExecutor.prototype.computeSync = function (this: MainExecutor, task, nodes) {
      seen.push(nodes.map(nodeKey));
      return original.call(this, task, nodes);
    };
    try {
      await train(config(), { logger: collectingLogger().logger, runDir: tempDir(), data: { train: doubling('float64'), heldOut: null } });
    } finally {
      MainExecutor.prototype.computeSync = original;
    }
    // 20 examples in leaves of 4: 5 leaves, a tree of height 3, whose root's children are 2:0 and 2:1
    const tree = new ReductionTree(5);
    assert.equal(nodeKey(tree.root()), '3:0');
    assert.deepEqual(
      seen,
      Array.from({ length: 6 }, () => tree.children(tree.root()).map(nodeKey)),
    );
  });

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
