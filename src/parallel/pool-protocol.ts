/**
 * pool-protocol.ts — how the coordinator and a pool thread talk: shared memory and atomics.
 *
 * A pool thread runs one long piscina task (workers/pool-task.ts `serve`) for the whole run.
 * Per step there is no message at all: the coordinator writes the step's batch and tree
 * nodes into the thread's control block (an Int32Array on a SharedArrayBuffer), bumps SEQ
 * and notifies; the thread computes each node's partial into one of its partial slots
 * (SharedArrayBuffers the coordinator allocated and reads in place: no transfer) — a leaf
 * straight into the slot, its dJdW by the kernels' gemmTNCheck, a node of more leaves in its
 * own memory and then by the kernels' copyShared: non-temporal stores either way, which need
 * not take the slot's lines back from the coordinator's cache (workers/pool-task.ts says
 * why); writes which slot holds which node, stores DONE = SEQ and notifies. The
 * coordinator waits with Atomics.waitAsync, so its event loop keeps running meanwhile.
 * A slot lent to the coordinator for a step is taken back by the thread when the next compute
 * task arrives: by then the coordinator has finished that step. A second kind of task, the
 * tail (KIND = TASK_TAIL, TailBuffers below), has the thread take units of the step's tail.
 *
 * Weights, examples and the epoch order are SharedArrayBuffer views given once, when the
 * thread starts serving; the weights are updated in place between steps, while no thread
 * is computing.
 *
 * Slot layout: Float64 [lossSum, count, bad, stats…] (3 + S values), then, 8-byte aligned,
 * the grads in the model's dtype (P values). The remote wire carries the same fields as
 * PartialMessage (messages.ts), msgpack-encoded.
 * Not here: the thread's code (workers/pool-task.ts), the executor (pool-executor.ts).
 */

import { bytesPerElement, view, type DType, type Float } from '../tensor/dtype';
import type { KernelProfile } from '../tensor/kernels';
import { lineOffset, type KernelChoice } from '../tensor/select';
import type { ModelSpec } from '../model/spec';
import type { Partial } from './partial';
import type { OptimizerSpec } from '../optim/optimizer';

/** Most tree nodes one task can carry (a range's canonical cover has ≤ 2·height nodes). */
export const MAX_NODES = 64;

/** Control block fields (Int32 indices). */
export const C = {
  /** Task sequence number: the coordinator bumps it to post a task. */
  SEQ: 0,
  /** The last task the thread finished (equal to SEQ when done). */
  DONE: 1,
  /** 0: the task succeeded; 1: it threw (message in the error block). */
  STATUS: 2,
  STEP: 3,
  START: 4,
  END: 5,
  NODES: 6,
  /** Non-zero: leave the serve loop at the next wake-up. */
  STOP: 7,
  /** Wall time of the last task inside the thread, in microseconds. */
  COMPUTE_US: 8,
  /** Bytes of the error message. */
  ERROR_LEN: 9,
  /** The task: TASK_COMPUTE, or TASK_TAIL (its share of the step's tail, below). */
  KIND: 10,
  /** Tail: the two operands, each as set << 16 | index: set 0 this thread's slots, 1 the main thread's. */
  A: 11,
  B: 12,
  /** Set (and DONE notified) by the coordinator when the thread's serve task has ended: waiters stop waiting. */
  DEAD: 13,
  /**
   * The last task settled: claimed by the thread (compare-and-swap SEQ − 1 → SEQ before it
   * reads the task's fields), or withdrawn by the coordinator before the thread claimed it
   * (the same swap, from the other side). A thread asleep or descheduled when its task was
   * posted can take milliseconds to start on a VM: its tail is withdrawn when the next step
   * begins (the main thread has done every unit by then), its compute task once the main
   * thread has finished its own share (which then computes it: PoolExecutor.withdrawCompute).
   */
  CLAIM: 14,
  /** Where the serve loop pinned its thread: 0 not asked, CPU + 1 pinned, −1 the pin failed. */
  PIN: 15,
  /** Set (and notified) by the thread once its serve loop has its kernels and waits for tasks. */
  READY: 16,
  /** (h, i) of each node, from here. */
  NODE_LIST: 17,
  /** The slot holding each node's partial, from here. */
  RESULT_SLOTS: 17 + 2 * MAX_NODES,
} as const;

export const CONTROL_INTS = 17 + 3 * MAX_NODES;

/** Atomics.waitAsync (Node 16+; typed in lib ES2024, which this project does not target yet). */
export const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

/**
 * Settles task `seq` (C.CLAIM): true for whichever side swaps first — the thread, which then
 * runs it, or the coordinator, which thereby withdraws it before the thread has started it.
 */
export function claim(control: Int32Array, seq: number): boolean {
  return Atomics.compareExchange(control, C.CLAIM, seq - 1, seq) === seq - 1;
}

export const TASK_COMPUTE = 0;
export const TASK_TAIL = 1;

/** Indices of TailBuffers.sync: the unit counter, units done, a side failed, then each unit's state. */
export const T = { NEXT: 0, DONE: 1, FAILED: 2, STATE: 3 } as const;

/**
 * The step's tail shared between the main thread and a pool thread (any optimizer, no clipping):
 * the parameter vector is cut into units — blocks of NORM_BLOCK elements of each tensor, in
 * order (kernel spec rule 8) — which both sides claim one at a time from a shared counter
 * (whoever is free takes the next: a thread that wakes late or is preempted leaves its share
 * to the other). On each unit they run the passes the main thread would run alone: a + b
 * (the root's two children), the reduction (the unit's sums of squares into `sums`), the
 * optimizer's update — for SGD all three in one pass (kernels.reduceSgd). Elementwise passes
 * and per-block sums: the same bits however the units are shared. Before touching a unit's
 * weights its taker marks the unit with where their old values are — its own operand, where
 * SGD's fused pass leaves them, or `old`, where it copies them for momentum and Adam — so
 * they can be put back if the other side fails or the sum is not finite (parallel/tail.ts).
 * `f64[0..5]`: divisor, λ, lr, then the optimizer's step scalars (first, c1, c2) of the current tail.
 */
export interface TailBuffers {
  /** [start, end) of each unit in the flat parameters, flattened. */
  units: Int32Array;
  /** [NEXT, DONE, FAILED, then a state per unit: 0 free, else tail.ts UNIT bits (taken, done, where the old weights are)] (SharedArrayBuffer). */
  sync: Int32Array;
  /** Two sums per unit: Σg², Σp² (SharedArrayBuffer). */
  sums: Float64Array;
  /** The weights before the update, where each side has copied them for momentum and Adam (SharedArrayBuffer). */
  old: SharedArrayBuffer;
  /** The optimizer (momentum and Adam advance state buffers in the same units). */
  optimizer: OptimizerSpec;
  /** The optimizer's state buffers (the run's own, in shared memory), and their copies from before the update. */
  state: SharedArrayBuffer[];
  oldState: SharedArrayBuffer[];
  /** The update u of every parameter (momentum, Adam: the step measures ‖ΔW‖ from it). */
  u: SharedArrayBuffer;
  /** divisor, λ, lr (SharedArrayBuffer). */
  f64: Float64Array;
  /** The main thread's partial slots (SharedArrayBuffers), set 1 of a tail operand. */
  mainSlots: SharedArrayBuffer[];
}
export const ERROR_BYTES = 1024;

/** What starts a thread's serve loop (structured-cloned once; the buffers are shared). */
export interface ServeTask {
  control: Int32Array;
  error: Uint8Array;
  slots: SharedArrayBuffer[];
  spec: ModelSpec;
  kernels: KernelChoice;
  /** The run's kernel profile (every thread computes the same one). */
  profile: KernelProfile;
  microBatch: number;
  x: Float;
  y: Float;
  params: Float;
  order: Uint32Array;
  executor: number;
  statsSize: number;
  paramCount: number;
  /** Spin (up to SPIN_MS) for the next task before sleeping in Atomics.wait. */
  spin: boolean;
  /** What a tail task works on (null: this pool does not share the tail). */
  tail: TailBuffers | null;
  /** The CPU to pin the thread to (parallel/affinity.ts), or null: it floats. */
  cpu: number | null;
}

/**
 * How long a spinning side polls before it sleeps, ms: longer than the coordinator's serial
 * part of a step (combine, reduce, update), so that a thread catches its next task without
 * the wake-up from Atomics.wait, which costs more than a poll; short against a step. The
 * figures behind it belong to docs/performance.md.
 */
export const SPIN_MS = 0.5;

/**
 * Polls `ready` for up to SPIN_MS; returns its last answer. The clock is read every 256
 * polls: each read makes a heap number, and reading it at every poll would fill the young
 * generation and call in the garbage collector mid-step.
 */
export function pollUntil(ready: () => boolean): boolean {
  const until = performance.now() + SPIN_MS;
  for (let i = 1; !ready(); i++) if ((i & 255) === 0 && performance.now() >= until) return ready();
  return true;
}

/** What the serve task resolves with when it is stopped. */
export interface ServeResult {
  kernel: string;
  tasks: number;
}

export function slotBytes(dtype: DType, statsSize: number, paramCount: number): number {
  // + one line: room to start the gradients on a cache line (slotPartial)
  return (3 + statsSize) * 8 + 64 + paramCount * bytesPerElement(dtype);
}

/** A slot's memory as a Partial: stats and grads view the buffer; meta holds the scalars. */
export interface SlotPartial extends Partial {
  meta: Float64Array;
}

export function slotPartial(buf: ArrayBufferLike, dtype: DType, statsSize: number, paramCount: number): SlotPartial {
  const meta = new Float64Array(buf, 0, 3 + statsSize);
  // the gradients from a cache line's start, where the native kernels stream whole lines into
  // them (kernels.gemmTNCheck: a GEMM's tile rows, which start on lines only then); the same
  // address in every thread of the process, so every thread computes the same padding
  const at = lineOffset(meta);
  const pad = at === null ? 0 : (64 - ((at + meta.byteLength) % 64)) % 64;
  const off = meta.byteLength + (pad % bytesPerElement(dtype) === 0 ? pad : 0);
  return { meta, grads: view(dtype, buf, off, paramCount), stats: meta.subarray(3), lossSum: 0, count: 0, bad: -1 };
}

/** Thread side: the scalars of a computed partial into its slot. */
export function publishScalars(p: SlotPartial): void {
  p.meta[0] = p.lossSum;
  p.meta[1] = p.count;
  p.meta[2] = p.bad;
}

/** Coordinator side: the slot's scalars as the thread published them. */
export function readScalars(p: SlotPartial): SlotPartial {
  p.lossSum = p.meta[0]!;
  p.count = p.meta[1]!;
  p.bad = p.meta[2]!;
  return p;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export function writeError(control: Int32Array, error: Uint8Array, message: string): void {
  const r = utf8.encodeInto(message.slice(0, ERROR_BYTES), error);
  control[C.ERROR_LEN] = r.written;
}

export function readError(control: Int32Array, error: Uint8Array): string {
  // TextDecoder refuses views of shared memory: copy the few bytes out first
  return fromUtf8.decode(error.slice(0, Math.min(control[C.ERROR_LEN]!, ERROR_BYTES)));
}
