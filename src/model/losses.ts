/**
 * losses.ts — the two costs: value per example and the gradient they start backprop with.
 *
 *  half-sse       J_i = ½·Σ_j (y_j − ŷ_j)²     dJ/dŷ_j = −(y_j − ŷ_j)   (the original's cost)
 *  cross-entropy  J_i = Σ_j y_j·(lse(z) − z_j)  dJ/dz_j = ŷ_j·Σ_k y_k − y_j (softmax output, fused)
 * Per-example values are computed in the dtype (float32 rounds every operation); the sum
 * over examples is accumulated in float64 in increasing example order.
 * Not here: activations' derivatives (tensor/kernels.ts), the layer loop (mlp.ts).
 */

import type { Float } from '../tensor/dtype';
import type { KernelSet } from '../tensor/kernels';
import type { LossKind } from './spec';

const identity = (v: number): number => v;

/**
 * Writes the loss gradient for `rows` examples of width `n` into g and returns the loss sum.
 * For 'half-sse' g is dJ/dŷ (the caller applies the output activation's derivative);
 * for 'cross-entropy' g is already dJ/dz.
 */
export function lossAndGrad(kind: LossKind, k: KernelSet, rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number {
  const r = k.dtype === 'float32' ? Math.fround : identity;
  let total = 0;
  if (kind === 'half-sse') {
    for (let i = 0; i < rows; i++) {
      const o = i * n;
      let acc = 0;
      for (let j = 0; j < n; j++) {
        const d = r(a[o + j]! - y[o + j]!);
        g[o + j] = d;
        acc = r(acc + r(d * d));
      }
      total += r(0.5 * acc);
    }
    return total;
  }
  return k.softmaxCE(rows, n, z, a, y, g);
}
