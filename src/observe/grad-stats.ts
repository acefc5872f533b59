/**
 * grad-stats.ts — per-layer numbers of one step: ‖dJdW‖, ‖dJdWb‖, ‖W‖, update/weight ratio,
 * saturated and dead fractions. Pure arithmetic over flat buffers (layout passed in).
 * Not here: the diagnosis over many steps (diagnose.ts), writing records (logger.ts).
 */

import type { Float } from '../tensor/dtype';
import type { LayerRecord } from './schema';

export interface LayerGeometry {
  nIn: number;
  nOut: number;
  /** Element offsets of W and b in the flat buffers. */
  w: number;
  b: number;
  activation: string;
  /** Offset of this layer's counts in the stats buffer: [saturated, per-unit z>0 counts…]. */
  statsOffset: number;
}

function norm(a: Float, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) { const v = a[i]!; s += v * v; }
  return Math.sqrt(s);
}

/**
 * grads: the reduced gradient; paramsBefore: θ before the update; update: θ_before − θ_after;
 * stats: summed activation counts over `examples` examples.
 */
export function layerStats(
  layers: LayerGeometry[], grads: Float, paramsBefore: Float, update: Float | null, stats: Float64Array, examples: number,
): LayerRecord[] {
  return layers.map((s, l) => {
    const wEnd = s.w + s.nOut * s.nIn;
    const W = norm(paramsBefore, s.w, wEnd);
    const dW = update ? norm(update, s.w, wEnd) : 0;
    let dead = 0;
    if (s.activation === 'relu' && examples > 0) {
      for (let j = 0; j < s.nOut; j++) if (stats[s.statsOffset + 1 + j] === 0) dead++;
    }
    const sat = s.activation === 'tanh' || s.activation === 'sigmoid';
    return {
      layer: l,
      activation: s.activation,
      dJdW: norm(grads, s.w, wEnd),
      dJdWb: norm(grads, s.b, s.b + s.nOut),
      W,
      updateRatio: W > 0 ? dW / W : 0,
      saturated: sat && examples > 0 ? stats[s.statsOffset]! / (examples * s.nOut) : 0,
      dead: dead / s.nOut,
    };
  });
}
