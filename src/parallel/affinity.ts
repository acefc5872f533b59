/**
 * affinity.ts — pinning each compute thread to a CPU of its own (native/threads.cc: Linux
 * sched_setaffinity on the calling thread), as OMP_PROC_BIND=close does for OpenMP teams.
 *
 * Why: when one thread wakes another (a task posted, a result notified), the scheduler may
 * put the wakee on the waker's CPU, and on this 2-core VM the main thread and its pool thread
 * were seen on one CPU in about half of the samples taken during a run whose 2-thread steps
 * took ≈ 2.3 ms (1 thread alone: 2.0 ms). A thread pinned to its own CPU cannot be stacked.
 * Stretches of equally slow steps still come and go with both threads pinned (the host's
 * doing, as far as a guest can tell): pinning removes one cause of them, not all.
 * Pinning applies only when every compute thread has a CPU of its own among those the process
 * may use (taskset, cgroup cpusets are honoured); otherwise threads float as before.
 * Not here: when to pin (train/loop.ts, config `pinThreads`), the pool threads' side
 * (workers/pool-task.ts).
 */

import { createRequire } from 'node:module';
import * as path from 'node:path';
import { packageRoot } from '../tensor/fast/package-root';

interface ThreadsAddon {
  allowed(): number[] | null;
  pin(cpus: number[]): number;
}

let addon: ThreadsAddon | null | undefined;

function load(): ThreadsAddon | null {
  if (addon !== undefined) return addon;
  const root = packageRoot();
  try {
    addon = root === null ? null : createRequire(__filename)(path.join(root, 'build', 'Release', 'gradsync_threads.node')) as ThreadsAddon;
  } catch {
    // not built (no compiler at install) or not loadable: threads float
    addon = null;
  }
  return addon;
}

/** The CPUs the calling thread may run on, ascending; null when this cannot be told (no addon, not Linux). */
export function allowedCpus(): number[] | null {
  return load()?.allowed() ?? null;
}

/** Restricts the calling thread to `cpus`. Returns null when done, else why not. */
export function pinThisThread(cpus: number[]): string | null {
  const a = load();
  if (a === null) return 'thread pinning is not available here (build/Release/gradsync_threads.node not built, or not Linux)';
  const r = a.pin(cpus);
  if (r === 0) return null;
  return r === -1 ? 'thread pinning is not supported on this platform' : `sched_setaffinity(${cpus.join(',')}) failed (errno ${r})`;
}

/**
 * A CPU for each of `threads` compute threads (index 0 the main thread, k the pool's
 * thread-k), from `allowed` in order; null when there are fewer CPUs than threads, or
 * one thread alone (nothing to keep apart).
 */
export function pinPlan(threads: number, allowed: number[] | null): number[] | null {
  if (allowed === null || threads < 2 || threads > allowed.length) return null;
  return allowed.slice(0, threads);
}
