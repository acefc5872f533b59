/**
 * fused-reduce.ts — step 5 as one vector pass per tensor, with what can be fused into it:
 * the root's last add (the whole batch on the main thread is planned as the root's two
 * children, splitRoot, so that their add runs in this pass, kernels.addReduceGrad) and SGD's
 * update without clipping (kernels.reduceSgd, which leaves the old weights in g for putBack).
 * Invariant: the kernel spec makes each fused pass the same bits as its passes apart (rules 7
 * and 8); off, the step runs the plain add, reduce and optimizer step.
 */

import type { Float } from '../../tensor/dtype';
import type { KernelSet } from '../../tensor/kernels';
import type { LayerRange } from '../../optim/clip';
import type { ReductionTree, TreeNode } from '../../parallel/tree';

/** The root's two children in place of the root when `nodes` is the whole batch (null: no split). */
export function splitRoot(tree: ReductionTree, nodes: readonly TreeNode[]): TreeNode[] | null {
  const top = tree.root();
  if (nodes.length !== 1 || nodes[0]!.h !== top.h || top.h === 0) return null;
  const kids = tree.children(top);
  return kids.length === 2 ? kids : null;
}

interface LayerViews {
  gW: Float;
  pW: Float;
  gb: Float;
  pb: Float;
}

export class Reducer {
  private readonly pair = new Float64Array(2);
  private viewCache: { g: Float; p: Float; v: LayerViews[] } | null = null;
  private readonly otherCache = new Map<Float, { W: Float; b: Float }[]>();

  constructor(
    private readonly ranges: readonly LayerRange[],
    private readonly kernels: KernelSet,
    private readonly lambda: number,
    /** Pool threads read the weights next (the SGD pass writes them with shared stores). */
    private readonly shared: boolean,
  ) {}

  /**
   * Reduction, weight decay and the per-layer sums of squares into `norms` (Σg²(W) at 4l,
   * Σg²(b) at 4l + 1, Σθ²(W) at 4l + 2), one pass per tensor (kernels.reduceGrad) — with
   * `other`, the root's last add g ← g + other too (kernels.addReduceGrad); with `lr`, SGD's
   * update as well (kernels.reduceSgd). Returns Σg² over all parameters.
   */
  reduce(g: Float, params: Float, divisor: number, other: Float | null, lr: number | null, norms: Float64Array): number {
    const k = this.kernels;
    const out = this.pair;
    const lambda = this.lambda;
    const shared = this.shared;
    let total = 0;
    for (let l = 0; l < this.ranges.length; l++) {
      const r = this.ranges[l]!;
      const v = this.views(g, params, l);
      const o = other === null ? null : this.otherViews(other, l);
      if (lr !== null) k.reduceSgd(r.wEnd - r.w, v.gW, o === null ? null : o.W, v.pW, divisor, lambda, lr, out, shared);
      else if (o === null) k.reduceGrad(r.wEnd - r.w, v.gW, v.pW, divisor, lambda, out);
      else k.addReduceGrad(r.wEnd - r.w, v.gW, o.W, v.pW, divisor, lambda, out, v.gW);
      norms[4 * l] = out[0]!;
      norms[4 * l + 2] = out[1]!;
      if (lr !== null) k.reduceSgd(r.bEnd - r.b, v.gb, o === null ? null : o.b, v.pb, divisor, lambda, lr, out, shared);
      else if (o === null) k.reduceGrad(r.bEnd - r.b, v.gb, v.pb, divisor, lambda, out);
      else k.addReduceGrad(r.bEnd - r.b, v.gb, o.b, v.pb, divisor, lambda, out, v.gb);
      norms[4 * l + 1] = out[0]!;
      total += norms[4 * l]! + norms[4 * l + 1]!;
    }
    return total;
  }

  /** After reduce() with the update fused (lr given): the weights as they were, from the copy it left in g. */
  putBack(g: Float, params: Float): void {
    for (let l = 0; l < this.ranges.length; l++) {
      const v = this.views(g, params, l);
      v.pW.set(v.gW);
      v.pb.set(v.gb);
    }
  }

  /** Per-layer subarray views of (g, params), cached while the buffers stay the same. */
  private views(g: Float, p: Float, l: number): LayerViews {
    if (this.viewCache === null || this.viewCache.g !== g || this.viewCache.p !== p) {
      this.viewCache = {
        g,
        p,
        v: this.perLayer((r) => ({
          gW: g.subarray(r.w, r.wEnd),
          pW: p.subarray(r.w, r.wEnd),
          gb: g.subarray(r.b, r.bEnd),
          pb: p.subarray(r.b, r.bEnd),
        })),
      };
    }
    return this.viewCache.v[l]!;
  }

  /** Per-layer views of a partial's gradients (the root's other operand), cached per buffer. */
  private otherViews(g: Float, l: number): { W: Float; b: Float } {
    let v = this.otherCache.get(g);
    if (v === undefined) {
      // a remote node's partials are new buffers each step: hold at most a few
      if (this.otherCache.size >= 4) this.otherCache.clear();
      v = this.perLayer((r) => ({ W: g.subarray(r.w, r.wEnd), b: g.subarray(r.b, r.bEnd) }));
      this.otherCache.set(g, v);
    }
    return v[l]!;
  }

  /** f of each layer's ranges, in an array built by push (one shape for V8: see Stepper.run()). */
  private perLayer<T>(f: (r: LayerRange) => T): T[] {
    const out: T[] = [];
    for (const r of this.ranges) out.push(f(r));
    return out;
  }
}
