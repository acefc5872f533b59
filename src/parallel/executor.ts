/**
 * executor.ts — the Executor interface: something that computes tree-node partials.
 *
 * One implementation per file (horovod ops/): main-executor.ts (the coordinator's own
 * thread), pool-executor.ts (piscina threads), remote executors later. The step
 * (train/step.ts) only sees this interface.
 * Not here: planning (planner.ts), combining (tree.ts).
 */

import type { Float } from '../tensor/dtype';
import type { BatchRef } from './compute-partials';
import type { Partial } from './partial';
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
}
