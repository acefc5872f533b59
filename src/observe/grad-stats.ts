/**
 * grad-stats.ts — per-layer numbers of one step: ‖dJdW‖, ‖dJdWb‖, ‖W‖, update/weight ratio,
 * saturated and dead fractions. Pure arithmetic over flat buffers (layout passed in).
 * Not here: the diagnosis over many steps (diagnose.ts), writing records (logger.ts).
 */

import type { LayerRecord } from './schema';

export interface LayerGeometry {
  /** Index in the model's layer list (the record's `layer`). */
  layer: number;
  /** Element offsets and lengths of W and b in the flat buffers. */
  w: number;
  wSize: number;
  b: number;
  bSize: number;
  activation: string;
  /** Units counted per example (dense: outputs; conv2d: channels) and the positions each has (1, or OH·OW). */
  units: number;
  positions: number;
  /** Offset of this layer's counts in the stats buffer: [saturated, per-unit z>0 counts…]. */
  statsOffset: number;
}

/**
 * Layer records from sums of squares computed during the step (optim/clip.ts reduceInPlace):
 * norms[4l..4l+3] = Σg²(W), Σg²(b), Σθ²(W) before the update, Σ(ΔW)². stats: summed
 * activation counts over `examples` examples.
 */
export function layerRecords(layers: LayerGeometry[], norms: Float64Array, stats: Float64Array, examples: number): LayerRecord[] {
  const out: LayerRecord[] = [];
  for (let l = 0; l < layers.length; l++) {
    const s = layers[l]!;
    const W = Math.sqrt(norms[4 * l + 2]!);
    let dead = 0;
    if (s.activation === 'relu' && examples > 0) {
      for (let j = 0; j < s.units; j++) if (stats[s.statsOffset + 1 + j] === 0) dead++;
    }
    const sat = s.activation === 'tanh' || s.activation === 'sigmoid';
    out.push({
      layer: s.layer,
      activation: s.activation,
      dJdW: Math.sqrt(norms[4 * l]!),
      dJdWb: Math.sqrt(norms[4 * l + 1]!),
      W,
      updateRatio: W > 0 ? Math.sqrt(norms[4 * l + 3]!) / W : 0,
      saturated: sat && examples > 0 ? stats[s.statsOffset]! / (examples * s.units * s.positions) : 0,
      dead: dead / s.units,
    });
  }
  return out;
}
