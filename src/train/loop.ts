/**
 * loop.ts — a training run: data, model, executors, epochs of steps, logs, checkpoints.
 *
 * train() is the library entry point the CLI is built on. Per step it runs Stepper (step.ts),
 * writes one 'step' record (observe/schema.ts) and hands it to onStep (progress bar, live
 * stream). After each epoch with held-out data it writes an 'eval' record. At the end it
 * writes a checkpoint and an 'end' record and returns the summary.
 * The data order of epoch e is epochOrder(n, seed, e): a pure function, so a run's weights
 * depend only on the config (and resume needs only the epoch and the cursor).
 * Checkpoints: every cfg.checkpoint.every steps and/or everySeconds of wall time, and at the
 * end; the newest `keep` are kept; a failed write logs 'checkpoint failed' and applies
 * checkpoint.onError. Resume (opts.resumeFrom, a file or a run folder) restores the weights,
 * the optimizer state and the step; a resumed run folder's log.ndjson is appended to, its
 * 'start' record carrying resumedFrom — the steps after that checkpoint which the dead
 * process had logged appear again, recomputed to the same values.
 * Not here: printing (cli/), the step's protocol (step.ts), the executors and the process
 * scheduling they may change (executors.ts).
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import type pino from 'pino';
import { resolveThreads, type RunConfig } from '../config';
import { Errors } from '../errors';
import { alloc, type Float } from '../tensor/dtype';
import { Rng } from '../tensor/rng';
import { selectKernels, type KernelChoice } from '../tensor/select';
import { initParams, layoutOf, newParams, paramsSha256, paramsToArrays } from '../model/params';
import type { ModelSpec } from '../model/spec';
import { newOptimizerState, type OptimizerState } from '../optim/optimizer';
import { epochOrder, stepsPerEpoch, batchRange } from '../data/batching';
import { targetRange, type Dataset } from '../data/dataset';
import { runLoggers } from '../observe/logger';
import { Diagnoser } from '../observe/diagnose';
import type { Diagnosis, StepRecord } from '../observe/schema';
import type { LayerGeometry } from '../observe/grad-stats';
import type { KernelSet } from '../tensor/kernels';
import type { ParamLayout } from '../model/params';
import type { Executor } from '../parallel/executor';
import type { ThreadPool } from '../parallel/pool-executor';
import { Stepper, type StrategySwitches } from './step';
import { round3 } from './step-types';
import { evaluate } from './evaluate';
import { setUpExecutors, type LocalExecutors } from './executors';
import { layerGeometryOf, loadRunData, modelSpecOf, type RunData } from './setup';
import {
  checkpointName,
  errorCode,
  findResumePoint,
  listCheckpoints,
  pruneCheckpoints,
  assertCompatible,
  writeCheckpoint,
  type SkippedCheckpoint,
} from './checkpoint';

/** A step record without what the logger adds (msg, and schema and run as its bindings). */
type StepFields = Omit<StepRecord, 'msg' | 'schema' | 'run'>;

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
  close(): Promise<void>;
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
}

export function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${t}-${crypto.randomBytes(2).toString('hex')}`;
}

export async function train(cfg: RunConfig, opts: TrainOptions = {}): Promise<TrainSummary> {
  const p = prepare(cfg, opts);
  const { run, trainSet, spec, layout, kernels, params, opt, geometry, microBatch } = p;
  // the run folder and its log exist only once the data, model and checkpoint are known good;
  // a resumed run appends to the log: a line torn by the crash is ended first, so it stays one
  // bad line that readers skip rather than swallowing this run's first record
  if (p.logFile !== null && p.resume !== null) endTornLine(p.logFile);
  const {
    log,
    steps: stepLog,
    close: closeLog,
  } = opts.logger ? { log: opts.logger, steps: opts.logger, close: (): void => {} } : runLoggers(p.logFile!, run, 'info', opts.tee);
  // the log file is closed however the run ends (a record after that opens it for its line: LogFile)
  try {
    for (const sk of p.resume?.skipped ?? []) log.warn({ file: sk.file, code: sk.code, reason: sk.reason }, 'checkpoint skipped');
    const ctx: ExecutorContext = { spec, cfg, data: trainSet, params, logger: log, run, microBatch };
    const local = await setUpExecutors({
      spec,
      layout,
      kernels,
      kernelChoice: opts.kernels ?? 'auto',
      data: trainSet,
      microBatch,
      threads: p.threads,
      logger: log,
      processControl: opts.processControl ?? false,
      pinThreads: cfg.pinThreads,
      shareTail: cfg.shareTail && cfg.clipNorm === null ? { optimizer: cfg.optimizer, state: opt.buffers } : null,
      ...(opts.executors ? { custom: () => opts.executors!(ctx) } : {}),
    });
    const { main, pool, executors } = local;
    let joinable: ExecutorSource | null = null;
    try {
      joinable = opts.joinable ? await opts.joinable(ctx) : null;
    } catch (e) {
      await local.dispose();
      throw e;
    }
    const source = joinable;
    const stepper = new Stepper(
      {
        reduction: cfg.reduction,
        weightDecay: cfg.weightDecay,
        clipNorm: cfg.clipNorm,
        optimizer: cfg.optimizer,
        nonFinite: cfg.nonFinite,
        layers: geometry,
        strategies: { stragglers: cfg.duplicateStragglers, ...opts.strategies },
      },
      source ? () => [...executors, ...source.current()] : executors,
      main,
      opt,
      layout.size,
      params,
      kernels,
      pool,
    );
    const diagnoser = diagnoserOf(cfg, spec, trainSet);
    announce(
      cfg,
      p,
      opts,
      log,
      [...executors, ...(source?.current() ?? [])].map((e) => e.id),
      local,
    );

    const t0 = performance.now();
    // checkpoint schedule: every N steps and/or every S seconds since the last one
    const checkpoints = new Checkpoints(
      { runDir: p.runDir, cfg, spec, data: trainSet, params, opt, perEpoch: p.perEpoch, log },
      opts.clock ?? ((): number => performance.now()),
    );
    let end: LoopEnd;
    try {
      end = await runSteps({ cfg, opts, p, stepper, diagnoser, log, stepLog, checkpoints });
    } finally {
      try {
        await local.dispose();
      } finally {
        await source?.close();
      }
    }
    return finish(cfg, p, log, end, (performance.now() - t0) / 1000, checkpoints, pool);
  } finally {
    closeLog();
  }
}

/** What a run is before its first step: the data, the model, the kernels, the weights and optimizer state (resumed or new). */
interface Prepared {
  run: string;
  runDir: string;
  logFile: string | null;
  /** Compute threads, the main thread included (config threads, resolved). */
  threads: number;
  data: RunData;
  trainSet: Dataset;
  spec: ModelSpec;
  layout: ParamLayout;
  geometry: LayerGeometry[];
  kernels: KernelSet;
  fallbackNote: string | null;
  params: Float;
  opt: OptimizerState;
  startStep: number;
  resume: StartInfo['resume'];
  batch: number;
  /** Examples per tree leaf (cfg.microBatch capped by the batch). */
  microBatch: number;
  perEpoch: number;
  totalSteps: number;
}

/** Everything train() checks and builds before anything is written: a bad config, data or checkpoint throws here. */
function prepare(cfg: RunConfig, opts: TrainOptions): Prepared {
  const run = newRunId();
  const threads = resolveThreads(cfg.threads);
  // pool threads read the training examples from shared memory
  const data = opts.data ?? loadRunData(cfg, threads > 1);
  const trainSet = data.train;
  if (trainSet.n === 0) throw Errors.config('data', `the training set "${trainSet.name}" has no examples`);
  const spec = modelSpecOf(cfg, trainSet.inputs, trainSet.outputs);
  const layout = layoutOf(spec);
  const { kernels, fallbackNote } = selectKernels(spec.dtype, opts.kernels ?? 'auto');
  // parameters live in shared memory so pool threads read them without a copy
  const params = newParams(spec, layout, true);
  // the optimizer's buffers too: pool threads advance their share of them in a shared tail
  let opt: OptimizerState = newOptimizerState(cfg.optimizer, spec.dtype, layout.size, true);
  let startStep = 0;
  let resume: StartInfo['resume'] = null;
  if (opts.resumeFrom) {
    const r = resumeFrom(opts.resumeFrom, spec, trainSet, params, opt);
    opt = r.opt;
    startStep = r.resume.step;
    resume = r.resume;
  } else {
    initParams(layout, cfg.model.init, new Rng(cfg.seed), params);
  }
  const runDir = path.resolve(opts.runDir ?? path.join('runs', run));
  const batch = cfg.batch === 'full' ? trainSet.n : Math.min(cfg.batch, trainSet.n);
  const perEpoch = stepsPerEpoch(trainSet.n, batch);
  return {
    run,
    runDir,
    logFile: opts.logger ? null : path.join(runDir, 'log.ndjson'),
    threads,
    data,
    trainSet,
    spec,
    layout,
    geometry: layerGeometryOf(spec, layout),
    kernels,
    fallbackNote,
    params,
    opt,
    startStep,
    resume,
    batch,
    microBatch: Math.min(cfg.microBatch, batch),
    perEpoch,
    totalSteps: cfg.steps ?? cfg.epochs * perEpoch,
  };
}

/** Restores the weights (into `params`) and the optimizer state (into the run's shared buffers) of the checkpoint `from` names. */
function resumeFrom(
  from: string,
  spec: ModelSpec,
  trainSet: Dataset,
  params: Float,
  opt: OptimizerState,
): { opt: OptimizerState; resume: NonNullable<StartInfo['resume']> } {
  const found = findResumePoint(from);
  const ck = found.checkpoint;
  assertCompatible(found.file, ck, spec);
  if (ck.header.dataSha256 !== trainSet.sha256) {
    throw Errors.checkpoint(
      found.file,
      `was written for data ${ck.header.dataSha256.slice(0, 12)}…, this run's data is ${trainSet.sha256.slice(0, 12)}…`,
    );
  }
  params.set(ck.params);
  const buffers = ck.optimizer.buffers.map((b, i) => {
    const to = opt.buffers[i] ?? alloc(spec.dtype, params.length, true);
    to.set(b);
    return to;
  });
  return { opt: { ...ck.optimizer, buffers }, resume: { file: found.file, step: ck.header.step, skipped: found.skipped } };
}

function diagnoserOf(cfg: RunConfig, spec: ModelSpec, trainSet: Dataset): Diagnoser {
  const range = targetRange(trainSet);
  return new Diagnoser(
    {
      outputActivation: spec.layers[spec.layers.length - 1]!.activation,
      loss: spec.loss,
      targetMin: range.min,
      targetMax: range.max,
      layerActivations: spec.layers.map((l) => l.activation),
    },
    cfg.diagnosis,
  );
}

/** The 'start' record (what the run is about to do), then onStart with the same. */
function announce(cfg: RunConfig, p: Prepared, opts: TrainOptions, log: pino.Logger, executors: string[], local: LocalExecutors): void {
  const { trainSet, kernels } = p;
  const startInfo: StartInfo = {
    run: p.run,
    runDir: p.runDir,
    logFile: p.logFile,
    totalSteps: p.totalSteps,
    startStep: p.startStep,
    kernel: kernels.id,
    kernelNote: p.fallbackNote,
    executors,
    trainExamples: trainSet.n,
    heldOutExamples: p.data.heldOut?.n ?? 0,
    resume: p.resume,
  };
  log.info(
    {
      config: cfg,
      model: p.spec,
      params: p.layout.size,
      data: { name: trainSet.name, n: trainSet.n, sha256: trainSet.sha256, heldOut: p.data.heldOut?.n ?? 0 },
      kernel: kernels.id,
      kernelNote: p.fallbackNote,
      executors,
      totalSteps: p.totalSteps,
      startStep: p.startStep,
      batch: p.batch,
      microBatch: p.microBatch,
      host: os.hostname(),
      ...(local.pinned ? { pinned: local.pinned } : {}),
      ...(local.helpersIdle !== null ? { helpersIdle: local.helpersIdle } : {}),
      ...(p.resume ? { resumedFrom: p.resume.file } : {}),
    },
    'start',
  );
  opts.onStart?.(startInfo);
}

interface LoopArgs {
  cfg: RunConfig;
  opts: TrainOptions;
  p: Prepared;
  stepper: Stepper;
  diagnoser: Diagnoser;
  log: pino.Logger;
  /** Where the step records go (the run's log, or opts.logger). */
  stepLog: pino.Logger;
  checkpoints: Checkpoints;
}

/** What the step loop leaves for finish(). */
interface LoopEnd {
  /** The last step done (p.startStep when none was). */
  stepsDone: number;
  lastStepLoss: number;
  diagnosis: Diagnosis;
  skippedSteps: number;
}

/**
 * Steps p.startStep + 1 … p.totalSteps, or until opts.signal aborts: each step's batch from its
 * epoch's order, one 'step' record per step, written as soon as the step is done, and after
 * it the end of an epoch and the checkpoint schedule (afterStep).
 */
async function runSteps(a: LoopArgs): Promise<LoopEnd> {
  const { cfg, opts, p, stepper, diagnoser, stepLog } = a;
  const { run, trainSet, params, batch, microBatch, perEpoch, totalSteps } = p;
  const end: LoopEnd = { stepsDone: p.startStep, lastStepLoss: NaN, diagnosis: { states: ['ok'], evidence: {} }, skippedSteps: 0 };
  let consecutiveSkips = 0;
  let orderEpoch = -1;
  let order = new Uint32Array(0);
  /** The time the previous step's record took to write: in this step's split (recordMs). */
  let recordMs = 0;
  let lastYield = performance.now();
  for (let step = p.startStep + 1; step <= totalSteps; step++) {
    // A step computed on the main thread resolves through microtasks only; let the event
    // loop run at least every 5 ms so sockets (live stream, remote workers, heartbeats)
    // and timers are served while training.
    if (performance.now() - lastYield > 5) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
    if (opts.signal?.aborted) break;
    const epoch = Math.floor((step - 1) / perEpoch);
    const inEpoch = (step - 1) % perEpoch;
    if (epoch !== orderEpoch) {
      order = epochOrder(trainSet.n, cfg.seed, epoch, cfg.data.shuffle);
      orderEpoch = epoch;
    }
    const { start, end: stop } = batchRange(trainSet.n, batch, inEpoch);
    const ts = performance.now();
    const r = await stepper.run({ step, epoch, params, batch: { order, start, end: stop, microBatch } });
    const stepMs = performance.now() - ts;
    r.split.recordMs = round3(recordMs);
    if (r.skipped !== undefined) {
      end.skippedSteps++;
      consecutiveSkips++;
    } else {
      consecutiveSkips = 0;
    }
    end.lastStepLoss = r.loss;
    // the record's fields, in the log line's order, built once: no copies (spreads) of it per step
    const fields: StepFields = {
      step,
      epoch,
      loss: r.loss,
      examples: r.examples,
      lr: cfg.optimizer.lr,
      gradNorm: r.gradNorm,
      clipped: r.clipped,
      layers: r.layers,
      throughput: r.examples / (stepMs / 1000),
      stepMs: Math.round(stepMs * 1000) / 1000,
      split: r.split,
      executors: r.executors,
      diagnosis: end.diagnosis,
    };
    if (r.skipped !== undefined) fields.skipped = r.skipped;
    if (r.nonFiniteExamples !== undefined) fields.nonFiniteExamples = r.nonFiniteExamples;
    const tr = performance.now();
    end.diagnosis = fields.diagnosis = diagnoser.push(fields);
    if (r.skipped !== undefined) stepLog.warn(fields, 'step');
    else stepLog.info(fields, 'step');
    opts.onStep?.({ msg: 'step', schema: 1, run, ...fields });
    recordMs = performance.now() - tr;
    if (r.skipped !== undefined && consecutiveSkips >= cfg.maxSkips) {
      throw Errors.nonFinite(`${consecutiveSkips} consecutive steps skipped (maxSkips ${cfg.maxSkips}); last: ${r.skipped}`);
    }
    end.stepsDone = step;
    afterStep(a, step, epoch, inEpoch);
  }
  return end;
}

/** After step `step`: the held-out evaluation at an epoch's end, then a checkpoint when one is due (not at the last step: finish() writes that one). */
function afterStep(a: LoopArgs, step: number, epoch: number, inEpoch: number): void {
  const { cfg, p } = a;
  const heldOut = p.data.heldOut;
  const endOfEpoch = inEpoch === p.perEpoch - 1 || step === p.totalSteps;
  if (endOfEpoch && heldOut && heldOut.n > 0) {
    const ev = evaluate(p.spec, p.kernels, p.params, heldOut);
    a.log.info(
      {
        step,
        epoch,
        loss: ev.lossSum / (cfg.reduction === 'mean' ? ev.examples : 1),
        accuracy: ev.accuracy ?? undefined,
        examples: ev.examples,
      },
      'eval',
    );
  }
  if (a.checkpoints.due(step) && step !== p.totalSteps) {
    a.checkpoints.write(step);
  }
}

/** The last checkpoint, the final evaluations, the 'end' record and the summary. */
function finish(
  cfg: RunConfig,
  p: Prepared,
  log: pino.Logger,
  end: LoopEnd,
  seconds: number,
  checkpoints: Checkpoints,
  pool: ThreadPool | null,
): TrainSummary {
  const { spec, kernels, params, trainSet, layout } = p;
  const stepsDone = end.stepsDone;
  checkpoints.write(stepsDone);
  const checkpoint = checkpoints.last;
  const trainEval = evaluate(spec, kernels, params, trainSet);
  const heldEval = p.data.heldOut && p.data.heldOut.n > 0 ? evaluate(spec, kernels, params, p.data.heldOut) : null;
  const div = (e: { lossSum: number; examples: number }): number => e.lossSum / (cfg.reduction === 'mean' ? e.examples : 1);
  const summary: TrainSummary = {
    run: p.run,
    runDir: p.runDir,
    logFile: p.logFile,
    checkpoint,
    checkpointErrors: checkpoints.errors,
    steps: stepsDone,
    epochs: stepsDone / p.perEpoch,
    loss: div(trainEval),
    lastStepLoss: end.lastStepLoss,
    accuracy: heldEval?.accuracy ?? trainEval.accuracy,
    heldOutLoss: heldEval ? div(heldEval) : null,
    paramsSha256: paramsSha256(params),
    diagnosis: end.diagnosis,
    skippedSteps: end.skippedSteps,
    seconds,
    samplesPerSecond: ((stepsDone - p.startStep) * p.batch) / Math.max(seconds, 1e-9),
    kernel: kernels.id,
  };
  if (layout.size <= 1000) summary.params = paramsToArrays(layout, params);
  // per pool thread: the CPU it was pinned to (null: it floated) and the tasks withdrawn before it woke
  const poolInfo = pool?.executors.map((e) => ({
    id: e.id,
    cpu: e.pinnedCpu(),
    tailsWithdrawn: e.withdrawnTails,
    computesWithdrawn: e.withdrawnComputes,
  }));
  log.info(
    {
      ...(poolInfo ? { pool: poolInfo } : {}),
      steps: summary.steps,
      loss: summary.loss,
      accuracy: summary.accuracy ?? undefined,
      heldOutLoss: summary.heldOutLoss ?? undefined,
      paramsSha256: summary.paramsSha256,
      seconds,
      checkpoint,
    },
    'end',
  );
  return summary;
}

/** The checkpoint schedule — every cfg.checkpoint.every steps and/or everySeconds since the last one — and what it has written. */
class Checkpoints implements CheckpointState {
  last = '';
  errors = 0;
  private lastAt: number;

  constructor(
    private readonly args: Omit<SaveArgs, 'step'>,
    private readonly clock: () => number,
  ) {
    this.lastAt = clock();
  }

  due(step: number): boolean {
    const c = this.args.cfg.checkpoint;
    const dueSteps = c.every > 0 && step % c.every === 0;
    const dueTime = c.everySeconds > 0 && this.clock() - this.lastAt >= c.everySeconds * 1000;
    return dueSteps || dueTime;
  }

  write(step: number): void {
    saveCheckpoint({ ...this.args, step }, this);
    this.lastAt = this.clock();
  }
}

interface CheckpointState {
  /** The newest checkpoint written by this run ('' before the first). */
  last: string;
  errors: number;
}

interface SaveArgs {
  runDir: string;
  cfg: RunConfig;
  spec: ModelSpec;
  data: Dataset;
  params: Float;
  opt: OptimizerState;
  step: number;
  perEpoch: number;
  log: pino.Logger;
}

/**
 * Writes checkpoint `step` atomically, then keeps the newest cfg.checkpoint.keep. A failed
 * write leaves the previous checkpoints untouched (atomicWrite) and is logged as an error
 * record naming the errno code and the file; then checkpoint.onError applies: 'stop'
 * rethrows (the run ends with GS_ERR_IO), 'continue' trains on.
 */
function saveCheckpoint(a: SaveArgs, st: CheckpointState): void {
  const dir = path.join(a.runDir, 'checkpoints');
  const file = path.join(dir, checkpointName(a.step));
  try {
    writeCheckpoint(
      file,
      {
        dtype: a.spec.dtype,
        spec: a.spec,
        config: a.cfg,
        step: a.step,
        epoch: Math.floor(a.step / a.perEpoch),
        cursor: a.step % a.perEpoch,
        paramsSha256: paramsSha256(a.params),
        dataSha256: a.data.sha256,
      },
      a.params,
      a.opt,
    );
  } catch (e) {
    st.errors++;
    const policy = a.cfg.checkpoint.onError;
    const previous = st.last !== '' ? st.last : (listCheckpoints(dir)[0] ?? null);
    a.log.error({ step: a.step, file, code: errorCode(e), error: (e as Error).message, previous, onError: policy }, 'checkpoint failed');
    if (policy === 'stop') {
      throw Errors.io(
        `checkpoint at step ${a.step} failed (${errorCode(e)}): ${(e as Error).message}; checkpoint.onError is "stop"`,
        previous !== null
          ? `the previous checkpoint ${previous} is intact: free space (or fix the folder) and resume with --resume ${a.runDir}`
          : 'no earlier checkpoint exists',
      );
    }
    return;
  }
  st.last = file;
  pruneCheckpoints(dir, a.cfg.checkpoint.keep);
  a.log.info({ step: a.step, file }, 'checkpoint');
}

/** Ends a last line without '\n' (a write torn by a crash) so that appended records start on their own line. */
function endTornLine(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r+');
  } catch {
    return; // no log yet
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return;
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    if (last[0] !== 0x0a) fs.writeSync(fd, '\n', size);
  } finally {
    fs.closeSync(fd);
  }
}
