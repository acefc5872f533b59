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
