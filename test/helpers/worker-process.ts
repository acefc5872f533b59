/**
 * worker-process.ts — `gradsync worker --join` child processes for integration tests: started
 * with the run's token, what each prints on stderr kept by its id (for a failure's message, or
 * a test that reads it), and killed when the test is done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { Coordinator } from '../../src/parallel/coordinator-server';
import { repoRoot } from './paths';

const BIN = path.join(repoRoot(), 'bin', 'gradsync.js');

export class WorkerProcesses {
  private readonly printed: { id: string; text: string }[] = [];
  private readonly children: ChildProcess[] = [];

  constructor(private readonly token: string) {}

  /** Starts `gradsync worker --join url --threads 1 --id id`, with `--kernels` when given. */
  spawn(url: string, id: string, kernels?: string): ChildProcess {
    const args = [BIN, 'worker', '--join', url, '--threads', '1', ...(kernels !== undefined ? ['--kernels', kernels] : []), '--id', id];
    const p = spawn(process.execPath, args, { env: { ...process.env, GRADSYNC_TOKEN: this.token }, stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (c: Buffer) => this.printed.push({ id, text: c.toString() }));
    this.children.push(p);
    return p;
  }

  /** What worker `id` has printed on stderr so far. */
  output(id: string): string {
    return this.printed
      .filter((p) => p.id === id)
      .map((p) => p.text)
      .join('');
  }

  /** Waits for n workers in c; on failure the error carries what every worker printed. */
  async joined(c: Pick<Coordinator, 'waitForWorkers'>, n: number): Promise<void> {
    try {
      await c.waitForWorkers(n, 60_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}; worker output:\n${this.printed.map((p) => `[${p.id}] ${p.text}`).join('')}`);
    }
  }

  /** Kills (SIGKILL) every worker still running. */
  killAll(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
