/**
 * reduce.ts — step 5 over the combined root: the reduction ('mean' divides by the examples),
 * weight decay λ·θ and the per-layer sums of squares, one vector pass per tensor
 * (kernels.reduceGrad, kernel spec rules 7 and 8) — for SGD, with step 6's update in the same
 * pass (kernels.reduceSgd).
 */

import type { Float } from '../tensor/dtype';
import type { KernelSet } from '../tensor/kernels';
import type { LayerRange } from '../optim/clip';

interface LayerViews {
  gW: Float;
  pW: Float;
  gb: Float;
  pb: Float;
}

export class Reducer {
  private readonly pair = new Float64Array(2);
  private viewCache: { g: Float; p: Float; v: LayerViews[] } | null = null;

  constructor(
    private readonly ranges: readonly LayerRange[],
    private readonly kernels: KernelSet,
    private readonly lambda: number,
  ) {}

  /**
   * g ← g / divisor + λ·θ, and into `norms` per layer l: Σg²(W) at 4l, Σg²(b) at 4l + 1,
   * Σθ²(W) at 4l + 2. Returns Σg² over all parameters.
   */
  reduce(g: Float, params: Float, divisor: number, norms: Float64Array): number {
    return this.pass(g, params, divisor, norms, null, false);
  }

  /**
   * reduce() and then SGD's update at rate lr, per tensor in one pass (kernels.reduceSgd, the
   * same bits as reduceGrad then sgdUpdate): params ← params − lr·g, and g ← the old params, so
   * that restore() takes the step back. `shared`: other threads read params next.
   */
  reduceSgd(g: Float, params: Float, divisor: number, norms: Float64Array, lr: number, shared: boolean): number {
    return this.pass(g, params, divisor, norms, lr, shared);
  }

  /** reduce() or reduceSgd(): one kernel call per tensor (tensor()). */
  private pass(g: Float, params: Float, divisor: number, norms: Float64Array, lr: number | null, shared: boolean): number {
    const out = this.pair;
    let total = 0;
    for (let l = 0; l < this.ranges.length; l++) {
      const r = this.ranges[l]!;
      const v = this.views(g, params, l);
      this.tensor(r.wEnd - r.w, v.gW, v.pW, divisor, lr, shared);
      norms[4 * l] = out[0]!;
      norms[4 * l + 2] = out[1]!;
      this.tensor(r.bEnd - r.b, v.gb, v.pb, divisor, lr, shared);
      norms[4 * l + 1] = out[0]!;
      total += norms[4 * l]! + norms[4 * l + 1]!;
    }
    return total;
  }

  /** One tensor's reduceGrad, or with an `lr` its reduceSgd; the sums in this.pair. */
  private tensor(n: number, g: Float, p: Float, divisor: number, lr: number | null, shared: boolean): void {
    if (lr === null) this.kernels.reduceGrad(n, g, p, divisor, this.lambda, this.pair);
    else this.kernels.reduceSgd(n, g, null, p, divisor, this.lambda, lr, this.pair, shared);
  }

  /** After reduceSgd: every tensor's old weights, kept in g, back into params (a step that must not be taken). */
  restore(g: Float, params: Float): void {
    for (let l = 0; l < this.ranges.length; l++) {
      const v = this.views(g, params, l);
      v.pW.set(v.gW);
      v.pb.set(v.gb);
    }
  }

  /** Per-layer subarray views of (g, params), built by push (one shape for V8) and cached while the buffers stay the same. */
  private views(g: Float, p: Float, l: number): LayerViews {
    if (this.viewCache === null || this.viewCache.g !== g || this.viewCache.p !== p) {
      const v: LayerViews[] = [];
      for (const r of this.ranges)
        v.push({ gW: g.subarray(r.w, r.wEnd), pW: p.subarray(r.w, r.wEnd), gb: g.subarray(r.b, r.bEnd), pb: p.subarray(r.b, r.bEnd) });
      this.viewCache = { g, p, v };
    }
    return this.viewCache.v[l]!;
  }
}
