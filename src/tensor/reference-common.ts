/**
 * reference-common.ts — the reference kernels' operations written once for both dtypes: bias,
 * column sums, the vector passes (addInto, sgdUpdate, reduceGrad), the non-finite scan, the row
 * gather and the activation statistics. A Float32Array store rounds the float64 sum of two
 * float32 values once, which is the float32 sum.
 * Not here: the per-dtype kernels and the sets (reference-kernels.ts), the spec (kernels.ts).
 */

import type { Float } from './dtype';
import { NORM_BLOCK, SATURATION_RATIO, type Activation } from './kernels';

export function addBias(m: number, n: number, C: Float, b: Float): void {
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) C[i * n + j] += b[j]!;
}

export function colSum(m: number, n: number, A: Float, out: Float): void {
  out.fill(0, 0, n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j] += A[i * n + j]!;
}

export function addInto(n: number, a: Float, b: Float): void {
  for (let i = 0; i < n; i++) a[i] = a[i]! + b[i]!;
}

export function firstNonFinite(n: number, a: Float): number {
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}

export function gatherRows(rows: number, order: Uint32Array, from: number, width: number, src: Float, dst: Float): void {
  if (from + rows > order.length) throw new RangeError(`order has ${order.length} elements, needs ${from + rows}`);
  if (rows * width > dst.length) throw new RangeError(`dst has ${dst.length} elements, needs ${rows * width}`);
  const have = width === 0 ? Infinity : Math.floor(src.length / width);
  for (let r = 0; r < rows; r++) {
    if (!(order[from + r]! < have)) throw new RangeError(`order[${from + r}] = ${order[from + r]} is past src's ${have} rows`);
  }
  if (width < GATHER_VIEW_WIDTH) {
    // narrow rows: element by element (a view per row would cost more than its copy)
    for (let r = 0; r < rows; r++) {
      const s0 = order[from + r]! * width;
      const d0 = r * width;
      for (let c = 0; c < width; c++) dst[d0 + c] = src[s0 + c]!;
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const e = order[from + r]!;
    // one memcpy per row through a short-lived view (the native kernels copy without the views)
    dst.set(src.subarray(e * width, e * width + width), r * width);
  }
}

/** gatherRows copies rows at least this wide through a view, narrower ones element by element. */
const GATHER_VIEW_WIDTH = 16;

export function sgdUpdate(n: number, lr: number, g: Float, p: Float, u: Float): void {
  for (let i = 0; i < n; i++) {
    u[i] = lr * g[i]!;
    p[i] = p[i]! - u[i]!;
  }
}

const LANES = new Float64Array(16);

export function activationStats(f: Activation, m: number, n: number, z: Float, a: Float, out: Float64Array): void {
  const len = m * n;
  if (f === 'tanh') {
    let c = 0;
    for (let i = 0; i < len; i++) {
      const v = a[i]!;
      if (1 - v * v < SATURATION_RATIO) c++;
    }
    out[0] += c;
  } else if (f === 'sigmoid') {
    let c = 0;
    for (let i = 0; i < len; i++) {
      const v = a[i]!;
      if (v * (1 - v) < 0.25 * SATURATION_RATIO) c++;
    }
    out[0] += c;
  }
  for (let r = 0; r < m; r++) {
    const o = r * n;
    for (let j = 0; j < n; j++) if (z[o + j]! > 0) out[1 + j] += 1;
  }
}

export function reduceGrad(n: number, g: Float, p: Float, divisor: number, lambda: number, out: Float64Array): void {
  const s = LANES;
  let sg = 0;
  let sp = 0;
  for (let b = 0; b < n; b += NORM_BLOCK) {
    const end = Math.min(n, b + NORM_BLOCK);
    s.fill(0);
    for (let i = b; i < end; i++) {
      let v = g[i]!;
      if (divisor !== 1) v = v / divisor;
      const t = p[i]!;
      if (lambda !== 0) v = v + lambda * t;
      g[i] = v;
      const q = g[i]!; // the stored (dtype-rounded) value is what the update uses
      const j = i & 7;
      s[j] = s[j]! + q * q;
      s[8 + j] = s[8 + j]! + t * t;
    }
    sg += s[0]! + s[1]! + (s[2]! + s[3]!) + (s[4]! + s[5]! + (s[6]! + s[7]!));
    sp += s[8]! + s[9]! + (s[10]! + s[11]!) + (s[12]! + s[13]! + (s[14]! + s[15]!));
  }
  out[0] = sg;
  out[1] = sp;
}
