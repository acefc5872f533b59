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
 *     first one found is named (executor, tree node, tensor and layer).
 *  4. Combine. Node partials are added in the tree's fixed order into the root: the same
 *     bits whatever the executors, their number, speed or arrival order.
 *  5. Reduce. 'mean' divides by the batch's example count; weight decay adds λ·θ;
 *     the global norm is measured and clipped if configured.
 *  6. Update. Non-finite → skip (weights untouched) or stop, per config; else the
 *     optimizer writes θ_{t+1} in place.
 * Not here: epochs, logging, checkpoints (loop.ts).
 */

import { Errors } from '../errors';
import type { Float } from '../tensor/dtype';
import { alloc } from '../tensor/dtype';
import type { OptimizerSpec, OptimizerState } from '../optim/optimizer';
import { optimizerStep } from '../optim/optimizer';
import { addWeightDecay, clipByGlobalNorm, divideInPlace, l2Norm } from '../optim/clip';
import { layerStats, type LayerGeometry } from '../observe/grad-stats';
import type { ExecutorRecord, LayerRecord } from '../observe/schema';
import { leavesOf } from '../parallel/compute-partials';
import type { Executor, StepTask } from '../parallel/executor';
import type { MainExecutor } from '../parallel/main-executor';
import { addPartial, firstNonFinite, type Partial } from '../parallel/partial';
import { planRanges, SpeedMeter } from '../parallel/planner';
import { combineToRoot, nodeKey, ReductionTree, type TreeNode } from '../parallel/tree';

export interface StepSettings {
  reduction: 'sum' | 'mean';
  weightDecay: number;
  clipNorm: number | null;
  optimizer: OptimizerSpec;
  nonFinite: 'skip' | 'stop';
  layers: LayerGeometry[];
}

export interface StepResult {
  /** The objective on this batch (loss sum, or mean under 'mean' reduction), before the update. */
  loss: number;
  examples: number;
  gradNorm: number;
  clipped: boolean;
  layers: LayerRecord[];
  executors: ExecutorRecord[];
  split: { computeMs: number; handoffMs: number; reduceMs: number; updateMs: number };
  /** Set when the update was skipped; says what was non-finite and where. */
  skipped?: string;
}

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
  failed?: string;
}

const now = (): number => performance.now();

export class Stepper {
  private readonly speeds = new SpeedMeter();
  private readonly update: Float;

  constructor(
    private readonly settings: StepSettings,
    private readonly executors: Executor[],
    private readonly main: MainExecutor,
    private readonly opt: OptimizerState,
    paramCount: number,
    dtype: Float,
  ) {
    this.update = alloc(dtype instanceof Float64Array ? 'float64' : 'float32', paramCount);
  }

  /** Names a flat parameter index: 'dJdW[1]' or 'dJdWb[0]'. */
  private tensorAt(index: number): string {
    for (const [l, s] of this.settings.layers.entries()) {
      if (index >= s.w && index < s.w + s.nOut * s.nIn) return `dJdW[${l}]`;
      if (index >= s.b && index < s.b + s.nOut) return `dJdWb[${l}]`;
    }
    return `index ${index}`;
  }

  async run(task: StepTask): Promise<StepResult> {
    const t0 = now();
    // 1. Plan
    const tree = new ReductionTree(leavesOf(task.batch));
    const plan = planRanges(tree.leaves, this.executors.map((e) => ({ id: e.id, speed: this.speeds.get(e.id) })));
    const work: Assignment[] = plan.map((p, i) => ({
      exec: this.executors[i]!, lo: p.lo, hi: p.hi, nodes: tree.cover(p.lo, p.hi), partials: [], owner: this.executors[i]!, ms: 0, examples: 0,
    }));
    // 2. Gather
    await Promise.all(work.map(async (w) => {
      if (w.nodes.length === 0) return;
      const s = now();
      try {
        w.partials = await w.exec.compute(task, w.nodes);
        if (w.partials.length !== w.nodes.length) throw Errors.executor(`${w.exec.id} returned ${w.partials.length} partials for ${w.nodes.length} nodes`);
        w.ms = now() - s;
        this.speeds.observe(w.exec.id, w.hi - w.lo, w.ms);
      } catch (e) {
        w.failed = (e as Error).message;
        w.ms = now() - s;
      }
    }));
    for (const w of work) {
      if (w.failed === undefined) continue;
      // recompute on the coordinator: same function, same bits
      const s = now();
      w.partials = this.main.computeSync(task, w.nodes);
      w.owner = this.main;
      w.ms += now() - s;
    }
    let handoffMs = 0;
    for (const w of work) {
      w.examples = w.partials.reduce((n, p) => n + p.count, 0);
      // hand-off: the part of an executor's wall time not spent computing (queueing, messages, copies)
      if (w.failed === undefined && w.exec.lastThreadMs !== undefined) handoffMs = Math.max(handoffMs, w.ms - w.exec.lastThreadMs);
    }
    const tGathered = now();
    // 3. Check
    let skipped: string | undefined;
    for (const w of work) {
      w.partials.forEach((p, k) => {
        const bad = skipped === undefined ? firstNonFinite(p) : null;
        if (bad) {
          const where = bad.where === 'loss' ? 'the loss' : `${this.tensorAt(bad.index)} (element ${bad.index})`;
          skipped = `non-finite ${bad.value} in ${where} from executor ${w.exec.id}, tree node ${nodeKey(w.nodes[k]!)}, step ${task.step}`;
        }
      });
    }
    // 4. Combine
    const byKey = new Map<string, Partial>();
    for (const w of work) w.partials.forEach((p, k) => byKey.set(nodeKey(w.nodes[k]!), p));
    const root = combineToRoot(tree, (n) => byKey.get(nodeKey(n)), addPartial);
    // 5. Reduce
    const g = root.grads;
    const examples = root.count;
    const scale = this.settings.reduction === 'mean' ? examples : 1;
    const loss = root.lossSum / scale;
    if (this.settings.reduction === 'mean') divideInPlace(g, examples);
    const params = task.params;
    addWeightDecay(g, params, this.settings.weightDecay);
    const gradNorm = l2Norm(g);
    if (skipped === undefined && !Number.isFinite(gradNorm)) skipped = `non-finite gradient norm ${gradNorm} at step ${task.step}`;
    const clipped = skipped === undefined && this.settings.clipNorm !== null && clipByGlobalNorm(g, gradNorm, this.settings.clipNorm);
    const layers = layerStats(this.settings.layers, g, params, null, root.stats, examples);
    const tReduced = now();
    // 6. Update
    if (skipped !== undefined) {
      if (this.settings.nonFinite === 'stop') {
        this.recycle(work);
        throw Errors.nonFinite(`${skipped}; nonFinite policy is "stop"`);
      }
    } else {
      optimizerStep(this.settings.optimizer, this.opt, params, g, this.update);
      for (const [l, s] of this.settings.layers.entries()) {
        const rec = layers[l]!;
        rec.updateRatio = rec.W > 0 ? l2Norm(this.update, s.w, s.w + s.nOut * s.nIn) / rec.W : 0;
      }
    }
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
      if (w.failed !== undefined) r.failed = w.failed;
      return r;
    });
    const out: StepResult = {
      loss, examples, gradNorm, clipped, layers, executors,
      split: { computeMs: round3(tGathered - t0), handoffMs: round3(handoffMs), reduceMs: round3(tReduced - tGathered), updateMs: round3(tUpdated - tReduced) },
    };
    if (skipped !== undefined) out.skipped = skipped;
    return out;
  }

  private recycle(work: Assignment[]): void {
    for (const w of work) w.owner.recycle(w.partials);
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
