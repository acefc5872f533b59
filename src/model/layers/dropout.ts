/**
 * dropout.ts — inverted dropout (PyTorch's nn.Dropout): while training, each element is zeroed
 * with probability `rate` and the others scaled by s = 1/(1 − rate) (rounded to the dtype):
 * out = x · m, m ∈ {0, s}; backward dJ/dx = dJ/dout · m. At evaluation and predict (no
 * training context) it passes its input through.
 *
 * The mask of a row is a pure function of (seed, step, example index, layer index): a
 * generator Rng.keyed([seed, step, example, layer]) (tensor/rng.ts) draws one uint32 u per
 * element of the example in order, and the element is dropped iff u < round(rate·2^32). So
 * every executor — thread, remote, recomputation — draws the same mask for the same example,
 * whichever leaf or node it lands in.
 * Not here: the seed's source (the run's seed, set in the spec by train/setup.ts).
 */

import { alloc, type Float } from '../../tensor/dtype';
import type { KernelSet } from '../../tensor/kernels';
import { Rng } from '../../tensor/rng';
import type { BackwardOptions, ForwardContext, Layer } from '../layer';
import { sizeOf, type DropoutSpec, type Shape } from '../spec';

export class DropoutLayer implements Layer {
  readonly kind = 'dropout' as const;
  readonly inSize: number;
  readonly outSize: number;
  readonly params = null;
  readonly activation = null;
  readonly units = 0;
  readonly positions = 1;
  private readonly mask: Float;
  private readonly scale: number;
  private readonly threshold: number;
  private readonly seed: number;
  /** Whether the last forward applied a mask (training) or passed its input through. */
  private masked = false;

  constructor(
    spec: DropoutSpec,
    readonly index: number,
    readonly inShape: Shape,
    readonly outShape: Shape,
    k: KernelSet,
    maxRows: number,
  ) {
    this.inSize = sizeOf(inShape);
    this.outSize = this.inSize;
    this.seed = spec.seed;
    this.mask = alloc(k.dtype, maxRows * this.inSize);
    this.scale = k.dtype === 'float32' ? Math.fround(1 / (1 - spec.rate)) : 1 / (1 - spec.rate);
    this.threshold = Math.round(spec.rate * 4294967296);
  }

  /** Writes the training mask of `rows` examples (m ∈ {0, s}) into mask; exposed for tests. */
  drawMask(rows: number, step: number, order: Uint32Array, from: number, mask: Float = this.mask): void {
    const n = this.inSize;
    for (let r = 0; r < rows; r++) {
      const rng = Rng.keyed([this.seed, step, order[from + r]!, this.index]);
      const o = r * n;
      for (let j = 0; j < n; j++) mask[o + j] = rng.nextU32() < this.threshold ? 0 : this.scale;
    }
  }

  forward(rows: number, x: Float, _W: Float | null, _b: Float | null, out: Float, ctx: ForwardContext): void {
    const n = rows * this.inSize;
    if (ctx.train === undefined) {
      out.set(x.subarray(0, n));
      this.masked = false;
      return;
    }
    this.drawMask(rows, ctx.train.step, ctx.train.order, ctx.train.from);
    const m = this.mask;
    for (let i = 0; i < n; i++) out[i] = x[i]! * m[i]!;
    this.masked = true;
  }

  backward(
    rows: number,
    _x: Float,
    _out: Float,
    gOut: Float,
    _W: Float | null,
    _dW: Float | null,
    _db: Float | null,
    gIn: Float | null,
    _opts: BackwardOptions,
  ): number {
    if (gIn === null) return -1;
    const n = rows * this.inSize;
    if (!this.masked) {
      gIn.set(gOut.subarray(0, n));
      return -1;
    }
    const m = this.mask;
    for (let i = 0; i < n; i++) gIn[i] = gOut[i]! * m[i]!;
    return -1;
  }

  stats(): void {}

  kinks(_rows: number, h: number): number {
    return h;
  }
}
