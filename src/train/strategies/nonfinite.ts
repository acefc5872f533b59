/**
 * nonfinite.ts — step 3, the check, and the pinning of a non-finite step's examples. Each
 * partial's producer flagged its first non-finite element (p.bad); the loss sums are checked
 * here, before anything is summed. First, a range with a non-finite partial from an executor
 * other than the main thread is recomputed on the main thread (same kernels, same bits): when
 * that is finite, the executor answered wrong — an executor fault, like a crash: it is named in
 * the record, dropped (Executor.fault: a remote node is closed, 1008) and the recomputed range
 * is used, so the step goes on with the same bits (blameFaulty). What is still non-finite then
 * is the data's or the model's: the first bad partial is named (executor, tree node, tensor and
 * layer), the node recomputed leaf by leaf and each example of a non-finite leaf alone, to name
 * the training-set rows at fault, and the step is skipped or stopped by the config.
 * Invariant: the check reads the partials and never changes them; the clean path costs
 * O(partials), no pass over the gradients.
 */

import type { LayerGeometry } from '../../observe/grad-stats';
import type { StepTask } from '../../parallel/executor';
import type { MainExecutor } from '../../parallel/main-executor';
import type { Partial } from '../../parallel/partial';
import { nodeKey, type ReductionTree, type TreeNode } from '../../parallel/tree';
import type { Assignment } from '../step-types';

/** Rows named at most per non-finite step (in the record; the text lists fewer). */
export const MAX_PINNED = 256;

export interface CheckResult {
  skipped?: string;
  nonFiniteExamples?: number[];
}

/** check()'s answer for a step whose partials are all finite (shared: nothing reads it but the step). */
const ALL_FINITE: CheckResult = Object.freeze({});

const nonFinite = (p: Partial): boolean => p.bad >= 0 || !Number.isFinite(p.lossSum);

/**
 * 3. Check, first half: each range with a non-finite partial from an executor other than the
 * main thread is recomputed on the main thread; where that is finite, the executor's answer is
 * replaced by it, the executor recorded as failed and dropped (fault()). Returns how many were.
 */
export function blameFaulty(task: StepTask, work: readonly Assignment[], layers: readonly LayerGeometry[], main: MainExecutor): number {
  let faulted = 0;
  for (let i = 0; i < work.length; i++) {
    const w = work[i]!;
    if (w.owner === main) continue;
    const bad = w.partials.findIndex(nonFinite);
    if (bad < 0) continue;
    const again = main.computeSync(task, w.nodes);
    if (again.some(nonFinite)) {
      main.recycle(again);
      continue;
    }
    const p = w.partials[bad]!;
    const what = !Number.isFinite(p.lossSum) ? `the loss (${p.lossSum})` : `${tensorAt(layers, p.bad)} (element ${p.bad})`;
    const why =
      `returned a non-finite value in ${what} for tree node ${nodeKey(w.nodes[bad]!)} at step ${task.step}, ` +
      'which recomputed on the main thread is finite (a faulty executor)';
    w.owner.recycle(w.partials);
    w.partials = again;
    w.failed = why;
    w.owner.fault?.(why, 'nonfinite');
    w.owner = main;
    faulted++;
  }
  return faulted;
}

/** 3. Check: the first non-finite partial, named, and its examples pinned down (pinExamples). */
export function check(
  task: StepTask,
  tree: ReductionTree,
  work: readonly Assignment[],
  layers: readonly LayerGeometry[],
  main: MainExecutor,
): CheckResult {
  // the first non-finite partial, in the work's order (index loops: no iterator a step)
  for (let i = 0; i < work.length; i++) {
    const w = work[i]!;
    for (let k = 0; k < w.partials.length; k++) {
      const p = w.partials[k]!;
      const where = !Number.isFinite(p.lossSum)
        ? `the loss (${p.lossSum})`
        : p.bad >= 0
          ? `${tensorAt(layers, p.bad)} (element ${p.bad})`
          : null;
      if (where === null) continue;
      const node = w.nodes[k]!;
      const skipped = `non-finite value in ${where} from executor ${w.owner.id}, tree node ${nodeKey(node)}, step ${task.step}`;
      const pin = pinExamples(task, tree, { node, exec: w.owner.id }, main);
      return pin.rows.length > 0 ? { skipped: skipped + pin.note, nonFiniteExamples: pin.rows } : { skipped: skipped + pin.note };
    }
  }
  return ALL_FINITE;
}

/** Names a flat parameter index: 'dJdW[1]' or 'dJdWb[0]'. */
export function tensorAt(layers: readonly LayerGeometry[], index: number): string {
  for (const s of layers) {
    if (index >= s.w && index < s.w + s.wSize) return `dJdW[${s.layer}]`;
    if (index >= s.b && index < s.b + s.bSize) return `dJdWb[${s.layer}]`;
  }
  return `index ${index}`;
}

/**
 * Names the examples behind a non-finite node. Recomputes the node's leaves on the main thread
 * (same kernels, same bits as any executor), then each example of a non-finite leaf alone, and
 * returns the training-set rows whose own loss or gradient is non-finite, with a note for the text.
 */
function pinExamples(
  task: StepTask,
  tree: ReductionTree,
  bad: { node: TreeNode; exec: string },
  main: MainExecutor,
): { rows: number[]; note: string } {
  const b = task.batch;
  const [lo, hi] = tree.range(bad.node);
  const rows: number[] = [];
  const badLeaves: number[] = [];
  for (let j = lo; j < hi && rows.length < MAX_PINNED; j++) {
    const leaf = main.computeSync(task, [{ h: 0, i: j }]);
    const isBad = nonFinite(leaf[0]!);
    main.recycle(leaf);
    if (!isBad) continue;
    badLeaves.push(j);
    const from = b.start + j * b.microBatch;
    const to = Math.min(from + b.microBatch, b.end);
    for (let pos = from; pos < to && rows.length < MAX_PINNED; pos++) {
      const one = main.computeSync({ ...task, batch: { step: b.step, order: b.order, start: pos, end: pos + 1, microBatch: 1 } }, [
        { h: 0, i: 0 },
      ]);
      if (nonFinite(one[0]!)) rows.push(b.order[pos]!);
      main.recycle(one);
    }
  }
  if (badLeaves.length === 0) {
    return {
      rows,
      note: `; recomputed on the main thread, node ${nodeKey(bad.node)} is finite: executor ${bad.exec} returned values the kernels do not produce (a faulty executor)`,
    };
  }
  if (rows.length === 0) {
    return { rows, note: `; leaf ${badLeaves[0]} is non-finite but none of its examples alone is (their sum overflows)` };
  }
  const shown = rows.slice(0, 8).join(', ');
  const more = rows.length > 8 ? ` (+${rows.length - 8} more${rows.length >= MAX_PINNED ? ', search stopped' : ''})` : '';
  const leaves = `leaf ${badLeaves[0]}${badLeaves.length > 1 ? ` and ${badLeaves.length - 1} more` : ''}`;
  return { rows, note: `; non-finite on its own: training example${rows.length > 1 ? 's' : ''} ${shown}${more} (${leaves})` };
}
