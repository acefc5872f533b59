/**
 * im2col.ts — the copies that turn a convolution into the spec's GEMMs, and their adjoint.
 *
 * Geometry: an example is x (C, H, W); the kernel is kh × kw, stride s, zero padding p on
 * every side; the output is OH × OW with OH = ⌊(H + 2p − kh)/s⌋ + 1 (likewise OW).
 *
 * im2col writes cols (rows·OH·OW, C·kh·kw): row (n, oh, ow) in increasing n, then oh, then
 * ow; column (c, i, j) in increasing c, then i, then j; the value x[n, c, oh·s − p + i,
 * ow·s − p + j], or +0 where that falls in the padding. A copy: no arithmetic.
 *
 * col2im is its adjoint: dx ← +0, then for each row of cols in increasing order, for each
 * column in increasing order, dx[n, c, h, w] += dcols[row, col] where (h, w) is inside the
 * image. So every element of dx accumulates its terms in one fixed order, each add rounded to
 * the dtype (a Float32Array store rounds the float64 sum of two float32 values once, which is
 * the float32 sum): every executor computes the same bits.
 *
 * nchwFromRows / rowsFromNchw move (rows·P, F) matrices (a row per output position, as the
 * GEMM writes them) to and from (rows, F, P) (PyTorch's NCHW): copies only.
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

export function im2col(rows: number, g: ConvGeometry, x: Float, cols: Float): void {
  const { c, h, w, kh, kw, stride, pad, oh, ow } = g;
  const K = c * kh * kw;
  const inSize = c * h * w;
  let r = 0;
  for (let n = 0; n < rows; n++) {
    const xn = n * inSize;
    for (let y = 0; y < oh; y++) {
      for (let x0 = 0; x0 < ow; x0++, r++) {
        let o = r * K;
        for (let ch = 0; ch < c; ch++) {
          const xc = xn + ch * h * w;
          for (let i = 0; i < kh; i++) {
            const hy = y * stride - pad + i;
            if (hy < 0 || hy >= h) {
              cols.fill(0, o, o + kw);
              o += kw;
              continue;
            }
            const row = xc + hy * w;
            for (let j = 0; j < kw; j++, o++) {
              const wx = x0 * stride - pad + j;
              cols[o] = wx < 0 || wx >= w ? 0 : x[row + wx]!;
            }
          }
        }
      }
    }
  }
}

export function col2im(rows: number, g: ConvGeometry, dcols: Float, dx: Float): void {
  const { c, h, w, kh, kw, stride, pad, oh, ow } = g;
  const inSize = c * h * w;
  dx.fill(0, 0, rows * inSize);
  let o = 0;
  for (let n = 0; n < rows; n++) {
    const xn = n * inSize;
    for (let y = 0; y < oh; y++) {
      for (let x0 = 0; x0 < ow; x0++) {
        for (let ch = 0; ch < c; ch++) {
          const xc = xn + ch * h * w;
          for (let i = 0; i < kh; i++) {
            const hy = y * stride - pad + i;
            if (hy < 0 || hy >= h) {
              o += kw;
              continue;
            }
            const row = xc + hy * w;
            for (let j = 0; j < kw; j++, o++) {
              const wx = x0 * stride - pad + j;
              if (wx >= 0 && wx < w) dx[row + wx] += dcols[o]!;
            }
          }
        }
      }
    }
  }
}

/** dst (rows, f, p) ← src (rows·p, f). */
export function nchwFromRows(rows: number, f: number, p: number, src: Float, dst: Float): void {
  for (let n = 0; n < rows; n++) {
    const s0 = n * p * f;
    const d0 = n * f * p;
    for (let q = 0; q < p; q++) for (let ch = 0; ch < f; ch++) dst[d0 + ch * p + q] = src[s0 + q * f + ch]!;
  }
}

/** dst (rows·p, f) ← src (rows, f, p). */
export function rowsFromNchw(rows: number, f: number, p: number, src: Float, dst: Float): void {
  for (let n = 0; n < rows; n++) {
    const s0 = n * f * p;
    const d0 = n * p * f;
    for (let ch = 0; ch < f; ch++) for (let q = 0; q < p; q++) dst[d0 + q * f + ch] = src[s0 + ch * p + q]!;
  }
}
