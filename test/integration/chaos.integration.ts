/**
 * Issue 7, part 6: a chaos run. The digits default trains 300 steps while remote worker
 * processes on 127.0.0.1 join, are killed (SIGKILL), hang (SIGSTOP, then SIGCONT) and come
 * back, on a seeded random schedule (GRADSYNC_TEST_SEED replays one), and garbage-sending
 * peers join and send random bytes instead of partials. The final paramsSha256 equals the
 * single-thread run's. Bounded: 300 steps, short step deadlines, a 150 s test timeout.
 * The test prints how many faults it injected and that the run survived them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import type { RunConfig } from '../../src/config';
import type { StepRecord } from '../../src/observe/schema';
import { MainExecutor } from '../../src/parallel/main-executor';
import type { Executor } from '../../src/parallel/executor';
import { startCoordinator, type Coordinator } from '../../src/parallel/coordinator-server';
import { runWorkerWith, type WorkerExit } from '../../src/parallel/remote-worker';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { train } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { repoRoot, tempDir } from '../helpers/paths';
import { seeded, testSeed } from '../helpers/seeded';

const STEPS = 300;
const BIN = path.join(repoRoot(), 'bin', 'gradsync.js');

interface Worker {
  id: string;
  p: ChildProcess;
  stopped: boolean;
  stderr: string[];
}

describe('chaos run (integration, issue 7)', function () {
  this.timeout(150_000);
  const base = (): RunConfig => ({
    ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')),
    steps: STEPS,
    dtype: 'float32',
    batch: 64,
    microBatch: 8,
    threads: 0,
  });
  const all: Worker[] = [];
  after(() => {
    for (const w of all) {
      if (w.p.exitCode !== null || w.p.signalCode !== null) continue;
      if (w.stopped) w.p.kill('SIGCONT');
      w.p.kill('SIGKILL');
    }
  });

  it('workers joining, killed, hung and back, and garbage frames: the single-thread paramsSha256', async () => {
    const reference = (await train(base(), { runDir: tempDir(), kernels: 'ref' })).paramsSha256;
    const seed = testSeed();
    const rnd = seeded(seed);
    const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
    const faults = { kill: 0, hang: 0, garbage: 0, joins: 0 };
    let coord: Coordinator | null = null;
    let n = 0;
    const garbage: Promise<WorkerExit>[] = [];

    const spawnWorker = (): Worker => {
      const id = `c${++n}`;
      const p = spawn(process.execPath, [BIN, 'worker', '--join', coord!.url, '--threads', '0', '--kernels', 'ref', '--id', id], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const w: Worker = { id, p, stopped: false, stderr: [] };
      p.stderr!.on('data', (c: Buffer) => w.stderr.push(c.toString()));
      all.push(w);
      return w;
    };
    const listed = (id: string): boolean => coord!.current().some((e) => e.id === `remote-${id}`);
    const waitListed = async (id: string, what: () => string): Promise<void> => {
      const t0 = Date.now();
      while (!listed(id)) {
        if (Date.now() - t0 > 30_000) throw new Error(`${id} did not join within 30 s: ${what()}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const alive = (): Worker[] => all.filter((w) => w.p.exitCode === null && w.p.signalCode === null);

    // the schedule: 18 faults at random steps in 10…280, each type at least 3 times
    const kinds = ['kill', 'kill', 'kill', 'hang', 'hang', 'hang', 'garbage', 'garbage', 'garbage', 'join', 'join', 'join'];
    while (kinds.length < 18) kinds.push(pick(['kill', 'hang', 'garbage', 'join']));
    const at = new Map<number, string[]>();
    for (const k of kinds) {
      const s = 10 + Math.floor(rnd() * 270);
      at.set(s, [...(at.get(s) ?? []), k]);
    }
    const conts = new Map<number, Worker[]>();

    const act = async (step: number): Promise<void> => {
      for (const w of conts.get(step) ?? []) {
        w.p.kill('SIGCONT');
        w.stopped = false;
      }
      for (const k of at.get(step) ?? []) {
        const running = alive().filter((w) => !w.stopped);
        if (k === 'kill' && running.length > 0) {
          pick(running).p.kill('SIGKILL');
          faults.kill++;
        } else if (k === 'hang' && running.length > 0) {
          const w = pick(running);
          w.p.kill('SIGSTOP');
          w.stopped = true;
          const back = step + 3 + Math.floor(rnd() * 15);
          conts.set(back, [...(conts.get(back) ?? []), w]);
          faults.hang++;
        } else if (k === 'garbage') {
          // a peer that joins properly, then answers its first step with random bytes
          const id = `g${++n}`;
          const junk = seeded(Math.floor(rnd() * 2 ** 31));
          garbage.push(
            runWorkerWith(
              { url: coord!.url, id, threads: 0, kernels: 'ref' },
              {
                tamper: (_s, frames) =>
                  frames.map((f) => Buffer.from(Array.from({ length: 1 + Math.floor(junk() * f.length) }, () => Math.floor(junk() * 256)))),
              },
            ),
          );
          await waitListed(id, () => 'garbage peer');
          faults.garbage++;
        } else {
          const w = spawnWorker();
          await waitListed(w.id, () => w.stderr.join(''));
          faults.joins++;
        }
      }
    };

    // a main-thread executor that runs the schedule before computing each step
    const gate = (ctx: { spec: never; data: never; microBatch: number }): Executor => {
      const main = new MainExecutor(ctx.spec, referenceKernels('float32'), ctx.data, ctx.microBatch);
      return {
        id: 'gate',
        kind: 'main',
        async compute(task, nodes) {
          await act(task.step);
          return main.computeSync(task, nodes);
        },
        recycle: (p) => main.recycle(p),
        close: () => Promise.resolve(),
      };
    };

    const { logger, records } = collectingLogger();
    const t0 = Date.now();
    const s = await train(base(), {
      runDir: tempDir(),
      logger,
      kernels: 'ref',
      executors: async (ctx) => [gate(ctx as never)],
      joinable: async (ctx) => {
        coord = await startCoordinator({
          host: '127.0.0.1',
          port: 0,
          run: ctx.run,
          spec: ctx.spec,
          microBatch: ctx.microBatch,
          data: ctx.data,
          logger: ctx.logger,
          heartbeatMs: 500,
          maxMisses: 2,
          deadline: { floorMs: 250, factor: 5, firstMs: 3000 },
        });
        const first = [spawnWorker(), spawnWorker(), spawnWorker()];
        for (const w of first) await waitListed(w.id, () => w.stderr.join(''));
        return coord;
      },
    });
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(s.steps, STEPS);
    assert.equal(s.paramsSha256, reference);
    const steps = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
    const failedRanges = steps.reduce((k, r) => k + r.executors.filter((e) => e.failed !== undefined).length, 0);
    const remoteSteps = steps.filter((r) =>
      r.executors.some((e) => e.kind === 'remote' && e.examples > 0 && e.failed === undefined),
    ).length;
    const badFrames = records.filter((r) => typeof r.code === 'string' && r.code === 'GS_ERR_WIRE').length;
    const exits = await Promise.all(garbage);
    assert.ok(
      exits.every((e) => e.code === 1008 || e.code === 1006),
      `garbage peers were closed as bad (${exits.map((e) => e.code).join(', ')})`,
    );
    assert.ok(remoteSteps > STEPS / 4, `remote workers computed in ${remoteSteps} steps`);
    const injected = faults.kill + faults.hang + faults.garbage;
    process.stdout.write(
      `      chaos (GRADSYNC_TEST_SEED=${seed}): ${injected} faults injected and survived — ${faults.kill} SIGKILL, ${faults.hang} SIGSTOP/SIGCONT, ` +
        `${faults.garbage} garbage peers (${badFrames} wire errors logged); ${faults.joins + 3} worker joins; ${failedRanges} ranges recomputed; ` +
        `remote work in ${remoteSteps}/${STEPS} steps; ${seconds.toFixed(1)} s\n`,
    );
  });
});
