/**
 * layer.ts — the one interface every layer kind implements, and the factory from a spec.
 *
 * A layer sees `rows` examples at once, each of its input shape, row-major (NCHW for images).
 * Forward keeps what backward needs in the layer's own workspace (allocated once, for up to
 * `maxRows` examples). Backward turns dJ/d(output) into dJdW and dJdWb as *sums over the
 * rows* and, when asked, dJ/d(input). A layer with parameters owns two tensors, W then b, in
 * PyTorch's layout; the model (model.ts) places them in one flat buffer.
 * Not here: the layer loop and the loss (model.ts), where parameters live (params.ts).
 */

import type { Float } from '../tensor/dtype';
import type { Activation, KernelSet } from '../tensor/kernels';
import type { LayerKind, LayerSpec, Shape } from './spec';

/** What forward needs beyond the data: present while training (dropout draws its mask), absent for evaluation and predict. */
export interface ForwardContext {
  train?: {
    step: number;
    /** Row r is example order[from + r] of the dataset. */
    order: Uint32Array;
    from: number;
  };
}

export interface BackwardOptions {
  /** Check dJdW as it is stored (kernels.gemmTNCheck); 'shared': memory another thread reads next. */
  check?: 'local' | 'shared';
  /** gOut is already dJ/dz (cross-entropy's fused softmax gradient): the activation's derivative is skipped. */
  gradIsZ?: boolean;
}

export interface Layer {
  readonly kind: LayerKind;
  /** Index in the model's layer list (dropout's mask and error messages use it). */
  readonly index: number;
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly inSize: number;
  readonly outSize: number;
  /** Shapes of W and b (PyTorch layout), or null for a layer without parameters. */
  readonly params: { W: number[]; b: number[] } | null;
  /** The activation whose statistics the layer counts (dense, conv2d), or null. */
  readonly activation: Activation | null;
  /** Units the statistics count per example (dense: outputs; conv2d: channels), 0 without. */
  readonly units: number;
  /** Positions each unit has per example (dense 1, conv2d OH·OW): a saturated fraction's denominator. */
  readonly positions: number;
  /** out (rows, outSize) from x (rows, inSize). W and b are this layer's views (null without parameters). */
  forward(rows: number, x: Float, W: Float | null, b: Float | null, out: Float, ctx: ForwardContext): void;
  /**
   * After forward on the same rows: gOut (rows, outSize) is dJ/d(out), and may be overwritten
   * (it becomes dJ/dz in place). Writes dW and db (sums over rows; overwritten) and, when gIn
   * is not null, dJ/d(x) into gIn (rows, inSize). With opts.check: returns the first
   * non-finite index of dW, else wSize + that of db, else −1.
   */
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
  ): number;
  /** Adds this layer's activation counts of the last forward into out (length 1 + units): [saturated unit-positions, per unit: positions with z > 0]. */
  stats(rows: number, out: Float64Array): void;
  /** A hash of the last forward's non-differentiable choices (relu signs, max-pool winners), mixed into h. */
  kinks(rows: number, h: number): number;
}

export type LayerFactory = (spec: LayerSpec, index: number, inShape: Shape, outShape: Shape, k: KernelSet, maxRows: number) => Layer;
