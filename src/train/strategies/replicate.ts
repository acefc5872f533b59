/**
 * replicate.ts — each remote range computed by two workers (config `replicate: 2`). The
 * planner sees the remote workers in pairs (by id; an odd one out sits the step out), each
 * pair one entry at the slower one's speed, and both get the same range. After the gather
 * their partials must be equal bit for bit: then one copy is used. On a mismatch the main
 * thread recomputes the range and decides: a worker whose answer differs from it is dropped
 * (Executor.fault 'replicate': a remote one closed, 4011) and the step uses the
 * recomputation. A range the main thread already recomputed (a crash, a timeout, a
 * non-finite answer) is the truth its twin is compared with. So a run is exact under any
 * single lying worker, and the main thread computes a remote range only on a mismatch.
 */

import type { LayerGeometry } from '../../observe/grad-stats';
import type { Executor, StepTask } from '../../parallel/executor';
import type { MainExecutor } from '../../parallel/main-executor';
import type { Partial } from '../../parallel/partial';
import { nodeKey } from '../../parallel/tree';
import type { Assignment } from '../step-types';
import { firstDifference } from './audit';

/**
 * The step's executors as the planner sees them: each local one alone, the remote ones in
 * pairs ordered by id (the first stands for the pair), an odd one out left out. Returns the
 * entries and, per entry, the twin that gets the same range (undefined for a local one).
 */
export function pairUp(set: readonly Executor[]): { entries: Executor[]; twins: (Executor | undefined)[] } {
  const entries: Executor[] = [];
  const twins: (Executor | undefined)[] = [];
  const remote: Executor[] = [];
  for (const e of set) {
    if (e.kind === 'remote') remote.push(e);
    else {
      entries.push(e);
      twins.push(undefined);
    }
  }
  remote.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 0; i + 1 < remote.length; i += 2) {
    entries.push(remote[i]!);
    twins.push(remote[i + 1]!);
  }
  return { entries, twins };
}

/**
 * Settles each pair (a, w.twin): equal answers → a's kept, the twin's recycled; else the
 * main thread's recomputation decides, the workers that differ from it are dropped. After
 * this a twin holds no partials (its `replica` names whose answer it duplicated). Returns how
 * many workers were dropped.
 */
export function settleReplicas(task: StepTask, work: readonly Assignment[], layers: readonly LayerGeometry[], main: MainExecutor): number {
  let dropped = 0;
  for (const a of work) {
    const b = a.twin;
    if (b === undefined) continue;
    let diff: string | null = null;
    for (let k = 0; k < a.partials.length && diff === null; k++) {
      const d = firstDifference(b.partials[k]!, a.partials[k]!, layers);
      if (d !== null) diff = `tree node ${nodeKey(a.nodes[k]!)}: ${d}`;
    }
    if (diff !== null) {
      // the truth: a side the main thread already computed, else a recomputation now
      const truth = a.owner === main ? a.partials : b.owner === main ? b.partials : main.computeSync(task, a.nodes);
      for (const w of [a, b]) {
        if (w.partials === truth) continue;
        const d = differs(w.partials, truth, w, layers);
        if (d !== null) {
          const why = `replicate at step ${task.step}: its partial differs from its twin's and from the main thread's recomputation at ${d}`;
          w.failed = why;
          w.owner.fault?.(why, 'replicate');
          dropped++;
        }
        if (w.owner !== main) w.owner.recycle(w.partials);
        w.owner = main;
      }
      a.partials = truth;
    } else b.owner.recycle(b.partials);
    b.partials = [];
    b.replica = a.exec.id;
  }
  return dropped;
}

/** Where `got` first differs from `want`, node by node, or null. */
function differs(got: Partial[], want: Partial[], w: Assignment, layers: readonly LayerGeometry[]): string | null {
  for (let k = 0; k < want.length; k++) {
    const d = firstDifference(got[k]!, want[k]!, layers);
    if (d !== null) return `tree node ${nodeKey(w.nodes[k]!)}: ${d}`;
  }
  return null;
}
