/**
 * prepare.ts — everything a run is before its first step, checked and built before anything is
 * written: the run id, the data, the model and its kernels, the weights and optimizer state —
 * new from cfg.model.init (and the seed, or a safetensors file), or restored from a checkpoint (resume).
 */

import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { resolveThreads, type RunConfig } from '../config';
import { Errors } from '../errors';
import { alloc, type Float } from '../tensor/dtype';
import { selectKernels } from '../tensor/select';
import type { KernelSet } from '../tensor/kernels';
import { layoutOf, newParams, type ParamLayout } from '../model/params';
import type { ModelSpec } from '../model/spec';
import { newOptimizerState, type OptimizerState } from '../optim/optimizer';
import { stepsPerEpoch } from '../data/batching';
import type { Dataset } from '../data/dataset';
import type { LayerGeometry } from '../observe/grad-stats';
import { assertCompatible, findResumePoint } from './checkpoint';
import type { EarlyStoppingState } from './early-stopping';
import { initialParams } from './init-weights';
import type { StartInfo, TrainOptions } from './options';
import { dataShapeOf, layerGeometryOf, loadRunData, modelSpecOf, type RunData } from './setup';

export function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${t}-${crypto.randomBytes(2).toString('hex')}`;
}

/** What a run is before its first step: the data, the model, the kernels, the weights and optimizer state (resumed or new). */
export interface Prepared {
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
  /** The early-stopping state of the checkpoint resumed from, if it has one. */
  earlyStopping: EarlyStoppingState | null;
  batch: number;
  /** Examples per tree leaf (cfg.microBatch capped by the batch). */
  microBatch: number;
  perEpoch: number;
  totalSteps: number;
}

/** Everything train() checks and builds before anything is written: a bad config, data or checkpoint throws here. */
export function prepare(cfg: RunConfig, opts: TrainOptions): Prepared {
  const run = newRunId();
  const threads = resolveThreads(cfg.threads);
  // pool threads read the training examples from shared memory
  const data = opts.data ?? loadRunData(cfg, threads > 1);
  const trainSet = data.train;
  if (trainSet.n === 0) throw Errors.config('data', `the training set "${trainSet.name}" has no examples`);
  checkEarlyStopping(cfg, data);
  const spec = modelSpecOf(cfg, trainSet.inputs, trainSet.outputs, dataShapeOf(cfg, trainSet));
  const layout = layoutOf(spec);
  const { kernels, fallbackNote } = selectKernels(spec.dtype, opts.kernels ?? 'auto', cfg.kernelProfile);
  // parameters live in shared memory so pool threads read them without a copy
  const params = newParams(spec, layout, true);
  // the optimizer's buffers too: pool threads advance their share of them in a shared tail
  let opt: OptimizerState = newOptimizerState(cfg.optimizer, spec.dtype, layout.size, true);
  let startStep = 0;
  let resume: StartInfo['resume'] = null;
  let earlyStopping: EarlyStoppingState | null = null;
  if (opts.resumeFrom) {
    const r = resumeFrom(opts.resumeFrom, spec, cfg, trainSet, params, opt);
    opt = r.opt;
    startStep = r.resume.step;
    resume = r.resume;
    earlyStopping = r.earlyStopping;
  } else {
    initialParams(cfg, spec, layout, params);
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
    earlyStopping,
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
  cfg: RunConfig,
  trainSet: Dataset,
  params: Float,
  opt: OptimizerState,
): { opt: OptimizerState; resume: NonNullable<StartInfo['resume']>; earlyStopping: EarlyStoppingState | null } {
  const found = findResumePoint(from);
  const ck = found.checkpoint;
  assertCompatible(found.file, ck, spec, cfg.kernelProfile);
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
  return {
    opt: { ...ck.optimizer, buffers },
    resume: { file: found.file, step: ck.header.step, skipped: found.skipped },
    earlyStopping: ck.header.earlyStopping ?? null,
  };
}

/** Early stopping watches the held-out data: refused when the run has none (or no labels for accuracy). */
function checkEarlyStopping(cfg: RunConfig, data: RunData): void {
  const es = cfg.earlyStopping;
  if (es === null) return;
  if (data.heldOut === null || data.heldOut.n === 0)
    throw Errors.config(
      'earlyStopping',
      `needs held-out data to watch, and this run has none (data "${data.train.name}": ${data.heldOut === null ? 'nothing held out' : 'the held-out split is empty'})`,
    );
  if (es.monitor === 'accuracy' && data.heldOut.labels === null)
    throw Errors.config('earlyStopping.monitor', '"accuracy" needs classification data (class labels); this run\'s held-out data has none');
}
