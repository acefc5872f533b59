/**
 * sched.ts — reads the scheduling policy of each thread of this process, for the tests that
 * check what pinning and idle helpers do to the process (Linux /proc only).
 */

import * as fs from 'node:fs';

export const SCHED_OTHER = 0;
export const SCHED_IDLE = 5;

/** Each thread of this process with its scheduling policy (/proc/self/task/<tid>/stat field 41). */
export function policies(): { tid: number; policy: number }[] {
  const out: { tid: number; policy: number }[] = [];
  for (const t of fs.readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ tid: Number(t), policy: Number(fields[41 - 3]) });
  }
  return out;
}
