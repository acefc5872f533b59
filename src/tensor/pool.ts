/**
 * pool.ts — the max-pool's copies and comparisons, the oracle of every kernel set's maxPool.
 *
 * x (rows, c, h, w) → out (rows, c, oh, ow) over size × size windows at `stride`, no padding,
 * oh = ⌊(h − size)/stride⌋ + 1 (likewise ow). Windows are visited in (n, c, oh, ow) order, each
 * window's elements in row-major order; the first maximum wins (a later equal value does not
 * replace it) and the first NaN wins over any number and stays, so NaN propagates as in
 * PyTorch. arg gets the winner's index within its example (c·h·w elements), for the gradient
 * (maxPoolBackward).
 * No arithmetic: every implementation gives the same bits.
 * Not here: the layer and its gradient (model/layers/pool2d.ts).
 */

import type { Float } from './dtype';

export function maxPool(
  rows: number,
  c: number,
  h: number,
  w: number,
  size: number,
  stride: number,
  x: Float,
  out: Float,
  arg: Int32Array,
): void {
  if (size === 2 && stride === 2) return maxPool2(rows, c, h, w, x, out, arg);
  const oh = Math.floor((h - size) / stride) + 1;
  const ow = Math.floor((w - size) / stride) + 1;
  const inSize = c * h * w;
  let o = 0;
  for (let n = 0; n < rows; n++) {
    const xn = n * inSize;
    for (let ch = 0; ch < c; ch++) {
      const xc = ch * h * w;
      for (let y = 0; y < oh; y++) {
        for (let x0 = 0; x0 < ow; x0++, o++) {
          const first = xc + y * stride * w + x0 * stride;
          let best = x[xn + first]!;
          let at = first;
          for (let i = 0; i < size; i++) {
            for (let j = 0; j < size; j++) {
              const q = first + i * w + j;
              const v = x[xn + q]!;
              // strict: the first maximum stays; the first NaN wins and stays
              if (v > best || (v !== v && best === best)) {
                best = v;
                at = q;
              }
            }
          }
          out[o] = best;
          arg[o] = at;
        }
      }
    }
  }
}

/**
 * maxPool's gradient: gIn (rows, inSize) ← +0, then gIn[n, arg[o]] += gOut[o] for the outputs o
 * of each example in increasing order (each add rounded to the dtype; where windows overlap an
 * input adds its terms in window order).
 */
export function maxPoolBackward(rows: number, inSize: number, outSize: number, gOut: Float, arg: Int32Array, gIn: Float): void {
  gIn.fill(0, 0, rows * inSize);
  let o = 0;
  for (let n = 0; n < rows; n++) {
    const xn = n * inSize;
    for (let e = 0; e < outSize; e++, o++) gIn[xn + arg[o]!] += gOut[o]!;
  }
}

/** 2×2 windows at stride 2: the loop above unrolled, the same comparisons in the same order. */
function maxPool2(rows: number, c: number, h: number, w: number, x: Float, out: Float, arg: Int32Array): void {
  const oh = Math.floor((h - 2) / 2) + 1;
  const ow = Math.floor((w - 2) / 2) + 1;
  const inSize = c * h * w;
  let o = 0;
  for (let n = 0; n < rows; n++) {
    const xn = n * inSize;
    for (let ch = 0; ch < c; ch++) {
      const xc = ch * h * w;
      for (let y = 0; y < oh; y++) {
        for (let x0 = 0; x0 < ow; x0++, o++) {
          const first = xc + 2 * y * w + 2 * x0;
          const p = xn + first;
          let best = x[p]!;
          let at = first;
          let v = x[p + 1]!;
          if (v > best || (v !== v && best === best)) {
            best = v;
            at = first + 1;
          }
          v = x[p + w]!;
          if (v > best || (v !== v && best === best)) {
            best = v;
            at = first + w;
          }
          v = x[p + w + 1]!;
          if (v > best || (v !== v && best === best)) {
            best = v;
            at = first + w + 1;
          }
          out[o] = best;
          arg[o] = at;
        }
      }
    }
  }
}
