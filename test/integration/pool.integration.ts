/**
 * The bit-identical invariant on real piscina threads: the digits default trained on 1 (the
 * main thread alone), 2, 3, 4 and 5 threads (the main thread and 1–4 pool threads; on this
 * 2-core machine 2 threads spin between steps, more sleep) ends with the same paramsSha256,
 * and so does a run whose pool thread throws, exits or runs out of memory mid-run.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import type { RunConfig } from '../../src/config';
import type { ExecutorRecord, StepRecord } from '../../src/observe/schema';
import { train, type TrainOptions, type TrainSummary } from '../../src/train/loop';
import { allowedCpus } from '../../src/parallel/affinity';
import { loadDigits } from '../../src/data/datasets';
import { toDtype, type Dataset } from '../../src/data/dataset';
import { nativeIsas } from '../../src/tensor/fast/native';
import { ThreadPool } from '../../src/parallel/thread-pool';
import { PoolFault, withPoolFault } from '../fixtures/faults';
import { policies, SCHED_IDLE, SCHED_OTHER } from '../helpers/sched';
import { collectingLogger } from '../helpers/log-sink';
import { repoRoot, tempDir } from '../helpers/paths';

describe('local thread pool (integration)', function () {
  this.timeout(120_000);
  // a few hundred steps of the digits default, float32 so that rounding order matters most
  const base = (): RunConfig => ({
    ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')),
    steps: 240,
    dtype: 'float32',
    batch: 64,
    microBatch: 8,
  });
  let reference = '';

  before(async () => {
    reference = (await train({ ...base(), threads: 0 }, { runDir: tempDir(), kernels: 'ref' })).paramsSha256;
  });

  for (const threads of [1, 2, 3, 4, 5]) {
    it(`${threads} thread${threads > 1 ? 's end' : ' ends'} with the single-thread trainer's paramsSha256`, async () => {
      const { logger, records } = collectingLogger();
      const s = await train({ ...base(), threads }, { runDir: tempDir(), logger, kernels: 'ref' });
      assert.equal(s.paramsSha256, reference);
      const steps = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
      const ex = steps[10]!.executors;
      // the pool threads first (they get their work before the main thread computes its own)
      assert.deepEqual(
        ex.map((e) => e.id),
        [...Array.from({ length: threads - 1 }, (_, i) => `thread-${i + 1}`), 'main'],
      );
      assert.equal(
        ex.reduce((n, e) => n + e.examples, 0),
        64,
        'the executors together cover the batch',
      );
      if (threads > 1) assert.equal(ex.filter((e) => e.slowest).length, 1, 'exactly one executor is flagged slowest');
      // their leaf ranges tile the batch's 8 leaves in executor order, each range its examples
      assert.deepEqual(
        ex.map((e) => e.leaves[0]),
        [0, ...ex.slice(0, -1).map((e) => e.leaves[1])],
        JSON.stringify(ex),
      );
      assert.equal(ex.at(-1)!.leaves[1], 8);
      for (const e of ex) assert.equal(e.examples, (e.leaves[1] - e.leaves[0]) * 8, `${e.id}: ${JSON.stringify(e.leaves)}`);
    });
  }

  for (const mode of ['throw', 'exit', 'oom'] as const) {
    it(`a thread that fails by "${mode}" mid-run costs time, not the result`, async () => {
      const { logger, records } = collectingLogger();
      const run = (): Promise<TrainSummary> => train({ ...base(), threads: 3 }, { runDir: tempDir(), logger, kernels: 'ref' });
      const s = await withPoolFault({ executor: 2, step: 100, mode }, run);
      assert.equal(s.paramsSha256, reference);
      const st = records.find((r) => r.msg === 'step' && r.step === 100) as unknown as StepRecord;
      const failed = st.executors.find((e) => e.id === 'thread-2')!;
      assert.ok(
        failed.failed !== undefined && failed.failed.length > 0,
        `the failure is recorded on the step record: ${JSON.stringify(st.executors)}`,
      );
      const later = records.find((r) => r.msg === 'step' && r.step === 120) as unknown as StepRecord;
      assert.ok(
        later.executors.every((e) => e.failed === undefined),
        'the pool recovered',
      );
    });
  }

  it('prestart: each pool thread waits in its serve loop before the first step, and that loop serves every step of the run', async () => {
    let pool: ThreadPool | null = null;
    const s = await train(
      { ...base(), threads: 0 },
      {
        runDir: tempDir(),
        kernels: 'ref',
        executors: async (ctx) => {
          const shared = toDtype(ctx.data, ctx.spec.dtype, true);
          pool = new ThreadPool({
            cpus: null,
            threads: 2,
            spec: ctx.spec,
            kernels: 'ref',
            microBatch: ctx.microBatch,
            x: shared.x,
            y: shared.y,
          });
          assert.ok(
            pool.executors.every((e) => !e.ready()),
            'no serve loop before prestart',
          );
          await pool.prestart(ctx.params, ctx.data.n);
          assert.deepEqual(
            pool.executors.map((e) => [e.ready(), e.serveLoops]),
            [
              [true, 1],
              [true, 1],
            ],
            'each thread waits for tasks',
          );
          return pool.executors;
        },
      },
    ).finally(() => (pool as ThreadPool | null)?.close());
    assert.equal(s.paramsSha256, reference);
    // the prestarted loops fit every step: the run's params, an order buffer for every epoch, enough slots
    assert.deepEqual(
      (pool as ThreadPool | null)!.executors.map((e) => e.serveLoops),
      [1, 1],
    );
  });

  it('a run on 3 threads starts each pool thread once: its serve loop outlives every epoch (end record serveLoops 1)', async () => {
    const { logger, records } = collectingLogger();
    const s = await train({ ...base(), threads: 3 }, { runDir: tempDir(), logger, kernels: 'ref' });
    assert.equal(s.paramsSha256, reference);
    assert.ok(s.epochs > 2, `several epochs, each with its own order (${s.epochs})`);
    const end = records.find((r) => r.msg === 'end') as { pool: { id: string; serveLoops: number }[] };
    assert.deepEqual(
      end.pool.map((p) => [p.id, p.serveLoops]),
      [
        ['thread-1', 1],
        ['thread-2', 1],
      ],
    );
  });

  // with shareTail (and no clipping), the step's tail (the root's add, reduce, update) is
  // shared with a pool thread, unit by unit (train/step.ts, parallel/tail.ts)
  const sgd = (): RunConfig => ({ ...base(), optimizer: { kind: 'sgd', lr: 0.1 }, weightDecay: 1e-4, shareTail: true });
  let sgdReference = '';
  const OPTIMIZERS: RunConfig['optimizer'][] = [
    { kind: 'sgd', lr: 0.1 },
    { kind: 'momentum', lr: 0.05, momentum: 0.9, nesterov: true },
    { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  ];
  const norms = (rs: Record<string, unknown>[]): string =>
    JSON.stringify(
      (rs.filter((r) => r.msg === 'step') as unknown as StepRecord[]).map((r) => [
        r.gradNorm,
        r.layers.map((l) => [l.dJdW, l.dJdWb, l.W, l.updateRatio]),
      ]),
    );

  for (const [optimizer, threads] of [
    [OPTIMIZERS[0]!, 2],
    [OPTIMIZERS[0]!, 3],
    [OPTIMIZERS[1]!, 2],
    [OPTIMIZERS[2]!, 2],
  ] as const) {
    it(`${optimizer.kind} with a shared tail, ${threads} threads: the single thread's paramsSha256, and its norms in every record`, async () => {
      const cfg = { ...base(), optimizer, weightDecay: 1e-4, shareTail: true };
      const one = collectingLogger();
      const alone = await train({ ...cfg, threads: 0 }, { runDir: tempDir(), logger: one.logger, kernels: 'ref' });
      const { logger, records } = collectingLogger();
      const s = await train({ ...cfg, threads }, { runDir: tempDir(), logger, kernels: 'ref' });
      assert.equal(s.paramsSha256, alone.paramsSha256);
      const steps = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
      assert.ok(
        steps.some((r) => r.split?.tailShared === true),
        'some steps shared their tail',
      );
      assert.equal(
        norms(records),
        norms(one.records),
        "the per-layer norms (blocks summed from both threads, ‖ΔW‖ from the shared update) are the single thread's, bit for bit",
      );
    });
  }

  // a thread that fails in the middle of its units (weights already changed) has them put back
  // and the step recomputed
  for (const mode of ['throw', 'exit', 'oom', 'exit with momentum'] as const) {
    it(`a thread that fails by "${mode}" in its share of the step's tail costs time, not the result`, async () => {
      // momentum: its buffer is put back too (the default config's optimizer)
      const cfg = mode === 'exit with momentum' ? { ...base(), shareTail: true } : sgd();
      const reference =
        mode === 'exit with momentum'
          ? (await train({ ...cfg, threads: 0 }, { runDir: tempDir(), kernels: 'ref' })).paramsSha256
          : sgdReference || (sgdReference = (await train({ ...sgd(), threads: 0 }, { runDir: tempDir(), kernels: 'ref' })).paramsSha256);
      const { logger, records } = collectingLogger();
      const fault = { executor: 1, step: 100, mode: mode === 'exit with momentum' ? 'exit' : mode, phase: 'tail' } as const;
      const s = await withPoolFault(fault, () => train({ ...cfg, threads: 2 }, { runDir: tempDir(), logger, kernels: 'ref' }));
      assert.equal(s.paramsSha256, reference);
      const st = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
      // the fault fires in the first unit the thread takes from step 100 on (the main thread may take them all in a step)
      const hit = st.find((r) => r.step >= 100 && r.executors.some((e) => e.id === 'thread-1' && e.failed !== undefined));
      assert.ok(hit !== undefined, 'the failure is recorded on a step record');
      assert.match(
        hit.executors.find((e) => e.id === 'thread-1')!.failed!,
        /its share of the tail failed .*weights put back, the step recomputed on the main thread/,
      );
      assert.ok(
        st.slice(hit.step + 20).every((r) => r.executors.every((e) => e.failed === undefined)),
        'the pool recovered',
      );
    });
  }

  it('with shareTail false no step shares its tail, and the result is the same', async () => {
    const { logger, records } = collectingLogger();
    const s = await train({ ...base(), threads: 2, shareTail: false }, { runDir: tempDir(), logger, kernels: 'ref' });
    assert.equal(s.paramsSha256, reference);
    const steps = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
    assert.ok(steps.length > 0 && steps.every((r) => r.split?.tailShared !== true), 'no step shared its tail');
  });

  // a thread asleep when its tail is posted can take milliseconds to wake on a VM: by the next
  // step the main thread has done every unit, and withdraws the task the thread has not claimed
  it('a tail task the thread has not claimed by the next step is withdrawn (the thread wakes 200 ms late): same result', async () => {
    const reference =
      sgdReference || (sgdReference = (await train({ ...sgd(), threads: 0 }, { runDir: tempDir(), kernels: 'ref' })).paramsSha256);
    const { logger, records } = collectingLogger();
    const stall = new PoolFault({ executor: 1, step: 100, mode: 'stall', phase: 'tail' });
    const s = await stall.run(() => train({ ...sgd(), threads: 2 }, { runDir: tempDir(), logger, kernels: 'ref' }));
    assert.equal(stall.fired, 1, 'the thread stalled');
    assert.equal(s.paramsSha256, reference);
    const end = records.find((r) => r.msg === 'end') as { pool: { id: string; tailsWithdrawn: number }[] };
    assert.deepEqual(
      end.pool.map((p) => [p.id, p.tailsWithdrawn >= 1]),
      [['thread-1', true]],
      JSON.stringify(end.pool),
    );
    const st = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
    assert.ok(
      st.every((r) => r.executors.every((e) => e.failed === undefined)),
      'a late thread is not a failed one',
    );
  });

  it('a compute task the thread has not started when the main thread has finished its own share is withdrawn and computed there (the thread wakes 200 ms late): same result', async function () {
    // only for threads with a core each (they spin; a sleeping thread on a shared core is not late)
    if (os.availableParallelism() < 2) this.skip();
    const { logger, records } = collectingLogger();
    const stall = new PoolFault({ executor: 1, step: 20, mode: 'stall', phase: 'compute' });
    const s = await stall.run(() => train({ ...base(), threads: 2 }, { runDir: tempDir(), logger, kernels: 'ref' }));
    assert.equal(stall.fired, 1, 'the thread stalled');
    assert.equal(s.paramsSha256, reference);
    const steps = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
    const t1 = (r: StepRecord): ExecutorRecord => r.executors.find((e) => e.id === 'thread-1')!;
    // the main thread carries on alone while the thread is held (≈ 200 ms of steps), then the thread works again
    assert.match(
      t1(steps[19]!).late ?? '',
      /thread-1: had not started its task when the main thread had finished its own share; the main thread computed it/,
    );
    assert.equal(t1(steps[19]!).failed, undefined, 'late is not failed');
    const back = steps.findIndex((r, i) => i > 19 && t1(r).late === undefined);
    assert.ok(back > 19, 'the thread computes its own range again after its stall');
    const end = records.find((r) => r.msg === 'end') as { pool: { id: string; computesWithdrawn: number }[] };
    assert.equal(end.pool[0]!.computesWithdrawn, steps.filter((r) => t1(r).late !== undefined).length, 'one withdrawal per late step');
    assert.ok(steps.every((r) => r.executors.every((e) => e.failed === undefined)));
  });

  it('with processControl, pins the main thread and its pool thread to CPUs of their own while it trains, and gives the main thread its CPUs back', async function () {
    if (process.platform !== 'linux' || (allowedCpus()?.length ?? 0) < 2) this.skip();
    const before = allowedCpus()!;
    const seen: string[][] = [];
    const { logger, records } = collectingLogger();
    const s = await train(
      { ...base(), threads: 2 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        processControl: true,
        onStep: (r) => {
          // each thread of this process with its CPU list, as the kernel reports it
          if (r.step === 50)
            seen.push(
              fs.readdirSync('/proc/self/task').map((t) => cpusOf(`/proc/self/task/${t}/status`)),
              [cpusOf('/proc/thread-self/status')],
            );
        },
      },
    );
    assert.equal(s.paramsSha256, reference);
    const pinned = (records.find((r) => r.msg === 'start') as { pinned: number[] }).pinned;
    assert.deepEqual(pinned, before.slice(0, 2));
    assert.equal(seen[1]![0], String(pinned[0]), 'the main thread ran on its CPU alone');
    assert.ok(seen[0]!.includes(String(pinned[1])), `a thread ran on CPU ${pinned[1]} alone: ${JSON.stringify(seen[0])}`);
    assert.deepEqual(allowedCpus(), before, 'the main thread has its CPUs back');
  });

  it("with processControl, puts the runtime's helper threads at idle priority while the compute threads take every CPU, and back afterwards", async function () {
    const cpus = allowedCpus()?.length ?? 0;
    if (process.platform !== 'linux' || cpus < 2 || cpus > 4) this.skip();
    const seen: { tid: number; policy: number }[][] = [];
    const { logger, records } = collectingLogger();
    await train(
      { ...base(), threads: cpus, steps: 60 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        processControl: true,
        onStep: (r) => {
          if (r.step === 50) seen.push(policies());
        },
      },
    );
    const start = records.find((r) => r.msg === 'start') as { helpersIdle?: number };
    assert.ok((start.helpersIdle ?? 0) > 0, `start record: helpersIdle ${start.helpersIdle}`);
    const during = seen[0]!;
    assert.equal(during.find((t) => t.tid === process.pid)!.policy, SCHED_OTHER, 'the main thread is not idle');
    // the helpers lowered at the start, less any that exited meanwhile (a thread of an earlier pool, still ending then)
    const idle = during.filter((t) => t.policy === SCHED_IDLE).length;
    assert.ok(idle >= 1 && idle <= start.helpersIdle!, `helpers at SCHED_IDLE: ${idle} of ${start.helpersIdle}: ${JSON.stringify(during)}`);
    // the pool threads started after: they compute at normal priority
    assert.ok(during.filter((t) => t.policy === SCHED_OTHER).length >= cpus, `compute threads at SCHED_OTHER: ${JSON.stringify(during)}`);
    assert.deepEqual(
      policies().filter((t) => t.policy !== SCHED_OTHER),
      [],
      'every thread back to SCHED_OTHER',
    );
  });

  // a pool thread computes a leaf straight into its shared slot (kernels.gemmTNCheck: with
  // the native kernels, non-temporal stores, checked as they are stored); two leaves of 32:
  // each thread takes one. A model wide enough that a leaf (≈ 1 ms) outlasts a sleeping
  // thread's wake-up: on the digits default's (≈ 0.2 ms) the main thread would often find the
  // pool thread's task unclaimed and compute it itself
  const leaves = (): RunConfig => {
    const b = base();
    return {
      ...b,
      steps: 60,
      batch: 64,
      microBatch: 32,
      model: {
        ...b.model,
        layers: [
          { units: 512, activation: 'tanh' },
          { units: 256, activation: 'tanh' },
          { units: 10, activation: 'softmax' },
        ],
      },
    };
  };
  /** Steps in which a pool thread computed its own range (not withdrawn as late, not failed). */
  const byPool = (records: Record<string, unknown>[]): number =>
    (records.filter((r) => r.msg === 'step') as unknown as StepRecord[]).filter((r) =>
      r.executors.some((e) => e.kind === 'thread' && e.examples > 0 && e.late === undefined && e.failed === undefined),
    ).length;

  /**
   * train() options for a run on `threads` pool threads alone, not spinning (the executors
   * option): with no main-thread share nothing is withdrawn as late, so each thread computes
   * its own leaves every step, however busy the machine. close() ends the pool.
   */
  const poolAlone = (threads: number): { opts: Pick<TrainOptions, 'executors'>; close(): Promise<void> } => {
    let pool: ThreadPool | null = null;
    return {
      opts: {
        executors: async (ctx) => {
          const shared = toDtype(ctx.data, ctx.spec.dtype, true);
          pool = new ThreadPool({
            cpus: null,
            threads,
            spec: ctx.spec,
            kernels: 'native',
            microBatch: ctx.microBatch,
            x: shared.x,
            y: shared.y,
            spin: false,
          });
          return pool.executors;
        },
      },
      close: async () => {
        await (pool as ThreadPool | null)?.close();
      },
    };
  };

  it("a pool thread's leaves computed straight into its shared slots (native kernels) end with the reference trainer's paramsSha256", async function () {
    if (nativeIsas().length === 0) this.skip();
    // the main thread alone, the same kernels (that they give the reference's bits is fast-kernels.test.ts)
    const want = (await train({ ...leaves(), threads: 0 }, { runDir: tempDir(), kernels: 'native' })).paramsSha256;
    for (const threads of [2, 3]) {
      const { logger, records } = collectingLogger();
      const s = await train({ ...leaves(), threads }, { runDir: tempDir(), logger, kernels: 'native' });
      // how many steps the pool threads compute is the machine's: a late thread's task is withdrawn (same bits)
      assert.equal(s.paramsSha256, want, `${threads} threads`);
      assert.equal(records.filter((r) => r.msg === 'step').length, 60);
    }
    // the pool threads computing every leaf, every step
    const alone = poolAlone(2);
    const { logger, records } = collectingLogger();
    try {
      const s = await train(leaves(), { runDir: tempDir(), logger, kernels: 'native', ...alone.opts });
      assert.equal(s.paramsSha256, want, 'two pool threads alone');
    } finally {
      await alone.close();
    }
    assert.equal(byPool(records), 60, 'the pool threads computed their leaves in every step');
  });

  it("a pool thread's non-finite leaf, found as it is stored, is named with its executor and example, and the run skips the same steps as one thread", async function () {
    if (nativeIsas().length === 0) this.skip();
    // every 40th example has one infinite pixel: the loss stays finite (tanh saturates), dJdW[0] does not
    const poisoned = (): { train: Dataset; heldOut: null } => {
      const ds = loadDigits({ dtype: 'float32' });
      for (let r = 0; r < ds.n; r += 40) ds.x[r * ds.inputs + 20] = Infinity;
      return { train: ds, heldOut: null };
    };
    const cfg = { ...leaves(), steps: 24, maxSkips: 100 };
    const one = collectingLogger();
    const want = await train({ ...cfg, threads: 1 }, { runDir: tempDir(), logger: one.logger, kernels: 'native', data: poisoned() });
    // two pool threads alone (poolAlone): each leaf is computed by its own thread (thread-1
    // leaf 0:0, thread-2 leaf 0:1) into its shared slot, however busy the machine
    const alone = poolAlone(2);
    const { logger, records } = collectingLogger();
    let s;
    try {
      s = await train(cfg, { runDir: tempDir(), logger, kernels: 'native', data: poisoned(), ...alone.opts });
    } finally {
      await alone.close();
    }
    assert.equal(s.paramsSha256, want.paramsSha256);
    const stepRecords = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
    assert.ok(
      stepRecords.every(
        (r) =>
          r.executors.map((e) => `${e.id} ${e.leaves.join('-')} ${e.late ?? ''}${e.failed ?? ''}`).join(', ') ===
          'thread-1 0-1 , thread-2 1-2 ',
      ),
      'each thread computed its own leaf in every step',
    );
    const skipped = (rs: Record<string, unknown>[]): StepRecord[] =>
      rs.filter((r) => r.msg === 'step' && r.skipped !== undefined) as unknown as StepRecord[];
    const sk = skipped(records);
    assert.deepEqual(
      sk.map((r) => r.step),
      skipped(one.records).map((r) => r.step),
    );
    assert.ok(sk.length >= 12, `most steps hold a poisoned example: ${sk.length} skipped`);
    const byThread = sk.filter((r) => / from executor thread-1, /.test(r.skipped!));
    assert.ok(byThread.length > 0, `some are found in thread-1's leaf: ${sk.map((r) => r.skipped).join(' | ')}`);
    for (const r of sk) {
      // the first non-finite leaf in tree order names the skip: thread-1's when it has one
      assert.match(
        r.skipped!,
        /^non-finite value in dJdW\[0\] \(element \d+\) from executor (thread-1, tree node 0:0|thread-2, tree node 0:1), step \d+; non-finite on its own: training examples? [\d, ]+/,
      );
      assert.ok(
        r.nonFiniteExamples!.length > 0 && r.nonFiniteExamples!.every((e) => e % 40 === 0),
        `the poisoned rows: ${r.nonFiniteExamples}`,
      );
    }
  });
});

/** Cpus_allowed_list of a /proc status file ("1", "0-1"). */
function cpusOf(file: string): string {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Cpus_allowed_list:'))!
    .split(':')[1]!
    .trim();
}
