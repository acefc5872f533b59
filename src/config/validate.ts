/**
 * config/validate.ts — validate(): a parsed config (every field optional) checked section by
 * section and filled with DEFAULTS into a RunConfig. Unknown keys are rejected at every level; a
 * bad field throws GradsyncError GS_ERR_CONFIG naming its path (e.g. `optimizer.lr`) and the
 * allowed values. The checks across sections (the model's last layer and loss, init against
 * the layers) are here.
 * Not here: the type and defaults (config.ts), reading a file (config/load.ts).
 */

import { Errors } from '../errors';
import { DTYPES } from '../tensor/dtype';
import { KERNEL_PROFILES } from '../tensor/kernels';
import { LOSSES } from '../model/spec';
import { DIAGNOSIS_DEFAULTS, DIAGNOSIS_INTEGERS, type DiagnosisOptions } from '../observe/diagnose-options';
import { DEFAULTS, type RunConfig } from '../config';
import { bool, keys, num, oneOf, type Json } from './fields';
import { validateData } from './validate-data';
import { validateInit, validateInput, validateLayer } from './validate-model';
import { validateEarlyStopping, validateOptimizer, validateSchedule } from './validate-training';

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
