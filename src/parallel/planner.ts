/**
 * planner.ts — who computes which leaves (the horovod "controller" half).
 *
 * Each executor gets one contiguous range of leaves, sized in proportion to its measured
 * speed (leaves per millisecond, an exponential moving average). Planning decides only
 * *who* computes; the tree fixes *how* sums are formed, so no plan can change a result.
 * Not here: the tree (tree.ts), sending work (executors).
 */

export interface PlanEntry {
  id: string;
  lo: number;
  hi: number;
}

/** Splits leaves [0, L) into contiguous ranges proportional to `speeds` (all > 0), in executor order. */
export function planRanges(leaves: number, executors: { id: string; speed: number }[]): PlanEntry[] {
  const total = executors.reduce((s, e) => s + (e.speed > 0 && Number.isFinite(e.speed) ? e.speed : 0), 0);
  const out: PlanEntry[] = [];
  let lo = 0;
  let acc = 0;
  executors.forEach((e, i) => {
    const w = total > 0 ? (e.speed > 0 && Number.isFinite(e.speed) ? e.speed : 0) / total : 1 / executors.length;
    acc += w;
    const hi = i === executors.length - 1 ? leaves : Math.min(leaves, Math.round(acc * leaves));
    out.push({ id: e.id, lo, hi: Math.max(lo, hi) });
    lo = Math.max(lo, hi);
  });
  return out;
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
  const sizes = plan.map((p) => p.hi - p.lo);
  const leaves = sizes.reduce((a, b) => a + b, 0);
  if (leaves < plan.length) return plan;
  for (let i = 0; i < sizes.length; i++) {
    if (sizes[i]! > 0) continue;
    let big = 0;
    sizes.forEach((s, j) => { if (s > sizes[big]!) big = j; });
    sizes[big]!--;
    sizes[i] = 1;
  }
  let lo = 0;
  return plan.map((p, i) => {
    const e = { id: p.id, lo, hi: lo + sizes[i]! };
    lo = e.hi;
    return e;
  });
}
