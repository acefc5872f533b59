/** child-output.ts — waiting for a line in a child process's output (tests only). */
import type { ChildProcess } from 'node:child_process';

/**
 * Resolves with the first match of `re` in the child's stdout and stderr together (with --json,
 * train's console lines go to stderr); rejects when the child exits first, with what it printed.
 */
export function waitForLine(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const on = (d: Buffer): void => {
      seen += d.toString();
      const m = re.exec(seen);
      if (m) {
        child.stdout?.off('data', on);
        child.stderr?.off('data', on);
        resolve(m);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (c) => reject(new Error(`exited (${c}) before printing ${re}: ${seen}`)));
  });
}
