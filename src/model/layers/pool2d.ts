/**
 * pool2d.ts — max and average pooling over square windows, per channel, no padding.
 *
 *   x (rows, C, H, W) → out (rows, C, OH, OW), OH = (H − size)/stride + 1 (the spec checks
 *   that windows tile the input exactly).
 * Order, fixed so that every executor computes the same bits:
 *   - windows are visited in (n, c, oh, ow) order, each window's elements in row-major order;
 *   - max: the kernels' maxPool (tensor/pool.ts, a copy): the first maximum in row-major order
 *     wins (a later equal value does not replace it); a NaN wins over any number (the first
 *     NaN), so NaN propagates as in PyTorch. Its gradient goes to that one input;
 *   - avg: the sum from +0 in window order, each add rounded to the dtype, then one division
 *     by size²; backward gives each input g/size² (one rounded division per window);
 *   - dJ/dx starts at +0 and, where windows overlap (stride < size), adds its terms in window order.
 * Not here: convolution (conv2d.ts).
 */

import type { Float } from '../../tensor/dtype';
import type { KernelSet } from '../../tensor/kernels';
import type { BackwardOptions, ForwardContext, Layer } from '../layer';
import { sizeOf, type Pool2dSpec, type Shape } from '../spec';

const identity = (v: number): number => v;

export class Pool2dLayer implements Layer {
  readonly kind: 'maxpool2d' | 'avgpool2d';
  readonly inSize: number;
  readonly outSize: number;
  readonly params = null;
  readonly activation = null;
  readonly units = 0;
  readonly positions = 1;
  private readonly size: number;
  private readonly stride: number;
  private readonly r: (v: number) => number;
  private readonly k: KernelSet;
  /** max: the winning input's index within its example, per output element (maxRows, outSize). */
  private readonly arg: Int32Array | null;

  constructor(
    spec: Pool2dSpec,
    readonly index: number,
    readonly inShape: Shape,
    readonly outShape: Shape,
    k: KernelSet,
    maxRows: number,
  ) {
    this.k = k;
    this.kind = spec.type;
    this.size = spec.size;
    this.stride = spec.stride ?? spec.size;
    this.inSize = sizeOf(inShape);
    this.outSize = sizeOf(outShape);
    this.r = k.dtype === 'float32' ? Math.fround : identity;
    this.arg = spec.type === 'maxpool2d' ? new Int32Array(maxRows * this.outSize) : null;
  }

  forward(rows: number, x: Float, _W: Float | null, _b: Float | null, out: Float, _ctx: ForwardContext): void {
    const [c, h, w] = this.inShape as [number, number, number];
    const [, oh, ow] = this.outShape as [number, number, number];
    const { size, stride, r } = this;
    if (this.arg !== null) return this.k.maxPool(rows, c, h, w, size, stride, x, out, this.arg);
    const count = size * size;
    let o = 0;
    for (let n = 0; n < rows; n++) {
      const xn = n * this.inSize;
      for (let ch = 0; ch < c; ch++) {
        const xc = ch * h * w;
        for (let y = 0; y < oh; y++) {
          for (let x0 = 0; x0 < ow; x0++, o++) {
            const first = xn + xc + y * stride * w + x0 * stride;
            let acc = 0;
            for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) acc = r(acc + x[first + i * w + j]!);
            out[o] = r(acc / count);
          }
        }
      }
    }
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
    const [c, h, w] = this.inShape as [number, number, number];
    const [, oh, ow] = this.outShape as [number, number, number];
    const { size, stride, r } = this;
    const arg = this.arg;
    if (arg !== null) {
      this.k.maxPoolBackward(rows, this.inSize, this.outSize, gOut, arg, gIn);
      return -1;
    }
    const count = size * size;
    gIn.fill(0, 0, rows * this.inSize);
    let o = 0;
    for (let n = 0; n < rows; n++) {
      const xn = n * this.inSize;
      for (let ch = 0; ch < c; ch++) {
        const xc = ch * h * w;
        for (let y = 0; y < oh; y++) {
          for (let x0 = 0; x0 < ow; x0++, o++) {
            const first = xn + xc + y * stride * w + x0 * stride;
            const d = r(gOut[o]! / count);
            for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) gIn[first + i * w + j] += d;
          }
        }
      }
    }
    return -1;
  }

  stats(_rows: number, _out: Float64Array): void {}

  kinks(rows: number, h: number): number {
    const arg = this.arg;
    if (arg === null) return h;
    for (let i = 0; i < rows * this.outSize; i++) h = (Math.imul(h, 31) + arg[i]! + this.index * 7919 + 1) | 0;
    return h;
  }
}
