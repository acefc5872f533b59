/**
 * config.ts — the run configuration: its type, its defaults, and validate() naming the field.
 *
 * A config file is JSON; every field is optional and falls back to DEFAULTS below (the
 * embedded digits run lives in config/default.json). Unknown keys are rejected at every
 * level. validate() throws GradsyncError GS_ERR_CONFIG naming the field path
 * (e.g. `optimizer.lr`) and the allowed values. Only cli/ and train/ import this file.
 * Not here: reading env vars (env.ts), applying the config (train/).
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Errors, GradsyncError } from './errors';
import { didYouMean } from './suggest';
import { jsonErrorOffset } from './json-offset';
import { DTYPES, type DType } from './tensor/dtype';
import { ACTIVATIONS, KERNEL_PROFILES, type KernelProfile } from './tensor/kernels';
import type { InitSpec } from './model/params';
import type { ArrayData } from './data/arrays';
import { LAYER_KINDS, LOSSES, type DropoutSpec, type LayerSpec, type LossKind } from './model/spec';
import type { OptimizerSpec } from './optim/optimizer';
import { CONSTANT, type Schedule } from './optim/schedule';
import { DIAGNOSIS_DEFAULTS, DIAGNOSIS_INTEGERS, type DiagnosisOptions } from './observe/diagnose';

export type DataConfig =
  /** The vendored 8×8 digits (1,797 examples, 10 classes), pixels scaled to [0, 1]. */
  | { source: 'digits'; heldOut: number; shuffle: boolean }
  /** The original problem: x = 0.025…0.5, y = 2x. */
  | { source: 'doubling'; heldOut: number; shuffle: boolean }
  /** A CSV file (optionally gzipped); `path` is relative to the config file. */
  | {
      source: 'csv';
      path: string;
      label: 'last' | 'first' | 'none';
      targets: number;
      classes: number | null;
      scale: number;
      /** Whether the first line is a header: true, false, or 'auto' (detected, data/csv.ts). Default 'auto'. */
      header: boolean | 'auto';
      heldOut: number;
      shuffle: boolean;
    }
  /**
   * Arrays in memory, given to train() from code as data: { x, y, … } (data/arrays.ts); the run's
   * config keeps only this description of them, the arrays travel beside it.
   */
  | { source: 'memory'; name: string; classes: number | null; heldOut: number; shuffle: boolean }
  /**
   * Gzipped IDX files (MNIST / Fashion-MNIST layout) in `dir`. `heldOut` null (the default):
   * the held-out data is the t10k split; a fraction: that much of the train split, held out as
   * a CSV's is, and the t10k split is not read.
   */
  | { source: 'idx'; dir: string; scale: number; shuffle: boolean; heldOut: number | null };

/** A layer as configured: a dropout's seed may be left out (the run's seed is used). */
export type LayerConfig = Exclude<LayerSpec, DropoutSpec> | (Omit<DropoutSpec, 'seed'> & { seed?: number });

export interface ModelConfig {
  /**
   * Shape of one example: [C, H, W], or a width. Default null: the data's own (the digits are
   * [1, 8, 8] and IDX images [1, rows, cols] when a layer needs an image; otherwise flat).
   */
  input: [number, number, number] | number | null;
  /**
   * Layers, first to output: dense (`units`, `activation`; `type` may be left out), conv2d
   * (`filters`, `kernel`, `stride` 1, `padding` 0, `activation`), maxpool2d / avgpool2d
   * (`size`, `stride` = size), flatten, dropout (`rate`). Default: 64 tanh, 10 softmax.
   */
  layers: LayerConfig[];
  /** 'half-sse' (½·Σ(y−ŷ)², the original) or 'cross-entropy' (softmax output). Default 'cross-entropy'. */
  loss: LossKind;
  /**
   * Initialisation: { scheme: 'glorot-uniform' | 'he-uniform', gain?, bias? }, { scheme: 'values', layers },
   * or { scheme: 'safetensors', path } — the weights of a safetensors file named as a PyTorch
   * nn.Sequential's state dict (docs/export.md), `path` relative to the config file.
   * Default { scheme: 'glorot-uniform' }.
   */
  init: InitConfig;
}

/** Initial weights read from a safetensors file (train/init-weights.ts reads it; the model layer never does). */
export interface WeightsFileInit {
  scheme: 'safetensors';
  path: string;
}

export type InitConfig = InitSpec | WeightsFileInit;

export interface CheckpointConfig {
  /** Write a checkpoint every N steps (0: only at the end). Default 0. */
  every: number;
  /**
   * Also write one when S seconds of wall time have passed since the last one (checked after
   * each step; 0: off). With `every` as well, whichever comes first. Default 0.
   */
  everySeconds: number;
  /** Keep the newest K checkpoints. Default 2. */
  keep: number;
  /**
   * When a checkpoint cannot be written (disk full, permission, I/O error) — the previous one
   * stays intact either way, and the error is logged with its code and file:
   * 'stop' ends the run with GS_ERR_IO (what torch.save raising in a PyTorch loop does);
   * 'continue' trains on and tries again at the next scheduled checkpoint. Default 'stop'.
   */
  onError: 'continue' | 'stop';
}

/** Early stopping on the held-out data (train/early-stopping.ts, Keras's EarlyStopping). */
export interface EarlyStoppingConfig {
  /** Evaluations (epochs) without improvement after which the run stops (Keras's patience). Default 0. */
  patience: number;
  /** The least change that counts as an improvement (loss below best − minDelta; accuracy above best + minDelta). Default 0. */
  minDelta: number;
  /** When the run stops early, put back the weights of its best epoch (Keras's restore_best_weights). Default false. */
  restoreBest: boolean;
  /** The held-out metric watched: 'loss' (lower is better) or 'accuracy' (higher; classification). Default 'loss'. */
  monitor: 'loss' | 'accuracy';
}

export interface RunConfig {
  /** Element type of weights and arithmetic: 'float32' or 'float64'. Default 'float64'. */
  dtype: DType;
  /**
   * The kernel spec's profile (docs/determinism.md): 'portable' — each GEMM term a rounded
   * multiply then a rounded add, which every executor computes, WebAssembly and browser workers
   * included; 'fma' — each term one fused multiply-add, faster where every executor has FMA
   * (native builds; the reference emulates it, slowly), and no WebAssembly executor can join.
   * The weights differ between profiles; within one they are the same bits on every executor.
   * Default 'portable'.
   */
  kernelProfile: KernelProfile;
  data: DataConfig;
  model: ModelConfig;
  /** { kind: 'sgd'|'momentum'|'adam', lr, … }. Default SGD with lr 0.1. */
  optimizer: OptimizerSpec;
  /**
   * The learning rate over the run (optim/schedule.ts, PyTorch's formulas): kind 'constant',
   * 'step', 'multistep', 'exponential' or 'cosine', counted per `unit` ('epoch' or 'step'),
   * with an optional linear `warmup`. Default constant: optimizer.lr at every step.
   */
  schedule: Schedule;
  /** λ in dJdW += λ·W, dJdWb += λ·b (the original's form). Default 0. */
  weightDecay: number;
  /** Clip the global gradient norm to this (null: off). Default null. */
  clipNorm: number | null;
  /** 'sum' over the batch (the original) or 'mean' (PyTorch's default). Default 'mean'. */
  reduction: 'sum' | 'mean';
  /** Examples per step, or 'full' for full-batch steps. Default 32. */
  batch: number | 'full';
  /** Examples per leaf of the reduction tree (fixes the summation order). Default 16 (capped at the batch). */
  microBatch: number;
  /** Epochs to train. Default 10. Ignored when `steps` is set. */
  epochs: number;
  /** Total optimizer steps (overrides epochs when not null). Default null. */
  steps: number | null;
  /** Seed of initialisation, data order and held-out split. Default 1. */
  seed: number;
  /**
   * Threads computing partials, the coordinator's own thread included: N ≥ 2 is the main
   * thread and N − 1 pool threads; 1 (or 0) the main thread alone; 'auto' the machine's
   * cores. Default 'auto'.
   */
  threads: number | 'auto';
  checkpoint: CheckpointConfig;
  /** What to do with a non-finite gradient or loss: skip the step (weights unchanged) or stop. Default 'skip'. */
  nonFinite: 'skip' | 'stop';
  /** Stop after this many consecutive skipped steps. Default 10. */
  maxSkips: number;
  /** Stop when the held-out metric stops improving (needs held-out data); null: off. Default null. */
  earlyStopping: EarlyStoppingConfig | null;
  /**
   * Duplicate a straggling remote node's range on the main thread when everyone else is done
   * and it is 2× slower than its measured speed predicts (train/strategies/stragglers.ts); the
   * first valid answer wins, the result is the same. Default true.
   */
  duplicateStragglers: boolean;
  /**
   * The probability that each remote node's answer at a step is recomputed on the main thread
   * and compared bit for bit (train/strategies/audit.ts); a node's first 3 steps are always
   * audited when it is above 0. A mismatch drops the node (4010). Default 0: off.
   */
  audit: number;
  /**
   * 2: each remote range is computed by two workers (paired by id; an odd one out sits steps
   * out) and their answers compared bit for bit; on a mismatch the main thread decides and the
   * worker that differs is dropped (4011). 1: each range once. Default 1.
   */
  replicate: 1 | 2;
  /**
   * Pin each compute thread (the main thread and the pool's) to a CPU of its own, when the
   * process may use at least as many CPUs as there are compute threads (Linux; the
   * parallel/affinity.ts addon). Keeps the scheduler from stacking two of them on one CPU.
   * When they take every CPU, the runtime's helper threads also run at idle priority while
   * training (affinity.ts idleHelpers), so as not to preempt them. Default true.
   */
  pinThreads: boolean;
  /**
   * Share the step's tail (the root's add, the reduce pass, the update) with a pool thread,
   * unit by unit (train/strategies/shared-tail.ts); no clipping only.
   * Default true.
   */
  shareTail: boolean;
  /** Thresholds of the gradient diagnosis (observe/diagnose.ts); unset fields keep their defaults. */
  diagnosis: Partial<DiagnosisOptions>;
}

export const DEFAULTS: RunConfig = {
  dtype: 'float64',
  kernelProfile: 'portable',
  data: { source: 'digits', heldOut: 0.2, shuffle: true },
  model: {
    input: null,
    layers: [
      { units: 64, activation: 'tanh' },
      { units: 10, activation: 'softmax' },
    ],
    loss: 'cross-entropy',
    init: { scheme: 'glorot-uniform' },
  },
  optimizer: { kind: 'sgd', lr: 0.1 },
  schedule: CONSTANT,
  weightDecay: 0,
  clipNorm: null,
  reduction: 'mean',
  batch: 32,
  microBatch: 16,
  epochs: 10,
  steps: null,
  seed: 1,
  threads: 'auto',
  checkpoint: { every: 0, everySeconds: 0, keep: 2, onError: 'stop' },
  nonFinite: 'skip',
  maxSkips: 10,
  earlyStopping: null,
  duplicateStragglers: true,
  audit: 0,
  replicate: 1,
  pinThreads: true,
  shareTail: true,
  diagnosis: {},
};

/**
 * What train() takes from code: a config as a JSON file has it (every field optional, validated
 * and filled with DEFAULTS), whose data may be arrays in memory, data: { x, y, … }
 * (data/arrays.ts) with heldOut and shuffle as for a file.
 */
export interface TrainConfig extends Partial<
  Omit<RunConfig, 'data' | 'model' | 'optimizer' | 'schedule' | 'checkpoint' | 'earlyStopping'>
> {
  data?: (ArrayData & { source?: 'memory'; heldOut?: number; shuffle?: boolean }) | Partial<Exclude<DataConfig, { source: 'memory' }>>;
  model?: Partial<ModelConfig>;
  optimizer?: Partial<OptimizerSpec>;
  schedule?: Partial<Schedule>;
  checkpoint?: Partial<CheckpointConfig>;
  earlyStopping?: Partial<EarlyStoppingConfig> | null;
}

/** Whether `c` has every field of a RunConfig (as validate() returns one); otherwise train() validates it first. */
export function isRunConfig(c: RunConfig | TrainConfig): c is RunConfig {
  return Object.keys(DEFAULTS).every((k) => (c as Record<string, unknown>)[k] !== undefined);
}

/** The in-memory arrays of a config's data (data: { x, y, … }), or null. */
export function arraysOf(c: RunConfig | TrainConfig): ArrayData | null {
  const d = c.data as unknown;
  return isObj(d) && ('x' in d || 'y' in d) ? (d as unknown as ArrayData) : null;
}

type Json = unknown;
const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function keys(p: string, v: Json, allowed: string[]): Record<string, Json> {
  if (!isObj(v)) throw Errors.config(p, `must be an object, got ${show(v)}`);
  for (const k of Object.keys(v)) {
    if (allowed.includes(k)) continue;
    const guess = didYouMean(k, allowed);
    throw Errors.config(p ? `${p}.${k}` : k, `unknown key${guess ? `; ${guess}` : ''} (allowed: ${allowed.join(', ')})`);
  }
  return v;
}

function show(v: Json): string {
  // JSON.parse reads a literal beyond the double range (1e999) as ±Infinity, which JSON.stringify writes as null
  if (typeof v === 'number' && !Number.isFinite(v))
    return Number.isNaN(v) ? 'NaN' : `an infinite value (${v > 0 ? '' : '-'}1e999 and the like overflow a double)`;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

interface NumOpts {
  min?: number;
  max?: number;
  int?: boolean;
  gt?: number;
}
function num(p: string, v: Json, o: NumOpts = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw Errors.config(p, `must be a finite number, got ${show(v)}`);
  if (o.int && !Number.isInteger(v)) throw Errors.config(p, `must be an integer, got ${v}`);
  if (o.gt !== undefined && !(v > o.gt)) throw Errors.config(p, `must be > ${o.gt}, got ${v}`);
  if (o.min !== undefined && v < o.min) throw Errors.config(p, `must be ≥ ${o.min}, got ${v}`);
  if (o.max !== undefined && v > o.max) throw Errors.config(p, `must be ≤ ${o.max}, got ${v}`);
  return v;
}

function oneOf<T extends string>(p: string, v: Json, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T))
    throw Errors.config(p, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${show(v)}`);
  return v as T;
}

function bool(p: string, v: Json): boolean {
  if (typeof v !== 'boolean') throw Errors.config(p, `must be true or false, got ${show(v)}`);
  return v;
}

function str(p: string, v: Json): string {
  if (typeof v !== 'string' || v.length === 0) throw Errors.config(p, `must be a non-empty string, got ${show(v)}`);
  if (v.includes('\0')) throw Errors.config(p, 'must not contain a NUL byte');
  return v;
}

function validateData(v: Json): DataConfig {
  const base = isObj(v) ? v : keys('data', v, []);
  const inMemory = 'x' in base || 'y' in base;
  const source = oneOf('data.source', base.source ?? (inMemory ? 'memory' : 'digits'), [
    'digits',
    'doubling',
    'csv',
    'idx',
    ...(inMemory || base.source === 'memory' ? (['memory'] as const) : []),
  ] as const);
  const frac = (x: Json, d: number): number => (x === undefined ? d : num('data.heldOut', x, { min: 0, max: 0.9 }));
  const shuffle = base.shuffle === undefined ? true : bool('data.shuffle', base.shuffle);
  switch (source) {
    case 'digits':
      keys('data', v, ['source', 'heldOut', 'shuffle']);
      return { source, heldOut: frac(base.heldOut, 0.2), shuffle };
    case 'doubling':
      keys('data', v, ['source', 'heldOut', 'shuffle']);
      return { source, heldOut: frac(base.heldOut, 0), shuffle: base.shuffle === undefined ? false : shuffle };
    case 'csv': {
      keys('data', v, ['source', 'path', 'label', 'targets', 'classes', 'scale', 'header', 'heldOut', 'shuffle']);
      return {
        source,
        path: str('data.path', base.path),
        label: base.label === undefined ? 'last' : oneOf('data.label', base.label, ['last', 'first', 'none'] as const),
        targets: base.targets === undefined ? 1 : num('data.targets', base.targets, { int: true, min: 1 }),
        classes: base.classes === undefined || base.classes === null ? null : num('data.classes', base.classes, { int: true, min: 2 }),
        scale: base.scale === undefined ? 1 : num('data.scale', base.scale, { gt: 0 }),
        header: base.header === undefined || base.header === 'auto' ? 'auto' : headerFlag(base.header),
        heldOut: frac(base.heldOut, 0.2),
        shuffle,
      };
    }
    case 'memory':
      return validateMemoryData(v, base, frac, shuffle);
    case 'idx':
      keys('data', v, ['source', 'dir', 'scale', 'shuffle', 'heldOut']);
      return {
        source,
        dir: str('data.dir', base.dir),
        scale: base.scale === undefined ? 1 / 255 : num('data.scale', base.scale, { gt: 0 }),
        shuffle,
        heldOut: base.heldOut === undefined || base.heldOut === null ? null : frac(base.heldOut, 0),
      };
  }
}

function validateInput(v: Json): ModelConfig['input'] {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return num('model.input', v, { int: true, min: 1, max: 1 << 24 });
  if (!Array.isArray(v) || v.length !== 3) throw Errors.config('model.input', `must be [C, H, W] or a width, got ${show(v)}`);
  return v.map((x: Json, i: number) => num(`model.input[${i}]`, x, { int: true, min: 1, max: 1 << 16 })) as [number, number, number];
}

/** One entry of model.layers; a layer without `type` is dense. */
function validateLayer(l: Json, i: number): LayerConfig {
  const p = `model.layers[${i}]`;
  const base = isObj(l) ? l : keys(p, l, []);
  const type = base.type === undefined ? 'dense' : oneOf(`${p}.type`, base.type, LAYER_KINDS);
  const int = (k: string, min = 1, max = 1 << 20): number => num(`${p}.${k}`, base[k], { int: true, min, max });
  const opt = (k: string, min: number): number | undefined => (base[k] === undefined ? undefined : int(k, min, 1 << 16));
  switch (type) {
    case 'dense': {
      keys(p, l, ['type', 'units', 'activation']);
      // written without `type`, as MLP-only configs and records always were
      return { units: int('units'), activation: oneOf(`${p}.activation`, base.activation, ACTIVATIONS) };
    }
    case 'conv2d': {
      keys(p, l, ['type', 'filters', 'kernel', 'stride', 'padding', 'activation']);
      const stride = opt('stride', 1);
      const padding = opt('padding', 0);
      return {
        type,
        filters: int('filters', 1, 1 << 16),
        kernel: int('kernel', 1, 1 << 16),
        ...(stride !== undefined ? { stride } : {}),
        ...(padding !== undefined ? { padding } : {}),
        activation: oneOf(
          `${p}.activation`,
          base.activation,
          ACTIVATIONS.filter((a) => a !== 'softmax'),
        ),
      };
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      keys(p, l, ['type', 'size', 'stride']);
      const stride = opt('stride', 1);
      return { type, size: int('size', 1, 1 << 16), ...(stride !== undefined ? { stride } : {}) };
    }
    case 'flatten':
      keys(p, l, ['type']);
      return { type };
    case 'dropout': {
      keys(p, l, ['type', 'rate', 'seed']);
      const rate = num(`${p}.rate`, base.rate, { min: 0 });
      if (!(rate < 1)) throw Errors.config(`${p}.rate`, `must be < 1, got ${rate}`);
      return {
        type,
        rate,
        ...(base.seed !== undefined ? { seed: num(`${p}.seed`, base.seed, { int: true, min: 0, max: 0xffffffff }) } : {}),
      };
    }
  }
}

function headerFlag(v: Json): boolean {
  if (typeof v !== 'boolean') throw Errors.config('data.header', `must be true, false or "auto", got ${show(v)}`);
  return v;
}

/**
 * In-memory data (`x` and `y` given): the arrays themselves are checked where the data is built
 * (data/arrays.ts); here their presence and the other keys; the RunConfig keeps only their
 * description. Default heldOut 0 (Keras's validation_split), shuffle true.
 */
function validateMemoryData(v: Json, base: Record<string, Json>, frac: (x: Json, d: number) => number, shuffle: boolean): DataConfig {
  keys('data', v, ['source', 'x', 'shape', 'y', 'classes', 'name', 'heldOut', 'shuffle']);
  if (!('x' in base) && !('y' in base))
    throw Errors.config(
      'data.source',
      '"memory" is for arrays given to train() from code, as data: { x, y }',
      'a config file names a file instead: "source": "csv" with "path"',
    );
  if (base.x === undefined)
    throw Errors.config('data.x', 'is required with data.y: the features, one array per example or a flat array with data.shape');
  if (base.y === undefined)
    throw Errors.config('data.y', 'is required with data.x: the class labels or regression targets, one per example');
  return {
    source: 'memory',
    name: base.name === undefined ? 'arrays' : str('data.name', base.name),
    classes: base.classes === undefined || base.classes === null ? null : num('data.classes', base.classes, { int: true, min: 2 }),
    heldOut: frac(base.heldOut, 0),
    shuffle,
  };
}

function validateInit(v: Json): InitConfig {
  const o = keys('model.init', v, ['scheme', 'gain', 'bias', 'layers', 'path']);
  const scheme = oneOf('model.init.scheme', o.scheme, ['glorot-uniform', 'he-uniform', 'values', 'safetensors'] as const);
  if (scheme === 'safetensors') {
    keys('model.init', v, ['scheme', 'path']);
    return { scheme, path: str('model.init.path', o.path) };
  }
  if (scheme === 'values') {
    keys('model.init', v, ['scheme', 'layers']);
    if (!Array.isArray(o.layers)) throw Errors.config('model.init.layers', 'must be an array of {W, b}');
    const layers = o.layers.map((l: Json, i: number) => {
      const lo = keys(`model.init.layers[${i}]`, l, ['W', 'b']);
      const arr = (name: string, a: Json): number[] => {
        if (!Array.isArray(a)) throw Errors.config(`model.init.layers[${i}].${name}`, 'must be an array of numbers');
        return a.map((x: Json, j: number) => num(`model.init.layers[${i}].${name}[${j}]`, x));
      };
      return { W: arr('W', lo.W), b: arr('b', lo.b) };
    });
    return { scheme, layers };
  }
  keys('model.init', v, ['scheme', 'gain', 'bias']);
  const out: InitSpec = { scheme };
  if (o.gain !== undefined) out.gain = num('model.init.gain', o.gain, { gt: 0 });
  if (o.bias !== undefined) out.bias = num('model.init.bias', o.bias);
  return out;
}

function validateOptimizer(v: Json): OptimizerSpec {
  const o = keys('optimizer', v, ['kind', 'lr', 'momentum', 'nesterov', 'beta1', 'beta2', 'eps']);
  const kind = oneOf('optimizer.kind', o.kind ?? 'sgd', ['sgd', 'momentum', 'adam'] as const);
  const lr = num('optimizer.lr', o.lr ?? (kind === 'adam' ? 0.001 : 0.1), { gt: 0 });
  const only = (allowed: string[]): void => {
    for (const k of Object.keys(o))
      if (!allowed.includes(k)) throw Errors.config(`optimizer.${k}`, `is not an option of "${kind}" (allowed: ${allowed.join(', ')})`);
  };
  if (kind === 'sgd') {
    only(['kind', 'lr']);
    return { kind, lr };
  }
  if (kind === 'momentum') {
    only(['kind', 'lr', 'momentum', 'nesterov']);
    return {
      kind,
      lr,
      momentum: num('optimizer.momentum', o.momentum ?? 0.9, { min: 0, max: 1 }),
      nesterov: o.nesterov === undefined ? false : bool('optimizer.nesterov', o.nesterov),
    };
  }
  only(['kind', 'lr', 'beta1', 'beta2', 'eps']);
  return {
    kind,
    lr,
    beta1: num('optimizer.beta1', o.beta1 ?? 0.9, { min: 0, max: 0.999999 }),
    beta2: num('optimizer.beta2', o.beta2 ?? 0.999, { min: 0, max: 0.999999999 }),
    eps: num('optimizer.eps', o.eps ?? 1e-8, { gt: 0 }),
  };
}

const SCHEDULE_KEYS = {
  constant: [],
  step: ['stepSize', 'gamma'],
  multistep: ['milestones', 'gamma'],
  exponential: ['gamma'],
  cosine: ['tMax', 'etaMin'],
} as const;

function validateSchedule(v: Json): Schedule {
  const common = ['kind', 'unit', 'warmup', 'warmupStartFactor'];
  const o = keys('schedule', v, [...common, 'stepSize', 'gamma', 'milestones', 'tMax', 'etaMin']);
  const kind = oneOf('schedule.kind', o.kind ?? 'constant', Object.keys(SCHEDULE_KEYS) as (keyof typeof SCHEDULE_KEYS)[]);
  const allowed: readonly string[] = SCHEDULE_KEYS[kind];
  for (const k of Object.keys(o))
    if (!common.includes(k) && !allowed.includes(k))
      throw Errors.config(`schedule.${k}`, `is not an option of "${kind}" (allowed: ${[...common, ...allowed].join(', ')})`);
  const base = {
    unit: o.unit === undefined ? CONSTANT.unit : oneOf('schedule.unit', o.unit, ['epoch', 'step'] as const),
    warmup: o.warmup === undefined ? 0 : num('schedule.warmup', o.warmup, { int: true, min: 0 }),
    warmupStartFactor:
      o.warmupStartFactor === undefined
        ? CONSTANT.warmupStartFactor
        : num('schedule.warmupStartFactor', o.warmupStartFactor, { gt: 0, max: 1 }),
  };
  const gamma = (): number => num('schedule.gamma', o.gamma ?? 0.1, { gt: 0, max: 1 });
  const need = (k: string): Json => {
    if (o[k] === undefined) throw Errors.config(`schedule.${k}`, `is required for "${kind}"`);
    return o[k];
  };
  switch (kind) {
    case 'constant':
      return { kind, ...base };
    case 'step':
      return { kind, stepSize: num('schedule.stepSize', need('stepSize'), { int: true, min: 1 }), gamma: gamma(), ...base };
    case 'multistep': {
      const m = need('milestones');
      if (!Array.isArray(m) || m.length === 0)
        throw Errors.config('schedule.milestones', 'must be a non-empty array of increasing whole numbers');
      const milestones = m.map((x: Json, i: number) => num(`schedule.milestones[${i}]`, x, { int: true, min: 1 }));
      milestones.forEach((x, i) => {
        if (i > 0 && x <= milestones[i - 1]!)
          throw Errors.config(`schedule.milestones[${i}]`, `must be greater than the one before it (${milestones[i - 1]}), got ${x}`);
      });
      return { kind, milestones, gamma: gamma(), ...base };
    }
    case 'exponential':
      return { kind, gamma: num('schedule.gamma', need('gamma'), { gt: 0, max: 1 }), ...base };
    case 'cosine':
      return {
        kind,
        tMax: num('schedule.tMax', need('tMax'), { int: true, min: 1 }),
        etaMin: o.etaMin === undefined ? 0 : num('schedule.etaMin', o.etaMin, { min: 0 }),
        ...base,
      };
  }
}

function validateEarlyStopping(v: Json, data: DataConfig): EarlyStoppingConfig {
  const o = keys('earlyStopping', v, ['patience', 'minDelta', 'restoreBest', 'monitor']);
  // the data config says when there can be none; prepare() checks the data itself (a split may round to 0)
  if (data.heldOut === 0)
    throw Errors.config('earlyStopping', 'needs held-out data to watch, and data.heldOut is 0: set data.heldOut (e.g. 0.2)');
  return {
    patience: o.patience === undefined ? 0 : num('earlyStopping.patience', o.patience, { int: true, min: 0, max: 1_000_000 }),
    minDelta: o.minDelta === undefined ? 0 : num('earlyStopping.minDelta', o.minDelta, { min: 0 }),
    restoreBest: o.restoreBest === undefined ? false : bool('earlyStopping.restoreBest', o.restoreBest),
    monitor: o.monitor === undefined ? 'loss' : oneOf('earlyStopping.monitor', o.monitor, ['loss', 'accuracy'] as const),
  };
}

const TOP_KEYS = [
  '$schema',
  'name',
  'dtype',
  'kernelProfile',
  'data',
  'model',
  'optimizer',
  'schedule',
  'weightDecay',
  'clipNorm',
  'reduction',
  'batch',
  'microBatch',
  'epochs',
  'steps',
  'seed',
  'threads',
  'checkpoint',
  'nonFinite',
  'maxSkips',
  'earlyStopping',
  'duplicateStragglers',
  'audit',
  'replicate',
  'pinThreads',
  'shareTail',
  'diagnosis',
];

/** Validates a parsed config (partial; defaults fill the rest) and returns the full RunConfig. */
export function validate(input: Json): RunConfig {
  const o = keys('', input, TOP_KEYS);
  const d = DEFAULTS;
  const model =
    o.model === undefined
      ? d.model
      : (() => {
          const m = keys('model', o.model, ['input', 'layers', 'loss', 'init']);
          const layersIn = m.layers ?? d.model.layers;
          if (!Array.isArray(layersIn) || layersIn.length === 0)
            throw Errors.config('model.layers', 'must be a non-empty array of {units, activation}');
          const layers = layersIn.map((l: Json, i: number) => validateLayer(l, i));
          const last = layers[layers.length - 1]!;
          if (!('units' in last)) {
            throw Errors.config(
              `model.layers[${layers.length - 1}]`,
              `the last layer must be dense (it gives the outputs the loss reads), got ${last.type}`,
            );
          }
          const loss = m.loss === undefined ? d.model.loss : oneOf('model.loss', m.loss, LOSSES);
          if (loss === 'cross-entropy' && last.activation !== 'softmax') {
            throw Errors.config(
              'model.loss',
              `"cross-entropy" needs the last layer's activation to be "softmax", got "${last.activation}"`,
            );
          }
          return { input: validateInput(m.input), layers, loss, init: m.init === undefined ? d.model.init : validateInit(m.init) };
        })();
  const batch = o.batch === undefined ? d.batch : o.batch === 'full' ? 'full' : num('batch', o.batch, { int: true, min: 1 });
  const diagnosis: Partial<DiagnosisOptions> = {};
  if (o.diagnosis !== undefined) {
    const dg = keys('diagnosis', o.diagnosis, Object.keys(DIAGNOSIS_DEFAULTS));
    // the bounds observe/diagnose.ts enforces, so a bad threshold is a config error, not an internal one
    for (const [k, val] of Object.entries(dg)) {
      const min = DIAGNOSIS_INTEGERS[k as keyof DiagnosisOptions];
      (diagnosis as Record<string, number>)[k] =
        min === undefined ? num(`diagnosis.${k}`, val, { min: 0 }) : num(`diagnosis.${k}`, val, { int: true, min, max: 100_000 });
    }
  }
  const ck =
    o.checkpoint === undefined
      ? d.checkpoint
      : (() => {
          const c = keys('checkpoint', o.checkpoint, ['every', 'everySeconds', 'keep', 'onError']);
          return {
            every: c.every === undefined ? d.checkpoint.every : num('checkpoint.every', c.every, { int: true, min: 0 }),
            everySeconds:
              c.everySeconds === undefined
                ? d.checkpoint.everySeconds
                : num('checkpoint.everySeconds', c.everySeconds, { min: 0, max: 31_536_000 }),
            keep: c.keep === undefined ? d.checkpoint.keep : num('checkpoint.keep', c.keep, { int: true, min: 1, max: 1000 }),
            onError: c.onError === undefined ? d.checkpoint.onError : oneOf('checkpoint.onError', c.onError, ['continue', 'stop'] as const),
          };
        })();
  const data = o.data === undefined ? d.data : validateData(o.data);
  const cfg: RunConfig = {
    dtype: o.dtype === undefined ? d.dtype : oneOf('dtype', o.dtype, DTYPES),
    kernelProfile: o.kernelProfile === undefined ? d.kernelProfile : oneOf('kernelProfile', o.kernelProfile, KERNEL_PROFILES),
    data,
    model,
    optimizer: o.optimizer === undefined ? d.optimizer : validateOptimizer(o.optimizer),
    schedule: o.schedule === undefined ? d.schedule : validateSchedule(o.schedule),
    weightDecay: o.weightDecay === undefined ? d.weightDecay : num('weightDecay', o.weightDecay, { min: 0 }),
    clipNorm: o.clipNorm === undefined || o.clipNorm === null ? null : num('clipNorm', o.clipNorm, { gt: 0 }),
    reduction: o.reduction === undefined ? d.reduction : oneOf('reduction', o.reduction, ['sum', 'mean'] as const),
    batch,
    microBatch: o.microBatch === undefined ? d.microBatch : num('microBatch', o.microBatch, { int: true, min: 1 }),
    epochs: o.epochs === undefined ? d.epochs : num('epochs', o.epochs, { int: true, min: 1 }),
    steps: o.steps === undefined || o.steps === null ? null : num('steps', o.steps, { int: true, min: 1 }),
    seed: o.seed === undefined ? d.seed : num('seed', o.seed, { int: true, min: 0, max: 0xffffffff }),
    threads:
      o.threads === undefined ? d.threads : o.threads === 'auto' ? 'auto' : num('threads', o.threads, { int: true, min: 0, max: 256 }),
    checkpoint: ck,
    nonFinite: o.nonFinite === undefined ? d.nonFinite : oneOf('nonFinite', o.nonFinite, ['skip', 'stop'] as const),
    maxSkips: o.maxSkips === undefined ? d.maxSkips : num('maxSkips', o.maxSkips, { int: true, min: 1 }),
    earlyStopping: o.earlyStopping === undefined || o.earlyStopping === null ? null : validateEarlyStopping(o.earlyStopping, data),
    duplicateStragglers: o.duplicateStragglers === undefined ? d.duplicateStragglers : bool('duplicateStragglers', o.duplicateStragglers),
    audit: o.audit === undefined ? d.audit : num('audit', o.audit, { min: 0, max: 1 }),
    replicate: o.replicate === undefined ? d.replicate : (num('replicate', o.replicate, { int: true, min: 1, max: 2 }) as 1 | 2),
    pinThreads: o.pinThreads === undefined ? d.pinThreads : bool('pinThreads', o.pinThreads),
    shareTail: o.shareTail === undefined ? d.shareTail : bool('shareTail', o.shareTail),
    diagnosis,
  };
  const withParams = model.layers.filter((l) => l.type === undefined || l.type === 'dense' || l.type === 'conv2d').length;
  if (model.init.scheme === 'values' && model.init.layers.length !== withParams) {
    throw Errors.config(
      'model.init.layers',
      withParams === model.layers.length
        ? `has ${model.init.layers.length} entries, model.layers has ${model.layers.length}`
        : `has ${model.init.layers.length} entries, model.layers has ${withParams} layers with parameters (dense, conv2d)`,
    );
  }
  return cfg;
}

/** The pool size a config asks for ('auto': the machine's cores). */
export function resolveThreads(t: number | 'auto'): number {
  return t === 'auto' ? os.availableParallelism() : t;
}

/** Reads and validates a JSON config file; relative data paths become relative to its folder. */
export function loadConfigFile(file: string): RunConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw Errors.config('(file)', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const pos = jsonErrorOffset(text);
    const before = text.slice(0, pos).split('\n');
    const where = ` at line ${before.length}, column ${before[before.length - 1]!.length + 1}`;
    throw new GradsyncError('GS_ERR_CONFIG', `${file}: not valid JSON${where}: ${(e as Error).message}`);
  }
  let cfg: RunConfig;
  try {
    cfg = validate(json);
  } catch (e) {
    if (e instanceof GradsyncError) throw new GradsyncError(e.code, `${file}: ${e.message}`, e.hint, e.exitCode);
    throw e;
  }
  const dir = path.dirname(path.resolve(file));
  if (cfg.data.source === 'csv') cfg.data = { ...cfg.data, path: path.resolve(dir, cfg.data.path) };
  if (cfg.data.source === 'idx') cfg.data = { ...cfg.data, dir: path.resolve(dir, cfg.data.dir) };
  if (cfg.model.init.scheme === 'safetensors')
    cfg.model = { ...cfg.model, init: { ...cfg.model.init, path: path.resolve(dir, cfg.model.init.path) } };
  return cfg;
}
