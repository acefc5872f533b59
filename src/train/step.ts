/**
 * step.ts — one synchronized optimizer step: plan → gather → check → combine → update.
 *
 * The protocol, in order:
 *  1. Plan. The batch's L micro-batches are the leaves of a fixed reduction tree
 *     (parallel/tree.ts). Each executor gets a contiguous range of leaves sized to its
 *     measured speed (parallel/planner.ts), delivered as the range's canonical cover.
 *  2. Gather. Every executor computes its nodes' partials. An executor that fails (throws,
 *     its thread dies, its peer vanishes) has its nodes recomputed on the main thread; the
 *     failure is recorded, the result is unchanged.
 *  3. Check. Each partial is checked for non-finite values before anything is summed; the
 *     first one found is named (executor, tree node, tensor and layer). Only then (never on
 *     a clean step) that node is recomputed on the main thread leaf by leaf, and each
 *     example of a non-finite leaf alone, to name the training-set rows at fault.
 *  4. Combine. Node partials are added in the tree's fixed order into the root: the same
 *     bits whatever the executors, their number, speed or arrival order.
 *  5. Reduce. 'mean' divides by the batch's example count; weight decay adds λ·θ;
 *     the global norm is measured and clipped if configured.
 *  6. Update. Non-finite → skip (weights untouched) or stop, per config; else the
 *     optimizer writes θ_{t+1} in place.
 * With a pool that shares the tail (config shareTail, no clipping, no remote node in the step),
 * 4's last add, 5 and 6 are split between the main thread and a pool thread by blocks of the
 * parameters (parallel/tail.ts): the same bits. If that thread fails, the weights are put
 * back and the whole step is recomputed on the main thread.
 * Not here: epochs, logging, checkpoints (loop.ts).
 */

import { Errors } from '../errors';
import { alloc, view, type Float } from '../tensor/dtype';
import type { OptimizerSpec, OptimizerState } from '../optim/optimizer';
import { commitStep, optimizerStep, stepScalars, type StepScalars } from '../optim/optimizer';
import { clipByGlobalNorm, type LayerRange } from '../optim/clip';
import type { KernelSet } from '../tensor/kernels';
import { layerRecords, type LayerGeometry } from '../observe/grad-stats';
import type { ExecutorRecord, LayerRecord } from '../observe/schema';
import { leavesOf } from '../parallel/compute-partials';
import type { Executor, StepTask } from '../parallel/executor';
import type { MainExecutor } from '../parallel/main-executor';
import { addPartial, addScalars, type Partial } from '../parallel/partial';
import { everyoneWorks, planRanges, SpeedMeter } from '../parallel/planner';
import { combineNode, combineToRoot, nodeKey, ReductionTree, type TreeNode } from '../parallel/tree';
import { PoolExecutor, TaskWithdrawn, type ThreadPool } from '../parallel/pool-executor';
import { pollUntil, T, waitAsync } from '../parallel/pool-protocol';
import { resetTail, restoreTaken, runTailShare, tailUnits, UnitViews } from '../parallel/tail';

export interface StepSettings {
  reduction: 'sum' | 'mean';
  weightDecay: number;
  clipNorm: number | null;
  optimizer: OptimizerSpec;
  nonFinite: 'skip' | 'stop';
  layers: LayerGeometry[];
  /** Duplicate a straggling remote executor's range on the main thread (see gather()). */
  duplicateStragglers: boolean;
}

export interface StepResult {
  /** The objective on this batch (loss sum, or mean under 'mean' reduction), before the update. */
  loss: number;
  examples: number;
  gradNorm: number;
  clipped: boolean;
  layers: LayerRecord[];
  executors: ExecutorRecord[];
  split: { computeMs: number; handoffMs: number; recordMs: number; reduceMs: number; updateMs: number; tailShared?: boolean; fusedUpdate?: boolean; recordInReduce?: boolean };
  /** Set when the update was skipped; says what was non-finite and where. */
  skipped?: string;
  /** Training-set rows whose own loss or gradient is non-finite (first MAX_PINNED), when pinned down. */
  nonFiniteExamples?: number[];
}

/** Rows named at most per non-finite step (in the record; the text lists fewer). */
export const MAX_PINNED = 256;

interface Assignment {
  exec: Executor;
  lo: number;
  hi: number;
  nodes: TreeNode[];
  partials: Partial[];
  owner: Executor;
  ms: number;
  /** Examples computed, counted before combining (which reuses partials as accumulators). */
  examples: number;
  failed: string | undefined;
  /** With failed: it did not fail, it was late (its task withdrawn before it started, ExecutorRecord.late). */
  late: boolean;
  /** Set when this straggler's range was computed on the main thread instead (its late answer is dropped). */
  duplicated: boolean;
  straggler: string | undefined;
  /** The node whose two children `nodes` are (the whole batch on the main thread), else null: a non-finite child is named and pinned as that node. */
  split: TreeNode | null;
}

/** A remote executor still computing when everyone else is done is duplicated on the main thread after STRAGGLER_FACTOR × its expected time… */
export const STRAGGLER_FACTOR = 2;
/** …and at least this long (ms) after the step began, so that jitter never triggers it. */
export const STRAGGLER_MIN_MS = 25;

const now = (): number => performance.now();

export class Stepper {
  private readonly speeds = new SpeedMeter();
  /** Executors with a compute() still running (stragglers whose range was duplicated). */
  private readonly busy = new Set<Executor>();
  /** Executors whose speed has been measured at least once. */
  private readonly measured = new Set<string>();
  private readonly update: Float;
  private readonly ranges: LayerRange[];
  /** Per layer: Σg²(W), Σg²(b), Σθ²(W), Σ(ΔW)² of the current step. */
  private readonly norms: Float64Array;
  /** Every pool thread has a core of its own (they spin between tasks): one that has not started its task is late. */
  private readonly poolSpins: boolean;
  /** The pool's threads, whose last tail tasks each step settles first (run()). */
  private readonly poolThreads: readonly PoolExecutor[];
  /** Pool threads read the weights this thread updates (the update writes them with sgdUpdateShared). */
  private readonly poolShares: boolean;

  constructor(
    private readonly settings: StepSettings,
    /** The executors, or a function read at every step's plan (remote nodes join and leave between steps). */
    private readonly executors: Executor[] | (() => readonly Executor[]),
    private readonly main: MainExecutor,
    private readonly opt: OptimizerState,
    paramCount: number,
    dtype: Float,
    private readonly kernels: KernelSet,
    /** A pool whose threads can take a share of the tail (built with tail buffers). */
    pool?: ThreadPool | null,
  ) {
    this.update = alloc(dtype instanceof Float64Array ? 'float64' : 'float32', paramCount);
    this.poolSpins = pool?.opts.spin === true;
    this.poolShares = pool !== undefined && pool !== null && pool.executors.length > 0;
    this.poolThreads = pool?.executors ?? [];
    this.ranges = settings.layers.map((s) => ({ w: s.w, wEnd: s.w + s.nOut * s.nIn, b: s.b, bEnd: s.b + s.nOut }));
    this.norms = new Float64Array(4 * settings.layers.length);
    this.tensorSums = new Float64Array(4 * settings.layers.length);
    const tb = pool?.tail ?? null;
    if (tb !== null && settings.clipNorm === null) {
      // W then b of each layer, as [from, to) of the flat parameters
      const ranges = this.ranges.flatMap((r) => [{ from: r.w, to: r.wEnd }, { from: r.b, to: r.bEnd }]);
      const units = tailUnits(ranges);
      if (units.length !== tb.units.length || units.some((v, i) => v !== tb.units[i])) throw new Error('step: the pool\'s tail units are not this model\'s');
      const dt = dtype instanceof Float64Array ? 'float64' : 'float32';
      const tensorOf = new Int32Array(units.length / 2);
      let t = 0;
      for (let i = 0; i < tensorOf.length; i++) {
        while (units[2 * i]! >= ranges[t]!.to) t++;
        tensorOf[i] = t;
      }
      const vec = (b: SharedArrayBuffer): Float => view(dt, b, 0, paramCount);
      if (opt.buffers.some((b, j) => b.buffer !== tb.state[j])) throw new Error('step: the pool\'s optimizer buffers are not this run\'s');
      this.shared = {
        buffers: tb, views: new UnitViews(units), old: vec(tb.old), oldState: tb.oldState.map(vec), u: vec(tb.u), tensorOf,
        sc: stepScalars(settings.optimizer, opt), spin: pool!.opts.spin ?? false,
      };
    }
  }

  /** The shared tail's buffers and this thread's side of it (null: the tail is the main thread's alone). */
  private readonly shared: {
    buffers: NonNullable<ThreadPool['tail']>;
    views: UnitViews;
    old: Float;
    oldState: Float[];
    /** The update of every parameter (momentum, Adam: ‖ΔW‖ is measured from it). */
    u: Float;
    /** The tensor (2l: W, 2l + 1: b of layer l) of each unit. */
    tensorOf: Int32Array;
    /** The optimizer's scalars of the step in progress. */
    sc: StepScalars;
    /** Poll before sleeping while the pool thread finishes its units (only when every thread has a core). */
    spin: boolean;
  } | null = null;

  /**
   * Steps 4 (the root's add), 5 and 6 shared with `helper` (parallel/tail.ts): a ← a + b,
   * reduce, the optimizer's update, unit by unit, each unit taken by whichever thread is free. Returns
   * Σg², or a failure when the helper failed — the weights are then back as they were, and
   * the caller recomputes the step alone.
   */
  private async sharedTail(task: StepTask, helper: PoolExecutor, a: Partial, b: Partial, divisor: number, flush: () => void): Promise<{ sumsq: number } | { failed: string }> {
    const sh = this.shared!;
    const tb = sh.buffers;
    const lr = this.settings.optimizer.lr;
    const units = tb.units.length / 2;
    const sc = sh.sc = stepScalars(this.settings.optimizer, this.opt);
    tb.f64[0] = divisor;
    tb.f64[1] = this.settings.weightDecay;
    tb.f64[2] = lr;
    tb.f64[3] = sc.first ? 1 : 0;
    tb.f64[4] = sc.c1;
    tb.f64[5] = sc.c2;
    resetTail(tb.sync);
    helper.tail(task.step, helper.operand(a)!, helper.operand(b)!);
    // the previous step's record, if run() left it for the tail: the pool thread takes units meanwhile
    flush();
    runTailShare(this.kernels, sh.views, {
      a: a.grads, b: b.grads, params: task.params, old: sh.old, divisor, lambda: this.settings.weightDecay, lr, sums: tb.sums, sync: tb.sync,
      optimizer: this.settings.optimizer, state: this.opt, oldState: sh.oldState, u: sh.u, sc,
      mine: this.main.owns(b) && !this.main.owns(a) ? 'b' : 'a',
    });
    const failed = await this.unitsDone(tb.sync, units, helper, sh.spin);
    if (failed !== null) {
      restoreTaken(sh.views, task.params, sh.old, tb.sync, this.opt.buffers, sh.oldState, a.grads, b.grads);
      return { failed: `its share of the tail failed (${failed}): weights put back, the step recomputed on the main thread` };
    }
    // the sums of squares per tensor, unit by unit in order (rule 8)
    const norms = this.norms;
    const per = this.tensorSums;
    per.fill(0);
    for (let i = 0; i < units; i++) {
      const t = sh.tensorOf[i]!;
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
    // not finite: no update this step (the caller says why)
    if (!Number.isFinite(Math.sqrt(total))) restoreTaken(sh.views, task.params, sh.old, tb.sync, this.opt.buffers, sh.oldState, a.grads, b.grads);
    return { sumsq: total };
  }

  /**
   * Waits until all `units` are done; returns null, or why not: the helper failed (its task
   * threw, setting FAILED, or its thread died). Polls first when `spin` (a poll on a shared
   * core would hold up the very thread it waits for), then sleeps.
   */
  private async unitsDone(sync: Int32Array, units: number, helper: PoolExecutor, spin: boolean): Promise<string | null> {
    if (spin) pollUntil(() => Atomics.load(sync, T.DONE) >= units || Atomics.load(sync, T.FAILED) !== 0);
    for (;;) {
      const d = Atomics.load(sync, T.DONE);
      if (d >= units) return null;
      // set by the thread when its task throws, and by its executor when the thread dies
      if (Atomics.load(sync, T.FAILED) !== 0) return helper.failure();
      const w = waitAsync(sync, T.DONE, d);
      if (w.async) await w.value;
    }
  }

  /** Per tensor (W, b of each layer): Σg², Σp², summed from the units. */
  private readonly tensorSums: Float64Array;

  /**
   * Reduction, weight decay and the per-layer sums of squares, one vector pass per tensor
   * (kernels.reduceGrad) — with `other`, the root's last add g ← g + other too, in the same
   * pass (kernels.addReduceGrad); with `lr`, SGD's update as well (kernels.reduceSgd: the
   * weights updated, g left holding the old ones for putBack). Returns Σg² over all parameters.
   */
  private reduce(g: Float, params: Float, divisor: number, other: Float | null, lr: number | null): number {
    const k = this.kernels;
    const out = this.pair;
    const lambda = this.settings.weightDecay;
    const shared = this.poolShares;
    let total = 0;
    for (let l = 0; l < this.ranges.length; l++) {
      const r = this.ranges[l]!;
      const v = this.views(g, params, l);
      const o = other === null ? null : this.otherViews(other, l);
      if (lr !== null) k.reduceSgd(r.wEnd - r.w, v.gW, o === null ? null : o.W, v.pW, divisor, lambda, lr, out, shared);
      else if (o === null) k.reduceGrad(r.wEnd - r.w, v.gW, v.pW, divisor, lambda, out);
      else k.addReduceGrad(r.wEnd - r.w, v.gW, o.W, v.pW, divisor, lambda, out, v.gW);
      this.norms[4 * l] = out[0]!;
      this.norms[4 * l + 2] = out[1]!;
      if (lr !== null) k.reduceSgd(r.bEnd - r.b, v.gb, o === null ? null : o.b, v.pb, divisor, lambda, lr, out, shared);
      else if (o === null) k.reduceGrad(r.bEnd - r.b, v.gb, v.pb, divisor, lambda, out);
      else k.addReduceGrad(r.bEnd - r.b, v.gb, o.b, v.pb, divisor, lambda, out, v.gb);
      this.norms[4 * l + 1] = out[0]!;
      total += this.norms[4 * l]! + this.norms[4 * l + 1]!;
    }
    return total;
  }

  /** After reduce() with the update fused (lr given): the weights as they were, from the copy it left in g. */
  private putBack(g: Float, params: Float): void {
    for (let l = 0; l < this.ranges.length; l++) {
      const v = this.views(g, params, l);
      v.pW.set(v.gW);
      v.pb.set(v.gb);
    }
  }

  private readonly pair = new Float64Array(2);
  private viewCache: { g: Float; p: Float; v: { gW: Float; pW: Float; gb: Float; pb: Float }[] } | null = null;

  /** Per-layer subarray views of (g, params), cached while the buffers stay the same. */
  private views(g: Float, p: Float, l: number): { gW: Float; pW: Float; gb: Float; pb: Float } {
    if (this.viewCache === null || this.viewCache.g !== g || this.viewCache.p !== p) {
      this.viewCache = { g, p, v: this.perLayer((r) => ({ gW: g.subarray(r.w, r.wEnd), pW: p.subarray(r.w, r.wEnd), gb: g.subarray(r.b, r.bEnd), pb: p.subarray(r.b, r.bEnd) })) };
    }
    return this.viewCache.v[l]!;
  }

  private readonly otherCache = new Map<Float, { W: Float; b: Float }[]>();

  /** f of each layer's ranges, in an array built by push (one shape for V8: see run()). */
  private perLayer<T>(f: (r: LayerRange) => T): T[] {
    const out: T[] = [];
    for (const r of this.ranges) out.push(f(r));
    return out;
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

  /** Names a flat parameter index: 'dJdW[1]' or 'dJdWb[0]'. */
  private tensorAt(index: number): string {
    for (const [l, s] of this.settings.layers.entries()) {
      if (index >= s.w && index < s.w + s.nOut * s.nIn) return `dJdW[${l}]`;
      if (index >= s.b && index < s.b + s.nOut) return `dJdWb[${l}]`;
    }
    return `index ${index}`;
  }

  /** `dispatched`: called once every executor has its work, while they compute (the loop writes the previous step's record then). */
  async run(task: StepTask, dispatched?: () => void): Promise<StepResult> {
    const t0 = now();
    // every pool thread's last tail task settled before this step's tail resets the shared
    // counters: a thread with no share in this step (3 threads, 2 leaves: one has none) would
    // otherwise wake into its stale task and take units of this step's tail with the last
    // step's operands
    for (const e of this.poolThreads) {
      const leaving = e.settleTail();
      // a thread that died meanwhile runs nothing: its next compute() reports it
      if (leaving !== null) await leaving.catch(() => undefined);
    }
    // 1. Plan
    const tree = new ReductionTree(leavesOf(task.batch));
    // the set is fixed for this step: a node that joins now works from the next one
    const listed = typeof this.executors === 'function' ? [...this.executors()] : this.executors;
    // an executor still busy with an earlier step (a straggler whose range was duplicated) sits this one out
    const free = listed.filter((e) => !this.busy.has(e));
    const set = withoutMainIfServing(free.length > 0 ? free : [this.main], this.main);
    const plan = everyoneWorks(planRanges(tree.leaves, set.map((e) => ({ id: e.id, speed: this.speeds.get(e.id) }))));
    // with remote nodes in the step, the main thread lets its event loop run between leaves
    this.main.yielding = set.some((e) => e.kind === 'remote');
    // The step's arrays are built by loops and push, its objects with every field from the start:
    // V8 compiles the step for the shapes (hidden classes, element kinds) it has seen, and
    // Array.prototype.map's result, a field first set on a late step, or a boolean array can
    // take another shape later on — each time it throws the compiled step away and compiles it
    // again (~100 ms of a core, mid-run, taken from a compute thread when there are two)
    const work: Assignment[] = [];
    const top = tree.root();
    for (let i = 0; i < plan.length; i++) {
      const p = plan[i]!;
      let nodes = tree.cover(p.lo, p.hi);
      let split: TreeNode | null = null;
      // the whole batch on the main thread (one thread): the root's two children rather than the
      // root, so that the root's add is left to the reduce pass (combine's `rest`), fused with it,
      // instead of a pass of its own and a scan of the sum; the same bits
      if (set[i] === this.main && nodes.length === 1 && nodes[0]!.h === top.h && top.h > 0) {
        const kids = tree.children(top);
        if (kids.length === 2) {
          split = top;
          nodes = kids;
        }
      }
      work.push({
        exec: set[i]!, lo: p.lo, hi: p.hi, nodes, partials: [], owner: set[i]!, ms: 0, examples: 0,
        failed: undefined, late: false, duplicated: false, straggler: undefined, split,
      });
    }
    // 2. Gather
    // 1 once an executor's share is in (or it had none)
    const settled = new Uint8Array(work.length);
    const runs: Promise<void>[] = [];
    for (let i = 0; i < work.length; i++) settled[i] = work[i]!.nodes.length === 0 ? 1 : 0;
    for (let i = 0; i < work.length; i++) runs.push(this.runOne(task, work[i]!, i, settled));
    let flushed = false;
    // the main thread's time writing the previous step's record (dispatched), and whether
    // that was after the gather (in reduceMs: a shared tail's) rather than during it
    let recordMs = 0;
    let gathered = false;
    let recordInReduce = false;
    const flush = (): void => {
      if (flushed) return;
      flushed = true;
      if (dispatched === undefined) return;
      const s = now();
      dispatched();
      recordMs = now() - s;
      recordInReduce = gathered;
    };
    const canShare = this.shared !== null && set.every((e) => e.kind !== 'remote') && set.some((e) => e instanceof PoolExecutor);
    const mayShare = canShare && this.tailChoice.pick();
    // the record now, while the main thread would only wait for the others; with a shared
    // tail ahead and every thread's share already in, during the tail instead, where the pool
    // thread takes units meanwhile
    if (!mayShare || work.some((w) => w.exec instanceof PoolExecutor && w.exec.computing())) flush();
    // the main thread's own share is done (computed synchronously above): a pool thread with a
    // core of its own that has not even started its task is asleep or descheduled, and can take
    // milliseconds more; its task is withdrawn and computed here (recomputed below, as a failure is)
    if (!this.main.yielding && this.poolSpins && work.some((w) => w.exec === this.main && w.nodes.length > 0)) {
      for (const w of work) if (w.exec instanceof PoolExecutor) w.exec.withdrawCompute();
    }
    // written before the gather: main-thread work a pool thread's result waited on, as the main thread's own share
    const recordFirst = recordMs;
    await this.gather(task, work, runs, settled, t0);
    for (const w of work) {
      if (w.failed === undefined) continue;
      // recompute on the coordinator: same function, same bits
      const s = now();
      w.partials = this.main.computeSync(task, w.nodes);
      w.owner = this.main;
      w.ms += now() - s;
    }
    let handoffMs = 0;
    // a pool thread's result is seen only once the main thread has computed its own share
    // (synchronously, right after posting the threads' tasks) and written the last step's record:
    // a thread that finished first waited on that work, which is not hand-off
    const mainComputed = !this.main.yielding && work.some((w) => w.exec === this.main && w.nodes.length > 0 && w.failed === undefined);
    const mainShare = (mainComputed ? this.main.lastThreadMs ?? 0 : 0) + recordFirst;
    for (const w of work) {
      w.examples = 0;
      for (const p of w.partials) w.examples += p.count;
      // hand-off: the part of an executor's wall time not spent computing (queueing, messages, copies)
      if (w.failed === undefined && !w.duplicated && w.exec.kind !== 'main' && w.exec.lastThreadMs !== undefined) {
        handoffMs = Math.max(handoffMs, w.ms - Math.max(w.exec.lastThreadMs, w.exec.kind === 'thread' ? mainShare : 0));
      }
    }
    const tGathered = now();
    gathered = true;
    const { skipped: found, nonFiniteExamples } = this.check(task, tree, work);
    let skipped = found;
    const combined = await this.combine(task, tree, set, work, skipped === undefined && mayShare, flush);
    const { root, tailDone, rest } = combined;
    let sumsq = combined.sumsq;
    flush();
    const k = this.kernels;
    const mean = this.settings.reduction === 'mean';
    const params = task.params;
    const norms = this.norms;
    // 5. Reduce: one pass for reduction, weight decay and the per-layer norms
    const g = root.grads;
    const examples = root.count;
    const loss = root.lossSum / (mean ? examples : 1);
    // SGD without clipping needs nothing of the whole gradient before its update: the update
    // runs in the reduce pass (kernels.reduceSgd), which leaves the old weights in g
    const fused = !tailDone && skipped === undefined && this.settings.clipNorm === null && this.settings.optimizer.kind === 'sgd';
    if (!tailDone) sumsq = this.reduce(g, params, mean ? examples : 1, rest?.grads ?? null, fused ? this.settings.optimizer.lr : null);
    const gradNorm = Math.sqrt(sumsq);
    if (skipped === undefined && !Number.isFinite(gradNorm)) {
      skipped = `the summed gradient is not finite (norm ${gradNorm}) at step ${task.step}: the partials were finite, their sum overflowed`;
      if (fused) this.putBack(g, params);
    }
    let clipped = false;
    if (skipped === undefined && this.settings.clipNorm !== null) {
      clipped = clipByGlobalNorm(g, gradNorm, this.settings.clipNorm);
      if (clipped) {
        // report the norms of what is applied
        const f = this.settings.clipNorm / (gradNorm + 1e-6);
        for (let l = 0; l < this.ranges.length; l++) { norms[4 * l] = norms[4 * l]! * f * f; norms[4 * l + 1] = norms[4 * l + 1]! * f * f; }
      }
    }
    const tReduced = now();
    // 6. Update
    if (skipped !== undefined) {
      if (this.settings.nonFinite === 'stop') {
        this.recycle(work);
        throw Errors.nonFinite(`${skipped}; nonFinite policy is "stop"`);
      }
      for (let l = 0; l < this.ranges.length; l++) norms[4 * l + 3] = 0;
    } else {
      if (tailDone) commitStep(this.opt, this.shared!.sc); // what optimizerStep counts: the shared tail did the rest
      else if (fused) commitStep(this.opt, stepScalars(this.settings.optimizer, this.opt));
      // SGD writes u = lr·g over g itself: nothing reads g after it (‖ΔW‖ = lr·‖g‖ below)
      else optimizerStep(this.settings.optimizer, this.opt, params, g, this.settings.optimizer.kind === 'sgd' ? g : this.update, k, this.poolShares);
      for (const [l, r] of this.ranges.entries()) {
        // SGD: ΔW = lr·g exactly as applied, so ‖ΔW‖² = lr²·Σg²(W) (no extra pass); else measure it
        const lr = this.settings.optimizer.lr;
        norms[4 * l + 3] = this.settings.optimizer.kind === 'sgd' ? lr * lr * norms[4 * l]! : sumSquares(tailDone ? this.shared!.u : this.update, r.w, r.wEnd);
      }
    }
    const layers = layerRecords(this.settings.layers, norms, root.stats, examples);
    const tUpdated = now();
    this.recycle(work);
    let slowest = -1;
    work.forEach((w, i) => { if (w.nodes.length > 0 && (slowest < 0 || w.ms > work[slowest]!.ms)) slowest = i; });
    const executors: ExecutorRecord[] = work.map((w, i) => {
      const r: ExecutorRecord = {
        id: w.exec.id, kind: w.exec.kind, leaves: [w.lo, w.hi],
        examples: w.examples, computeMs: round3(w.ms),
      };
      if (i === slowest && work.length > 1) r.slowest = true;
      if (w.failed !== undefined) {
        if (w.late) r.late = w.failed;
        else r.failed = w.failed;
      }
      if (w.straggler !== undefined) r.straggler = w.straggler;
      // remote nodes: time on the wire (wall − the node's own compute) and bytes each way
      const wire = (w.exec as { lastWire?: { bytesOut: number; bytesIn: number } }).lastWire;
      if (wire !== undefined && w.nodes.length > 0) {
        r.bytesOut = wire.bytesOut;
        r.bytesIn = wire.bytesIn;
        if (w.failed === undefined && !w.duplicated && w.exec.lastThreadMs !== undefined) r.transferMs = round3(Math.max(0, w.ms - w.exec.lastThreadMs));
      }
      return r;
    });
    const out: StepResult = {
      loss, examples, gradNorm, clipped, layers, executors,
      split: { computeMs: round3(tGathered - t0), handoffMs: round3(handoffMs), recordMs: round3(recordMs), reduceMs: round3(tReduced - tGathered), updateMs: round3(tUpdated - tReduced) },
    };
    if (skipped !== undefined) out.skipped = skipped;
    if (nonFiniteExamples !== undefined) out.nonFiniteExamples = nonFiniteExamples;
    if (fused) out.split.fusedUpdate = true;
    if (recordInReduce) out.split.recordInReduce = true;
    if (canShare) {
      this.tailChoice.observe(mayShare, now() - t0);
      out.split.tailShared = tailDone;
    }
    return out;
  }

  /** One executor's share of the gather: its compute(), timed and measured; a failure is recorded, not thrown. */
  private async runOne(task: StepTask, w: Assignment, i: number, settled: Uint8Array): Promise<void> {
    if (w.nodes.length === 0) return;
    const s = now();
    let partials: Partial[] = [];
    let failed: string | undefined;
    this.busy.add(w.exec);
    try {
      partials = await w.exec.compute(task, w.nodes);
      if (partials.length !== w.nodes.length) throw Errors.executor(`${w.exec.id} returned ${partials.length} partials for ${w.nodes.length} nodes`);
      // a thread's speed is its own compute time: a pool thread's wall time also holds the
      // main thread's share, computed synchronously meanwhile, and the main thread's holds
      // its wait for the others (the step reads its result only then) — either way the
      // planner would starve it of work
      const own = w.exec.kind !== 'remote' && w.exec.lastThreadMs !== undefined && w.exec.lastThreadMs > 0 ? w.exec.lastThreadMs : now() - s;
      this.speeds.observe(w.exec.id, w.hi - w.lo, own);
      this.measured.add(w.exec.id);
    } catch (e) {
      failed = (e as Error).message;
      if (e instanceof TaskWithdrawn) w.late = true;
    } finally {
      this.busy.delete(w.exec);
    }
    if (w.duplicated) {
      // the main thread's copy of this range was used: this late answer only frees its buffers
      if (failed === undefined) w.exec.recycle(partials);
      return;
    }
    w.partials = partials;
    if (failed !== undefined) w.failed = failed;
    w.ms = now() - s;
    settled[i] = 1;
  }

  /**
   * 3. Check: each partial's producer flagged its first non-finite element (p.bad); the loss
   * sums are checked here. O(partials), no pass over the gradients.
   */
  private check(task: StepTask, tree: ReductionTree, work: Assignment[]): { skipped?: string; nonFiniteExamples?: number[] } {
    let skipped: string | undefined;
    let badNode: { node: TreeNode; exec: string } | null = null;
    for (const w of work) {
      w.partials.forEach((p, k) => {
        if (skipped !== undefined) return;
        const where = !Number.isFinite(p.lossSum) ? `the loss (${p.lossSum})` : p.bad >= 0 ? `${this.tensorAt(p.bad)} (element ${p.bad})` : null;
        if (where !== null) {
          // a child of a split node is named, and its rows looked for, as the node it came from
          const node = w.split ?? w.nodes[k]!;
          skipped = `non-finite value in ${where} from executor ${w.owner.id}, tree node ${nodeKey(node)}, step ${task.step}`;
          badNode = { node, exec: w.owner.id };
        }
      });
    }
    let nonFiniteExamples: number[] | undefined;
    if (badNode !== null) {
      const pin = this.pinExamples(task, tree, badNode);
      skipped += pin.note;
      if (pin.rows.length > 0) nonFiniteExamples = pin.rows;
    }
    return { ...(skipped !== undefined ? { skipped } : {}), ...(nonFiniteExamples !== undefined ? { nonFiniteExamples } : {}) };
  }

  /**
   * 4. Combine: the node partials in the tree's fixed order into the root — with a shared tail
   * (`mayShare`), the root's two children, then steps 5 and 6 shared with a pool thread
   * (sharedTail; tailDone and Σg² say so).
   */
  private async combine(task: StepTask, tree: ReductionTree, set: readonly Executor[], work: Assignment[], mayShare: boolean, flush: () => void): Promise<{ root: Partial; sumsq: number; tailDone: boolean; rest: Partial | null }> {
    const byKey = new Map<string, Partial>();
    for (const w of work) w.partials.forEach((p, k) => byKey.set(nodeKey(w.nodes[k]!), p));
    const k = this.kernels;
    // a + b: summed into whichever operand is the coordinator's own (not a pool thread's shared
    // slot, in another core's cache), where reduce and update then find it; the same bits
    const local = (p: Partial): boolean => this.main.owns(p);
    const get = (n: TreeNode): Partial | undefined => byKey.get(nodeKey(n));
    const add = (a: Partial, b: Partial): Partial => {
      if (!local(a) && local(b)) {
        addPartial(b, a, k);
        return b;
      }
      addPartial(a, b, k);
      return a;
    };
    const mean = this.settings.reduction === 'mean';
    // the shared tail: the root's two children, each in a slot the helper thread can read
    let root: Partial | null = null;
    let sumsq = NaN;
    let tailDone = false;
    const kids = tree.children(tree.root());
    // the root's last add, when it is left to reduce() (fused with its pass): the operand to add
    let rest: Partial | null = null;
    if (kids.length === 2 && get(tree.root()) === undefined) {
      const left = combineNode(tree, kids[0]!, get, add);
      const right = combineNode(tree, kids[1]!, get, add);
      const helper = mayShare && set.find((e): e is PoolExecutor => e instanceof PoolExecutor && work.some((w) => w.exec === e && w.failed === undefined)
        && e.operand(left) !== null && e.operand(right) !== null);
      if (helper) {
        const r = await this.sharedTail(task, helper, left, right, mean ? left.count + right.count : 1, flush);
        if ('sumsq' in r) {
          // in a function of its own, optimized on its own: inline here, the loop over the 397
          // activation counts of the workload ran unoptimized in some runs (this big async
          // function's code), 25-29 us a step in three of them
          addScalars(left, right);
          root = left;
          sumsq = r.sumsq;
          tailDone = true;
        } else {
          // the partials were summed in part: recompute the batch here, from the weights put back
          const w = work.find((x) => x.exec === helper)!;
          w.failed = r.failed;
          root = this.main.computeSync(task, [tree.root()])[0]!;
          this.extra.push(root);
        }
      } else {
        // as add() would, into the coordinator's own operand
        [root, rest] = !local(left) && local(right) ? [right, left] : [left, right];
        addScalars(root, rest);
      }
    }
    root ??= combineToRoot(tree, get, add);
    return { root, sumsq, tailDone, rest };
  }

  /** Whether to share this step's tail: whichever way has been faster lately (TailChoice). */
  private readonly tailChoice = new TailChoice();

  /**
   * Waits for every assignment to settle — except a straggler: when one remote executor is
   * all that is left and it is STRAGGLER_FACTOR × slower than its measured speed predicts
   * (and STRAGGLER_MIN_MS into the step), its nodes are computed on the main thread and the
   * first valid answer wins. The main thread's copy is computed synchronously, so it always
   * finishes first once started; the remote answer, when it comes, is dropped. Same
   * function, same bits: the result is unchanged, only the wait is shorter.
   */
  private async gather(task: StepTask, work: Assignment[], runs: Promise<void>[], settled: Uint8Array, t0: number): Promise<void> {
    const all = Promise.all(runs);
    for (;;) {
      const left: number[] = [];
      for (let i = 0; i < work.length; i++) if (settled[i] === 0) left.push(i);
      if (left.length === 0) break;
      const w = work[left[0]!]!;
      const known = this.measured.has(w.exec.id);
      if (!this.settings.duplicateStragglers || left.length > 1 || w.exec.kind !== 'remote' || !known || w.failed !== undefined) {
        const waiting: Promise<unknown>[] = [all];
        for (const i of left) waiting.push(runs[i]!);
        await Promise.race(waiting);
        continue;
      }
      const expected = (w.hi - w.lo) / this.speeds.get(w.exec.id);
      const waitMs = Math.max(STRAGGLER_MIN_MS, STRAGGLER_FACTOR * expected) - (now() - t0);
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        runs[left[0]!]!.then(() => false),
        new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), Math.max(0, waitMs)); }),
      ]);
      clearTimeout(timer);
      if (!late || settled[left[0]!] === 1) continue;
      const s = now();
      w.duplicated = true;
      w.partials = this.main.computeSync(task, w.nodes);
      w.owner = this.main;
      w.ms = now() - t0;
      w.straggler = `still computing after ${round3(s - t0)} ms (expected ${round3(expected)} ms): duplicated on the main thread in ${round3(now() - s)} ms, its late answer dropped`;
      settled[left[0]!] = 1;
    }
  }

  /**
   * Names the examples behind a non-finite node (only on a non-finite step: the clean path
   * never comes here). Recomputes the node's leaves on the main thread (same kernels, same
   * bits as any executor), then each example of a non-finite leaf alone, and returns the
   * training-set rows whose own loss or gradient is non-finite, with a note for the text.
   */
  private pinExamples(task: StepTask, tree: ReductionTree, bad: { node: TreeNode; exec: string }): { rows: number[]; note: string } {
    const b = task.batch;
    const [lo, hi] = tree.range(bad.node);
    const nonFinite = (p: Partial): boolean => p.bad >= 0 || !Number.isFinite(p.lossSum);
    const rows: number[] = [];
    const badLeaves: number[] = [];
    for (let j = lo; j < hi && rows.length < MAX_PINNED; j++) {
      const leaf = this.main.computeSync(task, [{ h: 0, i: j }]);
      const isBad = nonFinite(leaf[0]!);
      this.main.recycle(leaf);
      if (!isBad) continue;
      badLeaves.push(j);
      const from = b.start + j * b.microBatch;
      const to = Math.min(from + b.microBatch, b.end);
      for (let pos = from; pos < to && rows.length < MAX_PINNED; pos++) {
        const one = this.main.computeSync({ ...task, batch: { order: b.order, start: pos, end: pos + 1, microBatch: 1 } }, [{ h: 0, i: 0 }]);
        if (nonFinite(one[0]!)) rows.push(b.order[pos]!);
        this.main.recycle(one);
      }
    }
    if (badLeaves.length === 0) {
      return { rows, note: `; recomputed on the main thread, node ${nodeKey(bad.node)} is finite: executor ${bad.exec} returned values the kernels do not produce (a faulty executor)` };
    }
    if (rows.length === 0) {
      return { rows, note: `; leaf ${badLeaves[0]} is non-finite but none of its examples alone is (their sum overflows)` };
    }
    const shown = rows.slice(0, 8).join(', ');
    const more = rows.length > 8 ? ` (+${rows.length - 8} more${rows.length >= MAX_PINNED ? ', search stopped' : ''})` : '';
    return { rows, note: `; non-finite on its own: training example${rows.length > 1 ? 's' : ''} ${shown}${more} (leaf ${badLeaves[0]}${badLeaves.length > 1 ? ` and ${badLeaves.length - 1} more` : ''})` };
  }

  private recycle(work: Assignment[]): void {
    for (const w of work) w.owner.recycle(w.partials);
    this.main.recycle(this.extra.splice(0));
  }

  /** Partials the main thread computed outside the plan this step (a recomputed root). */
  private readonly extra: Partial[] = [];
}

function sumSquares(a: Float, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) { const v = a[i]!; s += v * v; }
  return s;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * With a remote node in the step and a pool thread to compute, the main thread computes
 * nothing: its event loop serves the nodes' frames (weights out, partials in) as they come,
 * instead of between leaves of its own share — Horovod's background thread, here the
 * coordinator's own. Measured (bench-remote, Fashion-MNIST batch 512, 1 pool thread + 1
 * remote node): 66–70k samples/s against 53–63k with the main thread computing too. The main
 * thread alone (no pool) still computes, yielding between leaves.
 */
export function withoutMainIfServing(set: Executor[], main: Executor): Executor[] {
  const serving = set.some((e) => e.kind === 'remote') && set.some((e) => e.kind === 'thread');
  return serving ? set.filter((e) => e !== main) : set;
}

/**
 * Shares the step's tail or not, by measurement, in blocks of BLOCK steps: each block goes
 * one way, and its mean step time (without its first WARM steps, which pay for caches and
 * code the other way left cold, and without its slowest eighth: a VM's preemptions, a few
 * steps of several ms that land on either way by chance and would decide the comparison
 * alone) updates that way's estimate; the next block goes the faster way, but now and then
 * one block goes the other way (explores), so both stay measured. After two blocks of
 * warm-up (shared, not measured), two blocks try both ways. Sharing wins when both threads
 * run (median step 1–8 % shorter here, and 11–20 % in 2-thread runs on 2026-11-29); it
 * loses when the machine preempts one of them mid-tail (the other then waits for the unit it
 * holds), and a VM moves between the two. Both ways give the same bits, so the choice
 * changes only the time.
 *
 * How often it explores: an exploring block costs the measured gap between the two ways
 * (relative to the faster), so once the slower way has been measured twice, the blocks between
 * explorations are that gap over EXPLORE_COST, within [EXPLORE_MIN, EXPLORE_MAX]: a way far
 * behind costs at most about EXPLORE_COST of the run's time, a close race is re-checked every
 * EXPLORE_MIN blocks. An exploring block's mean replaces the explored way's estimate instead
 * of being averaged into it: that estimate is old, and one slow block (a busy host right after
 * warm-up) must not keep a way out for EXPLORE_MAX blocks. The way in use is measured on every
 * block, so when it gets slower than the other's estimate the choice switches at once.
 * (Every 8th block, as before 2026-11-29, cost 2.3–3.4 % of a 2-thread run of the bench
 * workload here, where going alone was 13–25 % slower per step, median against median.)
 */
export class TailChoice {
  static readonly BLOCK = 64;
  static readonly WARM = 8;
  /** Fewest and most blocks from one exploring block to the next. */
  static readonly EXPLORE_MIN = 8;
  static readonly EXPLORE_MAX = 16;
  /** The share of the run's time that exploring a slower way may cost. */
  static readonly EXPLORE_COST = 0.005;
  /** Mean step ms of each way (NaN: not measured yet): [alone, shared]. */
  private readonly mean = [NaN, NaN];
  /** Blocks measured each way: [alone, shared]. */
  private readonly count = [0, 0];
  private block = 0;
  private inBlock = 0;
  /** The measured step times of the block in progress. */
  private readonly times = new Float64Array(TailChoice.BLOCK);
  private n = 0;
  private way = true;
  /** Whether the block in progress goes the way that was not the faster (block 3's trial included). */
  private exploring = false;
  /** The next block to go the slower way; set once both ways are measured (block 3). */
  private nextExplore = Infinity;

  /** Blocks from one exploring block to the next, for the two ways' estimates. */
  static period(alone: number, shared: number): number {
    const gap = Math.abs(alone - shared) / Math.min(alone, shared);
    if (!(gap >= 0)) return TailChoice.EXPLORE_MIN;
    return Math.min(TailChoice.EXPLORE_MAX, Math.max(TailChoice.EXPLORE_MIN, Math.round(gap / TailChoice.EXPLORE_COST)));
  }

  /** The way for the next step. */
  pick(): boolean {
    if (this.inBlock === 0) {
      const [alone, shared] = this.mean as [number, number];
      const better = !(alone < shared); // a way not measured yet loses no comparison
      // blocks 0 and 1 are the run's warm-up (compiling, first touches): shared, not
      // measured; 2 and 3 try both ways
      this.exploring = this.block === 3 || (this.block > 3 && this.block >= this.nextExplore);
      this.way = this.block <= 2 ? true : this.block === 3 ? false : this.exploring ? !better : better;
      this.n = 0;
    }
    return this.way;
  }

  /** A step's time, taken the way `shared` says (the way pick() gave). */
  observe(shared: boolean, ms: number): void {
    if (shared !== this.way) return;
    if (this.inBlock >= TailChoice.WARM) this.times[this.n++] = ms;
    if (++this.inBlock < TailChoice.BLOCK) return;
    this.inBlock = 0;
    if (this.block++ < 2) return;
    const i = shared ? 1 : 0;
    const sorted = this.times.subarray(0, this.n).sort();
    const keep = this.n - Math.floor(this.n / 8);
    let sum = 0;
    for (let k = 0; k < keep; k++) sum += sorted[k]!;
    const m = sum / keep;
    this.mean[i] = Number.isNaN(this.mean[i]!) || this.exploring ? m : 0.5 * (this.mean[i]! + m);
    this.count[i]++;
    if (!this.exploring) return;
    // the next exploration, from the end of this one (the block just measured)
    const [alone, both] = this.mean as [number, number];
    const slower = alone < both ? 1 : 0;
    this.nextExplore = this.block - 1 + (this.count[slower]! < 2 ? TailChoice.EXPLORE_MIN : TailChoice.period(alone, both));
  }
}
