/**
 * config.ts — the run configuration: its type (every field's TSDoc giving its default), DEFAULTS,
 * TrainConfig (what train() takes from code), and what callers ask of a config (isRunConfig,
 * arraysOf, resolveThreads). Only cli/, train/ and the package's entry point (index.ts) import this
 * file and config/.
 * Not here: validating a parsed config (config/validate.ts), reading a file (config/load.ts),
 * reading env vars (env.ts), applying the config (train/).
 */

import * as os from 'node:os';
import type { DType } from './tensor/dtype';
import type { KernelProfile } from './tensor/kernels';
import type { InitSpec } from './model/params';
import type { ArrayData } from './data/arrays';
import type { DropoutSpec, LayerSpec, LossKind } from './model/spec';
import type { OptimizerSpec } from './optim/optimizer';
import { CONSTANT, type Schedule } from './optim/schedule';
import type { DiagnosisOptions } from './observe/diagnose-options';
import { isObj } from './config/fields';

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

/** The pool size a config asks for ('auto': the machine's cores). */
export function resolveThreads(t: number | 'auto'): number {
  return t === 'auto' ? os.availableParallelism() : t;
}
