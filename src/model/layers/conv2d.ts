/**
 * conv2d.ts — the 2-D convolution layer, through im2col and the spec's GEMMs.
 *
 *   x      (rows, C, H, W)                W: (F, C, kh, kw) = (F, K), K = C·kh·kw   b: (F)
 *   cols   = im2col(x)                    (K, rows·P), P = OH·OW (tensor/im2col.ts)
 *   z      = W · cols, then + b per row   (F, rows·P)   kernels.gemmNN, then one add per element (addInto)
 *   a      = f(z)                         (F, rows·P);  out = a as (rows, F, OH, OW)
 *   delta  = dJ/dz = dJ/da ⊙ f′           (F, rows·P)
 *   dJdW   = delta · colsᵀ                (F, K)        sum over (n, oh, ow) in increasing order, gemmNT
 *   dJdWb  = Σ_q delta[f, q]              (F)           q increasing from +0, each add rounded:
 *                                                        gemmNT(delta, ones), each term delta·1 exact
 *   dcols  = Wᵀ · delta                   (K, rows·P)   kernels.gemmTN;  dJ/dx = col2im(dcols)
 * So each output element is one GEMM element (accumulated in increasing k = (c, i, j), mul
 * then add per the spec) and each weight gradient sums (n, oh, ow) in increasing order: the
 * reference, native and WebAssembly kernels give the same bits. The bias is added after the
 * whole dot product (the spec's rule 2). Statistics count per channel over every position.
 * Not here: the copies (tensor/im2col.ts), the GEMMs (tensor/kernels.ts).
 */

import { alloc, type Float } from '../../tensor/dtype';
import { col2im, fromNchw, im2col, toNchw, type ConvGeometry } from '../../tensor/im2col';
import type { Activation, KernelSet } from '../../tensor/kernels';
import type { BackwardOptions, ForwardContext, Layer } from '../layer';
import { sizeOf, type Conv2dSpec, type Shape } from '../spec';

export class Conv2dLayer implements Layer {
  readonly kind = 'conv2d' as const;
  readonly inSize: number;
  readonly outSize: number;
  readonly params: { W: number[]; b: number[] };
  readonly activation: Activation;
  readonly units: number;
  readonly positions: number;
  readonly geometry: ConvGeometry;
  private readonly k: KernelSet;
  private readonly K: number;
  /** (K, maxRows·P) */
  private readonly cols: Float;
  /** dJ/dcols, (K, maxRows·P); allocated only when the layer is not the first (the input's gradient is never needed). */
  private readonly dcols: Float | null;
  /** z, a and delta as the GEMM writes them: (F, maxRows·P). */
  private readonly z: Float;
  private readonly a: Float;
  private readonly delta: Float;
  /** A row of the bias add: one filter's bias repeated (maxRows·P). */
  private readonly biasRow: Float;
  /** Ones (maxRows·P): dJdWb = delta · ones, the rows' sums in increasing order (rule 1 with exact terms). */
  private readonly ones: Float;
  /** z's rows as views for the row length `zRowsNp` (rebuilt when a batch of another size comes). */
  private zRows: Float[] = [];
  private zRowsNp = -1;
  /** One channel's statistics at a time: [saturated, positions with z > 0]. */
  private readonly one = new Float64Array(2);

  constructor(
    spec: Conv2dSpec,
    readonly index: number,
    readonly inShape: Shape,
    readonly outShape: Shape,
    k: KernelSet,
    maxRows: number,
  ) {
    this.k = k;
    const [c, h, w] = inShape as [number, number, number];
    const [f, oh, ow] = outShape as [number, number, number];
    this.geometry = { c, h, w, kh: spec.kernel, kw: spec.kernel, stride: spec.stride ?? 1, pad: spec.padding ?? 0, oh, ow };
    this.inSize = sizeOf(inShape);
    this.outSize = sizeOf(outShape);
    this.units = f;
    this.positions = oh * ow;
    this.activation = spec.activation;
    this.K = c * spec.kernel * spec.kernel;
    this.params = { W: [f, c, spec.kernel, spec.kernel], b: [f] };
    const P = this.positions;
    this.cols = alloc(k.dtype, maxRows * P * this.K);
    this.dcols = index > 0 ? alloc(k.dtype, maxRows * P * this.K) : null;
    this.z = alloc(k.dtype, maxRows * P * f);
    this.a = alloc(k.dtype, maxRows * P * f);
    this.delta = alloc(k.dtype, maxRows * P * f);
    this.biasRow = alloc(k.dtype, maxRows * P);
    this.ones = alloc(k.dtype, maxRows * P).fill(1);
  }

  forward(rows: number, x: Float, W: Float | null, b: Float | null, out: Float, _ctx: ForwardContext): void {
    const k = this.k;
    const F = this.units;
    const np = rows * this.positions;
    const z = this.z;
    im2col(rows, this.geometry, x, this.cols);
    k.gemmNN(F, np, this.K, W!, this.cols, z);
    if (this.zRowsNp !== np) {
      this.zRows = Array.from({ length: F }, (_, f) => z.subarray(f * np, (f + 1) * np));
      this.zRowsNp = np;
    }
    // + b per row, after the whole dot product (rule 2): one rounded add per element
    for (let f = 0; f < F; f++) {
      this.biasRow.fill(b![f]!, 0, np);
      k.addInto(np, this.zRows[f]!, this.biasRow);
    }
    k.activate(this.activation, F, np, z, this.a);
    toNchw(rows, F, this.positions, this.a, out);
  }

  backward(
    rows: number,
    _x: Float,
    _out: Float,
    gOut: Float,
    W: Float | null,
    dW: Float | null,
    db: Float | null,
    gIn: Float | null,
    opts: BackwardOptions,
  ): number {
    const k = this.k;
    const F = this.units;
    const K = this.K;
    const np = rows * this.positions;
    const d = this.delta;
    fromNchw(rows, F, this.positions, gOut, d);
    if (opts.gradIsZ !== true) k.activateBackward(this.activation, F, np, this.z, this.a, d);
    k.gemmNT(F, K, np, d, this.cols, dW!);
    k.gemmNT(F, 1, np, d, this.ones, db!);
    let bad = -1;
    if (opts.check !== undefined) {
      bad = k.firstNonFinite(F * K, dW!);
      if (bad < 0) {
        const bb = k.firstNonFinite(F, db!);
        if (bb >= 0) bad = F * K + bb;
      }
    }
    if (gIn !== null) {
      if (this.dcols === null) throw new RangeError(`model.layers[${this.index}]: the first layer computes no input gradient`);
      k.gemmTN(K, np, F, W!, d, this.dcols);
      col2im(rows, this.geometry, this.dcols, gIn);
    }
    return bad;
  }

  stats(rows: number, out: Float64Array): void {
    const np = rows * this.positions;
    const one = this.one;
    for (let f = 0; f < this.units; f++) {
      one.fill(0);
      this.k.activationStats(this.activation, np, 1, this.z.subarray(f * np, (f + 1) * np), this.a.subarray(f * np, (f + 1) * np), one);
      out[0] += one[0]!;
      out[1 + f] += one[1]!;
    }
  }

  kinks(rows: number, h: number): number {
    if (this.activation !== 'relu') return h;
    const z = this.z;
    for (let i = 0; i < rows * this.positions * this.units; i++) if (z[i]! > 0) h = (Math.imul(h, 31) + i + this.index * 7919 + 1) | 0;
    return h;
  }
}
