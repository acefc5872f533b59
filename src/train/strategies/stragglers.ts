/**
 * stragglers.ts — the gather's wait, with straggler duplication: when one remote executor is
 * all that is left and it is STRAGGLER_FACTOR × slower than its measured speed predicts (and
 * STRAGGLER_MIN_MS into the step), its nodes are computed on the main thread and the first
 * valid answer wins; the node then sits out the steps until its late answer is in.
 * Invariant: the main thread runs the same function on the same nodes, so the result is the
 * same bits whoever answers; only the wait is shorter. Off, the gather waits for everyone.
 */

import type { Executor, StepTask } from '../../parallel/executor';
import type { MainExecutor } from '../../parallel/main-executor';
import type { SpeedMeter } from '../../parallel/planner';
import { now, round3, type Assignment } from '../step-types';

/** A remote executor still computing when everyone else is done is duplicated on the main thread after STRAGGLER_FACTOR × its expected time… */
export const STRAGGLER_FACTOR = 2;
/** …and at least this long (ms) after the step began, so that jitter never triggers it. */
export const STRAGGLER_MIN_MS = 25;

export class Stragglers {
  /** Executors with a compute() still running (stragglers whose range was duplicated): they sit the step out. */
  readonly busy = new Set<Executor>();
  /** Executors whose speed has been measured at least once. */
  readonly measured = new Set<string>();

  constructor(
    private readonly speeds: SpeedMeter,
    private readonly main: MainExecutor,
    private readonly duplicate: boolean,
  ) {}

  /** The listed executors not still busy with an earlier step (`listed` itself when none is). */
  free(listed: readonly Executor[]): readonly Executor[] {
    return this.busy.size === 0 ? listed : listed.filter((e) => !this.busy.has(e));
  }

  /**
   * Waits for every assignment to settle (settled[i] = 1) — except a straggler, as the header
   * says. The main thread's copy is computed synchronously, so it always finishes first once
   * started; the remote answer, when it comes, is dropped (runOne sees `duplicated`).
   */
  async gather(task: StepTask, work: Assignment[], runs: Promise<void>[], settled: Uint8Array, t0: number): Promise<void> {
    const all = Promise.all(runs);
    for (;;) {
      const left: number[] = [];
      for (let i = 0; i < work.length; i++) if (settled[i] === 0) left.push(i);
      if (left.length === 0) break;
      const w = work[left[0]!]!;
      const known = this.measured.has(w.exec.id);
      if (!this.duplicate || left.length > 1 || w.exec.kind !== 'remote' || !known || w.failed !== undefined) {
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
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), Math.max(0, waitMs));
        }),
      ]);
      clearTimeout(timer);
      if (!late || settled[left[0]!] === 1) continue;
      this.duplicateOnMain(task, w, t0, expected);
      settled[left[0]!] = 1;
    }
  }

  private duplicateOnMain(task: StepTask, w: Assignment, t0: number, expected: number): void {
    const s = now();
    w.duplicated = true;
    w.partials = this.main.computeSync(task, w.nodes);
    w.owner = this.main;
    w.ms = now() - t0;
    w.straggler = `still computing after ${round3(s - t0)} ms (expected ${round3(expected)} ms): duplicated on the main thread in ${round3(now() - s)} ms, its late answer dropped`;
  }
}
