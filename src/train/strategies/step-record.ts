/**
 * step-record.ts — the step's record of itself: when the previous step's record is written
 * (RecordFlush: while the executors compute, or during a shared tail, or before the plan when
 * the overlap is off), the per-executor records, and the split of the step's time (hand-off:
 * the part of an executor's wall time not spent computing).
 * Invariant: timing only; nothing here reads or writes a gradient or a weight.
 */

import type { ExecutorRecord } from '../../observe/schema';
import type { MainExecutor } from '../../parallel/main-executor';
import { now, round3, type Assignment } from '../step-types';

/** The previous step's record (the loop's `dispatched`), written at most once per step, and timed. */
export class RecordFlush {
  private flushed = true;
  private write: (() => void) | undefined = undefined;
  private gathered = false;
  /** The main thread's time writing it this step (ms). */
  recordMs = 0;
  /** Written after the gather (during the shared tail: in reduceMs). */
  inReduce = false;
  /** Written before the plan (the overlap off): no executor waited on it. */
  before = false;

  /** Called from any point of the step that may write it; bound once, so no closure per step. */
  readonly flush = (): void => {
    if (this.flushed) return;
    this.flushed = true;
    if (this.write === undefined) return;
    const s = now();
    this.write();
    this.recordMs = now() - s;
    this.inReduce = this.gathered;
  };

  /** A new step, with the loop's writer of the previous record; `now`: write it at once (no overlap). */
  begin(write: (() => void) | undefined, atOnce: boolean): void {
    this.flushed = false;
    this.write = write;
    this.gathered = false;
    this.recordMs = 0;
    this.inReduce = false;
    this.before = atOnce;
    if (atOnce) this.flush();
  }

  /** The gather is over: a record written from now on is in the reduce's time. */
  markGathered(): void {
    this.gathered = true;
  }
}

/**
 * The longest hand-off of the step: an executor's wall time less its own compute time. A pool
 * thread's result is seen only once the main thread has computed its own share (synchronously,
 * right after posting the threads' tasks) and written the last record (`recordFirst` ms): a
 * thread that finished first waited on that work, which is not hand-off.
 */
export function handoffMs(work: readonly Assignment[], main: MainExecutor, recordFirst: number): number {
  const mainComputed = !main.yielding && work.some((w) => w.exec === main && w.nodes.length > 0 && w.failed === undefined);
  const mainShare = (mainComputed ? (main.lastThreadMs ?? 0) : 0) + recordFirst;
  let out = 0;
  for (const w of work) {
    if (w.failed === undefined && !w.duplicated && w.exec.kind !== 'main' && w.exec.lastThreadMs !== undefined) {
      out = Math.max(out, w.ms - Math.max(w.exec.lastThreadMs, w.exec.kind === 'thread' ? mainShare : 0));
    }
  }
  return out;
}

/** One record per executor of the step: its leaves, examples and time, why it failed or was late, its wire. */
export function executorRecords(work: readonly Assignment[]): ExecutorRecord[] {
  let slowest = -1;
  work.forEach((w, i) => {
    if (w.nodes.length > 0 && (slowest < 0 || w.ms > work[slowest]!.ms)) slowest = i;
  });
  return work.map((w, i) => {
    const r: ExecutorRecord = {
      id: w.exec.id,
      kind: w.exec.kind,
      leaves: [w.lo, w.hi],
      examples: w.examples,
      computeMs: round3(w.ms),
    };
    if (i === slowest && work.length > 1) r.slowest = true;
    if (w.failed !== undefined) {
      if (w.late) r.late = w.failed;
      else r.failed = w.failed;
    }
    if (w.straggler !== undefined) r.straggler = w.straggler;
    // remote nodes: time on the wire (wall − the node's own compute) and bytes each way
    const wire = w.exec.lastWire;
    if (wire !== undefined && w.nodes.length > 0) {
      r.bytesOut = wire.bytesOut;
      r.bytesIn = wire.bytesIn;
      if (w.failed === undefined && !w.duplicated && w.exec.lastThreadMs !== undefined)
        r.transferMs = round3(Math.max(0, w.ms - w.exec.lastThreadMs));
    }
    return r;
  });
}
