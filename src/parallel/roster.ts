/**
 * roster.ts — the coordinator's remote nodes: the worker ids in use (claimed at hello), the
 * joined executors in join order (from ready until the connection is gone), and whoever waits
 * for enough of them to have joined.
 * Not here: the handshake that claims and joins (join-handshake.ts).
 */

import type { WebSocket } from 'ws';
import type pino from 'pino';
import { Errors } from '../errors';
import type { RunClose } from './messages';
import type { RemoteExecutor } from './remote-executor';

export class Roster {
  private readonly active: RemoteExecutor[] = [];
  private readonly taken = new Set<string>();
  private waiters: { n: number; resolve: () => void }[] = [];

  /** Joined and still connected (a node whose close handshake is under way is not counted). */
  connected(): RemoteExecutor[] {
    return this.active.filter((e) => e.connected);
  }

  /** The joined executor on `ws`, if any. */
  executorOn(ws: WebSocket): RemoteExecutor | undefined {
    return this.active.find((e) => e.socket === ws);
  }

  /** Takes `id` for a connection in its handshake; false when a connected worker has it. */
  claim(id: string): boolean {
    if (this.taken.has(id)) return false;
    this.taken.add(id);
    return true;
  }

  /** Frees an id claimed by a connection that did not join. */
  release(id: string): void {
    this.taken.delete(id);
  }

  /** A node whose handshake is done: an executor from the next step on. */
  join(exec: RemoteExecutor, log: pino.Logger | undefined): void {
    this.active.push(exec);
    log?.info({ workers: this.active.length }, 'remote: worker joined');
    this.notify();
  }

  /** A joined node's connection is gone: its executor leaves, its id is free again. */
  gone(exec: RemoteExecutor): void {
    const k = this.active.indexOf(exec);
    if (k >= 0) this.active.splice(k, 1);
    this.taken.delete(exec.id);
  }

  /**
   * Resolves once at least `n` workers have joined, or at once when `signal` aborts (the caller
   * stops waiting, as for a signal: whoever aborted it knows why); rejects after timeoutMs.
   */
  waitFor(n: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.connected().length >= n || signal?.aborted === true) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        leave();
        reject(Errors.executor(`${this.connected().length} of ${n} workers joined within ${timeoutMs} ms`));
      }, timeoutMs);
      const leave = (): void => {
        clearTimeout(t);
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        signal?.removeEventListener('abort', done);
      };
      const done = (): void => {
        leave();
        resolve();
      };
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.push({ n, resolve: done });
    });
  }

  /** Closes every joined node (RemoteExecutor.close: 1001 at the run's end, 1012 when interrupted). */
  async closeAll(why: RunClose = 'ended'): Promise<void> {
    await Promise.all([...this.active].map((e) => e.close(why)));
  }

  private notify(): void {
    const n = this.connected().length;
    this.waiters = this.waiters.filter((w) => {
      if (n >= w.n) w.resolve();
      return n < w.n;
    });
  }
}
