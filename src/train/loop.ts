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
 * Not here: printing (cli/), the step's protocol (step.ts).
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
import { targetRange, toDtype, type Dataset } from '../data/dataset';
import { runLoggers } from '../observe/logger';
import { Diagnoser } from '../observe/diagnose';
import type { Diagnosis, StepRecord } from '../observe/schema';
import type { Executor } from '../parallel/executor';
import { MainExecutor } from '../parallel/main-executor';
import { ThreadPool } from '../parallel/pool-executor';
import { allowedCpus, idleHelpers, pinPlan, pinThisThread } from '../parallel/affinity';
import type { FaultSpec } from '../parallel/pool-protocol';
import { Stepper } from './step';
import { evaluate } from './evaluate';
import { layerGeometryOf, loadRunData, modelSpecOf, paramTensorsOf, type RunData } from './setup';
import { checkpointName, errorCode, findResumePoint, listCheckpoints, pruneCheckpoints, assertCompatible, writeCheckpoint, type SkippedCheckpoint } from './checkpoint';

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
  /** Test-only fault injection for pool threads (GRADSYNC_FAULT). */
  fault?: FaultSpec | null;
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
  const run = newRunId();
  const runDir = path.resolve(opts.runDir ?? path.join('runs', run));
  const logFile = opts.logger ? null : path.join(runDir, 'log.ndjson');
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
    const found = findResumePoint(opts.resumeFrom);
    const ck = found.checkpoint;
    assertCompatible(found.file, ck, spec);
    if (ck.header.dataSha256 !== trainSet.sha256) {
      throw Errors.checkpoint(found.file, `was written for data ${ck.header.dataSha256.slice(0, 12)}…, this run's data is ${trainSet.sha256.slice(0, 12)}…`);
    }
    params.set(ck.params);
    // into the run's shared buffers
    opt = { ...ck.optimizer, buffers: ck.optimizer.buffers.map((b, i) => { const to = opt.buffers[i] ?? alloc(spec.dtype, layout.size, true); to.set(b); return to; }) };
    startStep = ck.header.step;
    resume = { file: found.file, step: startStep, skipped: found.skipped };
  } else {
    initParams(layout, cfg.model.init, new Rng(cfg.seed), params);
  }
  // the run folder and its log exist only once the data, model and checkpoint are known good;
  // a resumed run appends to the log: a line torn by the crash is ended first, so it stays one
  // bad line that readers skip rather than swallowing this run's first record
  if (logFile !== null && resume !== null) endTornLine(logFile);
  const { log, steps: stepLog, close: closeLog } = opts.logger ? { log: opts.logger, steps: opts.logger, close: (): void => {} } : runLoggers(logFile!, run, 'info', opts.tee);
  // the log file is closed however the run ends (a record after that opens it for its line: LogFile)
  try {
    for (const sk of resume?.skipped ?? []) log.warn({ file: sk.file, code: sk.code, reason: sk.reason }, 'checkpoint skipped');

    const batch = cfg.batch === 'full' ? trainSet.n : Math.min(cfg.batch, trainSet.n);
    const microBatch = Math.min(cfg.microBatch, batch);
    const perEpoch = stepsPerEpoch(trainSet.n, batch);
    const totalSteps = cfg.steps ?? cfg.epochs * perEpoch;
    const geometry = layerGeometryOf(spec, layout);

    let main: MainExecutor;
    let pool: ThreadPool | null = null;
    // each compute thread on a CPU of its own, when there is one for each (parallel/affinity.ts);
    // the main thread gets its CPUs back when the pool closes
    let pinned: number[] | null = null;
    /** How many of the runtime's helper threads were put at idle priority (null: none). */
    let helpersIdle: number | null = null;
    let unpinMain = (): void => {};
    let extra: Executor[] = [];
    const ctx: ExecutorContext = { spec, cfg, data: trainSet, params, logger: log, run, microBatch };
    if (opts.executors) {
      main = new MainExecutor(spec, kernels, trainSet, microBatch);
      extra = await opts.executors(ctx);
    } else if (threads > 1) {
      // the main thread is one of the `threads` compute threads; it goes last, so that the pool
      // threads have their work before it computes its own share. Spinning (instead of sleeping)
      // between steps pays only when every compute thread has a core of its own. With config
      // shareTail and without clipping, the step's tail can be shared with a pool thread
      // (train/step.ts): the main thread computes into shared slots the thread can read.
      const shared = trainSet.x.buffer instanceof SharedArrayBuffer ? trainSet : toDtype(trainSet, spec.dtype, true);
      const shareTail = cfg.shareTail && cfg.clipNorm === null;
      // read before the main thread is pinned: availableParallelism() is the calling thread's CPU count
      const spin = threads <= os.availableParallelism();
      const before = allowedCpus();
      const plan = cfg.pinThreads ? pinPlan(threads, before) : null;
      if (plan !== null) {
        const why = pinThisThread([plan[0]!]);
        if (why === null) {
          pinned = plan;
          // no CPU left over for the runtime's own threads: they wait for an idle moment
          // (parallel/affinity.ts idleHelpers), instead of preempting a compute thread
          const helpers = plan.length === before!.length ? idleHelpers() : null;
          if (typeof helpers === 'string') log.warn({ why: helpers }, 'runtime helper threads left at normal priority');
          else if (helpers !== null) helpersIdle = helpers.tids.length;
          unpinMain = (): void => {
            pinThisThread(before!);
            if (helpers !== null && typeof helpers !== 'string') {
              const bad = helpers.restore();
              if (bad !== null) log.warn({ why: bad }, 'runtime helper threads not restored to normal priority');
            }
          };
        } else log.warn({ why }, 'compute threads not pinned');
      }
      const poolOpts: ConstructorParameters<typeof ThreadPool>[0] = {
        cpus: pinned?.slice(1) ?? null,
        threads: threads - 1, spec, kernels: opts.kernels ?? 'auto', microBatch, x: shared.x, y: shared.y, logger: log, fault: opts.fault ?? null,
        spin,
        ...(shareTail ? { tail: { tensors: paramTensorsOf(layout), optimizer: cfg.optimizer, state: opt.buffers } } : {}),
      };
      try {
        pool = new ThreadPool(poolOpts);
      } catch (e) {
        // the main thread's CPUs and the helpers' priority back before the error goes up
        unpinMain();
        throw e;
      }
      main = new MainExecutor(spec, kernels, trainSet, microBatch, pool.mainSlots);
      extra = [...pool.executors, main];
    } else main = new MainExecutor(spec, kernels, trainSet, microBatch);
    const executors: Executor[] = extra.length > 0 ? extra : [main];
    let joinable: ExecutorSource | null = null;
    try {
      joinable = opts.joinable ? await opts.joinable(ctx) : null;
    } catch (e) {
      await pool?.close();
      unpinMain();
      throw e;
    }
    const source = joinable;
    const stepper = new Stepper(
      { reduction: cfg.reduction, weightDecay: cfg.weightDecay, clipNorm: cfg.clipNorm, optimizer: cfg.optimizer, nonFinite: cfg.nonFinite, layers: geometry, duplicateStragglers: cfg.duplicateStragglers },
      source ? () => [...executors, ...source.current()] : executors, main, opt, layout.size, params, kernels, pool,
    );
    const range = targetRange(trainSet);
    const diagnoser = new Diagnoser({
      outputActivation: spec.layers[spec.layers.length - 1]!.activation, loss: spec.loss,
      targetMin: range.min, targetMax: range.max, layerActivations: spec.layers.map((l) => l.activation),
    }, cfg.diagnosis);

    const startInfo: StartInfo = {
      run, runDir, logFile, totalSteps, startStep, kernel: kernels.id, kernelNote: fallbackNote,
      executors: [...executors, ...(source?.current() ?? [])].map((e) => e.id), trainExamples: trainSet.n, heldOutExamples: data.heldOut?.n ?? 0,
      resume,
    };
    log.info({
      config: cfg, model: spec, params: layout.size, data: { name: trainSet.name, n: trainSet.n, sha256: trainSet.sha256, heldOut: data.heldOut?.n ?? 0 },
      kernel: kernels.id, kernelNote: fallbackNote, executors: startInfo.executors, totalSteps, startStep, batch, microBatch, host: os.hostname(),
      ...(pinned ? { pinned } : {}),
      ...(helpersIdle !== null ? { helpersIdle } : {}),
      ...(resume ? { resumedFrom: resume.file } : {}),
    }, 'start');
    opts.onStart?.(startInfo);

    const t0 = performance.now();
    let lastStepLoss = NaN;
    let diagnosis: Diagnosis = { states: ['ok'], evidence: {} };
    let skippedSteps = 0;
    let consecutiveSkips = 0;
    let orderEpoch = -1;
    let order = new Uint32Array(0);
    let stepsDone = startStep;
    // checkpoint schedule: every N steps and/or every S seconds since the last one
    const clock = opts.clock ?? ((): number => performance.now());
    let lastCheckpointAt = clock();
    const ckpt: CheckpointState = { last: '', errors: 0 };
    const save = (step: number): void => {
      saveCheckpoint({ runDir, cfg, spec, data: trainSet, params, opt, step, perEpoch, log }, ckpt);
      lastCheckpointAt = clock();
    };
    /** The last step's record, written by flush(): at the next step's dispatch, or before anything else is logged. */
    let pending: (() => void) | null = null;
    const flush = (): void => {
      const p = pending;
      pending = null;
      p?.();
    };
    try {
      let lastYield = performance.now();
      for (let step = startStep + 1; step <= totalSteps; step++) {
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
        const { start, end } = batchRange(trainSet.n, batch, inEpoch);
        const ts = performance.now();
        // the previous step's record is written while this step's executors compute (flush)
        const r = await stepper.run({ step, epoch, params, batch: { order, start, end, microBatch } }, flush);
        const stepMs = performance.now() - ts;
        if (r.skipped !== undefined) {
          skippedSteps++;
          consecutiveSkips++;
        } else {
          consecutiveSkips = 0;
        }
        lastStepLoss = r.loss;
        // the record's fields, in the log line's order, built once: no copies (spreads) of it
        // per step — the record is written in the middle of the next step, from cold caches
        const fields: StepFields = {
          step, epoch, loss: r.loss, examples: r.examples, lr: cfg.optimizer.lr, gradNorm: r.gradNorm,
          clipped: r.clipped, layers: r.layers, throughput: r.examples / (stepMs / 1000), stepMs: Math.round(stepMs * 1000) / 1000,
          split: r.split, executors: r.executors, diagnosis,
        };
        if (r.skipped !== undefined) fields.skipped = r.skipped;
        if (r.nonFiniteExamples !== undefined) fields.nonFiniteExamples = r.nonFiniteExamples;
        pending = (): void => {
          diagnosis = fields.diagnosis = diagnoser.push(fields);
          if (r.skipped !== undefined) stepLog.warn(fields, 'step');
          else stepLog.info(fields, 'step');
          opts.onStep?.({ msg: 'step', schema: 1, run, ...fields });
        };
        // a step the main thread computed alone has nothing to write the record alongside: it is
        // written now, while the step's results are still in cache (2-3 % of a 1-thread step,
        // blocks of 50 steps alternating in one run, 13 and 16 of 20 pairs faster)
        if (r.executors.length === 1 && r.executors[0]!.kind === 'main') flush();
        if (r.skipped !== undefined && consecutiveSkips >= cfg.maxSkips) {
          flush();
          throw Errors.nonFinite(`${consecutiveSkips} consecutive steps skipped (maxSkips ${cfg.maxSkips}); last: ${r.skipped}`);
        }
        stepsDone = step;
        const endOfEpoch = inEpoch === perEpoch - 1 || step === totalSteps;
        if (endOfEpoch && data.heldOut && data.heldOut.n > 0) {
          flush();
          const ev = evaluate(spec, kernels, params, data.heldOut);
          log.info({ step, epoch, loss: ev.lossSum / (cfg.reduction === 'mean' ? ev.examples : 1), accuracy: ev.accuracy ?? undefined, examples: ev.examples }, 'eval');
        }
        // a time schedule reads the clock after this step's record (its onStep), as the record says
        if (cfg.checkpoint.everySeconds > 0) flush();
        const dueSteps = cfg.checkpoint.every > 0 && step % cfg.checkpoint.every === 0;
        const dueTime = cfg.checkpoint.everySeconds > 0 && clock() - lastCheckpointAt >= cfg.checkpoint.everySeconds * 1000;
        if ((dueSteps || dueTime) && step !== totalSteps) {
          flush();
          save(step);
        }
      }
      flush();
    } finally {
      // a step that failed before dispatching its work leaves the previous record unwritten
      try { flush(); } catch { /* the step's own error is the one to report */ }
      await Promise.all(executors.filter((e) => e !== main).map((e) => e.close()));
      await pool?.close();
      unpinMain();
      await source?.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    save(stepsDone);
    const checkpoint = ckpt.last;
    const trainEval = evaluate(spec, kernels, params, trainSet);
    const heldEval = data.heldOut && data.heldOut.n > 0 ? evaluate(spec, kernels, params, data.heldOut) : null;
    const div = (e: { lossSum: number; examples: number }): number => e.lossSum / (cfg.reduction === 'mean' ? e.examples : 1);
    const summary: TrainSummary = {
      run, runDir, logFile, checkpoint, checkpointErrors: ckpt.errors, steps: stepsDone, epochs: stepsDone / perEpoch,
      loss: div(trainEval), lastStepLoss, accuracy: heldEval?.accuracy ?? trainEval.accuracy,
      heldOutLoss: heldEval ? div(heldEval) : null, paramsSha256: paramsSha256(params), diagnosis, skippedSteps,
      seconds, samplesPerSecond: ((stepsDone - startStep) * batch) / Math.max(seconds, 1e-9), kernel: kernels.id,
    };
    if (layout.size <= 1000) summary.params = paramsToArrays(layout, params);
    // per pool thread: the CPU it was pinned to (null: it floated) and the tasks withdrawn before it woke
    const poolInfo = pool?.executors.map((e) => ({ id: e.id, cpu: e.pinnedCpu(), tailsWithdrawn: e.withdrawnTails, computesWithdrawn: e.withdrawnComputes }));
    log.info({ ...(poolInfo ? { pool: poolInfo } : {}), steps: summary.steps, loss: summary.loss, accuracy: summary.accuracy ?? undefined, heldOutLoss: summary.heldOutLoss ?? undefined, paramsSha256: summary.paramsSha256, seconds, checkpoint }, 'end');
    return summary;
  } finally {
    closeLog();
  }
}

interface CheckpointState {
  /** The newest checkpoint written by this run ('' before the first). */
  last: string;
  errors: number;
}

interface SaveArgs {
  runDir: string; cfg: RunConfig; spec: ModelSpec; data: Dataset; params: Float; opt: OptimizerState; step: number; perEpoch: number; log: pino.Logger;
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
    writeCheckpoint(file, {
      dtype: a.spec.dtype, spec: a.spec, config: a.cfg, step: a.step, epoch: Math.floor(a.step / a.perEpoch), cursor: a.step % a.perEpoch,
      paramsSha256: paramsSha256(a.params), dataSha256: a.data.sha256,
    }, a.params, a.opt);
  } catch (e) {
    st.errors++;
    const policy = a.cfg.checkpoint.onError;
    const previous = st.last !== '' ? st.last : (listCheckpoints(dir)[0] ?? null);
    a.log.error({ step: a.step, file, code: errorCode(e), error: (e as Error).message, previous, onError: policy }, 'checkpoint failed');
    if (policy === 'stop') {
      throw Errors.io(`checkpoint at step ${a.step} failed (${errorCode(e)}): ${(e as Error).message}; checkpoint.onError is "stop"`,
        previous !== null ? `the previous checkpoint ${previous} is intact: free space (or fix the folder) and resume with --resume ${a.runDir}` : 'no earlier checkpoint exists');
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

