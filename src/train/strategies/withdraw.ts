/**
 * withdraw.ts — late pool-task withdrawal: once the main thread has computed its own share, a
 * pool thread with a core of its own that has not even started its task is asleep or
 * descheduled (which can take milliseconds on a VM); its task is taken back before it starts
 * (Executor.withdrawCompute) and the main thread computes it, as it recomputes a failure.
 * Invariant: a task is withdrawn only before its thread claims it, so exactly one of the two
 * computes it, with the same function: the same bits. The record says `late`, not `failed`.
 */

import type { MainExecutor } from '../../parallel/main-executor';
import type { Assignment } from '../step-types';

/** Withdraws every pool task not started yet, when the main thread computed a share synchronously and the threads spin. */
export function withdrawLate(work: readonly Assignment[], main: MainExecutor, poolSpins: boolean): void {
  if (main.yielding || !poolSpins || !work.some((w) => w.exec === main && w.nodes.length > 0)) return;
  for (const w of work) w.exec.withdrawCompute?.();
}
