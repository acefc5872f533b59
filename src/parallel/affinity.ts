/**
 * affinity.ts — pinning each compute thread to a CPU of its own (native/threads.cc: Linux
 * sched_setaffinity on the calling thread), as OMP_PROC_BIND=close does for OpenMP teams.
 *
 * Why: when one thread wakes another (a task posted, a result notified), the scheduler may
 * put the wakee on the waker's CPU, and two compute threads stacked on one CPU make the whole
 * step wait for the later one. A thread pinned to its own CPU cannot be stacked; the host may
 * still deschedule a guest's vCPU, so pinning removes one cause of slow steps, not all.
 * Pinning applies only when every compute thread has a CPU of its own among those the process
 * may use (taskset, cgroup cpusets are honoured); otherwise threads float.
 * Not here: when to pin (train/executors.ts: config `pinThreads` and TrainOptions.processControl),
 * the pool threads' side (workers/pool-task.ts).
 */

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { packageRoot } from '../package-root';

interface ThreadsAddon {
  allowed(): number[] | null;
  pin(cpus: number[]): number;
  setIdle(tid: number, idle: boolean): number;
}

let addon: ThreadsAddon | null | undefined;

function load(): ThreadsAddon | null {
  if (addon !== undefined) return addon;
  const root = packageRoot();
  try {
    addon =
      root === null ? null : (createRequire(__filename)(path.join(root, 'build', 'Release', 'gradsync_threads.node')) as ThreadsAddon);
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

/** The runtime's helper threads put at idle priority (idleHelpers), and how to put them back. */
export interface IdleHelpers {
  /** Their thread ids. */
  tids: number[];
  /** Back to the normal policy; returns why not, for any that refused (null: all back). */
  restore(): string | null;
}

/**
 * Puts every thread this process has now, except the calling (main) thread, in SCHED_IDLE:
 * called before the pool starts, those are the runtime's helpers — V8's garbage-collection and
 * compiler threads (and libuv's, when any) — not compute threads. When the compute threads
 * take every CPU, a helper that wakes preempts one of them, and the other waits for it at the
 * step's end. At idle priority they run when a CPU has nothing else to do (the pool thread's
 * sleeps, the main thread's waits); V8 then does more of its collection on the main thread
 * itself. Every thread of the process is lowered, a caller's own threads too: hence only when
 * the process allows it (TrainOptions.processControl). Linux only; returns why not
 * (no addon, no /proc, a refusal) instead.
 */
export function idleHelpers(): IdleHelpers | string {
  const a = load();
  if (a === null) return 'thread priorities are not available here (build/Release/gradsync_threads.node not built, or not Linux)';
  let tids: number[];
  try {
    tids = fs
      .readdirSync('/proc/self/task')
      .map(Number)
      .filter((t) => Number.isInteger(t) && t > 0 && t !== process.pid);
  } catch (e) {
    return `cannot list this process's threads (/proc/self/task: ${(e as NodeJS.ErrnoException).code ?? String(e)})`;
  }
  const done: number[] = [];
  for (const t of tids) {
    const r = a.setIdle(t, true);
    // a helper that exited meanwhile (ESRCH = 3) is no loss
    if (r === 0) done.push(t);
    else if (r !== 3) {
      for (const d of done) a.setIdle(d, false);
      return r === -1
        ? 'idle thread priority is not supported on this platform'
        : `sched_setscheduler(${t}, SCHED_IDLE) failed (errno ${r})`;
    }
  }
  return {
    tids: done,
    restore(): string | null {
      const bad: string[] = [];
      for (const t of done) {
        const r = a.setIdle(t, false);
        if (r !== 0 && r !== 3) bad.push(`${t} (errno ${r})`);
      }
      return bad.length === 0 ? null : `sched_setscheduler(SCHED_OTHER) failed for threads ${bad.join(', ')}`;
    },
  };
}
