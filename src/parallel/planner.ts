/**
 * planner.ts — who computes which leaves (the horovod "controller" half).
 *
 * Each executor gets one contiguous range of leaves, sized in proportion to its measured
 * speed (leaves per millisecond of its wall time, wire included: an exponential moving
 * average). A remote executor's range is then nudged (by at most a quarter of its share)
 * to where its canonical cover has the fewest tree nodes: every node is one whole gradient
 * on the wire back, worth several leaves of compute, while a
 * local thread's extra node costs one in-memory add — local boundaries stay where speed puts
 * them. Planning decides only *who* computes; the tree fixes *how* sums are formed, so no
 * plan can change a result.
 * Not here: the tree (tree.ts), sending work (executors).
 */

import { REMOTE_ID_PREFIX } from './messages';
import { ReductionTree } from './tree';

export interface PlanEntry {
  id: string;
  lo: number;
  hi: number;
}

const usable = (s: number): number => (s > 0 && Number.isFinite(s) ? s : 0);

/** Whether an executor pays for each tree node of its range on the wire (a remote node). */
export function isRemoteId(id: string): boolean {
  return id.startsWith(REMOTE_ID_PREFIX);
}

/** Splits leaves [0, L) into contiguous ranges proportional to `speeds` (all > 0), in executor order. */
export function planRanges(leaves: number, executors: { id: string; speed: number }[]): PlanEntry[] {
  const total = executors.reduce((s, e) => s + usable(e.speed), 0);
  const n = executors.length;
  // ideal (real) boundaries: bound[i] is where executor i starts, bound[n] = leaves
  const ideal: number[] = [0];
  let acc = 0;
  executors.forEach((e) => {
    acc += total > 0 ? usable(e.speed) / total : 1 / n;
    ideal.push(Math.min(leaves, acc * leaves));
  });
  ideal[n] = leaves;
  // small integers (| 0): a plan entry's lo and hi stay Smis, so the plans' objects keep one hidden class
  const bound = ideal.map((x) => Math.round(x) | 0);
  const remote = executors.map((e) => isRemoteId(e.id));
  if (remote.some((r) => r) && leaves > 1) {
    const tree = new ReductionTree(leaves);
    const nodes = (lo: number, hi: number): number => (hi > lo ? tree.cover(lo, hi).length : 0);
    for (let k = 1; k < n; k++) {
      if (!remote[k - 1] && !remote[k]) continue;
      // the window: a quarter of the smaller remote neighbour's ideal share, never past a neighbour's far end
      const shares = [k - 1, k].filter((i) => remote[i]).map((i) => ideal[i + 1]! - ideal[i]!);
      const w = Math.floor(Math.min(...shares) / 4);
      const from = Math.max(bound[k - 1]!, bound[k]! - w);
      const to = Math.min(bound[k + 1]!, bound[k]! + w);
      let best = bound[k]!;
      let bestScore = Infinity;
      for (let c = from; c <= to; c++) {
        const score = (remote[k - 1] ? nodes(bound[k - 1]!, c) : 0) + (remote[k] ? nodes(c, bound[k + 1]!) : 0);
        if (score < bestScore || (score === bestScore && Math.abs(c - ideal[k]!) < Math.abs(best - ideal[k]!))) {
          best = c;
          bestScore = score;
        }
      }
      bound[k] = best;
    }
  }
  for (let k = 1; k <= n; k++) bound[k] = Math.max(bound[k]!, bound[k - 1]!);
  return executors.map((e, i) => ({ id: e.id, lo: bound[i]!, hi: bound[i + 1]! }));
}

/** Exponential moving average of an executor's speed in leaves per ms. */
export class SpeedMeter {
  private readonly speeds = new Map<string, number>();
  constructor(private readonly alpha = 0.3) {}

  get(id: string): number {
    return this.speeds.get(id) ?? 1;
  }

  observe(id: string, leaves: number, ms: number): void {
    if (leaves <= 0 || !(ms > 0)) return;
    const s = leaves / ms;
    const prev = this.speeds.get(id);
    this.speeds.set(id, prev === undefined ? s : prev + this.alpha * (s - prev));
  }
}

/**
 * Gives every executor at least one leaf when there are as many leaves as executors (each
 * taken from the largest share): an executor with no work is never measured again, so one
 * slow step would otherwise keep it idle for the rest of the run — and every DDP rank works.
 */
export function everyoneWorks(plan: PlanEntry[]): PlanEntry[] {
  // plain loops over arrays built one way: the step's compiled code sees one array shape
  // whichever branch ran (V8 recompiles the step when a shape it has not seen comes)
  const sizes: number[] = [];
  let leaves = 0;
  for (const p of plan) {
    sizes.push(p.hi - p.lo);
    leaves += p.hi - p.lo;
  }
  if (leaves >= plan.length) {
    for (let i = 0; i < sizes.length; i++) {
      if (sizes[i]! > 0) continue;
      let big = 0;
      for (let j = 1; j < sizes.length; j++) if (sizes[j]! > sizes[big]!) big = j;
      sizes[big]!--;
      sizes[i] = 1;
    }
  }
  const out: PlanEntry[] = [];
  let lo = 0;
  for (let i = 0; i < plan.length; i++) {
    out.push({ id: plan[i]!.id, lo, hi: lo + sizes[i]! });
    lo += sizes[i]!;
  }
  return out;
}
