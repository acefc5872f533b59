/**
 * thread-times.ts — where a process tree's CPU goes, thread by thread, for a bench: Linux's
 * per-thread scheduler counters (/proc/PID/task/TID/schedstat: time on a CPU, time runnable but
 * waiting for one, times scheduled) read twice and subtracted, summed by process kind (Chromium's
 * --type=…, its network service named) and thread name. The wait is what a busy machine adds to
 * each wake-up. Elsewhere than Linux the snapshots are empty and the split prints nothing.
 * Not here: what is measured between the two snapshots (the bench's own business).
 */
import * as fs from 'node:fs';

/** One thread's counters, ns and count. */
interface ThreadCounters {
  /** Process kind and thread name. */
  key: string;
  runNs: number;
  waitNs: number;
  slices: number;
}

export type ThreadSnapshot = Map<string, ThreadCounters>;

/** A thread's time per step, µs (run on a CPU, wait for one), and its wake-ups per step. */
export interface ThreadShare {
  key: string;
  runUs: number;
  waitUs: number;
  slices: number;
}

/** The processes whose process group is `pgid`, or just `pid` itself when it leads none. */
function processesOf(pid: number, pgid: boolean): number[] {
  if (!pgid) return [pid];
  const out: number[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const d of names) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // fields after the parenthesised command name: state, ppid, pgrp, …
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[2]) === pid) out.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

function kindOf(pid: number): string {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const t = /--type=([a-z-]+)/.exec(cmd);
    if (t === null) return cmd.includes('chromium') ? 'browser' : 'process';
    const sub = /--utility-sub-type=([A-Za-z.]+)/.exec(cmd);
    return sub === null ? t[1]! : `${t[1]!}:${sub[1]!.split('.').pop()!}`;
  } catch {
    return 'process';
  }
}

/** The counters of every thread of `pid` (with `group`, of every process in its process group). */
export function snapshotThreads(pid: number, group: boolean): ThreadSnapshot {
  const m: ThreadSnapshot = new Map();
  for (const p of processesOf(pid, group)) {
    const kind = kindOf(p);
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const comm = fs.readFileSync(`/proc/${p}/task/${tid}/comm`, 'utf8').trim();
        const [run, wait, n] = fs.readFileSync(`/proc/${p}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
        m.set(`${p}/${tid}`, { key: `${kind} ${comm}`, runNs: run!, waitNs: wait!, slices: n! });
      } catch {
        /* the thread ended meanwhile */
      }
    }
  }
  return m;
}

/** Per step from `a` to `b` (`steps` steps apart), summed by process kind and thread name, busiest first. */
export function threadShares(a: ThreadSnapshot, b: ThreadSnapshot, steps: number): ThreadShare[] {
  const by = new Map<string, ThreadShare>();
  for (const [id, t] of b) {
    const o = a.get(id) ?? { runNs: 0, waitNs: 0, slices: 0 };
    const s = by.get(t.key) ?? { key: t.key, runUs: 0, waitUs: 0, slices: 0 };
    s.runUs += (t.runNs - o.runNs) / 1e3 / steps;
    s.waitUs += (t.waitNs - o.waitNs) / 1e3 / steps;
    s.slices += (t.slices - o.slices) / steps;
    by.set(t.key, s);
  }
  return [...by.values()].sort((x, y) => y.runUs - x.runUs);
}
