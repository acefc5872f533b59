/**
 * clip.ts — what happens to the summed gradient before the optimizer: reduction, weight
 * decay, global-norm clipping. All in place, in parameter order.
 *
 *   reduction 'mean'   g ← g / N                         (N = examples in the batch)
 *   weight decay       g ← g + λ·θ   for W and b alike    (as the original writes it)
 *   clipping           ‖g‖ > c  ⇒  g ← g · c/(‖g‖ + 1e-6)   (torch.nn.utils.clip_grad_norm_)
 * Not here: the update itself (optimizer.ts).
 */

import type { Float } from '../tensor/dtype';

export function divideInPlace(g: Float, n: number): void {
  for (let i = 0; i < g.length; i++) g[i] = g[i]! / n;
}

export function addWeightDecay(g: Float, params: Float, lambda: number): void {
  if (lambda === 0) return;
  for (let i = 0; i < g.length; i++) g[i] = g[i]! + lambda * params[i]!;
}

/** √(Σ g²) accumulated in float64 in index order over [from, to). */
export function l2Norm(g: Float, from = 0, to = g.length): number {
  let s = 0;
  for (let i = from; i < to; i++) { const v = g[i]!; s += v * v; }
  return Math.sqrt(s);
}

/** Scales g so its global norm is at most maxNorm. Returns true when it scaled. */
export function clipByGlobalNorm(g: Float, norm: number, maxNorm: number): boolean {
  if (!(norm > maxNorm)) return false;
  const scale = maxNorm / (norm + 1e-6);
  for (let i = 0; i < g.length; i++) g[i] = g[i]! * scale;
  return true;
}

/** [from, to) element ranges of one layer's W and b in the flat buffers. */
export interface LayerRange {
  w: number;
  wEnd: number;
  b: number;
  bEnd: number;
}

/**
 * The whole of reduction and weight decay in one pass, with the norms the step reports:
 *   g ← g / divisor + λ·θ   (divisor 1 for 'sum')
 * and per layer l into norms[4l..4l+2]: Σg²(W), Σg²(b), Σθ²(W). Returns Σg² over all.
 * A non-finite gradient shows as a non-finite sum (NaN and ±Infinity propagate).
 */
export function reduceInPlace(g: Float, params: Float, divisor: number, lambda: number, layers: LayerRange[], norms: Float64Array): number {
  let total = 0;
  const scale = divisor === 1 ? 0 : divisor; // 0: no division
  for (let l = 0; l < layers.length; l++) {
    const r = layers[l]!;
    let gw = 0;
    let ww = 0;
    for (let i = r.w; i < r.wEnd; i++) {
      const t = params[i]!;
      let v = g[i]!;
      if (scale !== 0) v = v / scale;
      if (lambda !== 0) v = v + lambda * t;
      g[i] = v;
      const s = g[i]!; // the stored (dtype-rounded) value is the one the update uses
      gw += s * s;
      ww += t * t;
    }
    let gb = 0;
    for (let i = r.b; i < r.bEnd; i++) {
      let v = g[i]!;
      if (scale !== 0) v = v / scale;
      if (lambda !== 0) v = v + lambda * params[i]!;
      g[i] = v;
      const s = g[i]!;
      gb += s * s;
    }
    norms[4 * l] = gw;
    norms[4 * l + 1] = gb;
    norms[4 * l + 2] = ww;
    total += gw + gb;
  }
  return total;
}
