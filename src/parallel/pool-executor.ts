/**
 * pool-executor.ts — an executor backed by one thread of the run's pool (thread-pool.ts): the
 * main thread's side of the pool protocol (pool-protocol.ts).
 *
 * Each executor owns one thread for the run: a serve loop there (one long piscina task,
 * workers/pool-task.ts), started before the first step (ThreadPool.prestart) or else by the
 * first compute(); every step is posted to it through shared memory and atomics: no message,
 * no structured clone, no copy of the partials.
 * A task that throws is reported in the control block; a thread that exits or runs out of
 * memory rejects its serve task. Either way compute() rejects, the step recomputes that
 * range on the main thread (train/step.ts), and the executor starts a new serve loop (on
 * the thread piscina starts in place of a dead one) at its next step.
 * Not here: the pool and what its threads share (thread-pool.ts), the thread's code
 * (workers/pool-task.ts), planning (planner.ts).
 */

import type { Float } from '../tensor/dtype';
import { Errors } from '../errors';
import { TaskWithdrawn, type Executor, type StepTask } from './executor';
import type { Partial } from './partial';
import {
  C,
  claim,
  CONTROL_INTS,
  ERROR_BYTES,
  MAX_NODES,
  readError,
  readScalars,
  slotBytes,
  slotPartial,
  pollUntil,
  T,
  TASK_COMPUTE,
  TASK_TAIL,
  waitAsync,
  type ServeResult,
  type ServeTask,
  type SlotPartial,
} from './pool-protocol';
import type { ThreadPool } from './thread-pool';
import type { TreeNode } from './tree';

export function isShared(a: Float | Uint32Array): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

interface Serving {
  control: Int32Array;
  error: Uint8Array;
  slots: SlotPartial[];
  params: Float;
  order: Uint32Array;
  /** Why the serve task ended (a thread that died, or stop()); null while it runs. */
  deadReason: string | null;
  /** The last compute task withdrawn from this serve loop (its sequence number; 0: none). */
  withdrawn: number;
  done: Promise<ServeResult | null>;
}

export class PoolExecutor implements Executor {
  readonly id: string;
  readonly kind = 'thread' as const;
  /** Wall time inside the thread of the last task (ms): the rest of computeMs is hand-off. */
  lastThreadMs = 0;
  private serving: Serving | null = null;
  /** The last serve loop started, running or not (failure() reads why it ended). */
  private lastServing: Serving | null = null;
  private seq = 0;
  /** Serve loops started over the run: one, unless its thread died or a task needed more slots. */
  serveLoops = 0;

  constructor(
    private readonly owner: ThreadPool,
    private readonly index: number,
  ) {
    this.id = `thread-${index}`;
  }

  /** Starts a serve loop on a pool thread with `slotCount` partial slots. */
  private start(slotCount: number, params: Float, order: Uint32Array): Serving {
    const o = this.owner.opts;
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * 4));
    const error = new Uint8Array(new SharedArrayBuffer(ERROR_BYTES));
    const bytes = slotBytes(o.spec.dtype, this.owner.statsSize, this.owner.paramCount);
    const buffers = Array.from({ length: slotCount }, () => new SharedArrayBuffer(bytes));
    const task: ServeTask = {
      control,
      error,
      slots: buffers,
      spec: o.spec,
      kernels: o.kernels,
      profile: o.profile ?? 'portable',
      microBatch: o.microBatch,
      x: o.x,
      y: o.y,
      params,
      order,
      executor: this.index,
      statsSize: this.owner.statsSize,
      paramCount: this.owner.paramCount,
      spin: o.spin ?? false,
      tail: this.owner.tail,
      cpu: o.cpus?.[this.index - 1] ?? null,
    };
    this.seq = 0;
    this.serveLoops++;
    const run = this.owner.pool.run(task) as Promise<ServeResult>;
    const s: Serving = {
      control,
      error,
      params,
      order,
      deadReason: null,
      withdrawn: 0,
      slots: buffers.map((b) => slotPartial(b, o.spec.dtype, this.owner.statsSize, this.owner.paramCount)),
      done: run.catch(() => null),
    };
    // wake whoever waits on this thread (a flag and a notify, not a promise raced at every
    // wait: a race leaves a reaction on the never-settling promise each time, for the run)
    const end = (why: string): void => {
      s.deadReason = why;
      Atomics.store(control, C.DEAD, 1);
      Atomics.notify(control, C.DONE);
      const tail = this.owner.tail;
      if (tail !== null) {
        Atomics.store(tail.sync, T.FAILED, 1);
        Atomics.notify(tail.sync, T.DONE);
      }
      if (this.serving === s) this.serving = null;
    };
    run.then(
      () => end('its serve loop ended'),
      (e: unknown) => end(`its thread failed (${(e as Error).message})`),
    );
    this.lastServing = s;
    return s;
  }

  /** Starts the serve loop (ThreadPool.prestart) and resolves once it is ready or has ended. */
  async prestart(params: Float, order: Uint32Array): Promise<void> {
    if (this.serving !== null) return;
    const s = (this.serving = this.start(4, params, order));
    for (;;) {
      if (Atomics.load(s.control, C.READY) !== 0 || s.deadReason !== null) return;
      const w = waitAsync(s.control, C.READY, 0);
      // DEAD notifies DONE, not READY: the serve task's end settles the wait too
      if (w.async) await Promise.race([w.value, s.done]);
    }
  }

  async compute(task: StepTask, nodes: TreeNode[]): Promise<Partial[]> {
    if (nodes.length > MAX_NODES) throw Errors.executor(`${this.id}: ${nodes.length} tree nodes in one task (at most ${MAX_NODES})`);
    // the last step's tail settled (an await only when the thread is still leaving it: it would
    // let the main thread's own share start first)
    const leaving = this.settleTail();
    if (leaving !== null) await leaving;
    if (!isShared(task.params)) throw new TypeError('ThreadPool: params must be SharedArrayBuffer-backed');
    const order = this.owner.order(task.batch.order);
    // the nodes' results (the thread computes them in its own memory, then copies each into a slot)
    const need = nodes.length;
    let s = this.serving;
    if (s === null || s.slots.length < need || s.params !== task.params || s.order !== order) {
      if (s !== null) await this.stop();
      s = this.serving = this.start(Math.max(need, 4), task.params, order);
    }
    const c = s.control;
    c[C.KIND] = TASK_COMPUTE;
    c[C.STEP] = task.step;
    c[C.START] = task.batch.start;
    c[C.END] = task.batch.end;
    c[C.NODES] = nodes.length;
    nodes.forEach((n, k) => {
      c[C.NODE_LIST + 2 * k] = n.h;
      c[C.NODE_LIST + 2 * k + 1] = n.i;
    });
    const seq = ++this.seq;
    Atomics.store(c, C.SEQ, seq);
    Atomics.notify(c, C.SEQ);
    this.inFlight = { s, seq };
    try {
      await this.finished(s, seq);
    } finally {
      this.inFlight = null;
    }
    this.lastThreadMs = c[C.COMPUTE_US]! / 1000;
    if (c[C.STATUS] !== 0) throw Errors.executor(`${this.id}: ${readError(c, s.error)}`);
    // a loop, not map(): every executor's result array has one shape (train/step.ts run())
    const out: Partial[] = [];
    for (let k = 0; k < nodes.length; k++) {
      const slot = c[C.RESULT_SLOTS + k]!;
      if (!(slot >= 0 && slot < s.slots.length)) throw Errors.executor(`${this.id}: result slot ${slot} out of range`);
      out.push(readScalars(s.slots[slot]!));
    }
    return out;
  }

  /** Whether its serve loop has its kernels and waits for tasks. */
  ready(): boolean {
    return this.serving !== null && Atomics.load(this.serving.control, C.READY) !== 0;
  }

  /** Whether a compute task is posted and its thread has not finished it yet (a look, no wait). */
  computing(): boolean {
    const f = this.inFlight;
    return f !== null && Atomics.load(f.s.control, C.DONE) !== f.seq;
  }

  /** A partial's tail operand code, (0 << 16 | slot) for this thread's slots, (1 << 16 | slot) for the main thread's; null otherwise. */
  operand(p: Partial): number | null {
    const own = this.serving?.slots.findIndex((q) => q.grads === p.grads) ?? -1;
    if (own >= 0) return own;
    const m = this.owner.mainSlots.findIndex((q) => q.grads === p.grads);
    return m >= 0 ? (1 << 16) | m : null;
  }

  /** Tail tasks withdrawn before its thread claimed them (C.CLAIM), over the run. */
  withdrawnTails = 0;
  /** Compute tasks withdrawn before its thread claimed them (withdrawCompute), over the run. */
  withdrawnComputes = 0;
  /** The compute task posted and not yet seen done. */
  private inFlight: { s: Serving; seq: number } | null = null;

  /**
   * Takes back the compute task in flight if the thread has not claimed it yet (C.CLAIM): the
   * pending compute() then rejects with TaskWithdrawn and the caller computes the nodes itself
   * (the same function, the same bits). For a thread with a core of its own that has not
   * started its task by the time the main thread has finished its own share: asleep or
   * descheduled, it can take milliseconds on a VM. Returns whether it was withdrawn.
   */
  withdrawCompute(): boolean {
    const f = this.inFlight;
    if (f === null || !claim(f.s.control, f.seq)) return false;
    f.s.withdrawn = f.seq;
    this.withdrawnComputes++;
    // finished() waits on DONE: wake it to see the withdrawal
    Atomics.notify(f.s.control, C.DONE);
    return true;
  }

  /** The CPU its thread pinned itself to; null when it floats (not asked, not started yet, or the pin failed). */
  pinnedCpu(): number | null {
    const p = this.lastServing === null ? 0 : Atomics.load(this.lastServing.control, C.PIN);
    return p > 0 ? p - 1 : null;
  }

  /** The last tail task's sequence number until a compute task has seen the thread leave it (0: none). */
  private tailSeq = 0;

  /**
   * Posts a tail task for step `step` (pool-protocol.ts TailBuffers: the thread takes units
   * until none is left): a ← a + b by operand codes, divisor, λ, lr already in the tail's f64
   * and its sync reset. Nothing waits on the task itself: the step waits on the units (a
   * thread that throws, or dies, sets the tail's FAILED), and the next compute() waits for
   * the thread to have left it.
   */
  tail(step: number, a: number, b: number): void {
    const s = this.serving;
    if (s === null) return; // its thread is gone: the main thread takes every unit
    const c = s.control;
    c[C.KIND] = TASK_TAIL;
    c[C.STEP] = step;
    c[C.A] = a;
    c[C.B] = b;
    this.tailSeq = ++this.seq;
    Atomics.store(c, C.SEQ, this.seq);
    Atomics.notify(c, C.SEQ);
  }

  /**
   * Settles the last tail task posted to this thread, before anything reuses the tail's
   * buffers (its next compute task; another thread's tail, which resets the shared counters):
   * every unit was done before the step went on, so a thread that has not claimed it yet
   * (asleep when it was posted: waking can take milliseconds on a VM) has it withdrawn
   * (C.CLAIM); one that has is leaving it: a short poll, and only then a promise to wait on.
   * Returns null once settled.
   */
  settleTail(): Promise<void> | null {
    const tailSeq = this.tailSeq;
    this.tailSeq = 0;
    const s = this.serving;
    if (tailSeq === 0 || s === null || Atomics.load(s.control, C.DONE) === tailSeq) return null;
    const c = s.control;
    if (claim(c, tailSeq)) {
      this.withdrawnTails++;
      return null;
    }
    return pollUntil(() => Atomics.load(c, C.DONE) === tailSeq) ? null : this.finished(s, tailSeq, false);
  }

  /** Why its thread or its last task failed, for the step record. */
  failure(): string {
    const s = this.lastServing;
    if (s === null) return `${this.id}: no serve loop`;
    return `${this.id}: ${s.deadReason ?? readError(s.control, s.error)}`;
  }

  /** Resolves when the thread has finished task `seq`; rejects if the thread dies first. */
  private async finished(s: Serving, seq: number, spin = this.owner.opts.spin ?? false): Promise<void> {
    if (spin) {
      // after the step's synchronous part (the main thread computing its own share), poll
      await null;
      pollUntil(() => Atomics.load(s.control, C.DONE) === seq || s.withdrawn === seq);
    }
    for (;;) {
      const d = Atomics.load(s.control, C.DONE);
      if (d === seq) return;
      if (s.withdrawn === seq)
        throw new TaskWithdrawn(
          `${this.id}: had not started its task when the main thread had finished its own share; the main thread computed it`,
        );
      if (Atomics.load(s.control, C.DEAD) !== 0) throw Errors.executor(`${this.id}: ${s.deadReason ?? 'its thread failed'}`);
      const w = waitAsync(s.control, C.DONE, d);
      if (w.async) await w.value;
    }
  }

  recycle(_partials: Partial[]): void {
    // the slots go back to the thread's free list when it takes its next task
  }

  /** Ends the serve loop (if any) and waits for its thread to leave it. */
  async stop(): Promise<void> {
    const s = this.serving;
    if (s === null) return;
    this.serving = null;
    Atomics.store(s.control, C.STOP, 1);
    Atomics.add(s.control, C.SEQ, 1);
    Atomics.notify(s.control, C.SEQ);
    await s.done;
  }

  async close(): Promise<void> {
    // the pool is shared by all its executors: ThreadPool.close() ends it
  }
}
