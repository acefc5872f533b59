/**
 * run-records.ts — a run's two ends: the 'start' record (what the run is about to do) and, after
 * the last step, the last checkpoint, the final evaluations, the 'end' record and the summary.
 * Not here: the steps between them and their records (loop.ts).
 */

import * as os from 'node:os';
import type pino from 'pino';
import type { RunConfig } from '../config';
import { paramsSha256, paramsToArrays } from '../model/params';
import type { Diagnosis } from '../observe/schema';
import type { ThreadPool } from '../parallel/thread-pool';
import type { EarlyStopping } from './early-stopping';
import { evaluate } from './evaluate';
import type { LocalExecutors } from './executors';
import type { StartInfo, TrainOptions, TrainSummary } from './options';
import type { Prepared } from './prepare';
import type { Checkpoints } from './run-files';

/** What the step loop leaves for finish(). */
export interface LoopEnd {
  /** The last step done (p.startStep when none was). */
  stepsDone: number;
  lastStepLoss: number;
  diagnosis: Diagnosis;
  skippedSteps: number;
  /** opts.signal stopped the run before its last step. */
  interrupted: boolean;
}

/** The 'start' record (what the run is about to do), then onStart with the same. */
export function announce(
  cfg: RunConfig,
  p: Prepared,
  opts: TrainOptions,
  log: pino.Logger,
  executors: string[],
  local: LocalExecutors,
): void {
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
      kernelProfile: kernels.profile,
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

/** The last checkpoint, the final evaluations, the 'end' record and the summary. */
export function finish(
  cfg: RunConfig,
  p: Prepared,
  log: pino.Logger,
  end: LoopEnd,
  seconds: number,
  checkpoints: Checkpoints,
  pool: ThreadPool | null,
  stopper: EarlyStopping | null,
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
    kernelProfile: kernels.profile,
    stoppedEarly: stopper?.stopped ?? false,
    interrupted: end.interrupted,
    bestEpoch: stopper?.best.epoch ?? null,
    bestHeldOutLoss: stopper?.best.heldOutLoss ?? null,
  };
  if (layout.size <= 1000) summary.params = paramsToArrays(layout, params);
  // per pool thread: the CPU it was pinned to (null: it floated), its serve loops (more than one:
  // its thread was replaced) and the tasks withdrawn before it woke
  const poolInfo = pool?.executors.map((e) => ({
    id: e.id,
    cpu: e.pinnedCpu(),
    serveLoops: e.serveLoops,
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
      ...(stopper ? { stoppedEarly: summary.stoppedEarly, bestEpoch: summary.bestEpoch, bestHeldOutLoss: summary.bestHeldOutLoss } : {}),
      ...(end.interrupted ? { interrupted: true } : {}),
      seconds,
      checkpoint,
    },
    'end',
  );
  return summary;
}
