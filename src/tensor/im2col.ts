/**
 * im2col.ts — the copies that turn a convolution into the spec's GEMMs, their adjoint, and
 * the moves between channel-major and PyTorch's NCHW.
 *
 * Geometry: an example is x (C, H, W); the kernel is kh × kw, stride s, zero padding p on
 * every side; the output is OH × OW with OH = ⌊(H + 2p − kh)/s⌋ + 1 (likewise OW), P = OH·OW.
 *
 * im2col writes cols (K, rows·P), K = C·kh·kw: row k = (c, i, j) in increasing c, then i,
 * then j; column q = (n, oh, ow) in increasing n, then oh, then ow; the value x[n, c, oh·s −
 * p + i, ow·s − p + j], or +0 where that falls in the padding. A copy: no arithmetic.
 *
 * col2im is its adjoint: dx ← +0, then for each row k of dcols in increasing order, for each
 * column q in increasing order, dx[n, c, h, w] += dcols[k, q] where (h, w) is inside the
 * image. So every element of dx adds its terms in one fixed order, each add rounded to the
 * dtype (a Float32Array store rounds the float64 sum of two float32 values once, which is the
 * float32 sum): every executor computes the same bits.
 *
 * toNchw / fromNchw move (F, rows·P) (a row per channel, as the GEMM writes it) to and from
 * (rows, F, P) (PyTorch's NCHW): copies only, one set() per (channel, example) run of P.
 * Not here: the GEMMs (kernels.ts), the layer (model/layers/conv2d.ts).
 */

import type { Float } from './dtype';

export interface ConvGeometry {
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  oh: number;
  ow: number;
}

/** The output columns [lo, hi) whose input column ow·s − p + j lies inside [0, w). */
function inside(ow: number, s: number, p: number, j: number, w: number): [number, number] {
  const lo = Math.min(ow, Math.max(0, Math.ceil((p - j) / s)));
  const hi = Math.max(lo, Math.min(ow, Math.floor((w - 1 + p - j) / s) + 1));
  return [lo, hi];
}

export function im2col(rows: number, g: ConvGeometry, x: Float, cols: Float): void {
  const { c, h, w, kh, kw, stride: s, pad: p, oh, ow } = g;
  const P = oh * ow;
  const NP = rows * P;
  const inSize = c * h * w;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const k = (ch * kh + i) * kw + j;
        const [lo, hi] = inside(ow, s, p, j, w);
        const row = k * NP;
        // stride 1 and an output as wide as the input ('same' padding): the rows of one (k, n) are
        // one contiguous run of the input, shifted by j − p; one copy, then the edge columns zeroed
        if (s === 1 && ow === w) {
          const y0 = Math.max(0, p - i);
          const y1 = Math.min(oh, h + p - i);
          for (let n = 0; n < rows; n++) {
            const o0 = row + n * P;
            const xc = n * inSize + ch * h * w;
            cols.fill(0, o0, o0 + y0 * ow);
            if (y1 > y0) {
              const from = xc + (y0 - p + i) * w - p + j;
              const lo0 = Math.max(from, xc);
              const hi0 = Math.min(from + (y1 - y0) * w, xc + h * w);
              cols.set(x.subarray(lo0, hi0), o0 + y0 * ow + (lo0 - from));
              for (let y = y0; y < y1; y++) {
                const o = o0 + y * ow;
                for (let q = 0; q < lo; q++) cols[o + q] = 0;
                for (let q = hi; q < ow; q++) cols[o + q] = 0;
              }
            }
            cols.fill(0, o0 + Math.max(y0, y1) * ow, o0 + P);
          }
          continue;
        }
        for (let n = 0; n < rows; n++) {
          const xc = n * inSize + ch * h * w;
          for (let y = 0; y < oh; y++) {
            const o = row + n * P + y * ow;
            const hy = y * s - p + i;
            if (hy < 0 || hy >= h) {
              for (let q = 0; q < ow; q++) cols[o + q] = 0;
              continue;
            }
            // plain loops: the spans are short (a row of the output), too short for subarray().set
            const src = xc + hy * w - p + j;
            for (let q = 0; q < lo; q++) cols[o + q] = 0;
            for (let q = lo; q < hi; q++) cols[o + q] = x[src + q * s]!;
            for (let q = hi; q < ow; q++) cols[o + q] = 0;
          }
        }
      }
    }
  }
}

export function col2im(rows: number, g: ConvGeometry, dcols: Float, dx: Float): void {
  const { c, h, w, kh, kw, stride: s, pad: p, oh, ow } = g;
  const P = oh * ow;
  const NP = rows * P;
  const inSize = c * h * w;
  dx.fill(0, 0, rows * inSize);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const k = (ch * kh + i) * kw + j;
        const [lo, hi] = inside(ow, s, p, j, w);
        const row = k * NP;
        for (let n = 0; n < rows; n++) {
          const xc = n * inSize + ch * h * w;
          for (let y = 0; y < oh; y++) {
            const hy = y * s - p + i;
            if (hy < 0 || hy >= h) continue;
            const o = row + n * P + y * ow;
            const dst = xc + hy * w - p + j;
            for (let q = lo; q < hi; q++) dx[dst + q * s] += dcols[o + q]!;
          }
        }
      }
    }
  }
}

/** dst (rows, f, p) ← src (f, rows·p). */
export function toNchw(rows: number, f: number, p: number, src: Float, dst: Float): void {
  const np = rows * p;
  for (let ch = 0; ch < f; ch++) {
    for (let n = 0; n < rows; n++) {
      const s0 = ch * np + n * p;
      dst.set(src.subarray(s0, s0 + p), (n * f + ch) * p);
    }
  }
}

/** dst (f, rows·p) ← src (rows, f, p). */
export function fromNchw(rows: number, f: number, p: number, src: Float, dst: Float): void {
  const np = rows * p;
  for (let ch = 0; ch < f; ch++) {
    for (let n = 0; n < rows; n++) {
      const s0 = (n * f + ch) * p;
      dst.set(src.subarray(s0, s0 + p), ch * np + n * p);
    }
  }
}
