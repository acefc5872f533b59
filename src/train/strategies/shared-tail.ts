/**
 * shared-tail.ts — the step's tail (the root's last add, reduce, the optimizer's update) split
 * with a pool thread, unit by unit: parameter blocks that whichever thread is free takes
 * (parallel/tail.ts runs a unit, pool-protocol.ts TailBuffers is the shared memory).
 * Invariant: each unit runs exactly the passes the main thread alone would run, and the unit
 * sums are added per tensor in unit order: the same bits. A helper that fails leaves the
 * weights and optimizer buffers put back as they were, and the caller recomputes the step
 * alone. Every thread's last tail is settled before a new one resets the shared counters.
 */

import { view, type Float } from '../../tensor/dtype';
import type { KernelSet } from '../../tensor/kernels';
import { stepScalars, type OptimizerState, type StepScalars } from '../../optim/optimizer';
import type { LayerRange } from '../../optim/clip';
import type { Executor, PoolView, StepTask } from '../../parallel/executor';
import type { Partial } from '../../parallel/partial';
import { pollUntil, T, waitAsync, type TailBuffers } from '../../parallel/pool-protocol';
import { resetTail, restoreTaken, runTailShare, tailUnits, UnitViews } from '../../parallel/tail';
import type { Assignment, StepSettings } from '../step-types';

/** A pool thread that can take a share of the tail (its optional Executor members). */
type TailHelper = Executor & Required<Pick<Executor, 'operand' | 'tail' | 'failure'>>;

export class SharedTail {
  private readonly views: UnitViews;
  private readonly old: Float;
  private readonly oldState: Float[];
  /** The update of every parameter (momentum, Adam: ‖ΔW‖ is measured from it). */
  readonly u: Float;
  /** The tensor (2l: W, 2l + 1: b of layer l) of each unit. */
  private readonly tensorOf: Int32Array;
  /** The optimizer's scalars of the step in progress (commitStep counts them). */
  sc: StepScalars;
  /** Poll before sleeping while the pool thread finishes its units (only when every thread has a core). */
  private readonly spin: boolean;
  /** Per tensor (W, b of each layer): Σg², Σp², summed from the units. */
  private readonly tensorSums: Float64Array;

  constructor(
    private readonly tb: TailBuffers,
    private readonly settings: StepSettings,
    private readonly ranges: readonly LayerRange[],
    private readonly opt: OptimizerState,
    private readonly main: { owns(p: Partial): boolean },
    private readonly kernels: KernelSet,
    pool: PoolView,
    paramCount: number,
    dtype: Float,
  ) {
    // W then b of each layer, as [from, to) of the flat parameters
    const tensors = ranges.flatMap((r) => [
      { from: r.w, to: r.wEnd },
      { from: r.b, to: r.bEnd },
    ]);
    const units = tailUnits(tensors);
    if (units.length !== tb.units.length || units.some((v, i) => v !== tb.units[i]))
      throw new Error("step: the pool's tail units are not this model's");
    const dt = dtype instanceof Float64Array ? 'float64' : 'float32';
    this.tensorOf = new Int32Array(units.length / 2);
    let t = 0;
    for (let i = 0; i < this.tensorOf.length; i++) {
      while (units[2 * i]! >= tensors[t]!.to) t++;
      this.tensorOf[i] = t;
    }
    const vec = (b: SharedArrayBuffer): Float => view(dt, b, 0, paramCount);
    if (opt.buffers.some((b, j) => b.buffer !== tb.state[j])) throw new Error("step: the pool's optimizer buffers are not this run's");
    this.views = new UnitViews(units);
    this.old = vec(tb.old);
    this.oldState = tb.oldState.map(vec);
    this.u = vec(tb.u);
    this.sc = stepScalars(settings.optimizer, opt);
    this.spin = pool.opts.spin ?? false;
    this.tensorSums = new Float64Array(4 * ranges.length);
  }

  /** The executor of this step's set that can share the tail of operands a and b, if any. */
  helperFor(set: readonly Executor[], work: readonly Assignment[], a: Partial, b: Partial): TailHelper | undefined {
    return set.find(
      (e): e is TailHelper =>
        e.tail !== undefined &&
        e.failure !== undefined &&
        e.operand !== undefined &&
        work.some((w) => w.exec === e && w.failed === undefined) &&
        e.operand(a) !== null &&
        e.operand(b) !== null,
    );
  }

  /**
   * Steps 4 (the root's add), 5 and 6 shared with `helper`: a ← a + b, reduce, the optimizer's
   * update at `lr`, unit by unit. Writes the per-layer sums into `norms` (Σg²(W), Σg²(b), Σθ²(W) of each
   * layer at 4l, 4l + 1, 4l + 2) and returns Σg², or a failure when the helper failed — the
   * weights are then back as they were.
   */
  async run(
    task: StepTask,
    helper: TailHelper,
    a: Partial,
    b: Partial,
    divisor: number,
    lr: number,
    norms: Float64Array,
  ): Promise<{ sumsq: number } | { failed: string }> {
    const tb = this.tb;
    const units = tb.units.length / 2;
    const sc = (this.sc = stepScalars(this.settings.optimizer, this.opt, lr));
    tb.f64[0] = divisor;
    tb.f64[1] = this.settings.weightDecay;
    tb.f64[2] = lr;
    tb.f64[3] = sc.first ? 1 : 0;
    tb.f64[4] = sc.c1;
    tb.f64[5] = sc.c2;
    resetTail(tb.sync);
    helper.tail(task.step, helper.operand(a)!, helper.operand(b)!);
    runTailShare(this.kernels, this.views, {
      a: a.grads,
      b: b.grads,
      params: task.params,
      old: this.old,
      divisor,
      lambda: this.settings.weightDecay,
      lr,
      sums: tb.sums,
      sync: tb.sync,
      optimizer: this.settings.optimizer,
      state: this.opt,
      oldState: this.oldState,
      u: this.u,
      sc,
      mine: this.main.owns(b) && !this.main.owns(a) ? 'b' : 'a',
    });
    const failed = await this.unitsDone(units, helper);
    if (failed !== null) {
      this.putBack(task, a, b);
      return { failed: `its share of the tail failed (${failed}): weights put back, the step recomputed on the main thread` };
    }
    const total = this.sums(norms);
    // not finite: no update this step (the caller says why)
    if (!Number.isFinite(Math.sqrt(total))) this.putBack(task, a, b);
    return { sumsq: total };
  }

  private putBack(task: StepTask, a: Partial, b: Partial): void {
    restoreTaken(this.views, task.params, this.old, this.tb.sync, this.opt.buffers, this.oldState, a.grads, b.grads);
  }

  /** The sums of squares per tensor, unit by unit in order (kernel spec rule 8), into `norms`; returns Σg². */
  private sums(norms: Float64Array): number {
    const tb = this.tb;
    const per = this.tensorSums;
    per.fill(0);
    for (let i = 0; i < this.tensorOf.length; i++) {
      const t = this.tensorOf[i]!;
      per[2 * t] = per[2 * t]! + tb.sums[2 * i]!;
      per[2 * t + 1] = per[2 * t + 1]! + tb.sums[2 * i + 1]!;
    }
    let total = 0;
    for (let l = 0; l < this.ranges.length; l++) {
      norms[4 * l] = per[4 * l]!;
      norms[4 * l + 2] = per[4 * l + 1]!;
      norms[4 * l + 1] = per[4 * l + 2]!;
      total += norms[4 * l]! + norms[4 * l + 1]!;
    }
    return total;
  }

  /**
   * Waits until all `units` are done; returns null, or why not: the helper failed (its task
   * threw, setting FAILED, or its thread died). Polls first when spinning (a poll on a shared
   * core would hold up the very thread it waits for), then sleeps.
   */
  private async unitsDone(units: number, helper: TailHelper): Promise<string | null> {
    const sync = this.tb.sync;
    if (this.spin) pollUntil(() => Atomics.load(sync, T.DONE) >= units || Atomics.load(sync, T.FAILED) !== 0);
    for (;;) {
      const d = Atomics.load(sync, T.DONE);
      if (d >= units) return null;
      // set by the thread when its task throws, and by its executor when the thread dies
      if (Atomics.load(sync, T.FAILED) !== 0) return helper.failure();
      const w = waitAsync(sync, T.DONE, d);
      if (w.async) await w.value;
    }
  }
}

/**
 * Settles every pool thread's last tail task before this step's tail resets the shared
 * counters: a thread with no share in this step (3 threads, 2 leaves: one has none) would
 * otherwise wake into its stale task and take units of this step's tail with the last step's
 * operands. A thread that died meanwhile runs nothing: its next compute() reports it.
 * Returns null when every one was settled at once, else a promise of the rest.
 */
export function settleTails(threads: readonly Executor[], from = 0): Promise<void> | null {
  // no promise unless a thread is still leaving its tail (the usual step settles synchronously)
  for (let i = from; i < threads.length; i++) {
    const leaving = threads[i]!.settleTail?.() ?? null;
    if (leaving !== null) return leaving.catch(() => undefined).then(() => settleTails(threads, i + 1) ?? undefined);
  }
  return null;
}
