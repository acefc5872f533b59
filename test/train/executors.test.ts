/**
 * A run's local executors and the process-wide scheduling they may change (src/train/executors.ts):
 * a library train() leaves the process's CPU affinity and its threads' priorities alone unless
 * processControl asks; with it, the compute threads are pinned while the run trains; and a
 * setup that fails after pinning puts everything back before the error goes up.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import type { RunConfig } from '../../src/config';
import { layoutOf } from '../../src/model/params';
import { allowedCpus, pinPlan } from '../../src/parallel/affinity';
import { selectKernels } from '../../src/tensor/select';
import { setUpExecutors, type LocalExecutorOptions } from '../../src/train/executors';
import { train } from '../../src/train/loop';
import { loadRunData, modelSpecOf } from '../../src/train/setup';
import { policies, SCHED_IDLE } from '../helpers/sched';
import { collectingLogger } from '../helpers/log-sink';
import { repoRoot, tempDir } from '../helpers/paths';

const idle = (): number[] =>
  policies()
    .filter((t) => t.policy === SCHED_IDLE)
    .map((t) => t.tid);

/** Threads that take every CPU this process may use (so that the helpers are idled too), when that is few enough to run here. */
function everyCpu(): number | null {
  const n = allowedCpus()?.length ?? 0;
  return n >= 2 && n <= 4 ? n : null;
}

const base = (): RunConfig => ({
  ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')),
  steps: 30,
  dtype: 'float32',
  batch: 64,
  microBatch: 8,
});

describe('local executors and process scheduling (train/executors.ts)', function () {
  this.timeout(60_000);

  before(function () {
    if (process.platform !== 'linux') this.skip(); // /proc and sched_setaffinity
    if (allowedCpus() === null) this.skip(); // the threads addon is not built here
  });

  it("a library train() with 2 threads leaves the CPU affinity and every thread's scheduling policy as they were", async () => {
    const before = allowedCpus();
    assert.deepEqual(idle(), [], 'no thread is idle to begin with');
    const during: { cpus: number[] | null; idle: number[] }[] = [];
    const { logger, records } = collectingLogger();
    await train(
      { ...base(), threads: 2 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        onStep: (r) => {
          if (r.step === 20) during.push({ cpus: allowedCpus(), idle: idle() });
        },
      },
    );
    assert.deepEqual(during, [{ cpus: before, idle: [] }], 'while it trains');
    assert.deepEqual(allowedCpus(), before);
    assert.deepEqual(idle(), []);
    const start = records.find((r) => r.msg === 'start')!;
    assert.equal(start.pinned, undefined);
    assert.equal(start.helpersIdle, undefined);
    const end = records.find((r) => r.msg === 'end') as { pool: { id: string; cpu: number | null }[] };
    assert.deepEqual(
      end.pool.map((p) => [p.id, p.cpu]),
      [['thread-1', null]],
      'the pool thread floats',
    );
  });

  it('with processControl, train() pins the compute threads while it trains and puts everything back at the end', async function () {
    const threads = everyCpu();
    if (threads === null) this.skip(); // 2–4 CPUs: one compute thread on each
    const before = allowedCpus()!;
    const during: { cpus: number[] | null; idle: number }[] = [];
    const { logger, records } = collectingLogger();
    await train(
      { ...base(), threads: threads! },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        processControl: true,
        onStep: (r) => {
          if (r.step === 20) during.push({ cpus: allowedCpus(), idle: idle().length });
        },
      },
    );
    const start = records.find((r) => r.msg === 'start') as { pinned?: number[]; helpersIdle?: number };
    assert.deepEqual(start.pinned, pinPlan(threads!, before));
    assert.deepEqual(during[0]!.cpus, [before[0]], 'the main thread on its CPU alone');
    assert.ok((start.helpersIdle ?? 0) > 0 && during[0]!.idle >= 1, `helpers idle: ${start.helpersIdle} (${during[0]!.idle} during)`);
    assert.deepEqual(allowedCpus(), before, 'the main thread has its CPUs back');
    assert.deepEqual(idle(), [], 'every thread back at its policy');
  });

  it('with processControl but config pinThreads false, nothing is pinned', async () => {
    const before = allowedCpus();
    const { logger, records } = collectingLogger();
    await train(
      { ...base(), threads: 2, steps: 5, pinThreads: false },
      { runDir: tempDir(), logger, kernels: 'ref', processControl: true },
    );
    assert.equal(records.find((r) => r.msg === 'start')!.pinned, undefined);
    assert.deepEqual(allowedCpus(), before);
  });

  describe('setUpExecutors', () => {
    const options = (threads: number, shareTailState: 'shared' | 'private'): LocalExecutorOptions => {
      const cfg = base();
      const data = loadRunData(cfg, true).train;
      const spec = modelSpecOf(cfg, data.inputs, data.outputs);
      const layout = layoutOf(spec);
      // momentum has one state buffer; ThreadPool refuses one that is not in shared memory
      const state = shareTailState === 'shared' ? new Float32Array(new SharedArrayBuffer(layout.size * 4)) : new Float32Array(layout.size);
      return {
        spec,
        layout,
        kernels: selectKernels(spec.dtype, 'ref').kernels,
        kernelChoice: 'ref',
        data,
        microBatch: 8,
        threads,
        logger: collectingLogger().logger,
        processControl: true,
        pinThreads: true,
        shareTail: { optimizer: { kind: 'momentum', lr: 0.05, momentum: 0.9, nesterov: false }, state: [state] },
      };
    };

    it('pins while set up; dispose() closes the pool and puts the CPUs and priorities back, once', async function () {
      const threads = everyCpu();
      if (threads === null) this.skip();
      const before = allowedCpus()!;
      const local = await setUpExecutors(options(threads!, 'shared'));
      try {
        assert.deepEqual(local.pinned, pinPlan(threads!, before));
        assert.deepEqual(allowedCpus(), [before[0]]);
        assert.ok((local.helpersIdle ?? 0) > 0 && idle().length >= 1);
        assert.deepEqual(
          local.executors.map((e) => e.id),
          [...Array.from({ length: threads! - 1 }, (_, i) => `thread-${i + 1}`), 'main'],
        );
      } finally {
        const first = local.dispose();
        assert.equal(local.dispose(), first, 'a second dispose() is the first one');
        await first;
      }
      assert.deepEqual(allowedCpus(), before);
      assert.deepEqual(idle(), []);
    });

    it('a setup that fails after pinning (a shared tail over private state) throws, and leaves nothing changed', async function () {
      const threads = everyCpu();
      if (threads === null) this.skip();
      const before = allowedCpus();
      await assert.rejects(setUpExecutors(options(threads!, 'private')), (e: Error) => {
        assert.ok(e instanceof TypeError);
        assert.equal(e.message, 'ThreadPool: the optimizer state must be whole SharedArrayBuffer-backed vectors');
        return true;
      });
      assert.deepEqual(allowedCpus(), before, 'the main thread has its CPUs back');
      assert.deepEqual(idle(), [], 'the helpers are back at their policy');
    });
  });
});
