/**
 * clip.ts — what happens to the summed gradient before the optimizer: reduction, weight
 * decay, global-norm clipping. All in place, in parameter order.
 *
 *   reduction 'mean'   g ← g / N                         (N = examples in the batch)
 *   weight decay       g ← g + λ·θ   for W and b alike    (as the original writes it)
 *     — these two run as one vector pass, KernelSet.reduceGrad (tensor/kernels.ts);
 *   clipping           ‖g‖ > c  ⇒  g ← g · c/(‖g‖ + 1e-6)   (torch.nn.utils.clip_grad_norm_)
 * Not here: the update itself (optimizer.ts).
 */

import type { Float } from '../tensor/dtype';

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
