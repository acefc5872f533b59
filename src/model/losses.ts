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
import { exp32, exp64, log32, log64 } from '../tensor/spec-math';

const identity = (v: number): number => v;

/**
 * Writes the loss gradient for `rows` examples of width `n` into g and returns the loss sum.
 * For 'half-sse' g is dJ/dŷ (the caller applies the output activation's derivative);
 * for 'cross-entropy' g is already dJ/dz.
 */
export function lossAndGrad(
  kind: LossKind, k: KernelSet, rows: number, n: number, z: Float, a: Float, y: Float, g: Float,
): number {
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
  return k.dtype === 'float32' ? softmaxCE32(rows, n, z, a, y, g) : softmaxCE64(rows, n, z, a, y, g);
}

// Softmax cross-entropy, one copy per dtype so that each loop sees one array type and no
// rounding callback (3× faster than the generic form); the same operations in the same order.

function softmaxCE32(rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number {
  const r = Math.fround;
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const o = i * n;
    let mx = z[o]!;
    for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
    let s = 0;
    let ysum = 0;
    for (let j = 0; j < n; j++) {
      s = r(s + exp32(r(z[o + j]! - mx)));
      ysum = r(ysum + y[o + j]!);
    }
    const lse = r(mx + log32(s));
    let li = 0;
    for (let j = 0; j < n; j++) {
      const yj = y[o + j]!;
      if (yj !== 0) li = r(li + r(yj * r(lse - z[o + j]!)));
      g[o + j] = r(r(a[o + j]! * ysum) - yj);
    }
    total += li;
  }
  return total;
}

function softmaxCE64(rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number {
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const o = i * n;
    let mx = z[o]!;
    for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
    let s = 0;
    let ysum = 0;
    for (let j = 0; j < n; j++) {
      s = s + exp64(z[o + j]! - mx);
      ysum = ysum + y[o + j]!;
    }
    const lse = mx + log64(s);
    let li = 0;
    for (let j = 0; j < n; j++) {
      const yj = y[o + j]!;
      if (yj !== 0) li = li + yj * (lse - z[o + j]!);
      g[o + j] = a[o + j]! * ysum - yj;
    }
    total += li;
  }
  return total;
}
