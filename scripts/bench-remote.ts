/**
 * bench-remote.ts — remote worker nodes on loopback against local threads.
 *
 *   node dist/scripts/bench-remote.js [--steps 100] [--batches 128,512] [--micro-batch 16] [--kernels auto]
 *
 * The bench workload (scripts/bench.ts: Fashion-MNIST, MLP 784-256-128-10 tanh/softmax-CE mean,
 * SGD 0.05, float32, Glorot-uniform) for a fixed number of steps per mix, at each batch size:
 *   - "2 threads":             the local pool with 2 threads;
 *   - "1 thread + 1 remote":   one local computing thread + one `gradsync worker --threads 1`
 *                              process joined over ws://127.0.0.1 (data from its cache after
 *                              the first run; the first run streams it). The local thread is the
 *                              main thread, yielding between leaves (--local-threads 2: the main
 *                              thread and a pool thread).
 * Prints samples/s (median over steps after the first 10), the per-step time split, the
 * remote node's transfer time and bytes per step, and whether the final weights agree.
 * With --ab NAME (a step strategy: stragglers, withdraw, …) it runs only the remote mix
 * at the first batch size, --rounds times with the strategy on (A) and off (B), alternating
 * which goes first, and gives bench-ab-rule.ts's verdict on B's samples/s over A's, each over
 * its whole timed run (examples over the sum of step times).
 * Timings are printed, never asserted.
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StepRecord } from '../src/observe/schema';
import { startCoordinator } from '../src/parallel/coordinator-server';
import { DEFAULT_STRATEGIES, type StrategySwitches } from '../src/train/step';
import { train } from '../src/train/loop';
import { verdictLine } from './bench-ab-rule';
import { benchArgs, findData, mean, median, recorder, workloadConfig } from './bench-common';

const USAGE = `usage: node dist/scripts/bench-remote.js [--steps 100] [--batches 128,512] [--micro-batch 16] [--kernels auto]
                                          [--local-threads 1] [--worker-threads 1] [--no-pin] [--ab STRATEGY --rounds 5] [--stall MS/PERIOD]`;
const STRATEGIES = Object.keys(DEFAULT_STRATEGIES) as (keyof StrategySwitches)[];

type Mix = '2 threads' | '1 thread + 1 remote';

interface Setting {
  dir: string;
  steps: number;
  mb: number;
  kernels: 'auto';
  cache: string;
  root: string;
  localThreads: number;
  workerThreads: string;
  pin: boolean;
  /** The worker process is stopped (SIGSTOP) for `ms` every `period` ms: a straggler (null: never). */
  stall: { ms: number; period: number } | null;
}

async function main(): Promise<void> {
  const values = benchArgs('bench-remote', USAGE, {
    steps: { type: 'string', default: '100' },
    batches: { type: 'string', default: '128,512' },
    'micro-batch': { type: 'string', default: '16' },
    kernels: { type: 'string', default: 'auto' },
    /** The coordinator's --threads in the remote mix (1: its main thread; 2: the main thread and a pool thread). */
    'local-threads': { type: 'string', default: '1' },
    /** --threads of the worker process (0: its main thread computes). */
    'worker-threads': { type: 'string', default: '1' },
    /** The coordinator's compute threads float instead of being pinned to CPUs of their own (config pinThreads). */
    'no-pin': { type: 'boolean', default: false },
    /** MS/PERIOD: stop the worker process for MS ms every PERIOD ms (a preempted or paused node). */
    stall: { type: 'string' },
    ab: { type: 'string' },
    rounds: { type: 'string', default: '5' },
  });
  const dir = findData();
  if (!dir) {
    process.stderr.write('bench-remote: Fashion-MNIST not found (apt-get install dataset-fashion-mnist, or GRADSYNC_DATA_DIR)\n');
    process.exit(1);
  }
  const steps = Number(values.steps);
  const mb = Number(values['micro-batch']);
  const kernels = values.kernels as 'auto';
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-bench-cache-'));
  const root = path.resolve(__dirname, '..', '..');
  const st: Setting = {
    dir,
    steps,
    mb,
    kernels,
    cache,
    root,
    localThreads: Number(values['local-threads']),
    workerThreads: values['worker-threads']!,
    pin: !values['no-pin'],
    stall: values.stall === undefined ? null : parseStall(values.stall),
  };
  process.stdout.write(
    `gradsync bench-remote — Fashion-MNIST MLP 784-256-128-10, float32, ${steps} steps per run (first 10 not timed), micro-batch ${mb}, kernels ${kernels}\n`,
  );
  process.stdout.write(
    `machine: ${os.cpus()[0]?.model ?? '?'} × ${os.availableParallelism()}, node ${process.version}; remote = a worker process on ws://127.0.0.1\n\n`,
  );
  process.stdout.write(
    `${'mix'.padEnd(22)}${'batch'.padStart(6)}${'samples/s'.padStart(11)}${'step ms'.padStart(9)}${'compute'.padStart(9)}${'hand-off'.padStart(9)}${'reduce'.padStart(8)}${'update'.padStart(8)}` +
      `${'remote: leaves'.padStart(16)}${'own ms'.padStart(8)}${'wire ms'.padStart(9)}${'MB out'.padStart(8)}${'MB in'.padStart(7)}  sha\n`,
  );
  if (values.ab !== undefined) {
    await abRounds(st, Number(values.batches!.split(',')[0]), values.ab, Number(values.rounds));
    fs.rmSync(cache, { recursive: true, force: true });
    return;
  }
  for (const batch of values.batches!.split(',').map(Number)) {
    const results: { name: string; sps: number }[] = [];
    for (const mix of ['2 threads', '1 thread + 1 remote'] as const) {
      const r = await runMix(st, batch, mix, {});
      process.stdout.write(r.line);
      results.push({ name: mix, sps: r.sps });
    }
    process.stdout.write(`  batch ${batch}: remote mix / 2 threads = ${(results[1]!.sps / results[0]!.sps).toFixed(2)}×\n`);
  }
  fs.rmSync(cache, { recursive: true, force: true });
  process.stdout.write(
    "\nremote: leaves = its mean share of the tree's leaves; own ms = its wall time minus wire time (the worker's compute);\n" +
      'wire ms = encode + send + receive + decode of its step frame and partials; MB out = weights + order slice per step, MB in = its partials.\n',
  );
}

/** One run of `mix` at `batch` with `strategies` switched as given: its samples/s, final paramsSha256 and table line. */
async function runMix(
  st: Setting,
  batch: number,
  mix: Mix,
  strategies: Partial<StrategySwitches>,
): Promise<{ sps: number; rate: number; sha: string; line: string }> {
  const remote = mix !== '2 threads';
  const cfg = {
    ...workloadConfig(st.dir, { batch, microBatch: st.mb, steps: st.steps, threads: remote ? st.localThreads : 2 }),
    pinThreads: st.pin,
  };
  const { logger, steps: recs } = recorder('bench-remote');
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-bench-'));
  let child: ReturnType<typeof spawn> | null = null;
  const stalls: { stop: (() => void) | null } = { stop: null };
  const s = await train(cfg, {
    logger,
    runDir,
    kernels: st.kernels,
    processControl: true,
    strategies,
    ...(remote
      ? {
          joinable: async (ctx) => {
            const c = await startCoordinator({
              host: '127.0.0.1',
              port: 0,
              run: ctx.run,
              spec: ctx.spec,
              microBatch: ctx.microBatch,
              data: ctx.data,
              logger: ctx.logger,
            });
            child = spawn(
              process.execPath,
              [
                path.join(st.root, 'bin', 'gradsync.js'),
                'worker',
                '--join',
                c.url,
                '--threads',
                st.workerThreads,
                '--kernels',
                st.kernels,
                '--data-dir',
                st.cache,
                '--id',
                'bench',
              ],
              { stdio: 'ignore' },
            );
            await c.waitForWorkers(1, 300_000);
            if (st.stall !== null) stalls.stop = stallEvery(child, st.stall);
            return c;
          },
        }
      : {}),
  });
  fs.rmSync(runDir, { recursive: true, force: true });
  stalls.stop?.();
  if (child) await new Promise((r) => (child as unknown as NodeJS.EventEmitter).once('exit', r));
  const timed = recs.slice(10);
  const sps = median(timed.map((r) => r.examples / (r.stepMs / 1000)));
  // over the whole timed run: a stalled step counts with its full length (the median step hides it)
  const rate = timed.reduce((n, r) => n + r.examples, 0) / (timed.reduce((t, r) => t + r.stepMs, 0) / 1000);
  const avg = (f: (r: StepRecord) => number): number => mean(timed.map(f));
  const rem = timed.map((r) => r.executors.find((e) => e.kind === 'remote')).filter((e) => e !== undefined);
  const leaves = Math.ceil(batch / st.mb);
  const remCols = remote
    ? `${`${mean(rem.map((e) => e.leaves[1] - e.leaves[0])).toFixed(1)}/${leaves}`.padStart(16)}${mean(
        rem.map((e) => e.computeMs - (e.transferMs ?? 0)),
      )
        .toFixed(2)
        .padStart(8)}` +
      `${mean(rem.map((e) => e.transferMs ?? 0))
        .toFixed(2)
        .padStart(
          9,
        )}${(mean(rem.map((e) => e.bytesOut ?? 0)) / 1e6).toFixed(2).padStart(8)}${(mean(rem.map((e) => e.bytesIn ?? 0)) / 1e6).toFixed(2).padStart(7)}`
    : ''.padStart(48);
  const line =
    `${mix.padEnd(22)}${String(batch).padStart(6)}${Math.round(sps).toString().padStart(11)}${avg((r) => r.stepMs)
      .toFixed(2)
      .padStart(9)}` +
    `${avg((r) => r.split?.computeMs ?? 0)
      .toFixed(2)
      .padStart(9)}${avg((r) => r.split?.handoffMs ?? 0)
      .toFixed(2)
      .padStart(9)}${avg((r) => r.split?.reduceMs ?? 0)
      .toFixed(2)
      .padStart(8)}${avg((r) => r.split?.updateMs ?? 0)
      .toFixed(2)
      .padStart(8)}` +
    `${remCols}  ${s.paramsSha256.slice(0, 12)}${rem.some((e) => e.failed) ? ' (remote failures!)' : ''}\n`;
  return { sps, rate, sha: s.paramsSha256, line };
}

/** The remote mix with strategy `name` on (A) and off (B), `rounds` times, alternating which runs first. */
async function abRounds(st: Setting, batch: number, name: string, rounds: number): Promise<void> {
  if (!STRATEGIES.includes(name as keyof StrategySwitches)) throw new Error(`--ab: unknown strategy "${name}" (${STRATEGIES.join(', ')})`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a whole number ≥ 1`);
  const key = name as keyof StrategySwitches;
  const ratios: number[] = [];
  const shas = new Set<string>();
  for (let round = 1; round <= rounds; round++) {
    const got: Record<'A' | 'B', number> = { A: 0, B: 0 };
    for (const side of round % 2 === 1 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
      const r = await runMix(st, batch, '1 thread + 1 remote', { [key]: side === 'A' });
      process.stdout.write(`round ${round} ${side} ${r.line}`);
      got[side] = r.rate;
      shas.add(r.sha);
    }
    ratios.push(got.B / got.A);
    process.stdout.write(
      `round ${round}: off/on ${(got.B / got.A).toFixed(3)}x (samples/s over the run: A ${Math.round(got.A)}, B ${Math.round(got.B)})\n`,
    );
  }
  process.stdout.write(`\n${verdictLine(name, ratios)}\n`);
  process.stdout.write(
    `final weights: A and B the same in every round: ${shas.size === 1 ? `yes (${[...shas][0]!.slice(0, 16)}…)` : 'NO'}\n`,
  );
}

function parseStall(text: string): { ms: number; period: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (m === null || Number(m[1]) <= 0 || Number(m[2]) <= Number(m[1]))
    throw new Error(`--stall must be MS/PERIOD with 0 < MS < PERIOD, got "${text}"`);
  return { ms: Number(m[1]), period: Number(m[2]) };
}

/** SIGSTOP the process for `ms` every `period` ms until the returned function is called (which resumes it). */
function stallEvery(child: ReturnType<typeof spawn>, s: { ms: number; period: number }): () => void {
  let resume: NodeJS.Timeout | null = null;
  const timer = setInterval(() => {
    child.kill('SIGSTOP');
    resume = setTimeout(() => child.kill('SIGCONT'), s.ms);
  }, s.period);
  return () => {
    clearInterval(timer);
    if (resume !== null) clearTimeout(resume);
    child.kill('SIGCONT');
  };
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-remote: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
