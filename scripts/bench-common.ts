/**
 * bench-common.ts — what the benches share: finding Fashion-MNIST, a logger that keeps the
 * step records in memory, and the statistics. Not a bench itself.
 */

import { spawnSync } from 'node:child_process';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Writable } from 'node:stream';
import type pino from 'pino';
import { envDataDir } from '../src/env';
import { defaultIdxDirs, findIdxFiles } from '../src/data/idx';
import { streamLogger } from '../src/observe/logger';
import type { StepRecord } from '../src/observe/schema';
import { validate, type RunConfig } from '../src/config';
import type { LayerSpec } from '../src/model/spec';

/** The first folder holding the four Fashion-MNIST IDX files: GRADSYNC_DATA_DIR, then Debian's. */
export function findData(): string | null {
  for (const d of [envDataDir(), ...defaultIdxDirs()]) {
    if (!d) continue;
    try { findIdxFiles(d, 'train'); findIdxFiles(d, 'test'); return d; } catch { /* next */ }
  }
  return null;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** A run logger that keeps the parsed step records (and drops the rest). */
export function recorder(run: string): { logger: pino.Logger; steps: StepRecord[]; arrived: number[]; onStep: (r: StepRecord) => void } {
  const steps: StepRecord[] = [];
  /** performance.now() when each step record was logged (the step's end, give or take the logging). */
  const arrived: number[] = [];
  // either give train() the logger (records parsed back from its lines, on this thread)…
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      const t = performance.now();
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.includes('"msg":"step"')) { steps.push(JSON.parse(line) as StepRecord); arrived.push(t); }
      }
      cb();
    },
  });
  // …or onStep, and let train() log to its run folder as a real run does (no parsing cost)
  const onStep = (r: StepRecord): void => { steps.push(r); arrived.push(performance.now()); };
  return { logger: streamLogger(sink as unknown as pino.DestinationStream, run), steps, arrived, onStep };
}

/**
 * Samples/s of each epoch from the wall clock: from the first step's start to the last step's
 * record, so it includes everything the loop does between steps (logging, diagnosis), but not
 * the held-out evaluation after an epoch's last step.
 */
export function epochRates(steps: StepRecord[], arrived: number[]): number[] {
  const byEpoch = new Map<number, { ex: number; from: number; to: number }>();
  steps.forEach((r, i) => {
    const e = byEpoch.get(r.epoch);
    if (e === undefined) byEpoch.set(r.epoch, { ex: r.examples, from: arrived[i]! - r.stepMs, to: arrived[i]! });
    else { e.ex += r.examples; e.to = arrived[i]!; }
  });
  return [...byEpoch.values()].map((e) => e.ex / ((e.to - e.from) / 1000));
}

/** The project's fixed benchmark model: MLP 784-256-128-10, tanh hidden, softmax output. */
export const WORKLOAD_LAYERS: LayerSpec[] = [{ units: 256, activation: 'tanh' }, { units: 128, activation: 'tanh' }, { units: 10, activation: 'softmax' }];

/**
 * The fixed benchmark workload on the Fashion-MNIST IDX files in `dir`: WORKLOAD_LAYERS,
 * softmax cross-entropy averaged over the batch, SGD lr 0.05, float32, Glorot-uniform, seed 1.
 * `run` sets what a bench varies: batch, micro-batch, epochs or steps, threads.
 */
export function workloadConfig(dir: string, run: { batch: number; microBatch: number; threads: number; epochs?: number; steps?: number }): RunConfig {
  return validate({
    dtype: 'float32', data: { source: 'idx', dir },
    model: { layers: WORKLOAD_LAYERS, loss: 'cross-entropy', init: { scheme: 'glorot-uniform' } },
    optimizer: { kind: 'sgd', lr: 0.05 }, reduction: 'mean', seed: 1,
    batch: run.batch, microBatch: run.microBatch, threads: run.threads,
    ...(run.epochs !== undefined ? { epochs: run.epochs } : {}), ...(run.steps !== undefined ? { steps: run.steps } : {}),
  });
}

/**
 * A python3 that imports torch, with the environment to run it in (OPENBLAS_CORETYPE and
 * OPENBLAS_L2_SIZE removed, so OpenBLAS detects the CPU itself), or null.
 */
export function torchPython(): { py: string; env: NodeJS.ProcessEnv } | null {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', env }).status === 0) return { py, env };
  }
  return null;
}

export const NO_TORCH = 'no python3 with torch (apt-get install python3-torch libopenblas0-pthread)';

/** Runs fn repeatedly for about `seconds` (at least twice, after one warm-up call); returns calls per second. */
export function rate(fn: () => void, seconds: number): number {
  fn();
  let n = 0;
  const t0 = process.hrtime.bigint();
  let dt = 0;
  do {
    fn();
    n++;
    dt = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (dt < seconds || n < 2);
  return n / dt;
}

/**
 * A bench script's flags (node:util parseArgs, strict), with --help printing `usage` and a bad
 * flag answered by its message and the usage (exit 2) instead of a stack trace.
 */
export function benchArgs<O extends NonNullable<ParseArgsConfig['options']>>(name: string, usage: string, options: O): ReturnType<typeof parseArgs<{ options: O }>>['values'] {
  let values: ReturnType<typeof parseArgs<{ options: O }>>['values'];
  try {
    values = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } as O }).values;
  } catch (e) {
    process.stderr.write(`${name}: ${(e as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  if ((values as { help?: boolean }).help === true) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values;
}
