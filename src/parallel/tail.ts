/**
 * tail.ts — the step's tail over a share of the parameters, the same on the main thread and
 * on a pool thread (pool-protocol.ts TailBuffers says how the two share it).
 *
 * Without clipping the tail is elementwise except for the sums of squares, and
 * those are per block (kernel spec rule 8): so the parameters are cut into units — blocks of
 * NORM_BLOCK elements of each tensor, in order — and whoever takes a unit runs on it exactly
 * what the main thread would run alone. SGD: a + b, the reduction (the unit's Σg², Σp²) and
 * the update in one pass (kernels.reduceSgd), which leaves the unit's old weights in the
 * taker's own operand. Momentum and Adam: the weights are copied aside, then a + b and the
 * reduction in one pass (kernels.addReduceGrad), then the update. The unit sums are then added
 * per tensor, in unit order, by the main thread: the same bits as one pass over the tensor.
 * The weights are written with non-temporal stores: both threads read them in the next step.
 * Not here: who takes which units and what happens on failure (train/step.ts), the thread's
 * task loop (workers/pool-task.ts).
 */

import { NORM_BLOCK, type KernelSet } from '../tensor/kernels';
import type { Float } from '../tensor/dtype';
import { updateElements, type OptimizerState, type StepScalars } from '../optim/optimizer';
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
  /** The optimizer: SGD runs the kernels' sgdUpdate; momentum and Adam updateElements on the unit, advancing `state`'s buffers (copied to `oldState` first) and writing u. */
  optimizer: OptimizerSpec;
  state: OptimizerState;
  oldState: Float[];
  u: Float;
  sc: StepScalars;
  /**
   * The operand this thread computed (its own slot: lines in its own cache or in memory, not
   * in the other core's): SGD's fused pass leaves each unit's old weights there. a + b = b + a
   * bit for bit (IEEE addition is commutative), so which operand comes first changes nothing.
   */
  mine: 'a' | 'b';
}

/**
 * A unit's state in TailShare.sync: TAKEN once its weights may change, then DONE; and where
 * its old weights are (IN_OLD: the `old` copy, IN_A / IN_B: that operand, by the fused pass).
 */
export const UNIT = { TAKEN: 1, DONE: 2, IN_OLD: 0, IN_A: 4, IN_B: 8 } as const;

const pair = new Float64Array(2);

/** Sets the tail's counters and unit states back to zero (before a tail is posted). */
export function resetTail(sync: Int32Array): void {
  sync.fill(0);
}

/**
 * Takes units from the shared counter until none is left, and runs each: copies its weights
 * into `old` and marks it taken (from then on its weights may change), then add, reduce and
 * update, then marks it done. `taken(i)` (a test hook: parallel/hooks.ts ServeHooks.inTail) runs once a unit's
 * weights have changed and before it is marked done. Returns the units it ran.
 */
export function runTailShare(k: KernelSet, views: UnitViews, t: TailShare, taken?: (unit: number) => void): number {
  const [a, b, p, old, u] = [views.of(t.a), views.of(t.b), views.of(t.params), views.of(t.old), views.of(t.u)];
  const state = t.state.buffers.map((x) => views.of(x));
  const oldState = t.oldState.map((x) => views.of(x));
  const sgd = t.optimizer.kind === 'sgd';
  const [own, other] = t.mine === 'a' ? [a, b] : [b, a];
  const keptIn = t.mine === 'a' ? UNIT.IN_A : UNIT.IN_B;
  const sync = t.sync;
  const n = p.length;
  let ran = 0;
  for (;;) {
    const i = Atomics.add(sync, T.NEXT, 1);
    if (i >= n) return ran;
    const m = p[i]!.length;
    if (sgd) {
      // marked first: the pass is one kernel call, which a thread does not leave halfway
      Atomics.store(sync, T.STATE + i, UNIT.TAKEN | keptIn);
      k.reduceSgd(m, own[i]!, other[i]!, p[i]!, t.divisor, t.lambda, t.lr, pair, true);
    } else {
      // copyShared: `old` is read only after a failure, and its units' lines were written by either thread
      k.copyShared(m, p[i]!, old[i]!);
      for (let j = 0; j < state.length; j++) k.copyShared(m, state[j]![i]!, oldState[j]![i]!);
      Atomics.store(sync, T.STATE + i, UNIT.TAKEN | UNIT.IN_OLD);
      k.addReduceGrad(m, a[i]!, b[i]!, p[i]!, t.divisor, t.lambda, pair, a[i]!);
      updateElements(t.optimizer, t.sc, p[i]!, a[i]!, u[i]!, state[0]?.[i], state[1]?.[i], k);
    }
    t.sums[2 * i] = pair[0]!;
    t.sums[2 * i + 1] = pair[1]!;
    taken?.(i);
    Atomics.or(sync, T.STATE + i, UNIT.DONE);
    ran++;
    if (Atomics.add(sync, T.DONE, 1) + 1 === n) Atomics.notify(sync, T.DONE);
  }
}

/**
 * Puts back the weights (and optimizer buffers) of every unit that was taken, from where its
 * state says they are: `old` (whole for each taken unit) or the operand a or b the fused pass
 * left them in.
 */
export function restoreTaken(
  views: UnitViews,
  params: Float,
  old: Float,
  sync: Int32Array,
  state: Float[] = [],
  oldState: Float[] = [],
  a: Float | null = null,
  b: Float | null = null,
): void {
  const p = views.of(params);
  const from = [views.of(old), a === null ? null : views.of(a), b === null ? null : views.of(b)];
  for (let i = 0; i < p.length; i++) {
    const s = Atomics.load(sync, T.STATE + i);
    if (s === 0) continue;
    const src = from[(s & (UNIT.IN_A | UNIT.IN_B)) >> 2];
    if (src === null || src === undefined) throw new Error(`restoreTaken: unit ${i}'s old weights are in an operand not given`);
    p[i]!.set(src[i]!);
    if ((s & (UNIT.IN_A | UNIT.IN_B)) !== 0) continue;
    for (let j = 0; j < state.length; j++) views.of(state[j]!)[i]!.set(views.of(oldState[j]!)[i]!);
  }
}
