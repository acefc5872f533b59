/**
 * step.ts — one synchronized optimizer step: the protocol (numbered in run() below), with
 * its strategies in strategies/*.ts, each a file that says what it keeps invariant. Every
 * strategy can be switched off (StepSettings.strategies) and gives the same bits either way;
 * reference-step.ts is the plain stepper they are all checked against.
 * Not here: the executors' side of step 2 (step-gather.ts); epochs, logging, checkpoints (loop.ts).
 */

import { Errors } from '../errors';
import { alloc, type Float } from '../tensor/dtype';
import type { KernelSet } from '../tensor/kernels';
import { commitStep, optimizerStep, stepScalars, type OptimizerState } from '../optim/optimizer';
import { clipByGlobalNorm, type LayerRange } from '../optim/clip';
import { layerRecords } from '../observe/grad-stats';
import { leavesOf } from '../parallel/compute-partials';
import type { Executor, PoolView, StepTask } from '../parallel/executor';
import type { MainExecutor } from '../parallel/main-executor';
import { addPartial, addScalars, type Partial } from '../parallel/partial';
import { everyoneWorks, planRanges, SpeedMeter } from '../parallel/planner';
import { combineNode, combineToRoot, nodeKey, treeOf, type ReductionTree, type TreeNode } from '../parallel/tree';
import { Reducer } from './reduce';
import { Gather } from './step-gather';
import { DEFAULT_STRATEGIES, now, round3, type Assignment, type StepResult, type StepSettings, type StrategySwitches } from './step-types';
import { blameFaulty, check, type CheckResult } from './strategies/nonfinite';
import { Auditor } from './strategies/audit';
import { pairUp, settleReplicas } from './strategies/replicate';
import { settleTails, SharedTail } from './strategies/shared-tail';
import { executorRecords } from './strategies/step-record';
import { Stragglers } from './strategies/stragglers';
import { withdrawLate } from './strategies/withdraw';

export { DEFAULT_STRATEGIES, type StepResult, type StepSettings, type StrategySwitches } from './step-types';
export { MAX_PINNED } from './strategies/nonfinite';
export { STRAGGLER_FACTOR, STRAGGLER_MIN_MS } from './strategies/stragglers';

/** The combined root, and what the shared tail did of steps 5 and 6. */
interface Combined {
  root: Partial;
  /** Σg² when the shared tail reduced (tailDone), else NaN. */
  sumsq: number;
  tailDone: boolean;
}

export class Stepper {
  private readonly speeds = new SpeedMeter();
  private readonly sw: StrategySwitches;
  private readonly stragglers: Stragglers;
  private readonly auditor: Auditor;
  private readonly replicate: boolean;
  private readonly gather: Gather;
  private readonly reducer: Reducer;
  /** The shared tail (null: the tail is the main thread's alone). */
  private readonly tail: SharedTail | null;
  private readonly update: Float;
  private readonly ranges: LayerRange[];
  /** Per layer: Σg²(W), Σg²(b), Σθ²(W), Σ(ΔW)² of the current step. */
  private readonly norms: Float64Array;
  /** Every pool thread has a core of its own (they spin between tasks): one that has not started its task is late. */
  private readonly poolSpins: boolean;
  /** The pool's threads, whose last tail tasks each step settles first. */
  private readonly poolThreads: readonly Executor[];
  /** Pool threads read the weights this thread updates (the update writes them with shared stores). */
  private readonly poolShares: boolean;
  /** Partials the main thread computed outside the plan this step (a recomputed root). */
  private readonly extra: Partial[] = [];
  /** This step can share its tail: a pool thread with tail units, no remote node. */
  private canShare = false;
  /** This step's learning rate. */
  private lr = 0;
  /** SGD without clipping and the fusedSgd strategy: a tail on the main thread reduces and updates in one pass. */
  private readonly fusedSgd: boolean;
  /** runAlone's assignment, kept for the next step with the same number of leaves, and the one-entry work list over it. */
  private alone: Assignment | null = null;
  private readonly aloneWork: Assignment[] = [];

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
    pool?: PoolView | null,
  ) {
    this.sw = { ...DEFAULT_STRATEGIES, ...settings.strategies };
    this.update = alloc(dtype instanceof Float64Array ? 'float64' : 'float32', paramCount);
    this.poolSpins = pool?.opts.spin === true;
    this.poolShares = pool !== undefined && pool !== null && pool.executors.length > 0;
    this.poolThreads = pool?.executors ?? [];
    this.ranges = settings.layers.map((s) => ({ w: s.w, wEnd: s.w + s.wSize, b: s.b, bEnd: s.b + s.bSize }));
    this.norms = new Float64Array(4 * settings.layers.length);
    this.stragglers = new Stragglers(this.speeds, main, this.sw.stragglers);
    this.auditor = new Auditor(settings.audit ?? 0, settings.seed ?? 0);
    this.replicate = (settings.replicate ?? 1) === 2;
    this.gather = new Gather(this.speeds, this.stragglers, main);
    this.reducer = new Reducer(this.ranges, kernels, settings.weightDecay);
    this.fusedSgd = this.sw.fusedSgd && settings.optimizer.kind === 'sgd' && settings.clipNorm === null;
    const tb = pool?.tail ?? null;
    this.tail =
      tb !== null && settings.clipNorm === null && this.sw.sharedTail
        ? new SharedTail(tb, settings, this.ranges, opt, main, kernels, pool!, paramCount, dtype)
        : null;
  }

  /**
   * The protocol, in order:
   *  1. Plan. The batch's L micro-batches are the leaves of a fixed reduction tree
   *     (parallel/tree.ts). Each executor gets a contiguous range of leaves sized to its
   *     measured speed (parallel/planner.ts), delivered as the range's canonical cover.
   *  2. Gather. Every executor computes its nodes' partials. An executor that fails (throws,
   *     its thread dies, its peer vanishes) has its nodes recomputed on the main thread; the
   *     failure is recorded, the result is unchanged.
   *  3. Check. Each partial is checked for non-finite values before anything is summed. An
   *     executor's range that is non-finite but finite when recomputed here is an executor
   *     fault: replaced, recorded, the executor dropped. The first one still non-finite is
   *     named, and its examples pinned down (strategies/nonfinite.ts).
   *  4. Combine. Node partials are added in the tree's fixed order into the root: the same
   *     bits whatever the executors, their number, speed or arrival order.
   *  5. Reduce. 'mean' divides by the batch's example count; weight decay adds λ·θ;
   *     the global norm is measured and clipped if configured.
   *  6. Update. Non-finite → skip (weights untouched) or stop, per config; else the
   *     optimizer writes θ_{t+1} in place.
   * With a shared tail (strategies/shared-tail.ts), 4's last add, 5 and 6 are split with a
   * pool thread by blocks of the parameters: the same bits. With the main thread the step's only
   * executor (runAlone), 1, 2 and 4 are its synchronous computation of the tree's root.
   * `lr`: this step's learning rate (a schedule's; the optimizer's own by default).
   */
  async run(task: StepTask, lr = this.settings.optimizer.lr): Promise<StepResult> {
    this.lr = lr;
    const t0 = now();
    const settling = settleTails(this.poolThreads);
    if (settling !== null) await settling;
    // 1. Plan
    const tree = treeOf(leavesOf(task.batch));
    const set = this.executorSet();
    if (set.length === 1 && set[0] === this.main && !this.replicate) return this.runAlone(task, tree, t0);
    const work = this.plan(tree, set);
    // 2. Gather
    const settled = new Uint8Array(work.length);
    const runs = this.gather.dispatch(task, work, settled);
    this.whileComputing(set, work);
    await this.stragglers.gather(task, work, runs, settled, t0);
    const handoff = this.gather.recomputeFailed(task, work);
    const tGathered = now();
    // 3. Check: an executor's wrong non-finite answer replaced, then what is still non-finite named
    blameFaulty(task, work, this.settings.layers, this.main);
    if (this.replicate) settleReplicas(task, work, this.settings.layers, this.main);
    this.auditor.run(task, work, this.settings.layers, this.main);
    const checked = check(task, tree, work, this.settings.layers, this.main);
    // 4. Combine (with a shared tail, 5 and 6 as well)
    const combined = await this.combine(task, tree, set, work, checked.skipped === undefined && this.canShare);
    // 5. Reduce and 6. Update
    return this.finish(task, work, combined, checked, t0, tGathered, handoff);
  }

  /**
   * Steps 1 to 6 when the main thread is the step's only executor: its one assignment is the
   * whole batch, the tree's root, computed here synchronously — the partial, the checks and the
   * record that plan, gather and combine give for that set, without their promises and maps.
   */
  private runAlone(task: StepTask, tree: ReductionTree, t0: number): StepResult {
    const main = this.main;
    main.yielding = false;
    this.canShare = false;
    let w = this.alone;
    const work = this.aloneWork;
    if (w === null || w.hi !== tree.leaves) w = this.alone = work[0] = assignment(main, 0, tree.leaves, tree);
    else {
      w.owner = main;
      w.failed = undefined;
      w.late = w.duplicated = w.audited = false;
      w.straggler = w.twin = w.replica = undefined;
    }
    const s = now();
    w.partials = main.computeSync(task, w.nodes);
    w.ms = main.lastThreadMs = now() - s;
    this.speeds.observe(main.id, tree.leaves, w.ms);
    this.stragglers.measured.add(main.id);
    w.examples = w.partials[0]!.count;
    const tGathered = now();
    // 3. Check, as run() does: blame and audit skip the main thread's range; check() names a non-finite root
    blameFaulty(task, work, this.settings.layers, main);
    this.auditor.run(task, work, this.settings.layers, main);
    const checked = check(task, tree, work, this.settings.layers, main);
    // 4. Combine: the root is the one partial
    return this.finish(task, work, { root: w.partials[0]!, sumsq: NaN, tailDone: false }, checked, t0, tGathered, 0);
  }

  /** This step's executors: the set is fixed for the step (a node that joins now works from the next one). */
  private executorSet(): readonly Executor[] {
    const listed = typeof this.executors === 'function' ? [...this.executors()] : this.executors;
    // an executor still busy with an earlier step (a straggler whose range was duplicated) sits this one out
    const free = this.stragglers.free(listed);
    return free.length > 0 ? free : [this.main];
  }

  /**
   * 1. Plan: a range of leaves per executor, as tree nodes. The step's arrays are built by loops
   * and push, its objects with every field from the start: V8 compiles the step for the shapes
   * it has seen, and a map() result, a field first set on a late step or a boolean array can
   * change shape later, which makes V8 throw the compiled step away and compile it again.
   */
  private plan(tree: ReductionTree, set: readonly Executor[]): Assignment[] {
    // replicate 2: the remote workers in pairs, each pair one entry at its slower one's speed
    const { entries, twins } = this.replicate ? pairUp(set) : { entries: set, twins: undefined };
    const speed = (i: number): number => {
      const s = this.speeds.get(entries[i]!.id);
      const t = twins?.[i];
      return t === undefined ? s : Math.min(s, this.speeds.get(t.id));
    };
    const plan = everyoneWorks(
      planRanges(
        tree.leaves,
        entries.map((e, i) => ({ id: e.id, speed: speed(i) })),
      ),
    );
    // with remote nodes in the step, the main thread lets its event loop run between leaves
    this.main.yielding = set.some((e) => e.kind === 'remote');
    const work: Assignment[] = [];
    for (let i = 0; i < plan.length; i++) {
      const p = plan[i]!;
      const a = assignment(entries[i]!, p.lo, p.hi, tree);
      work.push(a);
      const t = twins?.[i];
      if (t !== undefined) {
        a.twin = assignment(t, p.lo, p.hi, tree);
        work.push(a.twin);
      }
    }
    return work;
  }

  /** 2. Gather, while the others compute: whether the tail may be shared; late pool tasks withdrawn. */
  private whileComputing(set: readonly Executor[], work: readonly Assignment[]): void {
    this.canShare = this.tail !== null && set.every((e) => e.kind !== 'remote') && set.some((e) => e.tail !== undefined);
    if (this.sw.withdraw) withdrawLate(work, this.main, this.poolSpins);
  }

  /**
   * 4. Combine: the node partials in the tree's fixed order into the root — with a shared tail
   * (`mayShare`), the root's two children, then steps 5 and 6 shared with a pool thread.
   */
  private async combine(
    task: StepTask,
    tree: ReductionTree,
    set: readonly Executor[],
    work: Assignment[],
    mayShare: boolean,
  ): Promise<Combined> {
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
    const kids = tree.children(tree.root());
    if (kids.length !== 2 || get(tree.root()) !== undefined) return { root: combineToRoot(tree, get, add), sumsq: NaN, tailDone: false };
    const left = combineNode(tree, kids[0]!, get, add);
    const right = combineNode(tree, kids[1]!, get, add);
    const helper = mayShare ? this.tail!.helperFor(set, work, left, right) : undefined;
    if (helper !== undefined) {
      const divisor = this.settings.reduction === 'mean' ? left.count + right.count : 1;
      const r = await this.tail!.run(task, helper, left, right, divisor, this.lr, this.norms);
      if ('sumsq' in r) {
        // in a function of its own (addScalars), optimized on its own: inline in this async
        // function, the loop over the activation counts ran unoptimized in some runs
        addScalars(left, right);
        return { root: left, sumsq: r.sumsq, tailDone: true };
      }
      // the partials were summed in part: recompute the batch here, from the weights put back
      work.find((x) => x.exec === helper)!.failed = r.failed;
      const root = this.main.computeSync(task, [tree.root()])[0]!;
      this.extra.push(root);
      return { root, sumsq: NaN, tailDone: false };
    }
    return { root: add(left, right), sumsq: NaN, tailDone: false };
  }

  /** 5. Reduce and 6. Update (unless the shared tail did them), then the step's result. */
  private finish(
    task: StepTask,
    work: Assignment[],
    c: Combined,
    checked: CheckResult,
    t0: number,
    tGathered: number,
    handoff: number,
  ): StepResult {
    const norms = this.norms;
    const mean = this.settings.reduction === 'mean';
    const params = task.params;
    const { root, tailDone } = c;
    const g = root.grads;
    const examples = root.count;
    const loss = root.lossSum / (mean ? examples : 1);
    let skipped = checked.skipped;
    // 5. Reduce: one pass for reduction, weight decay and the per-layer norms; for SGD without
    // clipping (fusedSgd) the same pass is 6's update, the old weights kept in g meanwhile
    const divisor = mean ? examples : 1;
    const fused = !tailDone && skipped === undefined && this.fusedSgd;
    const sumsq = tailDone
      ? c.sumsq
      : fused
        ? this.reducer.reduceSgd(g, params, divisor, norms, this.lr, this.poolShares)
        : this.reducer.reduce(g, params, divisor, norms);
    const gradNorm = Math.sqrt(sumsq);
    if (skipped === undefined && !Number.isFinite(gradNorm)) {
      skipped = `the summed gradient is not finite (norm ${gradNorm}) at step ${task.step}: the partials were finite, their sum overflowed`;
      if (fused) this.reducer.restore(g, params);
    }
    const clipped = skipped === undefined && this.clip(g, gradNorm);
    const tReduced = now();
    // 6. Update
    if (skipped !== undefined) {
      if (this.settings.nonFinite === 'stop') {
        this.recycle(work);
        throw Errors.nonFinite(`${skipped}; nonFinite policy is "stop"`);
      }
      for (let l = 0; l < this.ranges.length; l++) norms[4 * l + 3] = 0;
    } else this.applyUpdate(params, g, tailDone ? 'tail' : fused ? 'fused' : null);
    const layers = layerRecords(this.settings.layers, norms, root.stats, examples);
    const tUpdated = now();
    this.recycle(work);
    const out: StepResult = {
      loss,
      examples,
      gradNorm,
      clipped,
      layers,
      executors: executorRecords(work),
      split: {
        computeMs: round3(tGathered - t0),
        handoffMs: round3(handoff),
        reduceMs: round3(tReduced - tGathered),
        updateMs: round3(tUpdated - tReduced),
      },
    };
    if (skipped !== undefined) out.skipped = skipped;
    if (checked.nonFiniteExamples !== undefined) out.nonFiniteExamples = checked.nonFiniteExamples;
    if (this.canShare) out.split.tailShared = tailDone;
    return out;
  }

  /** Clips g to the configured global norm; the norms then report what is applied. */
  private clip(g: Float, gradNorm: number): boolean {
    const max = this.settings.clipNorm;
    if (max === null || !clipByGlobalNorm(g, gradNorm, max)) return false;
    const f = max / (gradNorm + 1e-6);
    for (let l = 0; l < this.ranges.length; l++) {
      this.norms[4 * l] = this.norms[4 * l]! * f * f;
      this.norms[4 * l + 1] = this.norms[4 * l + 1]! * f * f;
    }
    return true;
  }

  /** 6. The optimizer's update of g (unless the shared tail or the fused reduce ran it: `done`), and ‖ΔW‖² per layer. */
  private applyUpdate(params: Float, g: Float, done: 'tail' | 'fused' | null): void {
    const opt = this.settings.optimizer;
    // what optimizerStep counts, when the shared tail or reduceSgd did the rest
    if (done === 'tail') commitStep(this.opt, this.tail!.sc);
    else if (done === 'fused') commitStep(this.opt, stepScalars(opt, this.opt, this.lr));
    // SGD writes u = lr·g over g itself: nothing reads g after it (‖ΔW‖ = lr·‖g‖ below)
    else optimizerStep(opt, this.opt, params, g, opt.kind === 'sgd' ? g : this.update, this.kernels, this.poolShares, this.lr);
    const u = done === 'tail' ? this.tail!.u : this.update;
    for (let l = 0; l < this.ranges.length; l++) {
      // SGD: ΔW = lr·g exactly as applied, so ‖ΔW‖² = lr²·Σg²(W) (no extra pass); else measure it
      const r = this.ranges[l]!;
      this.norms[4 * l + 3] = opt.kind === 'sgd' ? this.lr * this.lr * this.norms[4 * l]! : sumSquares(u, r.w, r.wEnd);
    }
  }

  private recycle(work: Assignment[]): void {
    for (let i = 0; i < work.length; i++) work[i]!.owner.recycle(work[i]!.partials);
    if (this.extra.length > 0) {
      this.main.recycle(this.extra);
      this.extra.length = 0;
    }
  }
}

/** One executor's share of the step, every field set from the start (one object shape for V8). */
function assignment(exec: Executor, lo: number, hi: number, tree: ReductionTree): Assignment {
  return {
    exec,
    lo,
    hi,
    nodes: tree.cover(lo, hi),
    partials: [],
    owner: exec,
    ms: 0,
    examples: 0,
    failed: undefined,
    late: false,
    duplicated: false,
    audited: false,
    straggler: undefined,
    twin: undefined,
    replica: undefined,
  };
}

function sumSquares(a: Float, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) {
    const v = a[i]!;
    s += v * v;
  }
  return s;
}
