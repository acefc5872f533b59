/**
 * init-weights.ts — a run's first weights: drawn from cfg.model.init and the seed, or read from
 * the safetensors file it names (the only place that reads that file; the model and export
 * layers get its bytes and tensors).
 * Not here: restoring a checkpoint (prepare.ts), the format (export/safetensors.ts).
 */

import * as fs from 'node:fs';
import type { RunConfig } from '../config';
import { Errors } from '../errors';
import type { Float } from '../tensor/dtype';
import { Rng } from '../tensor/rng';
import { initParams, type ParamLayout } from '../model/params';
import type { ModelSpec } from '../model/spec';
import { decodeSafetensors } from '../export/safetensors';
import { loadStateDict } from '../export/state-dict';

/** Fills `params` (layout of `spec`) as cfg.model.init says. */
export function initialParams(cfg: RunConfig, spec: ModelSpec, layout: ParamLayout, params: Float): void {
  const init = cfg.model.init;
  if (init.scheme === 'safetensors') readWeightsFile(init.path, spec, layout, params);
  else initParams(layout, init, new Rng(cfg.seed), params);
}

/** Reads a safetensors file of the model's nn.Sequential state dict into `params`; GS_ERR_WEIGHTS naming the file and the tensor or byte. */
export function readWeightsFile(file: string, spec: ModelSpec, layout: ParamLayout, params: Float): void {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw Errors.weights(
      file,
      '',
      `cannot read the weights file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      'model.init.path is relative to the config file',
    );
  }
  loadStateDict(spec, layout, decodeSafetensors(bytes, file), params, file);
}
