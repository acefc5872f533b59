/**
 * audit.ts — step 3's verification by recomputation (config `audit: p`). Every executor
 * computes the same bits, so a remote node's answer is checked by computing it again: each
 * step, each remote node's range is recomputed on the main thread with probability p, drawn
 * from (seed, step, executor id) so that a run is reproducible, and a node's first
 * AUDIT_FIRST steps after it joined are always audited. The recomputation is compared with the
 * node's answer bit for bit (example count, loss sum, every gradient element, the activation
 * counts). A mismatch is an executor fault: named in the step record with the tree node and
 * the first differing element, the node dropped (Executor.fault 'audit': a remote one closed,
 * 4010), the recomputed range used — the step is exact. An unaudited step of a lying node is
 * not: a node that lies on a fraction f of its steps goes unseen for k of them with
 * probability (1 − p·f)^k.
 */

import type { LayerGeometry } from '../../observe/grad-stats';
import type { Executor, StepTask } from '../../parallel/executor';
import type { MainExecutor } from '../../parallel/main-executor';
import type { Partial } from '../../parallel/partial';
import { nodeKey } from '../../parallel/tree';
import type { Assignment } from '../step-types';
import { tensorAt } from './nonfinite';

/** A remote node's first steps, always audited when auditing is on. */
export const AUDIT_FIRST = 3;

export class Auditor {
  /** Steps each executor (this connection: a node that rejoins starts again) has been given. */
  private readonly steps = new WeakMap<Executor, number>();

  constructor(
    private readonly p: number,
    private readonly seed: number,
  ) {}

  /**
   * Recomputes the picked remote ranges on the main thread and replaces an answer that
   * differs (w.failed, fault). Marks each audited assignment. Returns how many differed.
   */
  run(task: StepTask, work: readonly Assignment[], layers: readonly LayerGeometry[], main: MainExecutor): number {
    if (this.p <= 0) return 0;
    let wrong = 0;
    for (const w of work) {
      const x = w.owner;
      // a replicated range is checked by its twin (strategies/replicate.ts)
      if (
        x === main ||
        x.kind !== 'remote' ||
        w.failed !== undefined ||
        w.nodes.length === 0 ||
        w.twin !== undefined ||
        w.replica !== undefined
      )
        continue;
      const n = this.steps.get(x) ?? 0;
      this.steps.set(x, n + 1);
      if (n >= AUDIT_FIRST && !(this.p >= 1 || draw(this.seed, task.step, x.id) < this.p)) continue;
      w.audited = true;
      const again = main.computeSync(task, w.nodes);
      let diff: string | null = null;
      for (let k = 0; k < again.length && diff === null; k++) {
        const d = firstDifference(w.partials[k]!, again[k]!, layers);
        if (d !== null) diff = `tree node ${nodeKey(w.nodes[k]!)}: ${d}`;
      }
      if (diff === null) {
        main.recycle(again);
        continue;
      }
      const why = `audit at step ${task.step}: its partial differs from the recomputation at ${diff}`;
      x.recycle(w.partials);
      w.partials = again;
      w.failed = why;
      x.fault?.(why, 'audit');
      w.owner = main;
      wrong++;
    }
    return wrong;
  }
}

/** A number as the record shows it, -0 included. */
const show = (v: number | undefined): string => (Object.is(v, -0) ? '-0' : String(v));

/** Where `got` first differs from `want` bit for bit, or null when they are the same. */
export function firstDifference(got: Partial, want: Partial, layers: readonly LayerGeometry[]): string | null {
  if (got.count !== want.count) return `the example count (got ${got.count}, recomputed ${want.count})`;
  if (!Object.is(got.lossSum, want.lossSum)) return `the loss sum (got ${show(got.lossSum)}, recomputed ${show(want.lossSum)})`;
  const g = got.grads;
  const h = want.grads;
  for (let i = 0; i < h.length; i++) {
    if (!Object.is(g[i], h[i])) return `${tensorAt(layers, i)} (element ${i}: got ${show(g[i])}, recomputed ${show(h[i])})`;
  }
  for (let i = 0; i < want.stats.length; i++) {
    if (!Object.is(got.stats[i], want.stats[i]))
      return `activation statistic ${i} (got ${show(got.stats[i])}, recomputed ${show(want.stats[i])})`;
  }
  return null;
}

/** A uniform draw in [0, 1) that is a pure function of (seed, step, id): murmur3's mixing over them. */
export function draw(seed: number, step: number, id: string): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ step;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
