/**
 * mlp.ts — the reference forward and backward of a dense network: the file to read first.
 *
 * Forward keeps z and a for every layer; backward returns dJdW and dJdWb for every layer as
 * *sums over the examples* (the original's convention), so partial sums computed by
 * different workers over different examples can simply be added.
 *
 *   a_0 = X                                   (rows, nIn_0)
 *   z_l = a_l · W_lᵀ + b_l                    (rows, nOut_l)      W_l: (nOut_l, nIn_l)
 *   a_{l+1} = f_l(z_l)
 *   delta_L = dJ/dz_L                         (rows, nOut_L)
 *   dJdW_l  = delta_lᵀ · a_l                  (nOut_l, nIn_l)     sum over rows
 *   dJdWb_l = Σ_rows delta_l                  (nOut_l)
 *   delta_{l−1} = (delta_l · W_l) ⊙ f′_{l−1}  (rows, nIn_l)
 *
 * All arithmetic goes through a KernelSet (tensor/kernels.ts) so a faster kernel changes
 * nothing but the speed. Buffers are allocated once, for up to `maxRows` examples.
 * Not here: gathering examples (parallel/compute-partials.ts), the update (optim/).
 */

import { alloc, type Float } from '../tensor/dtype';
import type { KernelSet } from '../tensor/kernels';
import { lossAndGrad } from './losses';
import { layoutOf, type ParamLayout } from './params';
import { checkModelSpec, outputsOf, type ModelSpec } from './spec';

/**
 * A unit counts as saturated when its activation's derivative is below 1 % of its maximum:
 * tanh′ = 1 − a² < 0.01, sigmoid′ = a(1 − a) < 0.0025 (counted by kernels.activationStats).
 */
export { SATURATION_RATIO } from '../tensor/kernels';

/**
 * Per-layer activation statistics, summed over examples, in one Float64Array (counts are
 * integers, exact in float64, so their sum is order-independent):
 * for layer l at `offsets[l]`: [saturated unit-examples, then per unit: examples with z > 0].
 */
export interface StatsLayout {
  offsets: number[];
  size: number;
}

export function statsLayoutOf(spec: ModelSpec): StatsLayout {
  const offsets: number[] = [];
  let off = 0;
  for (const l of spec.layers) {
    offsets.push(off);
    off += 1 + l.units;
  }
  return { offsets, size: off };
}

export class Mlp {
  readonly spec: ModelSpec;
  readonly layout: ParamLayout;
  readonly statsLayout: StatsLayout;
  readonly kernels: KernelSet;
  readonly maxRows: number;
  readonly outputs: number;
  /** a[0] is the input buffer (maxRows, inputs); a[l+1] is layer l's output. */
  private readonly a: Float[];
  private readonly z: Float[];
  /** delta[l]: dJ/dz_l, (maxRows, nOut_l). */
  private readonly delta: Float[];
  private readonly y: Float;
  private readonly views = new WeakMap<Float, Float[]>();

  constructor(spec: ModelSpec, kernels: KernelSet, maxRows: number) {
    checkModelSpec(spec);
    if (kernels.dtype !== spec.dtype) throw new TypeError(`kernels are ${kernels.dtype}, model is ${spec.dtype}`);
    this.spec = spec;
    this.layout = layoutOf(spec);
    this.statsLayout = statsLayoutOf(spec);
    this.kernels = kernels;
    this.maxRows = maxRows;
    this.outputs = outputsOf(spec);
    this.a = [alloc(spec.dtype, maxRows * spec.inputs)];
    this.z = [];
    this.delta = [];
    for (const l of spec.layers) {
      this.z.push(alloc(spec.dtype, maxRows * l.units));
      this.a.push(alloc(spec.dtype, maxRows * l.units));
      this.delta.push(alloc(spec.dtype, maxRows * l.units));
    }
    this.y = alloc(spec.dtype, maxRows * this.outputs);
  }

  /** The input buffer: fill rows × inputs, row-major, before forward(). */
  input(): Float {
    return this.a[0]!;
  }

  /** The target buffer: fill rows × outputs before backward(). */
  target(): Float {
    return this.y;
  }

  /** Per-layer [W, b, W, b, …] views of a flat buffer in this model's layout (cached). */
  slots(flat: Float): Float[] {
    let v = this.views.get(flat);
    if (v === undefined) {
      v = [];
      for (const s of this.layout.layers) {
        v.push(flat.subarray(s.w, s.w + s.nOut * s.nIn), flat.subarray(s.b, s.b + s.nOut));
      }
      this.views.set(flat, v);
    }
    return v;
  }

  /** Runs the forward pass over the first `rows` examples of input(); returns the output buffer. */
  forward(params: Float, rows: number): Float {
    if (rows > this.maxRows) throw new RangeError(`forward: ${rows} rows exceed the workspace's ${this.maxRows}`);
    const k = this.kernels;
    const p = this.slots(params);
    this.layout.layers.forEach((s, l) => {
      k.gemmNT(rows, s.nOut, s.nIn, this.a[l]!, p[2 * l]!, this.z[l]!);
      k.addBias(rows, s.nOut, this.z[l]!, p[2 * l + 1]!);
      k.activate(this.spec.layers[l]!.activation, rows, s.nOut, this.z[l]!, this.a[l + 1]!);
    });
    return this.a[this.a.length - 1]!;
  }

  /** Loss sum over the first `rows` examples, after forward(). Writes nothing but workspace. */
  loss(rows: number): number {
    const L = this.layout.layers.length;
    return lossAndGrad(this.spec.loss, this.kernels, rows, this.outputs, this.z[L - 1]!, this.a[L]!, this.y, this.delta[L - 1]!);
  }

  /**
   * After backward(…, check): the first non-finite element of the gradients it wrote (an
   * index into `grads`), or −1.
   */
  lastBad = -1;

  /**
   * After forward(): the loss sum, with dJdW and dJdWb of every layer summed over the rows
   * written into `grads` (this model's layout; overwritten, not accumulated), and activation
   * counts added into `stats` when given. `check`: each dJdW goes through kernels.gemmTNCheck,
   * the same bits, checked as they are stored, and lastBad is set, so the gradients need no
   * scan of their own after; 'shared': `grads` is memory another thread reads next (a pool
   * thread's shared slot), written with non-temporal stores.
   */
  backward(params: Float, rows: number, grads: Float, stats?: Float64Array, check?: 'local' | 'shared'): number {
    const k = this.kernels;
    const layers = this.layout.layers;
    const L = layers.length;
    const p = this.slots(params);
    const g = this.slots(grads);
    const lossSum = lossAndGrad(this.spec.loss, k, rows, this.outputs, this.z[L - 1]!, this.a[L]!, this.y, this.delta[L - 1]!);
    if (this.spec.loss === 'half-sse') {
      k.activateBackward(this.spec.layers[L - 1]!.activation, rows, this.outputs, this.z[L - 1]!, this.a[L]!, this.delta[L - 1]!);
    }
    let bad = -1;
    for (let l = L - 1; l >= 0; l--) {
      const s = layers[l]!;
      let w = -1;
      if (check === undefined) k.gemmTN(s.nOut, s.nIn, rows, this.delta[l]!, this.a[l]!, g[2 * l]!);
      else w = k.gemmTNCheck(s.nOut, s.nIn, rows, this.delta[l]!, this.a[l]!, g[2 * l]!, check === 'shared');
      k.colSum(rows, s.nOut, this.delta[l]!, g[2 * l + 1]!);
      if (check !== undefined) {
        const b = k.firstNonFinite(s.nOut, g[2 * l + 1]!);
        // layers are walked from the last: an earlier layer's (lower index) replaces a later one's
        if (w >= 0) bad = s.w + w;
        else if (b >= 0) bad = s.b + b;
      }
      if (l > 0) {
        k.gemmNN(rows, s.nIn, s.nOut, this.delta[l]!, p[2 * l]!, this.delta[l - 1]!);
        k.activateBackward(this.spec.layers[l - 1]!.activation, rows, s.nIn, this.z[l - 1]!, this.a[l]!, this.delta[l - 1]!);
      }
    }
    if (stats) this.addStats(rows, stats);
    this.lastBad = bad;
    return lossSum;
  }

  /**
   * A fingerprint of which relu units are active (z > 0) for the first `rows` examples after
   * forward(): gradcheck compares it between θ+ε and θ−ε to detect a perturbation that
   * crosses a kink, where the central difference is meaningless.
   */
  reluPattern(rows: number): number {
    let h = 0;
    this.layout.layers.forEach((s, l) => {
      if (this.spec.layers[l]!.activation !== 'relu') return;
      const z = this.z[l]!;
      for (let i = 0; i < rows * s.nOut; i++) if (z[i]! > 0) h = (Math.imul(h, 31) + i + l * 7919 + 1) | 0;
    });
    return h;
  }

  private addStats(rows: number, stats: Float64Array): void {
    const layers = this.layout.layers;
    let v = this.statViews.get(stats);
    if (v === undefined) {
      v = layers.map((s, l) => stats.subarray(this.statsLayout.offsets[l]!, this.statsLayout.offsets[l]! + 1 + s.nOut));
      this.statViews.set(stats, v);
    }
    for (let l = 0; l < layers.length; l++) {
      this.kernels.activationStats(this.spec.layers[l]!.activation, rows, layers[l]!.nOut, this.z[l]!, this.a[l + 1]!, v[l]!);
    }
  }

  private readonly statViews = new WeakMap<Float64Array, Float64Array[]>();
}
