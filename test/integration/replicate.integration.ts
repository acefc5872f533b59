/**
 * replicate 2 (train/strategies/replicate.ts) with real remote workers over sockets: each
 * remote range computed by two workers and compared bit for bit. Honest pairs end with the
 * single-thread paramsSha256 and one answer of each pair used; a worker sending finite wrong
 * partials is outvoted by the main thread's recomputation, closed with 4011, and the run is
 * still exact; with three workers the two left pair up again after the liar is gone.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import type { RunConfig } from '../../src/config';
import type { StepRecord } from '../../src/observe/schema';
import { train } from '../../src/train/loop';
import { runWorkerWith, type WorkerExit } from '../../src/parallel/remote-worker';
import { encodePartial } from '../../src/parallel/codec-partials';
import { CLOSE } from '../../src/parallel/messages';
import { collectingLogger } from '../helpers/log-sink';
import { coordinatorFor } from '../helpers/coordinator';
import { repoRoot, tempDir } from '../helpers/paths';

const steps = (records: Record<string, unknown>[]): StepRecord[] => records.filter((r) => r.msg === 'step') as unknown as StepRecord[];

describe('replicate 2: every remote range computed twice and compared (integration)', function () {
  this.timeout(120_000);
  const base = (replicate: 1 | 2): RunConfig => ({
    ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')),
    steps: 80,
    dtype: 'float32',
    batch: 64,
    microBatch: 8,
    duplicateStragglers: false,
    threads: 0,
    replicate,
  });
  let reference = '';
  before(async () => {
    reference = (await train(base(1), { runDir: tempDir(), kernels: 'ref' })).paramsSha256;
  });

  /** A run with remote workers `ids`; `liar` (if any) adds 0.5 to element 3 of its first partial from step 10 on. */
  async function run(ids: string[], liar?: string) {
    const { logger, records } = collectingLogger();
    const exits = new Map<string, Promise<WorkerExit>>();
    const s = await train(base(2), {
      runDir: tempDir(),
      logger,
      kernels: 'ref',
      joinable: async (ctx) => {
        const c = await coordinatorFor(ctx);
        for (const id of ids) {
          exits.set(
            id,
            runWorkerWith(
              { url: c.url, id, threads: 0, kernels: 'ref' },
              {
                tamper: (step, frames, ps) => {
                  if (id !== liar || step < 10) return frames;
                  const g = Float32Array.from(ps[0]!.grads);
                  g[3] = g[3]! + 0.5;
                  return [frames[0]!, encodePartial({ ...ps[0]!, grads: g }), ...frames.slice(2)];
                },
              },
            ),
          );
        }
        await c.waitForWorkers(ids.length, 30_000);
        return c;
      },
    });
    const codes = new Map<string, number>();
    for (const [id, e] of exits) codes.set(id, (await e).code);
    return { s, st: steps(records), records, codes };
  }

  it('two honest workers: each range computed by both, one answer used, the single-thread paramsSha256', async () => {
    const { s, st, codes } = await run(['a', 'b']);
    assert.equal(s.paramsSha256, reference);
    for (const r of st) {
      const a = r.executors.find((e) => e.id === 'remote-a')!;
      const b = r.executors.find((e) => e.id === 'remote-b')!;
      assert.deepEqual(a.leaves, b.leaves, `step ${r.step}: the same range`);
      assert.equal(b.replica, 'remote-a');
      assert.equal(a.failed ?? b.failed, undefined);
    }
    assert.deepEqual([...codes.values()], [CLOSE.goingAway, CLOSE.goingAway]);
  });

  it('a liar beside an honest worker: outvoted by the main thread, closed with 4011, the run exact', async () => {
    const { s, st, records, codes } = await run(['a', 'b'], 'b');
    assert.equal(s.paramsSha256, reference);
    assert.equal(s.skippedSteps, 0);
    const caught = st[9]!.executors.find((e) => e.id === 'remote-b')!;
    assert.match(
      caught.failed ?? '',
      /^replicate at step 10: its partial differs from its twin's and from the main thread's recomputation at tree node \d+:\d+: dJdW\[0\] \(element 3: /,
    );
    assert.equal(st[9]!.executors.find((e) => e.id === 'remote-a')!.failed, undefined, 'the honest twin is not blamed');
    assert.ok(records.some((r) => r.code === 'GS_ERR_EXECUTOR' && r.closeCode === CLOSE.replicaMismatch));
    assert.equal(codes.get('b'), CLOSE.replicaMismatch);
    // alone, the honest worker has no twin: it sits the steps out
    assert.ok(st.slice(10).every((r) => !r.executors.some((e) => e.id.startsWith('remote-'))));
  });

  it('three workers and a liar: after it is dropped the other two pair up, the run exact', async () => {
    const { s, st, codes } = await run(['a', 'b', 'c'], 'a');
    assert.equal(s.paramsSha256, reference);
    assert.equal(codes.get('a'), CLOSE.replicaMismatch);
    const later = st.slice(12);
    assert.ok(later.length > 0);
    for (const r of later) {
      const ids = r.executors.map((e) => e.id).sort();
      assert.deepEqual(ids, ['main', 'remote-b', 'remote-c'], `step ${r.step}`);
      assert.equal(r.executors.find((e) => e.id === 'remote-c')!.replica, 'remote-b');
    }
  });
});
