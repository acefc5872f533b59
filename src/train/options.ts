/**
 * options.ts — what train() (loop.ts) takes besides the config, and what it reports: the
 * options, the executors' context, the start information and the summary.
 */

import type pino from 'pino';
import type { RunConfig } from '../config';
import type { Float } from '../tensor/dtype';
import type { KernelChoice } from '../tensor/select';
import type { KernelProfile } from '../tensor/kernels';
import type { ModelSpec } from '../model/spec';
import type { Dataset } from '../data/dataset';
import type { Diagnosis, StepRecord } from '../observe/schema';
import type { Executor } from '../parallel/executor';
import type { RunClose } from '../parallel/messages';
import type { SkippedCheckpoint } from './checkpoint';
import type { RunData } from './setup';
import type { StrategySwitches } from './step-types';

export interface TrainOptions {
  /** Folder for the log and checkpoints. Default: runs/<time>-<random> under the current folder. */
  runDir?: string;
  /** Logger to use instead of the run's file logger (tests pass a collecting one). */
  logger?: pino.Logger;
  /** Called with every step record after it is logged. */
  onStep?: (rec: StepRecord) => void;
  /** Called once before the first step with what the run is about to do. */
  onStart?: (info: StartInfo) => void;
  /** Kernel implementation preference. Default 'auto'. */
  kernels?: KernelChoice;
  /** Step strategies to switch off for an A/B (train/step-types.ts); default all on. `stragglers` overrides cfg.duplicateStragglers. */
  strategies?: Partial<StrategySwitches>;
  /**
   * Continue from a checkpoint file, or from a run folder: its newest checkpoint that
   * verifies (corrupt ones are skipped and named in a 'checkpoint skipped' warn record and
   * in StartInfo.resume.skipped). Resuming into the same run folder appends to its log.
   */
  resumeFrom?: string;
  /** Milliseconds clock of the checkpoint.everySeconds schedule. Default performance.now (tests pass a fake one). */
  clock?: () => number;
  /** Pre-loaded data (the API's callers and tests); default: loaded from cfg.data. */
  data?: RunData;
  /** Extra executors (pool threads, remote nodes), created by the caller. Default: the main thread alone. */
  executors?: (ctx: ExecutorContext) => Promise<Executor[]>;
  /**
   * Executors that join and leave while the run trains (remote nodes: parallel/coordinator-server.ts).
   * Started before the first step; read at every step's plan, beside the local ones; closed at the end.
   */
  joinable?: (ctx: ExecutorContext) => Promise<ExecutorSource>;
  /** Stop after the step in progress when aborted. */
  signal?: AbortSignal;
  /** Receives every log line of the run after redaction (the live record stream). */
  tee?: (line: string) => void;
  /** false: tee receives every line but the step records' (a caller that prints only the other records). Default true. */
  teeSteps?: boolean;
  /**
   * Called once with the run's logger (or opts.logger) as soon as it exists, before the run's
   * first record: what the caller started before the run (the live record stream) logs there.
   */
  onLogger?: (log: pino.Logger) => void;
  /**
   * Let the run change this process's scheduling while it trains: pin each compute thread, the
   * calling thread included, to a CPU of its own (when there is one for each), and, when they
   * take every CPU, put the process's other threads (V8's and libuv's helpers, and any thread of
   * the caller's) at idle priority; all undone before train() returns or throws. Applies only
   * where the config's pinThreads asks for it too: the config says what the run wants, this
   * option whether the process allows it. Default false: a library leaves the process's
   * scheduling alone unless asked (as PyTorch and Horovod do); `gradsync train` passes true.
   */
  processControl?: boolean;
}

export interface ExecutorContext {
  spec: ModelSpec;
  cfg: RunConfig;
  data: Dataset;
  params: Float;
  logger: pino.Logger;
  /** The run id. */
  run: string;
  /** Examples per tree leaf, as the run uses it (cfg.microBatch capped by the batch). */
  microBatch: number;
}

/** A changing set of executors (remote nodes joining and leaving). */
export interface ExecutorSource {
  /** The executors available now; read before every step. */
  current(): readonly Executor[];
  /** At the run's end ('ended'), or when opts.signal stopped it before its last step ('interrupted'). */
  close(why?: RunClose): Promise<void>;
}

export interface StartInfo {
  run: string;
  runDir: string;
  logFile: string | null;
  totalSteps: number;
  startStep: number;
  kernel: string;
  kernelNote: string | null;
  executors: string[];
  trainExamples: number;
  heldOutExamples: number;
  /** Set when the run resumed: from which checkpoint, at which step, and the newer ones skipped as corrupt. */
  resume: { file: string; step: number; skipped: SkippedCheckpoint[] } | null;
}

export interface TrainSummary {
  run: string;
  runDir: string;
  logFile: string | null;
  /** The newest checkpoint written ('' when none could be written under checkpoint.onError 'continue'). */
  checkpoint: string;
  /** Checkpoint writes that failed (only non-zero under checkpoint.onError 'continue'). */
  checkpointErrors: number;
  steps: number;
  epochs: number;
  /** The objective over the whole training set at the final weights (run's reduction). */
  loss: number;
  /** The objective of the last step's batch, before its update. */
  lastStepLoss: number;
  /** Held-out accuracy (classification with held-out data), else training accuracy, else null. */
  accuracy: number | null;
  heldOutLoss: number | null;
  paramsSha256: string;
  /** The parameters, per layer, for models of at most 1,000 parameters. */
  params?: { W: number[]; b: number[] }[];
  diagnosis: Diagnosis;
  skippedSteps: number;
  seconds: number;
  samplesPerSecond: number;
  kernel: string;
  /** The kernel spec's profile the run computed in (cfg.kernelProfile). */
  kernelProfile: KernelProfile;
  /** Early stopping ended the run before its last step (config earlyStopping). */
  stoppedEarly: boolean;
  /** opts.signal stopped the run before its last step: the checkpoint holds the last step done, a resume continues from it. */
  interrupted: boolean;
  /** With earlyStopping: the epoch (0-based, as in the records) of the best held-out evaluation; else null. */
  bestEpoch: number | null;
  /** With earlyStopping: the held-out loss at that evaluation; else null. */
  bestHeldOutLoss: number | null;
}
