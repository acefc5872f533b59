/**
 * setup.ts — from a RunConfig to the things a run needs: datasets and the model spec.
 * Not here: the step (step.ts), the loop (loop.ts).
 */

import type { RunConfig } from '../config';
import { Errors } from '../errors';
import type { ModelSpec } from '../model/spec';
import { statsLayoutOf } from '../model/mlp';
import type { ParamLayout } from '../model/params';
import type { LayerGeometry } from '../observe/grad-stats';
import type { Dataset } from '../data/dataset';
import { loadCsv } from '../data/csv';
import { loadIdx } from '../data/idx';
import { doubling, loadDigits, splitHeldOut } from '../data/datasets';

export interface RunData {
  train: Dataset;
  heldOut: Dataset | null;
}

/** Loads the configured data in the run's dtype; train data goes to shared memory when `shared`. */
export function loadRunData(cfg: RunConfig, shared = false): RunData {
  const d = cfg.data;
  const dtype = cfg.dtype;
  let all: Dataset;
  switch (d.source) {
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
  if (d.heldOut !== null && d.heldOut > 0) {
    const { train, heldOut } = splitHeldOut(all, d.heldOut, cfg.seed, shared);
    return { train, heldOut };
  }
  return { train: all, heldOut: null };
}

/** The model spec of a run over data with `inputs` features and `outputs` targets. */
export function modelSpecOf(cfg: RunConfig, inputs: number, outputs: number): ModelSpec {
  const last = cfg.model.layers[cfg.model.layers.length - 1]!;
  if (last.units !== outputs) {
    throw Errors.config(
      'model.layers',
      `the last layer has ${last.units} units but the data has ${outputs} target${outputs === 1 ? '' : 's'} per example`,
    );
  }
  return { inputs, layers: cfg.model.layers, loss: cfg.model.loss, dtype: cfg.dtype };
}

/** The factor the run multiplies raw input features by (predict applies it to its input rows). */
export function inputScaleOf(cfg: RunConfig): number {
  switch (cfg.data.source) {
    case 'digits':
      return 1 / 16;
    case 'doubling':
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
  return layout.layers.map((s, l) => ({ ...s, activation: spec.layers[l]!.activation, statsOffset: stats.offsets[l]! }));
}

/** The parameter tensors' [from, to) ranges, W then b layer by layer (a shared tail's units are cut from them). */
export function paramTensorsOf(layout: ParamLayout): { from: number; to: number }[] {
  return layout.layers.flatMap((s) => [
    { from: s.w, to: s.w + s.nOut * s.nIn },
    { from: s.b, to: s.b + s.nOut },
  ]);
}
