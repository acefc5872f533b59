/**
 * schema.ts — the log record schema (version LOG_SCHEMA_VERSION), as TypeScript types.
 *
 * Every record is one pino NDJSON line with pino's own keys (level, time, pid, msg; no hostname)
 * plus `schema` (this version) and `run` (the run id). `msg` tells the kind:
 *   'start'  once, before the first step: config summary, dataset, model, kernel, threads.
 *   'step'   once per optimizer step: StepRecord.
 *   'eval'   after each epoch (and at the end) when there is held-out data: EvalRecord.
 *   'early-stop'  once, after the eval record at which early stopping ended the run: EarlyStopRecord.
 *   'end'    once: the summary (steps, loss, accuracy, paramsSha256).
 * Other messages (warnings about executors, checkpoints, …) may appear; readers must skip
 * records they do not know. docs/log-schema.md describes every field for users; it follows this file.
 * Not here: writing records (logger.ts), reading them (tail.ts).
 */

export const LOG_SCHEMA_VERSION = 1;

export interface LayerRecord {
  /** Layer index, 0 = first hidden layer. */
  layer: number;
  activation: string;
  /**
   * ‖dJdW‖₂ of the gradient this step applies: after reduction and weight decay, and after
   * clipping when it clipped (StepRecord.gradNorm is the global norm before clipping).
   */
  dJdW: number;
  /** ‖dJdWb‖₂, likewise. */
  dJdWb: number;
  /** ‖W‖₂ before the update. */
  W: number;
  /** ‖ΔW‖₂ / ‖W‖₂ for this step's update (0 when ‖W‖ = 0). */
  updateRatio: number;
  /** Fraction of (unit, example) pairs whose activation derivative is below 1 % of its maximum (tanh, sigmoid; else 0). */
  saturated: number;
  /** Fraction of units with z ≤ 0 for every example of the batch (relu; else 0). */
  dead: number;
}

export interface ExecutorRecord {
  /** Stable id, e.g. 'main', 'thread-1', 'remote-ab12'. */
  id: string;
  kind: 'main' | 'thread' | 'remote';
  /** Leaves [lo, hi) of the reduction tree it computed. */
  leaves: [number, number];
  /** Examples it computed. */
  examples: number;
  /** Wall time of its compute, ms. */
  computeMs: number;
  /** Set on the executor that finished last. */
  slowest?: boolean;
  /** Set when its range had to be recomputed elsewhere (crash, timeout). */
  failed?: string;
  /**
   * Set when a pool thread had not started its task by the time the main thread had finished
   * its own share (asleep or descheduled): the task was withdrawn and the main thread computed
   * its range. Same function, same bits.
   */
  late?: string;
  /** Set when it was a straggler whose range was duplicated on the main thread (the first answer won); says how late. */
  straggler?: string;
  /** Remote nodes: set when this step's answer was recomputed on the main thread and compared bit for bit (config audit). */
  audited?: boolean;
  /** replicate 2: the executor whose range this one computed too and whose (equal) answer was used. */
  replica?: string;
  /** Remote nodes: computeMs minus the node's own compute time (encode, transfer, decode), ms. */
  transferMs?: number;
  /** Remote nodes: bytes sent to it this step (weights, order slice, nodes). */
  bytesOut?: number;
  /** Remote nodes: bytes received from it this step (its partials). */
  bytesIn?: number;
}

export interface StepRecord {
  msg: 'step';
  schema: number;
  run: string;
  /** 1-based optimizer step. */
  step: number;
  /** 0-based epoch. */
  epoch: number;
  /** The objective on this step's batch before the update: the sum over its examples, or their mean, as the config's `reduction`. */
  loss: number;
  /** Examples in this step's batch. */
  examples: number;
  /** The learning rate this step applied (the config's schedule, optim/schedule.ts). */
  lr: number;
  /** Global ‖g‖₂ over all parameters, after reduction and weight decay, before clipping. */
  gradNorm: number;
  /** True when clipping scaled the gradient this step. */
  clipped: boolean;
  layers: LayerRecord[];
  /** Examples per second over this step's wall time. */
  throughput: number;
  /** Wall time of the step, ms, and its split. */
  stepMs: number;
  /**
   * tailShared: the step's tail (reduce and update, then in reduceMs) was shared with a pool thread.
   * recordMs: writing the previous step's record (diagnosis, log line, onStep), between the steps:
   * not in stepMs; 0 at a run's first step.
   */
  split?: {
    computeMs: number;
    encodeMs?: number;
    handoffMs?: number;
    recordMs?: number;
    reduceMs: number;
    updateMs: number;
    tailShared?: boolean;
  };
  executors: ExecutorRecord[];
  /**
   * The diagnosis after this step (observe/diagnose.ts). Its `evidence` is written on the first
   * step record of a run, when the states differ from the previous step record's, every
   * `window` steps of the diagnosis (fresh figures) and on the run's last step; a record
   * without it has the states alone, and a reader keeps the last sentence seen for each state
   * (withEvidence in diagnose.ts).
   */
  diagnosis: StepDiagnosis;
  /** Set when the step was skipped (non-finite gradient or loss) and the weights were not changed. */
  skipped?: string;
  /** With skipped: the training-set rows whose own loss or gradient is non-finite (recomputed on the main thread; at most 256). */
  nonFiniteExamples?: number[];
}

export type DiagnosisState =
  'ok' | 'converged' | 'vanishing' | 'saturated' | 'target-out-of-range' | 'exploding' | 'diverged' | 'dead-relus';

export interface Diagnosis {
  /** The most important state first; 'ok' alone when nothing is flagged. */
  states: DiagnosisState[];
  /** Numbers behind each state, keyed by state, as short human-readable sentences. */
  evidence: Partial<Record<DiagnosisState, string>>;
}

/**
 * A step record's diagnosis: the states, and the evidence when the record carries it. Read-only:
 * a record without evidence holds Diagnoser.pushStates' frozen object, shared by every such record.
 */
export interface StepDiagnosis {
  readonly states: readonly DiagnosisState[];
  readonly evidence?: Diagnosis['evidence'];
}

export interface EvalRecord {
  msg: 'eval';
  schema: number;
  run: string;
  step: number;
  epoch: number;
  /** The objective on the held-out set: the sum over its examples, or their mean, as the config's `reduction`. */
  loss: number;
  /** Classification only. */
  accuracy?: number;
  examples: number;
}

export interface EarlyStopRecord {
  msg: 'early-stop';
  schema: number;
  run: string;
  /** The step and epoch (0-based) after which the run stopped. */
  step: number;
  epoch: number;
  /** The held-out metric watched (config earlyStopping.monitor). */
  monitor: 'loss' | 'accuracy';
  /** Its best value (null when no evaluation was finite), and the epoch and step at whose end it was reached. */
  best: number | null;
  bestEpoch: number | null;
  bestStep: number | null;
  /** The held-out loss at that evaluation. */
  bestHeldOutLoss: number | null;
  /** Evaluations since the last improvement (patience's count when it stops). */
  wait: number;
  patience: number;
  minDelta: number;
  /** restoreBest: the weights are now those of the best epoch's end (the final checkpoint and the summary are of them). */
  restored: boolean;
}
