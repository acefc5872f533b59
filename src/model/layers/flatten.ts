/**
 * flatten.ts — the flatten layer: (rows, C, H, W) → (rows, C·H·W) in C·H·W order (PyTorch's
 * nn.Flatten). NCHW rows are already in that order, so forward and backward are copies.
 * Not here: any arithmetic.
 */

import type { Float } from '../../tensor/dtype';
import type { Layer } from '../layer';
import { sizeOf, type Shape } from '../spec';

export class FlattenLayer implements Layer {
  readonly kind = 'flatten' as const;
  readonly inSize: number;
  readonly outSize: number;
  readonly params = null;
  readonly activation = null;
  readonly units = 0;
  readonly positions = 1;

  constructor(
    readonly index: number,
    readonly inShape: Shape,
    readonly outShape: Shape,
  ) {
    this.inSize = sizeOf(inShape);
    this.outSize = this.inSize;
  }

  forward(rows: number, x: Float, _W: Float | null, _b: Float | null, out: Float): void {
    out.set(x.subarray(0, rows * this.inSize));
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
  ): number {
    if (gIn !== null) gIn.set(gOut.subarray(0, rows * this.inSize));
    return -1;
  }

  stats(): void {}

  kinks(_rows: number, h: number): number {
    return h;
  }
}
