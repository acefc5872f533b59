/**
 * hooks.ts — where tests change what the pool threads and a remote worker do (fault injection,
 * frames that break the protocol). Fixtures under test/fixtures/ install them; the product never
 * does, and every hook is a no-op until installed. None is part of a public option type.
 * Not here: the faults themselves (test/fixtures/faults.ts).
 */

import type { PartialMessage } from './messages';

/** What a pool thread's serve loop (workers/pool-task.ts serveWith) calls at its points; a fixture task module passes its own. */
export interface ServeHooks {
  /** On waking for a task (pool-protocol.ts TASK_COMPUTE or TASK_TAIL) of `step`, before claiming it. */
  beforeClaim?(kind: number, step: number): void;
  /** Before a compute task of `step` computes its nodes; may throw, or end the thread. */
  beforeCompute?(step: number): void;
  /** In a tail task of `step`, after a unit's weights have changed and before it is marked done. */
  inTail?(step: number): void;
}

/** The serve loop of the product: no hooks. */
export const NO_SERVE_HOOKS: ServeHooks = Object.freeze({});

/** The task module every ThreadPool created while it is installed runs, instead of workers/pool-task.js. */
export interface PoolTaskHook {
  /** A compiled module whose default export wraps serveWith (test/fixtures/fault-pool-task.ts). */
  file: string;
  /** What the pool's threads receive as piscina's workerData; called once per pool. */
  workerData?: () => unknown;
  /** Heap limit per pool thread, MB (a thread run out of memory). */
  maxOldGenerationSizeMb?: number;
}

let poolTask: PoolTaskHook | null = null;

/** Installs `hook` for the pools created from now on; returns what puts the previous one back. */
export function installPoolTask(hook: PoolTaskHook): () => void {
  const previous = poolTask;
  poolTask = hook;
  return () => {
    poolTask = previous;
  };
}

/** The installed pool task hook; null (the product's task module) unless a test installed one. */
export function poolTaskHook(): PoolTaskHook | null {
  return poolTask;
}

/** What a remote worker (remote-worker.ts runWorkerWith) lets a test change in what it sends. */
export interface WorkerHooks {
  /** Rewrites the frames a step sends (done first, then the partials). */
  tamper?(step: number, frames: Buffer[], partials: PartialMessage[]): Buffer[];
  /** Fields merged into hello. */
  hello?: Record<string, unknown>;
}
