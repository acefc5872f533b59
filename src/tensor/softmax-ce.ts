/**
 * softmax-ce.ts — the reference softmax cross-entropy (KernelSet.softmaxCE), per dtype, and the
 * float32 rows from their exponentials, which the WebAssembly kernels share.
 * Not here: the other reference kernels (reference-kernels.ts), the spec (kernels.ts).
 */

import type { Float } from './dtype';
import { exp32, exp64, log32, log64 } from './spec-math';

// Softmax cross-entropy (KernelSet.softmaxCE), one copy per dtype so that each loop sees one
// array type and no rounding callback (the generic form is much slower); the same operations
// in the same order.

let exps32 = new Float32Array(0);

export function softmaxCE32(rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number {
  const r = Math.fround;
  if (exps32.length < rows * n) exps32 = new Float32Array(rows * n);
  for (let i = 0; i < rows; i++) {
    const o = i * n;
    let mx = z[o]!;
    for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
    for (let j = 0; j < n; j++) exps32[o + j] = exp32(r(z[o + j]! - mx));
  }
  return softmaxCE32Rows(rows, n, z, a, y, g, exps32, 0);
}

/**
 * softmaxCE32's rows from their exponentials, e[from + i·n + j] = exp32(fround(z − the row's
 * max)) — computed one by one by the reference, over the whole block by the WebAssembly
 * kernels: then per row Σ e and Σ y in increasing j, lse, the loss and g, in float32.
 */
export function softmaxCE32Rows(rows: number, n: number, z: Float, a: Float, y: Float, g: Float, e: Float32Array, from: number): number {
  const r = Math.fround;
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const o = i * n;
    let mx = z[o]!;
    for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
    let s = 0;
    let ysum = 0;
    for (let j = 0; j < n; j++) {
      s = r(s + e[from + o + j]!);
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

export function softmaxCE64(rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number {
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
