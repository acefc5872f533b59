/**
 * params.ts — where every parameter lives in one flat buffer, initialisation, and the hash.
 *
 * Layout: layer by layer, W (nOut, nIn) row-major then b (nOut). The same layout serves
 * gradients (dJdW then dJdWb), the optimizer's state, checkpoints and the wire, so all of
 * them are single contiguous typed arrays.
 * Not here: arithmetic on parameters (mlp.ts, optim/).
 */

import { createHash } from 'node:crypto';
import { alloc, type Float } from '../tensor/dtype';
import type { Rng } from '../tensor/rng';
import type { ModelSpec } from './spec';

export interface LayerSlot {
  nIn: number;
  nOut: number;
  /** Element offset of W in the flat buffer. */
  w: number;
  /** Element offset of b in the flat buffer. */
  b: number;
}

export interface ParamLayout {
  layers: LayerSlot[];
  /** Total parameter count. */
  size: number;
}

export function layoutOf(spec: ModelSpec): ParamLayout {
  const layers: LayerSlot[] = [];
  let off = 0;
  let nIn = spec.inputs;
  for (const l of spec.layers) {
    const w = off;
    off += l.units * nIn;
    const b = off;
    off += l.units;
    layers.push({ nIn, nOut: l.units, w, b });
    nIn = l.units;
  }
  return { layers, size: off };
}

/**
 * How to initialise. 'glorot-uniform' (PyTorch's xavier_uniform_): W ~ U(±√(6/(nIn+nOut))), b = 0.
 * 'he-uniform': W ~ U(±√(6/nIn)), b = 0. 'values': W and b given, one pair per layer.
 * `bias` overrides every bias with a constant (e.g. a large negative value to show dead ReLUs).
 */
export type InitSpec =
  { scheme: 'glorot-uniform' | 'he-uniform'; gain?: number; bias?: number } | { scheme: 'values'; layers: { W: number[]; b: number[] }[] };

/** Fills `params` (layout of `spec`) from `init`, drawing W row by row from `rng`. */
export function initParams(layout: ParamLayout, init: InitSpec, rng: Rng, params: Float): void {
  if (init.scheme === 'values') {
    layout.layers.forEach((s, i) => {
      const v = init.layers[i]!;
      for (let j = 0; j < s.nOut * s.nIn; j++) params[s.w + j] = v.W[j]!;
      for (let j = 0; j < s.nOut; j++) params[s.b + j] = v.b[j]!;
    });
    return;
  }
  const gain = init.gain ?? 1;
  for (const s of layout.layers) {
    const limit = gain * Math.sqrt(init.scheme === 'glorot-uniform' ? 6 / (s.nIn + s.nOut) : 6 / s.nIn);
    for (let j = 0; j < s.nOut * s.nIn; j++) params[s.w + j] = rng.uniform(-limit, limit);
    for (let j = 0; j < s.nOut; j++) params[s.b + j] = init.bias ?? 0;
  }
}

export function newParams(spec: ModelSpec, layout: ParamLayout, shared = false): Float {
  return alloc(spec.dtype, layout.size, shared);
}

/** sha256 over all parameters, layer by layer, W then b, as little-endian bytes of the dtype. */
export function paramsSha256(params: Float): string {
  const bytes = new Uint8Array(params.buffer, params.byteOffset, params.byteLength);
  if (!LITTLE_ENDIAN) {
    const copy = new Uint8Array(bytes.length);
    const w = params.BYTES_PER_ELEMENT;
    for (let i = 0; i < bytes.length; i += w) for (let j = 0; j < w; j++) copy[i + j] = bytes[i + w - 1 - j]!;
    return createHash('sha256').update(copy).digest('hex');
  }
  return createHash('sha256').update(bytes).digest('hex');
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Per-layer W and b as plain arrays (for summaries of small models). */
export function paramsToArrays(layout: ParamLayout, params: Float): { W: number[]; b: number[] }[] {
  return layout.layers.map((s) => ({
    W: Array.from(params.subarray(s.w, s.w + s.nOut * s.nIn)),
    b: Array.from(params.subarray(s.b, s.b + s.nOut)),
  }));
}
