/**
 * partial.ts — the value of a reduction-tree node: summed gradients and statistics.
 *
 * grads: Σ dJdW, Σ dJdWb of every layer over the node's examples, in the parameter layout
 * (model/params.ts). stats: activation counts (model/model.ts StatsLayout). lossSum: Σ of the
 * per-example loss (float64). count: examples. Adding two partials is element-wise in the
 * dtype (a Float32Array store rounds the float64 sum once, which is the float32 sum).
 * Not here: the wire encoding (codec-partials.ts), the order of additions (tree.ts).
 */

import { alloc, type DType, type Float } from '../tensor/dtype';
import type { KernelSet } from '../tensor/kernels';

export interface Partial {
  grads: Float;
  stats: Float64Array;
  lossSum: number;
  count: number;
  /**
   * Index of the first non-finite gradient element as computed by whoever produced this
   * partial in this process (compute-partials for the main thread and pool threads; the
   * codec for a remote peer's frame), or −1. Read before combining: addPartial reuses
   * partials as accumulators and does not update it.
   */
  bad: number;
}

export function newPartial(dtype: DType, params: number, stats: number): Partial {
  return { grads: alloc(dtype, params), stats: new Float64Array(stats), lossSum: 0, count: 0, bad: -1 };
}

/** into ← into + from (the gradients through the kernels' vector add). */
export function addPartial(into: Partial, from: Partial, k: KernelSet): void {
  k.addInto(into.grads.length, into.grads, from.grads);
  addScalars(into, from);
}

/** addPartial without the gradients (a shared tail adds them unit by unit: kernels.addReduceGrad). */
export function addScalars(into: Partial, from: Partial): void {
  const s = into.stats;
  const t = from.stats;
  for (let i = 0; i < s.length; i++) s[i] = s[i]! + t[i]!;
  into.lossSum += from.lossSum;
  into.count += from.count;
}

/** Index of the first non-finite element, or −1. (x − x is 0 for finite x, NaN otherwise.) */
export function firstBadIndex(g: Float): number {
  for (let i = 0; i < g.length; i++) {
    const v = g[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}
