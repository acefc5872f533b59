/**
 * conv2d.ts — the 2-D convolution layer, through im2col and the spec's GEMMs.
 *
 *   x      (rows, C, H, W)                 W: (F, C, kh, kw) = (F, K), K = C·kh·kw   b: (F)
 *   cols   = im2col(x)                     (rows·P, K), P = OH·OW (tensor/im2col.ts)
 *   z      = cols · Wᵀ + b                 (rows·P, F)   kernels.gemmNT, addBias
 *   a      = f(z)                          (rows·P, F);  out = a as (rows, F, OH, OW)
 *   delta  = dJ/dz = dJ/da ⊙ f′            (rows·P, F)
 *   dJdW   = deltaᵀ · cols                 (F, K)        sum over rows and positions, gemmTN
 *   dJdWb  = Σ delta                       (F)           kernels.colSum
 *   dcols  = delta · W                     (rows·P, K)   kernels.gemmNN;  dJ/dx = col2im(dcols)
 * So each output element is one GEMM element (accumulated in increasing k = (c, i, j), mul
 * then add per the spec) and each weight gradient sums (n, oh, ow) in increasing order: the
 * reference, native and WebAssembly kernels give the same bits. Statistics count per channel
 * over every position.
 * Not here: the copies (tensor/im2col.ts), the GEMMs (tensor/kernels.ts).
 */

import { alloc, type Float } from '../../tensor/dtype';
import { col2im, im2col, nchwFromRows, rowsFromNchw, type ConvGeometry } from '../../tensor/im2col';
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
  /** (maxRows·P, K) */
  private readonly cols: Float;
  /** dJ/dcols, (maxRows·P, K); allocated only when the layer is not the first (the input's gradient is never needed). */
  private readonly dcols: Float | null;
  /** z, a and delta as the GEMM writes them: (maxRows·P, F). */
  private readonly z: Float;
  private readonly a: Float;
  private readonly delta: Float;

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
  }

  forward(rows: number, x: Float, W: Float | null, b: Float | null, out: Float, _ctx: ForwardContext): void {
    const k = this.k;
    const m = rows * this.positions;
    im2col(rows, this.geometry, x, this.cols);
    k.gemmNT(m, this.units, this.K, this.cols, W!, this.z);
    k.addBias(m, this.units, this.z, b!);
    k.activate(this.activation, m, this.units, this.z, this.a);
    nchwFromRows(rows, this.units, this.positions, this.a, out);
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
    const m = rows * this.positions;
    const d = this.delta;
    rowsFromNchw(rows, F, this.positions, gOut, d);
    if (opts.gradIsZ !== true) k.activateBackward(this.activation, m, F, this.z, this.a, d);
    let bad = -1;
    if (opts.check === undefined) k.gemmTN(F, K, m, d, this.cols, dW!);
    else bad = k.gemmTNCheck(F, K, m, d, this.cols, dW!, opts.check === 'shared');
    k.colSum(m, F, d, db!);
    if (opts.check !== undefined && bad < 0) {
      const bb = k.firstNonFinite(F, db!);
      if (bb >= 0) bad = F * K + bb;
    }
    if (gIn !== null) {
      if (this.dcols === null) throw new RangeError(`model.layers[${this.index}]: the first layer computes no input gradient`);
      k.gemmNN(m, K, F, d, W!, this.dcols);
      col2im(rows, this.geometry, this.dcols, gIn);
    }
    return bad;
  }

  stats(rows: number, out: Float64Array): void {
    this.k.activationStats(this.activation, rows * this.positions, this.units, this.z, this.a, out);
  }

  kinks(rows: number, h: number): number {
    if (this.activation !== 'relu') return h;
    const z = this.z;
    for (let i = 0; i < rows * this.positions * this.units; i++) if (z[i]! > 0) h = (Math.imul(h, 31) + i + this.index * 7919 + 1) | 0;
    return h;
  }
}
