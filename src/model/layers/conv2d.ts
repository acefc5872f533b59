/**
 * conv2d.ts — the 2-D convolution layer, one example at a time through im2col and the spec's GEMMs.
 *
 *   x_n    (C, H, W), example n of x      W: (F, C, kh, kw) = (F, K), K = C·kh·kw   b: (F)
 *   cols   = im2col(x_n)                  (K, P), P = OH·OW (tensor/im2col.ts)
 *   z_n    = W · cols, then + b per row   (F, P)    kernels.gemmNN, then one add per element
 *   a      = f(z)                         (rows, F, P) = out, PyTorch's NCHW
 *   delta  = dJ/dz = dJ/da ⊙ f′           (rows, F, P), in gOut's memory
 *   dJdW   = Σ_n delta_n · colsᵀ          (F, K)    gemmNT for n = 0, then gemmNTAcc: the sum over
 *                                                   q = (n, oh, ow) in increasing order
 *   dJdWb  = Σ_n delta_n · ones           (F)       the same, each term delta·1 exact
 *   dcols  = Wᵀ · delta_n                 (K, P)    kernels.gemmTN;  dJ/dx_n = col2im(dcols)
 * Each output element is one GEMM element (accumulated in increasing k = (c, i, j), mul then add
 * per the profile) plus the bias after it (rule 2), and each weight gradient sums (n, oh, ow)
 * in increasing order, whatever the batch's size or the executor: the reference, native and
 * WebAssembly kernels give the same bits. One example's cols (K·P values) stays in cache while
 * its GEMMs read it; backward copies it again rather than keep every example's. Statistics
 * count per channel over every position.
 * Not here: the copies (tensor/im2col.ts, the kernels' im2col), the GEMMs (tensor/kernels.ts).
 */

import { alloc, type Float } from '../../tensor/dtype';
import type { ConvGeometry } from '../../tensor/im2col';
import type { Activation, KernelSet } from '../../tensor/kernels';
import type { BackwardOptions, ForwardContext, Layer } from '../layer';
import { sizeOf, type Conv2dSpec, type Shape } from '../spec';

/** Views of a buffer's consecutive blocks (one per example), rebuilt only when the buffer changes. */
class Blocks {
  private of: Float | null = null;
  private views: Float[] = [];
  constructor(
    private readonly size: number,
    private readonly count: number,
  ) {}
  get(buf: Float, n: number): Float {
    if (buf !== this.of) {
      const whole = Math.min(this.count, Math.floor(buf.length / this.size));
      this.views = Array.from({ length: whole }, (_, i) => buf.subarray(i * this.size, (i + 1) * this.size));
      this.of = buf;
    }
    return this.views[n]!;
  }
}

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
  /** One example's im2col, (K, P). */
  private readonly cols: Float;
  /** One example's dJ/dcols, (K, P); allocated only when the layer is not the first (the input's gradient is never needed). */
  private readonly dcols: Float | null;
  /** z of every example, (maxRows, F, P). */
  private readonly z: Float;
  /** One example's bias add: b[f] repeated over row f, (F, P); rebuilt each forward (b changes every step). */
  private readonly biasBlock: Float;
  /** Ones (P): dJdWb = Σ_n delta_n · ones. */
  private readonly ones: Float;
  /** Per-channel statistics of one forward: [saturated, then per (f, p) the rows with z > 0]. */
  private readonly counts: Float64Array;
  private readonly xs: Blocks;
  private readonly zs: Blocks;
  private readonly gs: Blocks;
  private readonly gIns: Blocks;
  private lastOut: Float | null = null;

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
    this.cols = alloc(k.dtype, P * this.K);
    this.dcols = index > 0 ? alloc(k.dtype, P * this.K) : null;
    this.z = alloc(k.dtype, maxRows * this.outSize);
    this.biasBlock = alloc(k.dtype, this.outSize);
    this.ones = alloc(k.dtype, P).fill(1);
    this.counts = new Float64Array(1 + this.outSize);
    this.xs = new Blocks(this.inSize, maxRows);
    this.zs = new Blocks(this.outSize, maxRows);
    this.gs = new Blocks(this.outSize, maxRows);
    this.gIns = new Blocks(this.inSize, maxRows);
  }

  forward(rows: number, x: Float, W: Float | null, b: Float | null, out: Float, _ctx: ForwardContext): void {
    const k = this.k;
    const F = this.units;
    const P = this.positions;
    for (let f = 0; f < F; f++) this.biasBlock.fill(b![f]!, f * P, (f + 1) * P);
    for (let n = 0; n < rows; n++) {
      const zn = this.zs.get(this.z, n);
      k.im2col(1, this.geometry, this.xs.get(x, n), this.cols);
      k.gemmNN(F, P, this.K, W!, this.cols, zn);
      // + b per row, after the whole dot product (rule 2): one rounded add per element
      k.addInto(this.outSize, zn, this.biasBlock);
    }
    k.activate(this.activation, rows * F, P, this.z, out);
    this.lastOut = out;
  }

  backward(
    rows: number,
    x: Float,
    out: Float,
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
    const P = this.positions;
    if (opts.gradIsZ !== true) k.activateBackward(this.activation, rows * F, P, this.z, out, gOut);
    if (gIn !== null && this.dcols === null)
      throw new RangeError(`model.layers[${this.index}]: the first layer computes no input gradient`);
    if (rows === 0) {
      dW!.fill(0, 0, F * K);
      db!.fill(0, 0, F);
    }
    for (let n = 0; n < rows; n++) {
      const d = this.gs.get(gOut, n);
      k.im2col(1, this.geometry, this.xs.get(x, n), this.cols);
      if (n === 0) {
        k.gemmNT(F, K, P, d, this.cols, dW!);
        k.gemmNT(F, 1, P, d, this.ones, db!);
      } else {
        k.gemmNTAcc(F, K, P, d, this.cols, dW!);
        k.gemmNTAcc(F, 1, P, d, this.ones, db!);
      }
      if (gIn !== null) {
        k.gemmTN(K, P, F, W!, d, this.dcols!);
        k.col2im(1, this.geometry, this.dcols!, this.gIns.get(gIn, n));
      }
    }
    let bad = -1;
    if (opts.check !== undefined) {
      bad = k.firstNonFinite(F * K, dW!);
      if (bad < 0) {
        const bb = k.firstNonFinite(F, db!);
        if (bb >= 0) bad = F * K + bb;
      }
    }
    return bad;
  }

  stats(rows: number, out: Float64Array): void {
    const P = this.positions;
    const c = this.counts;
    c.fill(0);
    // rows of (F·P) unit-positions: counts per (f, p), summed per channel (integers: exact in any order)
    this.k.activationStats(this.activation, rows, this.outSize, this.z, this.lastOut!, c);
    out[0] += c[0]!;
    for (let f = 0; f < this.units; f++) {
      let s = 0;
      for (let p = 0; p < P; p++) s += c[1 + f * P + p]!;
      out[1 + f] += s;
    }
  }

  kinks(rows: number, h: number): number {
    if (this.activation !== 'relu') return h;
    const z = this.z;
    for (let i = 0; i < rows * this.outSize; i++) if (z[i]! > 0) h = (Math.imul(h, 31) + i + this.index * 7919 + 1) | 0;
    return h;
  }
}
