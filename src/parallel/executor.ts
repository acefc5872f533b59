/**
 * executor.ts — the Executor interface: something that computes tree-node partials.
 *
 * One implementation per file (horovod ops/): main-executor.ts (the coordinator's own
 * thread), pool-executor.ts (piscina threads), remote-executor.ts (a worker node). The step
 * (train/step.ts and its strategies) only sees this interface: an ability only some executors
 * have is an optional member, which the step tests for, never the executor's class.
 * Not here: planning (planner.ts), combining (tree.ts).
 */

import type { Float } from '../tensor/dtype';
import type { BatchRef } from './compute-partials';
import type { Partial } from './partial';
import type { TailBuffers } from './pool-protocol';
import type { TreeNode } from './tree';

export interface StepTask {
  /** 1-based optimizer step. */
  step: number;
  /** Epoch of the batch (the pool shares one order per epoch). */
  epoch: number;
  /** The weights θ_t. Executors read them; nobody writes them while a step's tasks run. */
  params: Float;
  batch: BatchRef;
}

export type ExecutorKind = 'main' | 'thread' | 'remote';

/** Bytes on the wire for the last compute() (remote nodes); read by the step record. */
export interface WireStats {
  bytesOut: number;
  bytesIn: number;
}

export interface Executor {
  readonly id: string;
  readonly kind: ExecutorKind;
  /** Computes the given nodes of the step's tree; resolves with one partial per node, in order. */
  compute(task: StepTask, nodes: TreeNode[]): Promise<Partial[]>;
  /** Gives partials it returned back once the step is done with them (buffer reuse). */
  recycle(partials: Partial[]): void;
  close(): Promise<void>;
  /** Time the last compute() spent computing where it ran (ms); the rest of its wall time is hand-off. */
  readonly lastThreadMs?: number;
  /** Remote nodes: bytes each way of the last compute(). */
  readonly lastWire?: WireStats;

  // A pool thread's abilities (pool-executor.ts): withdrawing a task it has not started, and a
  // share of the step's tail over shared memory (pool-protocol.ts TailBuffers).
  /** Whether a compute task is posted and not finished yet (a look, no wait). */
  computing?(): boolean;
  /** Takes back the compute task in flight if its thread has not started it: compute() then rejects with TaskWithdrawn. */
  withdrawCompute?(): boolean;
  /** A partial's tail operand code when its thread can read it (a shared slot), else null. */
  operand?(p: Partial): number | null;
  /** Posts a tail task for `step` over operands a ← a + b (codes from operand()). */
  tail?(step: number, a: number, b: number): void;
  /** Settles its last tail task before anything reuses the tail's buffers; null once settled. */
  settleTail?(): Promise<void> | null;
  /** Why its thread or its last task failed (for the step record). */
  failure?(): string;
  /**
   * The step found this executor's answer wrong (its recomputation differs): it is dropped — a
   * remote node's connection closed with a coded record (1008 for a non-finite answer, 4010
   * for one an audit found different, 4011 for one its twin and the main thread both
   * contradict); the step has already replaced the answer. Absent: the
   * executor stays (a thread of this process runs the same code).
   */
  fault?(reason: string, found: 'nonfinite' | 'audit' | 'replicate'): void;
}

/** What the step needs of a thread pool (parallel/thread-pool.ts ThreadPool has it). */
export interface PoolView {
  readonly executors: readonly Executor[];
  /** The shared tail's buffers (null: the tail is the main thread's alone). */
  readonly tail: TailBuffers | null;
  /** spin: every pool thread has a core of its own (they poll between tasks). */
  readonly opts: { readonly spin?: boolean };
}

/** A compute task taken back before its thread started it (Executor.withdrawCompute): the caller computes it. */
export class TaskWithdrawn extends Error {}

/** Whether `e` says a task was withdrawn (late, not failed). */
export function isWithdrawn(e: unknown): e is TaskWithdrawn {
  return e instanceof TaskWithdrawn;
}
