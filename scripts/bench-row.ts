/**
 * bench-row.ts — one trainer of the bench workload in a process of its own, for bench.ts and bench-ab.ts.
 *
 * `node dist/scripts/bench-row.js --kernels K --threads T [--epochs N] [--steps N] [--batch N] [--micro-batch N]
 * [--strategy NAME=on|off ...] [--set key=value ...]` trains once and prints its Row as one JSON line; rowRun()
 * spawns that process. A fresh process per row, as a user's `gradsync train` is: run one after another in one
 * process, a trainer starts with code V8 compiled for the previous one's shapes and spends its epochs recompiling.
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { StepRecord } from '../src/observe/schema';
import { train, type TrainOptions } from '../src/train/loop';
import { DEFAULT_STRATEGIES, type StrategySwitches as FullSwitches } from '../src/train/step-types';
import { benchArgs, epochRates, findData, median, parseSet, recorder, workloadConfig } from './bench-common';

/** The strategies' names, in the order bench-ab reports them. */
export const STRATEGY_NAMES = Object.keys(DEFAULT_STRATEGIES) as readonly (keyof StrategySwitches)[];
export type StrategySwitches = Partial<FullSwitches>;

export interface Split {
  stepMs: number;
  computeMs: number;
  handoffMs: number;
  recordMs: number;
  reduceMs: number;
  updateMs: number;
  sharedSteps: number;
}
/** One trainer's figures. `kernel` is the ISA the run used (e.g. native-avx512), `kernels` the one asked for. */
export interface Row {
  name: string;
  kernels: string;
  threads: number;
  round?: number;
  sps: number;
  acc: number | null;
  kernel: string;
  sha: string;
  medianStepMs: number;
  steps: number;
  split: Split;
}

/**
 * What a row trains: the workload with these settings. `kernels` is a --kernels choice, or
 * 'native-fma': the native kernels in the fma profile (kernelProfile "fma").
 */
export interface RowSpec {
  kernels: string;
  threads: number;
  batch: number;
  microBatch: number;
  epochs: number;
  steps?: number | undefined;
  strategies?: StrategySwitches;
  sets?: string[];
}

/** The command-line flags of a row process for `spec`. */
export function rowArgs(spec: RowSpec): string[] {
  return [
    '--kernels',
    spec.kernels,
    '--threads',
    String(spec.threads),
    '--epochs',
    String(spec.epochs),
    '--batch',
    String(spec.batch),
    '--micro-batch',
    String(spec.microBatch),
    ...(spec.steps ? ['--steps', String(spec.steps)] : []),
    ...Object.entries(spec.strategies ?? {}).flatMap(([k, v]) => ['--strategy', `${k}=${v ? 'on' : 'off'}`]),
    ...(spec.sets ?? []).flatMap((s) => ['--set', s]),
  ];
}

/** One trainer in a child process: its Row, as it printed it. */
export function rowRun(spec: RowSpec): Promise<Row> {
  const args = rowArgs(spec);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bench-row ${args.join(' ')} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as Row);
    });
  });
}

/** Runs one trainer in this process. */
async function rowHere(dir: string, spec: RowSpec): Promise<Row> {
  const { threads } = spec;
  const cfg = workloadConfig(dir, {
    batch: spec.batch,
    microBatch: spec.microBatch,
    threads,
    epochs: spec.epochs,
    ...(spec.steps ? { steps: spec.steps } : {}),
    sets: [...(spec.kernels === 'native-fma' ? ['kernelProfile="fma"'] : []), ...(spec.sets ?? [])].map(parseSet),
  });
  // train() logs to its run folder, as a real run does; the records come through onStep
  const { onStep, steps: recs, arrived } = recorder('bench');
  const runDir = fs.mkdtempSync(`${os.tmpdir()}/gradsync-bench-`);
  const opts: TrainOptions = {
    onStep,
    runDir,
    kernels: (spec.kernels === 'native-fma' ? 'native' : spec.kernels) as TrainOptions['kernels'],
    processControl: true,
  };
  if (spec.strategies !== undefined) opts.strategies = spec.strategies;
  const s = await train(cfg, opts);
  fs.rmSync(runDir, { recursive: true, force: true });
  const avg = (f: (r: StepRecord) => number): number => recs.reduce((a, r) => a + f(r), 0) / recs.length;
  return {
    name: threads <= 1 ? '1 thread (main)' : `${threads} threads (main + ${threads - 1} pool)`,
    kernels: spec.kernels,
    threads,
    sps: median(epochRates(recs, arrived)),
    acc: s.accuracy,
    kernel: s.kernel,
    sha: s.paramsSha256,
    steps: s.steps,
    // also the median step (after the first 100): robust to the few steps a busy VM stretches
    medianStepMs: median(recs.slice(Math.min(100, recs.length >> 1)).map((r) => r.stepMs)),
    split: {
      stepMs: avg((r) => r.stepMs),
      computeMs: avg((r) => r.split?.computeMs ?? 0),
      handoffMs: avg((r) => r.split?.handoffMs ?? 0),
      recordMs: avg((r) => r.split?.recordMs ?? 0),
      reduceMs: avg((r) => r.split?.reduceMs ?? 0),
      updateMs: avg((r) => r.split?.updateMs ?? 0),
      sharedSteps: recs.filter((r) => r.split?.tailShared === true).length,
    },
  };
}

/** `NAME=on|off` of --strategy into switches; a RangeError names a flag that is neither. */
export function parseStrategies(flags: string[]): StrategySwitches {
  const out: StrategySwitches = {};
  for (const f of flags) {
    const m = /^(\w+)=(on|off)$/.exec(f);
    const name = m?.[1] as keyof StrategySwitches | undefined;
    if (!m || name === undefined || !STRATEGY_NAMES.includes(name)) {
      throw new RangeError(`--strategy expects NAME=on|off with NAME one of ${STRATEGY_NAMES.join(', ')}; got "${f}"`);
    }
    out[name] = m[2] === 'on';
  }
  return out;
}

const USAGE = `usage: node dist/scripts/bench-row.js --kernels native --threads 2 [--epochs 3] [--steps N] [--batch 128] [--micro-batch 64]
                                       [--strategy NAME=on|off ...] [--set key=value ...]   (prints one Row as JSON)`;

async function main(): Promise<void> {
  const v = benchArgs('bench-row', USAGE, {
    kernels: { type: 'string', default: 'native' },
    threads: { type: 'string', default: '1' },
    epochs: { type: 'string', default: '3' },
    steps: { type: 'string' },
    batch: { type: 'string', default: '128' },
    'micro-batch': { type: 'string', default: '64' },
    strategy: { type: 'string', multiple: true, default: [] },
    set: { type: 'string', multiple: true, default: [] },
  });
  const dir = findData();
  if (!dir) throw new Error('Fashion-MNIST not found (apt-get install dataset-fashion-mnist, or GRADSYNC_DATA_DIR)');
  const strategies = parseStrategies(v.strategy!);
  const row = await rowHere(dir, {
    kernels: v.kernels!,
    threads: Number(v.threads),
    batch: Number(v.batch),
    microBatch: Number(v['micro-batch']),
    epochs: Number(v.epochs),
    steps: v.steps ? Number(v.steps) : undefined,
    ...(Object.keys(strategies).length > 0 ? { strategies } : {}),
    sets: v.set!,
  });
  process.stdout.write(`${JSON.stringify(row)}\n`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench-row: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
