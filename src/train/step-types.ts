/**
 * step-types.ts — what the step (step.ts) and its strategies (strategies/*.ts) share: the
 * settings, the result, the strategy switches and one executor's assignment in a step.
 * Here, not in step.ts, so that no strategy imports step.ts back (no import circle).
 */

import type { OptimizerSpec } from '../optim/optimizer';
import type { LayerGeometry } from '../observe/grad-stats';
import type { ExecutorRecord, LayerRecord } from '../observe/schema';
import type { Executor } from '../parallel/executor';
// the tree node's value (not TypeScript's Partial<T>, used for the switches)
import type { Partial as NodePartial } from '../parallel/partial';
import type { TreeNode } from '../parallel/tree';

/**
 * Each strategy of the step, on or off: every combination gives the same bits (the property
 * test, test/train/reference-step.test.ts); off is the plain way, for an A/B of its time.
 */
export interface StrategySwitches {
  /** Split the tail (root add, reduce, update) with a pool thread (strategies/shared-tail.ts); off: the main thread's alone. */
  sharedTail: boolean;
  /** Take back a late pool thread's task and compute it here (strategies/withdraw.ts); off: wait for it. */
  withdraw: boolean;
  /** Duplicate a straggling remote node's range on the main thread (strategies/stragglers.ts; config duplicateStragglers). */
  stragglers: boolean;
  /**
   * SGD without clipping, its tail on the main thread: reduce and update each tensor in one pass
   * (kernels.reduceSgd: reduceGrad then sgdUpdate, the same bits), the old weights kept in g
   * until the step is known finite; off: the reduce pass, then the update's.
   */
  fusedSgd: boolean;
}

/** Every strategy on: the step as it runs by default. */
export const DEFAULT_STRATEGIES: Readonly<StrategySwitches> = Object.freeze({
  sharedTail: true,
  withdraw: true,
  stragglers: true,
  fusedSgd: true,
});

export interface StepSettings {
  reduction: 'sum' | 'mean';
  weightDecay: number;
  clipNorm: number | null;
  optimizer: OptimizerSpec;
  nonFinite: 'skip' | 'stop';
  /** The probability that a remote node's answer is recomputed and compared (config audit; default 0), and the run's seed that draws it. */
  audit?: number;
  seed?: number;
  /** 2: each remote range computed by two workers and compared (config replicate; default 1). */
  replicate?: number;
  layers: LayerGeometry[];
  /** Strategies switched off (DEFAULT_STRATEGIES for the rest). */
  strategies?: Partial<StrategySwitches>;
}

/** Where a step's time went (the step record's split). */
export interface StepSplit {
  computeMs: number;
  handoffMs: number;
  /** The previous step's record, written between the steps: the loop fills it in (0 here). */
  recordMs?: number;
  reduceMs: number;
  updateMs: number;
  tailShared?: boolean;
}

export interface StepResult {
  /** The objective on this batch (loss sum, or mean under 'mean' reduction), before the update. */
  loss: number;
  examples: number;
  gradNorm: number;
  clipped: boolean;
  layers: LayerRecord[];
  executors: ExecutorRecord[];
  split: StepSplit;
  /** Set when the update was skipped; says what was non-finite and where. */
  skipped?: string;
  /** Training-set rows whose own loss or gradient is non-finite (first MAX_PINNED), when pinned down. */
  nonFiniteExamples?: number[];
}

/** One executor's share of a step: its leaves, its nodes and what came back. */
export interface Assignment {
  exec: Executor;
  lo: number;
  hi: number;
  nodes: TreeNode[];
  partials: NodePartial[];
  /** Who computed `partials` (the executor, or the main thread after a failure or a duplication): who recycles them. */
  owner: Executor;
  ms: number;
  /** Examples computed, counted before combining (which reuses partials as accumulators). */
  examples: number;
  failed: string | undefined;
  /** With failed: it did not fail, it was late (its task withdrawn before it started, ExecutorRecord.late). */
  late: boolean;
  /** Set when this straggler's range was computed on the main thread instead (its late answer is dropped). */
  duplicated: boolean;
  /** Set when its answer was recomputed and compared (strategies/audit.ts). */
  audited: boolean;
  /** replicate 2: the assignment of the same range to another worker (strategies/replicate.ts), set on the first of the pair. */
  twin: Assignment | undefined;
  /** replicate 2: on the second of a pair once settled, the id whose answer it duplicated (its own partials dropped). */
  replica: string | undefined;
  straggler: string | undefined;
}

export const now = (): number => performance.now();

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
