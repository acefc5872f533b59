/**
 * setup.ts — from what train() is given to the things a run needs: the RunConfig (a partial
 * config or one with in-memory arrays is validated first), the datasets and the model spec.
 * Not here: the step (step.ts), the loop (loop.ts).
 */

import { constants as bufferConstants } from 'node:buffer';
import * as os from 'node:os';
import { arraysOf, isRunConfig, resolveThreads, type RunConfig, type TrainConfig } from '../config';
import { validate } from '../config/validate';
import { Errors, GradsyncError } from '../errors';
import { fmtShape, kindOf, shapesOf, sizeOf, type DenseSpec, type LayerSpec, type ModelSpec } from '../model/spec';
import { bytesPerElement } from '../tensor/dtype';
import { statsLayoutOf } from '../model/model';
import { layoutOf, type ParamLayout } from '../model/params';
import type { LayerGeometry } from '../observe/grad-stats';
import type { Dataset } from '../data/dataset';
import { fromArrays } from '../data/arrays';
import { loadCsv } from '../data/csv';
import { loadIdx } from '../data/idx';
import { doubling, loadDigits, splitHeldOut } from '../data/datasets';

export interface RunData {
  train: Dataset;
  heldOut: Dataset | null;
}

/**
 * The RunConfig of what train() was given, and its data when that came as arrays: a complete
 * RunConfig is used as it is; anything else — a partial config as in a JSON file, or one whose
 * data is data: { x, y, … } — is validated (config.ts) and its arrays built into datasets here
 * (data/arrays.ts; pool threads read them from shared memory), held out as a file's rows are.
 */
export function resolveRun(config: RunConfig | TrainConfig, given?: RunData): { cfg: RunConfig; data: RunData | undefined } {
  const arrays = arraysOf(config);
  const cfg = arrays === null && isRunConfig(config) ? config : validate(config);
  if (arrays === null || given !== undefined) return { cfg, data: given };
  const shared = resolveThreads(cfg.threads) > 1;
  // a cross-entropy model's y are class labels, as PyTorch's CrossEntropyLoss takes them
  const all = fromArrays(arrays, { dtype: cfg.dtype, shared, ...(cfg.model.loss === 'cross-entropy' ? { labels: true } : {}) });
  return { cfg, data: heldOutSplit(cfg, all, shared) };
}

/** Loads the configured data in the run's dtype; train data goes to shared memory when `shared`. */
export function loadRunData(cfg: RunConfig, shared = false): RunData {
  const d = cfg.data;
  const dtype = cfg.dtype;
  let all: Dataset;
  switch (d.source) {
    case 'memory':
      throw Errors.config(
        'data',
        `source "memory" describes arrays given to train() from code, and there are none here`,
        'call train({ …, data: { x, y } }) from your code; a config file names a CSV or IDX file instead',
      );
    case 'digits':
      all = loadDigits({ dtype, shared });
      break;
    case 'doubling':
      all = doubling(dtype);
      break;
    case 'csv':
      all = loadCsv(d.path, {
        dtype,
        shared,
        scale: d.scale,
        label: d.label,
        targets: d.targets,
        header: d.header,
        ...(d.classes !== null ? { classes: d.classes } : {}),
      });
      break;
    case 'idx':
      // no heldOut: the t10k split is the held-out set; else a part of the train split, as for a CSV
      if (d.heldOut === null)
        return {
          train: loadIdx(d.dir, 'train', { dtype, shared, scale: d.scale }),
          heldOut: loadIdx(d.dir, 'test', { dtype, scale: d.scale }),
        };
      all = loadIdx(d.dir, 'train', { dtype, shared, scale: d.scale });
      break;
  }
  return heldOutSplit(cfg, all, shared);
}

/** data.heldOut of `all` held out by the seeded split (datasets.ts), or none. */
function heldOutSplit(cfg: RunConfig, all: Dataset, shared: boolean): RunData {
  const h = cfg.data.heldOut;
  if (h !== null && h > 0) return splitHeldOut(all, h, cfg.seed, shared);
  return { train: all, heldOut: null };
}

/**
 * The model spec of a run over data with `inputs` features and `outputs` targets. The example
 * shape is model.input, else the data's own ([1, 8, 8] for the digits, [1, rows, cols] for IDX
 * images) when a layer needs an image, else the flat width. Dropout layers get the run's seed.
 * Shapes that do not fit are a GS_ERR_CONFIG naming the layer, its input shape and what would fit.
 */
export function modelSpecOf(cfg: RunConfig, inputs: number, outputs: number, dataShape?: number[]): ModelSpec {
  const last = cfg.model.layers[cfg.model.layers.length - 1]!;
  if (kindOf(last) !== 'dense')
    throw Errors.config(
      `model.layers[${cfg.model.layers.length - 1}]`,
      `the last layer must be dense (it gives the outputs the loss reads), got ${kindOf(last)}`,
    );
  const units = (last as DenseSpec).units;
  if (units !== outputs) {
    throw Errors.config(
      'model.layers',
      `the last layer has ${units} units but the data has ${outputs} target${outputs === 1 ? '' : 's'} per example`,
    );
  }
  const wantsImage = cfg.model.layers.some((l) => kindOf(l) !== 'dense' && kindOf(l) !== 'dropout');
  let input: number[] | undefined;
  if (cfg.model.input !== null) input = typeof cfg.model.input === 'number' ? [cfg.model.input] : [...cfg.model.input];
  else if (wantsImage && dataShape !== undefined) input = [...dataShape];
  if (input !== undefined && sizeOf(input) !== inputs) {
    throw Errors.config('model.input', `${fmtShape(input)} holds ${sizeOf(input)} values but the data has ${inputs} features per example`);
  }
  if (input !== undefined && input.length === 1) input = undefined;
  if (wantsImage && input === undefined) {
    throw Errors.config(
      'model.input',
      `the model has image layers but the data has no image shape; give model.input as [C, H, W] with C·H·W = ${inputs}`,
    );
  }
  const layers = cfg.model.layers.map((l): LayerSpec => (l.type === 'dropout' ? { ...l, seed: l.seed ?? cfg.seed >>> 0 } : l));
  const spec: ModelSpec = { inputs, ...(input !== undefined ? { input } : {}), layers, loss: cfg.model.loss, dtype: cfg.dtype };
  try {
    shapesOf(spec);
  } catch (e) {
    const m = /^(model\.layers\[\d+\]) (.*)$/s.exec((e as Error).message);
    if (e instanceof GradsyncError && e.code === 'GS_ERR_SHAPE' && m) throw Errors.config(m[1]!, m[2]!);
    throw e;
  }
  checkModelFits(spec);
  return spec;
}

/** The shape of one example of a configured data source, when it has one (digits, IDX images). */
export function dataShapeOf(cfg: RunConfig, ds: { inputs: number }): number[] | undefined {
  if (cfg.data.source === 'digits') return [1, 8, 8];
  if (cfg.data.source === 'idx') {
    const side = Math.round(Math.sqrt(ds.inputs));
    if (side * side === ds.inputs) return [1, side, side];
  }
  return undefined;
}

/** Bytes as a reader wants them: B, KiB, MiB, GiB, TiB with three significant digits. */
export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toPrecision(3)} ${units[i]}`;
}

/**
 * Throws GS_ERR_CONFIG naming the layer before anything is allocated when the parameters
 * cannot be held: they are one flat buffer (params.ts), which Node caps at
 * buffer.constants.MAX_LENGTH bytes, and a run holds at least two of them (the weights and a
 * gradient), which must fit in the machine's memory (`memoryBytes`, default os.totalmem()).
 */
export function checkModelFits(spec: ModelSpec, memoryBytes = os.totalmem()): void {
  const el = bytesPerElement(spec.dtype);
  const perBuffer = Math.min(bufferConstants.MAX_LENGTH, memoryBytes / 2);
  const why =
    perBuffer === bufferConstants.MAX_LENGTH
      ? `more than one buffer can hold (${fmtBytes(perBuffer)}, Node's largest ArrayBuffer)`
      : `and a run holds two copies (weights, gradient): more than half of this machine's ${fmtBytes(memoryBytes)} of memory`;
  let total = 0;
  const all = layoutOf(spec).size * el;
  for (const l of layoutOf(spec).layers) {
    const bytes = (l.wSize + l.bSize) * el;
    total += bytes;
    if (total > perBuffer) {
      throw Errors.config(
        `model.layers[${l.layer}]`,
        `${l.kind === 'dense' ? `${l.wShape[0]} units × ${l.wShape[1]} inputs` : `W ${fmtShape(l.wShape)}`}: ${fmtBytes(bytes)} of ${spec.dtype} parameters; the model's parameters need ${fmtBytes(all)} (${all} bytes), ${why}`,
        'use fewer units, or float32',
      );
    }
  }
}

/** The factor the run multiplies raw input features by (predict applies it to its input rows). */
export function inputScaleOf(cfg: RunConfig): number {
  switch (cfg.data.source) {
    case 'digits':
      return 1 / 16;
    case 'doubling':
    case 'memory':
      return 1;
    case 'csv':
      return cfg.data.scale;
    case 'idx':
      return cfg.data.scale;
  }
}

/** Each layer's place in the parameter vector, its activation and where its statistics go (the step's records). */
export function layerGeometryOf(spec: ModelSpec, layout: ParamLayout): LayerGeometry[] {
  const stats = statsLayoutOf(spec);
  return layout.layers.map((s, l) => ({
    layer: s.layer,
    w: s.w,
    wSize: s.wSize,
    b: s.b,
    bSize: s.bSize,
    activation: s.activation,
    units: s.units,
    positions: s.positions,
    statsOffset: stats.offsets[l]!,
  }));
}

/** The parameter tensors' [from, to) ranges, W then b layer by layer (a shared tail's units are cut from them). */
export function paramTensorsOf(layout: ParamLayout): { from: number; to: number }[] {
  return layout.layers.flatMap((s) => [
    { from: s.w, to: s.w + s.wSize },
    { from: s.b, to: s.b + s.bSize },
  ]);
}
