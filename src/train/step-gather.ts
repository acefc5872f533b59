/**
 * step-gather.ts — step 2 of the step (step.ts), the executors' side: every executor's
 * compute() started and timed, its speed measured for the planner, a failure recorded on its
 * assignment (never thrown), and at the end each failed range recomputed on the main thread.
 * Not here: the wait for the answers (strategies/stragglers.ts), what the main thread does
 * meanwhile (step.ts).
 */

import { Errors } from '../errors';
import { isWithdrawn, type StepTask } from '../parallel/executor';
import type { MainExecutor } from '../parallel/main-executor';
import type { Partial } from '../parallel/partial';
import type { SpeedMeter } from '../parallel/planner';
import { now, type Assignment } from './step-types';
import { handoffMs } from './strategies/step-record';
import type { Stragglers } from './strategies/stragglers';

export class Gather {
  constructor(
    /** The planner's speeds, measured here from each executor's own compute time. */
    private readonly speeds: SpeedMeter,
    private readonly stragglers: Stragglers,
    private readonly main: MainExecutor,
  ) {}

  /** Posting: every executor's compute() started (the main thread's, last, runs synchronously now). */
  dispatch(task: StepTask, work: Assignment[], settled: Uint8Array): Promise<void>[] {
    // 1 once an executor's share is in (or it had none)
    for (let i = 0; i < work.length; i++) settled[i] = work[i]!.nodes.length === 0 ? 1 : 0;
    const runs: Promise<void>[] = [];
    for (let i = 0; i < work.length; i++) runs.push(this.runOne(task, work[i]!, i, settled));
    return runs;
  }

  /** The end: a failed range recomputed on the coordinator (same function, same bits), the examples counted; returns the hand-off ms. */
  recomputeFailed(task: StepTask, work: Assignment[]): number {
    for (const w of work) {
      if (w.failed === undefined) continue;
      const s = now();
      w.partials = this.main.computeSync(task, w.nodes);
      w.owner = this.main;
      w.ms += now() - s;
    }
    for (const w of work) {
      w.examples = 0;
      for (const p of w.partials) w.examples += p.count;
    }
    return handoffMs(work, this.main);
  }

  /** One executor's share: its compute(), timed and measured; a failure is recorded, not thrown. */
  private async runOne(task: StepTask, w: Assignment, i: number, settled: Uint8Array): Promise<void> {
    if (w.nodes.length === 0) return;
    const s = now();
    let partials: Partial[] = [];
    let failed: string | undefined;
    this.stragglers.busy.add(w.exec);
    try {
      partials = await w.exec.compute(task, w.nodes);
      if (partials.length !== w.nodes.length)
        throw Errors.executor(`${w.exec.id} returned ${partials.length} partials for ${w.nodes.length} nodes`);
      // a thread's speed is its own compute time: a pool thread's wall time also holds the
      // main thread's share, computed synchronously meanwhile, and the main thread's holds
      // its wait for the others (the step reads its result only then) — either way the
      // planner would starve it of work
      const own =
        w.exec.kind !== 'remote' && w.exec.lastThreadMs !== undefined && w.exec.lastThreadMs > 0 ? w.exec.lastThreadMs : now() - s;
      this.speeds.observe(w.exec.id, w.hi - w.lo, own);
      this.stragglers.measured.add(w.exec.id);
    } catch (e) {
      failed = (e as Error).message;
      if (isWithdrawn(e)) w.late = true;
    } finally {
      this.stragglers.busy.delete(w.exec);
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
}
