/**
 * dense.ts — the dense layer: z = x · Wᵀ + b, a = f(z).
 *
 *   x       (rows, nIn)            W: (nOut, nIn)   b: (nOut)
 *   z       = x · Wᵀ + b           (rows, nOut)     kernels.gemmNT, addBias
 *   a       = f(z)                 (rows, nOut)
 *   delta   = dJ/dz = dJ/da ⊙ f′   (rows, nOut)     in place in gOut
 *   dJdW    = deltaᵀ · x           (nOut, nIn)      sum over rows, kernels.gemmTN
 *   dJdWb   = Σ_rows delta         (nOut)           kernels.colSum
 *   dJ/dx   = delta · W            (rows, nIn)      kernels.gemmNN
 * Every operation goes through the KernelSet, so a faster kernel changes only the speed.
 * Not here: the loss (model.ts), the layer loop.
 */

import { alloc, type Float } from '../../tensor/dtype';
import type { Activation, KernelSet } from '../../tensor/kernels';
import type { BackwardOptions, ForwardContext, Layer } from '../layer';
import type { DenseSpec, Shape } from '../spec';

export class DenseLayer implements Layer {
  readonly kind = 'dense' as const;
  readonly inSize: number;
  readonly outSize: number;
  readonly params: { W: number[]; b: number[] };
  readonly activation: Activation;
  readonly units: number;
  readonly positions = 1;
  /** z of the last forward, (maxRows, nOut): the loss reads the logits of the last layer. */
  readonly z: Float;
  private readonly k: KernelSet;
  private lastOut: Float | null = null;

  constructor(
    spec: DenseSpec,
    readonly index: number,
    readonly inShape: Shape,
    readonly outShape: Shape,
    k: KernelSet,
    maxRows: number,
  ) {
    this.k = k;
    this.inSize = inShape[0]!;
    this.outSize = spec.units;
    this.units = spec.units;
    this.activation = spec.activation;
    this.params = { W: [spec.units, this.inSize], b: [spec.units] };
    this.z = alloc(k.dtype, maxRows * spec.units);
  }

  forward(rows: number, x: Float, W: Float | null, b: Float | null, out: Float, _ctx: ForwardContext): void {
    const k = this.k;
    k.gemmNT(rows, this.outSize, this.inSize, x, W!, this.z);
    k.addBias(rows, this.outSize, this.z, b!);
    k.activate(this.activation, rows, this.outSize, this.z, out);
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
    const nOut = this.outSize;
    const nIn = this.inSize;
    if (opts.gradIsZ !== true) k.activateBackward(this.activation, rows, nOut, this.z, out, gOut);
    let bad = -1;
    if (opts.check === undefined) k.gemmTN(nOut, nIn, rows, gOut, x, dW!);
    else bad = k.gemmTNCheck(nOut, nIn, rows, gOut, x, dW!, opts.check === 'shared');
    k.colSum(rows, nOut, gOut, db!);
    if (opts.check !== undefined && bad < 0) {
      const bb = k.firstNonFinite(nOut, db!);
      if (bb >= 0) bad = nOut * nIn + bb;
    }
    if (gIn !== null) k.gemmNN(rows, nIn, nOut, gOut, W!, gIn);
    return bad;
  }

  stats(rows: number, out: Float64Array): void {
    this.k.activationStats(this.activation, rows, this.outSize, this.z, this.lastOut!, out);
  }

  kinks(rows: number, h: number): number {
    if (this.activation !== 'relu') return h;
    const z = this.z;
    for (let i = 0; i < rows * this.outSize; i++) if (z[i]! > 0) h = (Math.imul(h, 31) + i + this.index * 7919 + 1) | 0;
    return h;
  }
}
