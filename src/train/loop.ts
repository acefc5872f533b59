/**
 * loop.ts — a training run: data, model, executors, epochs of steps, logs, checkpoints.
 *
 * train() is the library entry point the CLI is built on. Per step it runs Stepper (step.ts),
 * writes one 'step' record (observe/schema.ts) and hands it to onStep (progress bar, live
 * stream). After each epoch with held-out data it writes an 'eval' record, and with
 * cfg.earlyStopping may stop there (early-stopping.ts: an 'early-stop' record, the best
 * weights put back with restoreBest). At the end it writes a checkpoint and an 'end' record
 * and returns the summary.
 * The data order of epoch e is epochOrder(n, seed, e): a pure function, so a run's weights
 * depend only on the config (and resume needs only the epoch and the cursor).
 * Checkpoints: every cfg.checkpoint.every steps and/or everySeconds of wall time, and at the
 * end; the newest `keep` are kept; a failed write logs 'checkpoint failed' and applies
 * checkpoint.onError. Resume (opts.resumeFrom, a file or a run folder) restores the weights,
 * the optimizer state, the step and early stopping's state (the learning rate is a function of
 * the step); a resumed run folder's log.ndjson is appended to, its 'start' record carrying
 * resumedFrom — the steps after that checkpoint which the dead process had logged appear
 * again, recomputed to the same values.
 * Not here: printing (cli/), the step's protocol (step.ts), the executors and the process
 * scheduling they may change (executors.ts), what a run is before its first step (prepare.ts),
 * the checkpoint schedule and writes (run-files.ts), the 'start' record and the run's end (the
 * last checkpoint, the final evaluations, the 'end' record, the summary: run-records.ts),
 * train()'s option types (options.ts).
 */

import type pino from 'pino';
import type { RunConfig, TrainConfig } from '../config';
import { Errors } from '../errors';
import { layoutOf } from '../model/params';
import { LearningRate } from '../optim/schedule';
import type { ModelSpec } from '../model/spec';
import { epochOrder, batchRange } from '../data/batching';
import { targetRange, type Dataset } from '../data/dataset';
import { pinoStepWriter, runLoggers, type StepWriter } from '../observe/logger';
import { Diagnoser, type DiagnosisStates } from '../observe/diagnose';
import { LOG_SCHEMA_VERSION, type StepRecord } from '../observe/schema';
import { Stepper, type StepResult } from './step';
import { round3 } from './step-types';
import { EarlyStopping } from './early-stopping';
import { evaluate } from './evaluate';
import { setUpExecutors } from './executors';
import type { ExecutorContext, ExecutorSource, TrainOptions, TrainSummary } from './options';
import { prepare, type Prepared } from './prepare';
import { Checkpoints, endTornLine } from './run-files';
import { announce, finish, type LoopEnd } from './run-records';
import { resolveRun } from './setup';

export type { ExecutorContext, ExecutorSource, StartInfo, TrainOptions, TrainSummary } from './options';
export { newRunId } from './prepare';

/**
 * Trains the model `config` describes: a RunConfig (validateConfig, loadConfigFile), or a
 * partial config as a JSON file has it, whose data may be arrays in memory: data: { x, y, … }
 * (data/arrays.ts, setup.ts resolveRun).
 */
export async function train(config: RunConfig | TrainConfig, opts: TrainOptions = {}): Promise<TrainSummary> {
  const resolved = resolveRun(config, opts.data);
  const cfg = resolved.cfg;
  const p = prepare(cfg, resolved.data ? { ...opts, data: resolved.data } : opts);
  const { run, trainSet, spec, layout, kernels, params, opt, geometry, microBatch } = p;
  // the run folder and its log exist only once the data, model and checkpoint are known good;
  // a resumed run appends to the log: a line torn by the crash is ended first, so it stays one
  // bad line that readers skip rather than swallowing this run's first record
  if (p.logFile !== null && p.resume !== null) endTornLine(p.logFile);
  const {
    log,
    step: stepLog,
    close: closeLog,
  } = opts.logger
    ? { log: opts.logger, step: pinoStepWriter(opts.logger), close: (): void => {} }
    : runLoggers(p.logFile!, run, 'info', opts.tee, opts.teeSteps ?? true);
  // the log file is closed however the run ends (a record after that opens it for its line: LogFile)
  try {
    opts.onLogger?.(log);
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
    // the pool's threads started and waiting, as the main thread is: the first step times the step, not their start
    await pool?.prestart(params, trainSet.n);
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
        audit: cfg.audit,
        replicate: cfg.replicate,
        seed: cfg.seed,
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

    const stopper = cfg.earlyStopping
      ? new EarlyStopping(cfg.earlyStopping, spec.dtype, layout.size, p.earlyStopping, p.resume?.file)
      : null;
    const t0 = performance.now();
    // checkpoint schedule: every N steps and/or every S seconds since the last one
    const checkpoints = new Checkpoints(
      { runDir: p.runDir, cfg, spec, data: trainSet, params, opt, perEpoch: p.perEpoch, log, earlyStopping: stopper },
      opts.clock ?? ((): number => performance.now()),
    );
    let end: LoopEnd | undefined;
    try {
      end = await runSteps({ cfg, opts, p, stepper, diagnoser, log, stepLog, checkpoints, stopper });
    } finally {
      try {
        await local.dispose();
      } finally {
        // an interrupted run tells its workers so (they may join it again when it resumes)
        await source?.close(end?.interrupted === true ? 'interrupted' : 'ended');
      }
    }
    return finish(cfg, p, log, end, (performance.now() - t0) / 1000, checkpoints, pool, stopper);
  } finally {
    closeLog();
  }
}

function diagnoserOf(cfg: RunConfig, spec: ModelSpec, trainSet: Dataset): Diagnoser {
  const layout = layoutOf(spec);
  const range = targetRange(trainSet);
  return new Diagnoser(
    {
      outputActivation: layout.layers[layout.layers.length - 1]!.activation,
      loss: spec.loss,
      targetMin: range.min,
      targetMax: range.max,
      layerActivations: layout.layers.map((s) => s.activation),
    },
    cfg.diagnosis,
  );
}

interface LoopArgs {
  cfg: RunConfig;
  opts: TrainOptions;
  p: Prepared;
  stepper: Stepper;
  diagnoser: Diagnoser;
  log: pino.Logger;
  /** Where the step records go (the run's log, or opts.logger). */
  stepLog: StepWriter;
  checkpoints: Checkpoints;
  stopper: EarlyStopping | null;
}

/**
 * Steps p.startStep + 1 … p.totalSteps, or until opts.signal aborts: each step's batch from its
 * epoch's order, one 'step' record per step, written as soon as the step is done, and after
 * it the end of an epoch and the checkpoint schedule (afterStep), until early stopping stops
 * the run (a resumed run that had stopped does no step).
 */
async function runSteps(a: LoopArgs): Promise<LoopEnd> {
  const { cfg, opts, p, stepper, diagnoser, stepLog } = a;
  const { trainSet, params, batch, microBatch, perEpoch, totalSteps } = p;
  const end: LoopEnd = {
    stepsDone: p.startStep,
    lastStepLoss: NaN,
    diagnosis: { states: ['ok'], evidence: {} },
    skippedSteps: 0,
    interrupted: false,
  };
  let consecutiveSkips = 0;
  let orderEpoch = -1;
  let order = new Uint32Array(0);
  /** The time the previous step's record took to write: in this step's split (recordMs). */
  let recordMs = 0;
  const rates = new LearningRate(cfg.schedule, cfg.optimizer.lr, perEpoch);
  let lastYield = performance.now();
  const first = a.stopper?.stopped ? totalSteps + 1 : p.startStep + 1;
  const records: RecordState = { first, explained: 0, shown: null };
  for (let step = first; step <= totalSteps; step++) {
    // A step computed on the main thread resolves through microtasks only; let the event
    // loop run at least every 5 ms so sockets (live stream, remote workers, heartbeats)
    // and timers are served while training, and write the step records held since.
    if (performance.now() - lastYield > 5) {
      stepLog.flush();
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
    if (opts.signal?.aborted) {
      end.interrupted = true;
      break;
    }
    const epoch = Math.floor((step - 1) / perEpoch);
    const inEpoch = (step - 1) % perEpoch;
    // unshuffled, every epoch's order is the same identity: built once
    if (epoch !== orderEpoch && (cfg.data.shuffle || orderEpoch < 0)) {
      order = epochOrder(trainSet.n, cfg.seed, epoch, cfg.data.shuffle);
      orderEpoch = epoch;
    }
    const { start, end: stop } = batchRange(trainSet.n, batch, inEpoch);
    const ts = performance.now();
    const lr = rates.at(step);
    const r = await stepper.run({ step, epoch, params, batch: { step, order, start, end: stop, microBatch } }, lr);
    const stepMs = performance.now() - ts;
    r.split.recordMs = round3(recordMs);
    if (r.skipped !== undefined) {
      end.skippedSteps++;
      consecutiveSkips++;
    } else {
      consecutiveSkips = 0;
    }
    end.lastStepLoss = r.loss;
    const tr = performance.now();
    writeRecord(a, records, end, step, epoch, lr, stepMs, r);
    recordMs = performance.now() - tr;
    if (r.skipped !== undefined && consecutiveSkips >= cfg.maxSkips) {
      throw Errors.nonFinite(`${consecutiveSkips} consecutive steps skipped (maxSkips ${cfg.maxSkips}); last: ${r.skipped}`);
    }
    end.stepsDone = step;
    if (afterStep(a, step, epoch, inEpoch)) break;
  }
  stepLog.flush();
  // the run's diagnosis with its evidence, however the loop ended (early stopping, a signal)
  if (end.stepsDone > p.startStep && records.explained !== end.stepsDone) end.diagnosis = diagnoser.explain();
  return end;
}

/** What the records of a run's steps carry from one to the next. */
interface RecordState {
  /** The run's first step here. */
  readonly first: number;
  /** The step whose record last carried the evidence. */
  explained: number;
  /** The states of the last record. */
  shown: DiagnosisStates | null;
}

/**
 * A step's record: its fields in the log line's order, built once (the log line and onStep read
 * this one object: no copies, no spreads), the diagnosis after it, the line, onStep. The
 * evidence sentences go on the first record, when the states change, every window and at the
 * last step; the states alone in between (schema.ts, StepRecord.diagnosis): pushStates' frozen
 * object, one per set of states, so that the same states are the same object.
 */
function writeRecord(
  a: LoopArgs,
  rs: RecordState,
  end: LoopEnd,
  step: number,
  epoch: number,
  lr: number,
  stepMs: number,
  r: StepResult,
): void {
  const fields: StepRecord = {
    msg: 'step',
    schema: LOG_SCHEMA_VERSION,
    run: a.p.run,
    step,
    epoch,
    loss: r.loss,
    examples: r.examples,
    lr,
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
  const diagnoser = a.diagnoser;
  const d = diagnoser.pushStates(fields);
  if (step === rs.first || step === a.p.totalSteps || step - rs.explained >= diagnoser.window || d !== rs.shown) {
    end.diagnosis = fields.diagnosis = diagnoser.explain();
    rs.explained = step;
  } else {
    fields.diagnosis = d;
  }
  rs.shown = d;
  a.stepLog.write(r.skipped !== undefined ? 'warn' : 'info', fields);
  a.opts.onStep?.(fields);
}

/**
 * After step `step`: the held-out evaluation at an epoch's end and early stopping's verdict on
 * it, then a checkpoint when one is due (not at the last step, nor when the run stops here:
 * finish() writes that one). Returns true when the run stops early.
 */
function afterStep(a: LoopArgs, step: number, epoch: number, inEpoch: number): boolean {
  const { cfg, p } = a;
  const heldOut = p.data.heldOut;
  const endOfEpoch = inEpoch === p.perEpoch - 1 || step === p.totalSteps;
  if (endOfEpoch && heldOut && heldOut.n > 0) {
    const ev = evaluate(p.spec, p.kernels, p.params, heldOut);
    const loss = ev.lossSum / (cfg.reduction === 'mean' ? ev.examples : 1);
    a.log.info({ step, epoch, loss, accuracy: ev.accuracy ?? undefined, examples: ev.examples }, 'eval');
    if (a.stopper?.observe(epoch, step, { loss, accuracy: ev.accuracy }, p.params, step === p.totalSteps)) {
      a.log.info(a.stopper.record(epoch, step), 'early-stop');
      return true;
    }
  }
  if (a.checkpoints.due(step) && step !== p.totalSteps) {
    a.stepLog.flush(); // a checkpoint's steps are in the log before it exists
    a.checkpoints.write(step);
  }
  return false;
}
