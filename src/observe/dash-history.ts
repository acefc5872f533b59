/**
 * dash-history.ts — what the live server keeps of a run for a dashboard opened mid-run: the
 * whole run at a bounded cost, where the tail stream keeps only its last records.
 *
 * Kept, as the frames the server published (one JSON text each):
 *   - step records, decimated: every `stride`-th step is kept; when `maxSteps` are kept, every
 *     other one is dropped and the stride doubles, so the kept steps always span the run evenly;
 *   - the last `recentSteps` step records in full, and the newest one always;
 *   - the step records at which the diagnosis changed (the last `maxChanges`);
 *   - every other record except the server's own (eval, early-stop, end, checkpoints, workers
 *     joining and leaving, warnings): the last `maxOther`.
 * snapshot() returns them oldest first within each kind (others, then steps in step order,
 * without duplicates), thinned further until their bytes fit `maxBytes`: a new subscriber is
 * never sent more than the server allows one to have queued.
 * Not here: the sockets (live-server.ts), drawing (web/dashboard/).
 */

export interface DashHistoryOptions {
  /** Decimated step records kept. Default 1000. */
  maxSteps?: number;
  /** Newest step records kept in full. Default 300. */
  recentSteps?: number;
  /** Step records where the diagnosis changed. Default 200. */
  maxChanges?: number;
  /** Other records kept (the newest). Default 1000. */
  maxOther?: number;
  /** Largest snapshot, bytes of frames. Default 2 MiB. */
  maxBytes?: number;
}

interface StepFrame {
  step: number;
  frame: string;
}

/** A bounded FIFO of the newest items. */
class Ring<T> {
  private items: T[] = [];
  constructor(private readonly cap: number) {}
  push(x: T): void {
    this.items.push(x);
    // drop in batches: an array's shift() per push is O(n)
    if (this.items.length > this.cap * 2) this.items = this.items.slice(-this.cap);
  }
  list(): T[] {
    return this.items.length > this.cap ? this.items.slice(-this.cap) : this.items.slice();
  }
}

export class DashHistory {
  private readonly maxSteps: number;
  private readonly maxBytes: number;
  private decimated: StepFrame[] = [];
  private stride = 1;
  private readonly recent: Ring<StepFrame>;
  private readonly changes: Ring<StepFrame>;
  private readonly others: Ring<string>;
  private lastStates = '';
  /** Step records published in all. */
  seen = 0;

  constructor(o: DashHistoryOptions = {}) {
    this.maxSteps = Math.max(2, o.maxSteps ?? 1000);
    this.recent = new Ring(Math.max(1, o.recentSteps ?? 300));
    this.changes = new Ring(Math.max(1, o.maxChanges ?? 200));
    this.others = new Ring(Math.max(1, o.maxOther ?? 1000));
    this.maxBytes = o.maxBytes ?? 2 * 1024 * 1024;
  }

  /** A published record (not the start record, not the server's own) and its frame. */
  add(record: { msg?: unknown; step?: unknown; diagnosis?: { states?: unknown } }, frame: string): void {
    if (record.msg !== 'step' || typeof record.step !== 'number') {
      this.others.push(frame);
      return;
    }
    const s: StepFrame = { step: record.step, frame };
    if (this.seen % this.stride === 0) {
      this.decimated.push(s);
      if (this.decimated.length >= this.maxSteps) {
        this.decimated = this.decimated.filter((_, i) => i % 2 === 0);
        this.stride *= 2;
      }
    }
    this.seen++;
    this.recent.push(s);
    const states = Array.isArray(record.diagnosis?.states) ? record.diagnosis.states.join(',') : '';
    if (states !== this.lastStates) this.changes.push(s);
    this.lastStates = states;
  }

  /** The frames a new dashboard subscriber is sent after the start record (see the file comment). */
  snapshot(): { frames: string[]; steps: number } {
    const others = this.others.list();
    const recent = this.recent.list();
    const changes = this.changes.list();
    let older = this.decimated;
    const bytes = (xs: { length: number }[]): number => xs.reduce((n, x) => n + x.length, 0);
    const frameBytes = (xs: StepFrame[]): number => xs.reduce((n, x) => n + x.frame.length, 0);
    let budget = this.maxBytes - bytes(others);
    // thin the decimated part first, then the rest, oldest first, until it fits
    while (older.length > 0 && frameBytes(older) + frameBytes(recent) + frameBytes(changes) > budget)
      older = older.length === 1 ? [] : older.filter((_, i) => i % 2 === 0);
    const merged = new Map<number, string>();
    for (const list of [older, changes, recent]) for (const s of list) merged.set(s.step, s.frame);
    const steps = [...merged.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
    let keptOthers = others;
    budget = this.maxBytes;
    let total = bytes(steps) + bytes(keptOthers);
    while (total > budget && steps.length > 1) total -= steps.shift()!.length;
    while (total > budget && keptOthers.length > 0) {
      total -= keptOthers[0]!.length;
      keptOthers = keptOthers.slice(1);
    }
    return { frames: [...keptOthers, ...steps], steps: steps.length };
  }
}
