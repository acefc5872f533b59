/**
 * spec.ts — what a model is: its input width, its dense layers, its loss and its dtype.
 *
 * A plain, serialisable description (it travels in configs, checkpoints and to remote
 * workers). Checking a spec coming from a user is config.ts's job; checkModelSpec here
 * guards the library API against impossible shapes.
 * Not here: parameters (params.ts), arithmetic (mlp.ts).
 */

import { Errors } from '../errors';
import { ACTIVATIONS, type Activation } from '../tensor/kernels';
import { DTYPES, type DType } from '../tensor/dtype';

export type LossKind = 'half-sse' | 'cross-entropy';
export const LOSSES: readonly LossKind[] = ['half-sse', 'cross-entropy'];

export interface LayerSpec {
  /** Output units of this dense layer. */
  units: number;
  activation: Activation;
}

export interface ModelSpec {
  /** Width of one input example. */
  inputs: number;
  layers: LayerSpec[];
  /** 'half-sse' is the original's J = ½·Σ(y − ŷ)²; 'cross-entropy' needs a softmax output. */
  loss: LossKind;
  dtype: DType;
}

/** Throws GS_ERR_SHAPE naming the first impossible part of a spec. */
export function checkModelSpec(spec: ModelSpec): void {
  const intOk = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1 << 24;
  if (!intOk(spec.inputs)) throw Errors.shape(`model.inputs must be an integer in [1, 2^24], got ${String(spec.inputs)}`);
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) throw Errors.shape('model.layers must be a non-empty array');
  spec.layers.forEach((l, i) => {
    if (!intOk(l.units)) throw Errors.shape(`model.layers[${i}].units must be an integer in [1, 2^24], got ${String(l.units)}`);
    if (!ACTIVATIONS.includes(l.activation)) {
      throw Errors.shape(`model.layers[${i}].activation must be one of ${ACTIVATIONS.join(', ')}, got ${String(l.activation)}`);
    }
  });
  if (!LOSSES.includes(spec.loss)) throw Errors.shape(`model.loss must be one of ${LOSSES.join(', ')}, got ${String(spec.loss)}`);
  if (!DTYPES.includes(spec.dtype)) throw Errors.shape(`model.dtype must be one of ${DTYPES.join(', ')}, got ${String(spec.dtype)}`);
  const last = spec.layers[spec.layers.length - 1]!;
  if (spec.loss === 'cross-entropy' && last.activation !== 'softmax') {
    throw Errors.shape(`model.loss "cross-entropy" needs the last layer's activation to be "softmax", got "${last.activation}"`);
  }
}

/** Output width of the model. */
export function outputsOf(spec: ModelSpec): number {
  return spec.layers[spec.layers.length - 1]!.units;
}
