/**
 * bench-common.ts — what the benches share: finding Fashion-MNIST, the workload's config (with
 * --set overrides), a logger that keeps the step records in memory, the statistics, the machine
 * header every bench prints first, and the PyTorch to compare with and its BLAS. Not a bench itself.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Writable } from 'node:stream';
import type pino from 'pino';
import { envDataDir } from '../src/env';
import { defaultIdxDirs, findIdxFiles } from '../src/data/idx';
import { streamLogger } from '../src/observe/logger';
import type { StepRecord } from '../src/observe/schema';
import { validate } from '../src/config/validate';
import type { RunConfig } from '../src/config';
import type { LayerSpec } from '../src/model/spec';
import { kernelInfo } from '../src/tensor/select';
import { judgeBlas, type BlasVerdict, type TorchBlasProbe } from './bench-blas';

/** The first folder holding the four Fashion-MNIST IDX files: GRADSYNC_DATA_DIR, then Debian's. */
export function findData(): string | null {
  for (const d of [envDataDir(), ...defaultIdxDirs()]) {
    if (!d) continue;
    try {
      findIdxFiles(d, 'train');
      findIdxFiles(d, 'test');
      return d;
    } catch {
      /* next */
    }
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
        if (line.includes('"msg":"step"')) {
          steps.push(JSON.parse(line) as StepRecord);
          arrived.push(t);
        }
      }
      cb();
    },
  });
  // …or onStep, and let train() log to its run folder as a real run does (no parsing cost)
  const onStep = (r: StepRecord): void => {
    steps.push(r);
    arrived.push(performance.now());
  };
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
    else {
      e.ex += r.examples;
      e.to = arrived[i]!;
    }
  });
  return [...byEpoch.values()].map((e) => e.ex / ((e.to - e.from) / 1000));
}

/** The project's fixed benchmark model: MLP 784-256-128-10, tanh hidden, softmax output. */
export const WORKLOAD_LAYERS: LayerSpec[] = [
  { units: 256, activation: 'tanh' },
  { units: 128, activation: 'tanh' },
  { units: 10, activation: 'softmax' },
];

/** One `--set key=value` override: a dotted path into the config and its value (JSON when it parses, else the string). */
export interface ConfigSet {
  path: string[];
  value: unknown;
}

/** Parses `key=value` (key dotted, e.g. optimizer.lr=0.1); throws a RangeError naming the text when it has no key or no `=`. */
export function parseSet(text: string): ConfigSet {
  const eq = text.indexOf('=');
  const key = eq > 0 ? text.slice(0, eq) : '';
  if (key === '' || key.split('.').some((k) => k === '')) throw new RangeError(`--set expects key=value, got "${text}"`);
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    /* a bare string */
  }
  return { path: key.split('.'), value };
}

/** A copy of the plain config object `o` with each set applied in order (objects along a path are copied, not changed). */
export function applySets(o: Record<string, unknown>, sets: ConfigSet[]): Record<string, unknown> {
  const out = { ...o };
  for (const { path: p, value } of sets) {
    let at = out;
    for (const k of p.slice(0, -1)) {
      const next = at[k];
      at[k] = typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...(next as Record<string, unknown>) } : {};
      at = at[k] as Record<string, unknown>;
    }
    at[p[p.length - 1]!] = value;
  }
  return out;
}

/**
 * The fixed benchmark workload on the Fashion-MNIST IDX files in `dir`: WORKLOAD_LAYERS,
 * softmax cross-entropy averaged over the batch, SGD lr 0.05, float32, Glorot-uniform, seed 1.
 * `run` sets what a bench varies: batch, micro-batch, epochs or steps, threads, and `sets`
 * (--set overrides, applied last and checked by validate() like any config).
 */
export function workloadConfig(
  dir: string,
  run: { batch: number; microBatch: number; threads: number; epochs?: number; steps?: number; sets?: ConfigSet[] },
): RunConfig {
  return validate(
    applySets(
      {
        dtype: 'float32',
        data: { source: 'idx', dir },
        model: { layers: WORKLOAD_LAYERS, loss: 'cross-entropy', init: { scheme: 'glorot-uniform' } },
        optimizer: { kind: 'sgd', lr: 0.05 },
        reduction: 'mean',
        seed: 1,
        batch: run.batch,
        microBatch: run.microBatch,
        threads: run.threads,
        ...(run.epochs !== undefined ? { epochs: run.epochs } : {}),
        ...(run.steps !== undefined ? { steps: run.steps } : {}),
      },
      run.sets ?? [],
    ),
  );
}

let torchFound: { py: string; env: NodeJS.ProcessEnv } | null | undefined;

/**
 * A python3 that imports torch, with the environment to run it in (OPENBLAS_CORETYPE and
 * OPENBLAS_L2_SIZE removed, so OpenBLAS detects the CPU itself), or null; found once per process.
 * PATH's python3 first (a virtualenv's torch), then Debian's: PATH's may be a pyenv shim without torch.
 */
export function torchPython(): { py: string; env: NodeJS.ProcessEnv } | null {
  if (torchFound !== undefined) return torchFound;
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  torchFound = null;
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', env }).status === 0) {
      torchFound = { py, env };
      break;
    }
  }
  return torchFound;
}

export const NO_TORCH = 'no python3 with torch (apt-get install python3-torch libopenblas0-pthread)';

/** A python script of scripts/ (the compiled bench runs from dist/scripts/). */
export function pyScript(name: string): string {
  return path.join(__dirname, '..', '..', 'scripts', name);
}

export interface TorchPeer {
  py: string;
  env: NodeJS.ProcessEnv;
  version: string;
  blas: BlasVerdict;
}
let peerFound: TorchPeer | string | undefined;

/** The PyTorch a bench compares with: its python, version and the verdict on its BLAS (scripts/torch_blas.py), or why there is none; probed once. */
export function torchPeer(): TorchPeer | string {
  if (peerFound !== undefined) return peerFound;
  const t = torchPython();
  if (t === null) return (peerFound = NO_TORCH);
  const r = spawnSync(t.py, [pyScript('torch_blas.py')], { encoding: 'utf8', env: t.env });
  if (r.status !== 0) return (peerFound = `torch_blas.py failed: ${(r.stderr || '').trim().split('\n').pop()}`);
  const probe = JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchBlasProbe & { torch: string };
  return (peerFound = { ...t, version: probe.torch, blas: judgeBlas(probe) });
}

/** One line on a PyTorch's BLAS and oneDNN and whether ratios against it are taken. */
export function blasLine(b: BlasVerdict): string {
  return `BLAS ${b.blas}; ${b.onednn}; ratios against it: ${b.verdict === 'accepted' ? 'taken' : `refused (${b.reason})`}`;
}

/** The processor's name: /proc/cpuinfo's first "model name", else what os.cpus() says. */
export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    /* not Linux */
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

/**
 * The header every bench prints first, so that no figure travels without its machine: the CPU and
 * its count, Node, the active kernels' ISA and the others available, and (peer given) PyTorch's BLAS.
 */
export function machineHeader(peer?: ReturnType<typeof torchPeer>): string {
  const k = kernelInfo();
  const lines = [
    `machine: ${cpuModel()} × ${os.availableParallelism()} CPUs, node ${process.version}; kernels ${k.active} (available: ${k.available.join(', ')})`,
  ];
  if (peer !== undefined)
    lines.push(
      typeof peer === 'string' ? `pytorch: not measured: ${peer}` : `pytorch ${peer.version} (${peer.py}): ${blasLine(peer.blas)}`,
    );
  return `${lines.join('\n')}\n`;
}

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
export function benchArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  name: string,
  usage: string,
  options: O,
): ReturnType<typeof parseArgs<{ options: O }>>['values'] {
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
