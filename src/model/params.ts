/**
 * params.ts — where every parameter lives in one flat buffer, initialisation, and the hash.
 *
 * Layout: the layers that have parameters (dense, conv2d), in order, each W then b, W in
 * PyTorch's layout — dense (out, in), conv2d (out, in, kh, kw) — row-major. The same layout
 * serves gradients (dJdW then dJdWb), the optimizer's state, checkpoints and the wire, so all
 * of them are single contiguous typed arrays.
 * Not here: arithmetic on parameters (layers/, optim/).
 */

import { createHash } from 'node:crypto';
import { alloc, type Float } from '../tensor/dtype';
import type { Activation } from '../tensor/kernels';
import type { Rng } from '../tensor/rng';
import { kindOf, shapesOf, type Conv2dSpec, type DenseSpec, type LayerKind, type ModelSpec } from './spec';

/** One layer with parameters: where its W and b live, and what its statistics count. */
export interface LayerSlot {
  /** Index in spec.layers. */
  layer: number;
  kind: LayerKind;
  /** W's shape, PyTorch's layout: [out, in] or [out, in, kh, kw]. */
  wShape: number[];
  /** Element offset and length of W in the flat buffer. */
  w: number;
  wSize: number;
  /** Element offset and length of b (one per output unit or channel). */
  b: number;
  bSize: number;
  /** Inputs each output sums over (dense: in; conv2d: in·kh·kw); initialisation's fan-in. */
  fanIn: number;
  /** Outputs each input reaches (dense: out; conv2d: out·kh·kw); initialisation's fan-out. */
  fanOut: number;
  activation: Activation;
  /** Units the statistics count per example (outputs, or channels). */
  units: number;
  /** Positions per unit per example (1, or OH·OW). */
  positions: number;
}

export interface ParamLayout {
  layers: LayerSlot[];
  /** Total parameter count. */
  size: number;
}

export function layoutOf(spec: ModelSpec): ParamLayout {
  const shapes = shapesOf(spec);
  const layers: LayerSlot[] = [];
  let off = 0;
  spec.layers.forEach((l, i) => {
    const kind = kindOf(l);
    if (kind !== 'dense' && kind !== 'conv2d') return;
    const inS = shapes[i]!;
    const outS = shapes[i + 1]!;
    let wShape: number[];
    let positions = 1;
    let kk = 1;
    if (kind === 'dense') wShape = [(l as DenseSpec).units, inS[0]!];
    else {
      const c = l as Conv2dSpec;
      wShape = [c.filters, inS[0]!, c.kernel, c.kernel];
      positions = outS[1]! * outS[2]!;
      kk = c.kernel * c.kernel;
    }
    const wSize = wShape.reduce((a, b) => a * b, 1);
    const units = wShape[0]!;
    const w = off;
    off += wSize;
    const b = off;
    off += units;
    layers.push({
      layer: i,
      kind,
      wShape,
      w,
      wSize,
      b,
      bSize: units,
      fanIn: wShape[1]! * kk,
      fanOut: units * kk,
      activation: (l as DenseSpec | Conv2dSpec).activation,
      units,
      positions,
    });
  });
  return { layers, size: off };
}

/**
 * How to initialise. 'glorot-uniform' (PyTorch's xavier_uniform_): W ~ U(±√(6/(fanIn+fanOut))), b = 0.
 * 'he-uniform': W ~ U(±√(6/fanIn)), b = 0. 'values': W (flat, in the layout above) and b given,
 * one pair per layer that has parameters.
 * `bias` overrides every bias with a constant (e.g. a large negative value to show dead ReLUs).
 */
export type InitSpec =
  { scheme: 'glorot-uniform' | 'he-uniform'; gain?: number; bias?: number } | { scheme: 'values'; layers: { W: number[]; b: number[] }[] };

/** Fills `params` (layout of `spec`) from `init`, drawing each W element in layout order from `rng`. */
export function initParams(layout: ParamLayout, init: InitSpec, rng: Rng, params: Float): void {
  if (init.scheme === 'values') {
    layout.layers.forEach((s, i) => {
      const v = init.layers[i]!;
      for (let j = 0; j < s.wSize; j++) params[s.w + j] = v.W[j]!;
      for (let j = 0; j < s.bSize; j++) params[s.b + j] = v.b[j]!;
    });
    return;
  }
  const gain = init.gain ?? 1;
  for (const s of layout.layers) {
    const limit = gain * Math.sqrt(init.scheme === 'glorot-uniform' ? 6 / (s.fanIn + s.fanOut) : 6 / s.fanIn);
    for (let j = 0; j < s.wSize; j++) params[s.w + j] = rng.uniform(-limit, limit);
    for (let j = 0; j < s.bSize; j++) params[s.b + j] = init.bias ?? 0;
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

/** Per-layer W and b as plain arrays, one pair per layer with parameters (for summaries of small models). */
export function paramsToArrays(layout: ParamLayout, params: Float): { W: number[]; b: number[] }[] {
  return layout.layers.map((s) => ({
    W: Array.from(params.subarray(s.w, s.w + s.wSize)),
    b: Array.from(params.subarray(s.b, s.b + s.bSize)),
  }));
}
