/**
 * tail.ts — the step's tail over a share of the parameters, the same on the main thread and
 * on a pool thread (pool-protocol.ts TailBuffers says how the two share it).
 *
 * Without clipping the tail is elementwise except for the sums of squares, and
 * those are per block (kernel spec rule 8): so the parameters are cut into units — blocks of
 * NORM_BLOCK elements of each tensor, in order — and whoever takes a unit runs on it exactly
 * what the main thread would run alone: a + b and reduceGrad (the unit's Σg², Σp²) in one
 * pass (kernels.addReduceGrad), the SGD update. The unit sums are then added per tensor, in
 * unit order, by the main thread: the same bits as one reduceGrad over the tensor.
 * The weights are written with sgdUpdateShared: both threads read them in the next step.
 * Not here: who takes which units and what happens on failure (train/step.ts), the thread's
 * task loop (workers/pool-task.ts).
 */

import { NORM_BLOCK, type KernelSet } from '../tensor/kernels';
import type { Float } from '../tensor/dtype';
import { updateRange, type OptimizerState, type StepScalars } from '../optim/optimizer';
import type { OptimizerSpec } from '../optim/optimizer';
import { T } from './pool-protocol';

/** [start, end) of each unit, flattened: the blocks of each tensor range, in order. */
export function tailUnits(tensors: readonly { from: number; to: number }[]): Int32Array {
  const out: number[] = [];
  for (const t of tensors) {
    for (let s = t.from; s < t.to; s += NORM_BLOCK) out.push(s, Math.min(t.to, s + NORM_BLOCK));
  }
  return Int32Array.from(out);
}

/** Per-unit views of flat buffers, made once per buffer. */
export class UnitViews {
  private readonly cache = new Map<Float, Float[]>();
  constructor(readonly units: Int32Array) {}

  of(buf: Float): Float[] {
    let v = this.cache.get(buf);
    if (v === undefined) {
      v = [];
      for (let k = 0; 2 * k < this.units.length; k++) v.push(buf.subarray(this.units[2 * k]!, this.units[2 * k + 1]!));
      this.cache.set(buf, v);
    }
    return v;
  }
}

export interface TailShare {
  /** The root's two children's gradients (a receives the sum, then u = lr·g), the weights, and where the old weights go. */
  a: Float;
  b: Float;
  params: Float;
  old: Float;
  divisor: number;
  lambda: number;
  lr: number;
  /** Two per unit: Σg², Σp². */
  sums: Float64Array;
  /** The claim counter, the done count, the failure flag and the unit states (pool-protocol.ts T). */
  sync: Int32Array;
  /** The optimizer: SGD runs the kernels' sgdUpdate; momentum and Adam updateRange, advancing `state`'s buffers (copied to `oldState` first) and writing u. */
  optimizer: OptimizerSpec;
  state: OptimizerState;
  oldState: Float[];
  u: Float;
  sc: StepScalars;
  /** This thread's own NORM_BLOCK elements, where SGD puts a unit's g (a and b are then only read). */
  scratch: Float;
}

const pair = new Float64Array(2);

/** Sets the tail's counters and unit states back to zero (before a tail is posted). */
export function resetTail(sync: Int32Array): void {
  sync.fill(0, 0, T.FIRED);
  sync.fill(0, T.STATE);
}

/**
 * Takes units from the shared counter until none is left, and runs each: copies its weights
 * into `old` and marks it taken (from then on its weights may change), then add, reduce and
 * update, then marks it done. `taken(i)` (test-only fault injection) runs once a unit's
 * weights have changed and before it is marked done. Returns the units it ran.
 */
export function runTailShare(k: KernelSet, views: UnitViews, t: TailShare, taken?: (unit: number) => void): number {
  const [a, b, p, old] = [views.of(t.a), views.of(t.b), views.of(t.params), views.of(t.old)];
  const state = t.state.buffers.map((x) => views.of(x));
  const oldState = t.oldState.map((x) => views.of(x));
  const sgd = t.optimizer.kind === 'sgd';
  const sync = t.sync;
  const n = p.length;
  let ran = 0;
  for (;;) {
    const i = Atomics.add(sync, T.NEXT, 1);
    if (i >= n) return ran;
    // copyShared: `old` is read only after a failure, and its units' lines were written by either thread
    k.copyShared(p[i]!.length, p[i]!, old[i]!);
    for (let j = 0; j < state.length; j++) k.copyShared(p[i]!.length, state[j]![i]!, oldState[j]![i]!);
    Atomics.store(sync, T.STATE + i, 1);
    const m = a[i]!.length;
    // SGD: g and u = lr·g in this thread's scratch, not in a: a's lines are the other thread's
    // (its partial, or one it reads), and writing them would take them from its cache
    const g = sgd ? t.scratch : a[i]!;
    k.addReduceGrad(m, a[i]!, b[i]!, p[i]!, t.divisor, t.lambda, pair, g);
    t.sums[2 * i] = pair[0]!;
    t.sums[2 * i + 1] = pair[1]!;
    if (sgd) k.sgdUpdateShared(m, t.lr, g, p[i]!, g);
    else updateRange(t.optimizer, t.state, t.params, t.a, t.u, views.units[2 * i]!, views.units[2 * i + 1]!, t.sc);
    taken?.(i);
    Atomics.store(sync, T.STATE + i, 2);
    ran++;
    if (Atomics.add(sync, T.DONE, 1) + 1 === n) Atomics.notify(sync, T.DONE);
  }
}

/** Puts back the weights (and optimizer buffers) of every unit that was taken (its copy in `old` is whole). */
export function restoreTaken(views: UnitViews, params: Float, old: Float, sync: Int32Array, state: Float[] = [], oldState: Float[] = []): void {
  const pairs = [[params, old], ...state.map((x, j) => [x, oldState[j]!])] as [Float, Float][];
  for (const [cur, was] of pairs) {
    const c = views.of(cur);
    const o = views.of(was);
    for (let i = 0; i < c.length; i++) if (Atomics.load(sync, T.STATE + i) !== 0) c[i]!.set(o[i]!);
  }
}
