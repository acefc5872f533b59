/**
 * model.ts — the model as a layer list over one flat parameter vector: the file to read first.
 *
 *   a_0 = X                                 (rows, inputs)        one example per row, C·H·W order
 *   a_{l+1} = layer_l.forward(a_l)          (rows, outSize_l)     layers/*.ts
 *   g_L = dJ/d a_L (half-sse) or dJ/dz_L (cross-entropy's fused softmax), from losses.ts
 *   g_l = layer_l.backward(g_{l+1})         dJdW_l, dJdWb_l as sums over the rows
 * Backward returns dJdW and dJdWb for every layer with parameters as *sums over the examples*
 * (the original's convention), so partial sums computed by different workers over different
 * examples can simply be added. The first layer computes no input gradient.
 *
 * All arithmetic goes through a KernelSet (tensor/kernels.ts) or the fixed-order loops the
 * layers document, so a faster kernel changes nothing but the speed. Buffers are allocated
 * once, for up to `maxRows` examples.
 * Not here: gathering examples (parallel/compute-partials.ts), the update (optim/).
 */

import { alloc, type Float } from '../tensor/dtype';
import type { KernelSet } from '../tensor/kernels';
import type { BackwardOptions, ForwardContext, Layer } from './layer';
import { Conv2dLayer } from './layers/conv2d';
import { DenseLayer } from './layers/dense';
import { DropoutLayer } from './layers/dropout';
import { FlattenLayer } from './layers/flatten';
import { Pool2dLayer } from './layers/pool2d';
import { lossAndGrad } from './losses';
import { layoutOf, type ParamLayout } from './params';
import {
  checkModelSpec,
  kindOf,
  outputsOf,
  shapesOf,
  type Conv2dSpec,
  type DenseSpec,
  type DropoutSpec,
  type ModelSpec,
  type Pool2dSpec,
} from './spec';

/**
 * A unit counts as saturated when its activation's derivative is below 1 % of its maximum:
 * tanh′ = 1 − a² < 0.01, sigmoid′ = a(1 − a) < 0.0025 (counted by kernels.activationStats).
 */
export { SATURATION_RATIO } from '../tensor/kernels';

/**
 * Per-layer activation statistics, summed over examples, in one Float64Array (counts are
 * integers, exact in float64, so their sum is order-independent): for the l-th layer with
 * parameters at `offsets[l]`: [saturated unit-positions, then per unit (or channel):
 * positions with z > 0].
 */
export interface StatsLayout {
  offsets: number[];
  size: number;
}

export function statsLayoutOf(spec: ModelSpec): StatsLayout {
  const offsets: number[] = [];
  let off = 0;
  for (const s of layoutOf(spec).layers) {
    offsets.push(off);
    off += 1 + s.units;
  }
  return { offsets, size: off };
}

/** The layers of a spec, with their workspaces for up to maxRows examples. */
export function buildLayers(spec: ModelSpec, k: KernelSet, maxRows: number): Layer[] {
  const shapes = shapesOf(spec);
  return spec.layers.map((l, i) => {
    const inS = shapes[i]!;
    const outS = shapes[i + 1]!;
    switch (kindOf(l)) {
      case 'dense':
        return new DenseLayer(l as DenseSpec, i, inS, outS, k, maxRows);
      case 'conv2d':
        return new Conv2dLayer(l as Conv2dSpec, i, inS, outS, k, maxRows);
      case 'maxpool2d':
      case 'avgpool2d':
        return new Pool2dLayer(l as Pool2dSpec, i, inS, outS, k, maxRows);
      case 'flatten':
        return new FlattenLayer(i, inS, outS);
      case 'dropout':
        return new DropoutLayer(l as DropoutSpec, i, inS, outS, k, maxRows);
    }
  });
}

export class Model {
  readonly spec: ModelSpec;
  readonly layout: ParamLayout;
  readonly statsLayout: StatsLayout;
  readonly kernels: KernelSet;
  readonly maxRows: number;
  readonly outputs: number;
  readonly layers: Layer[];
  /** a[0] is the input buffer (maxRows, inputs); a[l+1] is layer l's output. */
  private readonly a: Float[];
  /** g[l]: dJ/d a[l], (maxRows, size of a[l]); g[0] is never needed (empty). */
  private readonly g: Float[];
  private readonly y: Float;
  /** For each layer, its index in layout.layers, or −1 without parameters. */
  private readonly slotOf: number[];
  private readonly views = new WeakMap<Float, (Float | null)[]>();
  private readonly statViews = new WeakMap<Float64Array, Float64Array[]>();
  private readonly last: DenseLayer;
  /** Each layer's backward options, per check: none, 'local', 'shared' (built once: the step makes no objects here). */
  private readonly backOpts: { none: BackwardOptions[]; local: BackwardOptions[]; shared: BackwardOptions[] };

  constructor(spec: ModelSpec, kernels: KernelSet, maxRows: number) {
    checkModelSpec(spec);
    if (kernels.dtype !== spec.dtype) throw new TypeError(`kernels are ${kernels.dtype}, model is ${spec.dtype}`);
    this.spec = spec;
    this.layout = layoutOf(spec);
    this.statsLayout = statsLayoutOf(spec);
    this.kernels = kernels;
    this.maxRows = maxRows;
    this.outputs = outputsOf(spec);
    this.layers = buildLayers(spec, kernels, maxRows);
    this.a = [alloc(spec.dtype, maxRows * spec.inputs)];
    this.g = [alloc(spec.dtype, 0)];
    for (const l of this.layers) {
      this.a.push(alloc(spec.dtype, maxRows * l.outSize));
      this.g.push(alloc(spec.dtype, maxRows * l.outSize));
    }
    this.slotOf = this.layers.map(() => -1);
    this.layout.layers.forEach((s, i) => (this.slotOf[s.layer] = i));
    this.last = this.layers[this.layers.length - 1] as DenseLayer;
    this.y = alloc(spec.dtype, maxRows * this.outputs);
    const L = this.layers.length;
    const optsFor = (check?: 'local' | 'shared'): BackwardOptions[] =>
      this.layers.map((_, l) =>
        Object.freeze({ ...(check !== undefined ? { check } : {}), gradIsZ: l === L - 1 && spec.loss === 'cross-entropy' }),
      );
    this.backOpts = { none: optsFor(), local: optsFor('local'), shared: optsFor('shared') };
  }

  /** The input buffer: fill rows × inputs, row-major (C·H·W per row), before forward(). */
  input(): Float {
    return this.a[0]!;
  }

  /** The target buffer: fill rows × outputs before backward(). */
  target(): Float {
    return this.y;
  }

  /** Per-layer [W, b, W, b, …] views of a flat buffer in this model's layout, null for layers without parameters (cached). */
  slots(flat: Float): (Float | null)[] {
    let v = this.views.get(flat);
    if (v === undefined) {
      v = [];
      for (let l = 0; l < this.layers.length; l++) {
        const i = this.slotOf[l]!;
        if (i < 0) v.push(null, null);
        else {
          const s = this.layout.layers[i]!;
          v.push(flat.subarray(s.w, s.w + s.wSize), flat.subarray(s.b, s.b + s.bSize));
        }
      }
      this.views.set(flat, v);
    }
    return v;
  }

  /**
   * Runs the forward pass over the first `rows` examples of input(); returns the output
   * buffer. `ctx.train` present: training (dropout draws its masks); absent: evaluation.
   */
  forward(params: Float, rows: number, ctx: ForwardContext = {}): Float {
    if (rows > this.maxRows) throw new RangeError(`forward: ${rows} rows exceed the workspace's ${this.maxRows}`);
    const p = this.slots(params);
    for (let l = 0; l < this.layers.length; l++) this.layers[l]!.forward(rows, this.a[l]!, p[2 * l]!, p[2 * l + 1]!, this.a[l + 1]!, ctx);
    return this.a[this.a.length - 1]!;
  }

  /** Loss sum over the first `rows` examples, after forward(). Writes nothing but workspace. */
  loss(rows: number): number {
    const L = this.layers.length;
    return lossAndGrad(this.spec.loss, this.kernels, rows, this.outputs, this.last.z, this.a[L]!, this.y, this.g[L]!);
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
    const L = this.layers.length;
    const p = this.slots(params);
    const gr = this.slots(grads);
    const lossSum = this.loss(rows);
    const opts = this.backOpts[check ?? 'none'];
    let bad = -1;
    for (let l = L - 1; l >= 0; l--) {
      const layer = this.layers[l]!;
      const b = layer.backward(
        rows,
        this.a[l]!,
        this.a[l + 1]!,
        this.g[l + 1]!,
        p[2 * l]!,
        gr[2 * l]!,
        gr[2 * l + 1]!,
        l > 0 ? this.g[l]! : null,
        opts[l]!,
      );
      // layers are walked from the last: an earlier layer's (lower index) replaces a later one's
      if (b >= 0) {
        const s = this.layout.layers[this.slotOf[l]!]!;
        bad = s.w + b;
      }
    }
    if (stats) this.addStats(rows, stats);
    this.lastBad = bad;
    return lossSum;
  }

  /**
   * A fingerprint of the non-differentiable choices of the last forward over `rows` examples
   * (which relu units are active, which max-pool inputs win): gradcheck compares it between
   * θ+ε and θ−ε to detect a perturbation that crosses a kink, where the central difference is
   * meaningless.
   */
  kinkPattern(rows: number): number {
    let h = 0;
    for (const l of this.layers) h = l.kinks(rows, h);
    return h;
  }

  private addStats(rows: number, stats: Float64Array): void {
    let v = this.statViews.get(stats);
    if (v === undefined) {
      v = this.layout.layers.map((s, i) => stats.subarray(this.statsLayout.offsets[i]!, this.statsLayout.offsets[i]! + 1 + s.units));
      this.statViews.set(stats, v);
    }
    const ls = this.layout.layers;
    for (let i = 0; i < ls.length; i++) this.layers[ls[i]!.layer]!.stats(rows, v[i]!);
  }
}
