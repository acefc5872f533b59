/**
 * step-record.ts — the step's record of itself: one record per executor, and the hand-off in
 * the split of the step's time (the part of an executor's wall time not spent computing).
 * Invariant: timing only; nothing here reads or writes a gradient or a weight.
 */

import type { ExecutorRecord } from '../../observe/schema';
import type { MainExecutor } from '../../parallel/main-executor';
import { round3, type Assignment } from '../step-types';

/**
 * The longest hand-off of the step: an executor's wall time less its own compute time. A pool
 * thread's result is seen only once the main thread has computed its own share (synchronously,
 * right after posting the threads' tasks): a thread that finished first waited on that work,
 * which is not hand-off.
 */
export function handoffMs(work: readonly Assignment[], main: MainExecutor): number {
  const mainComputed = !main.yielding && work.some((w) => w.exec === main && w.nodes.length > 0 && w.failed === undefined);
  const mainShare = mainComputed ? (main.lastThreadMs ?? 0) : 0;
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
  for (let i = 0; i < work.length; i++) {
    const w = work[i]!;
    if (w.nodes.length > 0 && (slowest < 0 || w.ms > work[slowest]!.ms)) slowest = i;
  }
  // loops and push, not forEach and map: no closure a step
  const out: ExecutorRecord[] = [];
  for (let i = 0; i < work.length; i++) {
    const w = work[i]!;
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
    if (w.audited) r.audited = true;
    if (w.replica !== undefined) r.replica = w.replica;
    // remote nodes: time on the wire (wall − the node's own compute) and bytes each way
    const wire = w.exec.lastWire;
    if (wire !== undefined && w.nodes.length > 0) {
      r.bytesOut = wire.bytesOut;
      r.bytesIn = wire.bytesIn;
      if (w.failed === undefined && !w.duplicated && w.exec.lastThreadMs !== undefined)
        r.transferMs = round3(Math.max(0, w.ms - w.exec.lastThreadMs));
    }
    out.push(r);
  }
  return out;
}
