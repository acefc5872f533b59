/**
 * worker-retry.ts — a remote worker that joins again (gradsync worker --retry): which endings
 * are worth another attempt (a broken link, a busy or restarting coordinator) and which are
 * final (a refusal), with exponential backoff and jitter between attempts.
 * Not here: one session (remote-worker.ts runWorker).
 */

import { GradsyncError } from '../errors';
import { CLOSE } from './messages';
import { runWorker, type WorkerExit, type WorkerOptions } from './remote-worker';

/** Close codes after which joining again may work: the link broke, or the coordinator was busy. */
const RETRY_CLOSE: ReadonlySet<number> = new Set([
  1006, // no close frame: the connection broke (network, a coordinator killed or restarting)
  1011,
  1012,
  1013, // the server failed, is restarting, or says try again later
  CLOSE.duplicateId, // the coordinator has not yet noticed that this worker's previous connection is gone
  CLOSE.handshakeTimeout,
  CLOSE.tooSlow,
  CLOSE.full,
]);

export interface RetryOptions {
  /** How long to keep trying after the last session (ms); 0: one attempt, no retry. */
  retryMs: number;
  /** First wait between attempts (ms), doubled after each failure up to maxDelayMs. Default 250. */
  firstDelayMs?: number;
  /** Default 5000. */
  maxDelayMs?: number;
}

/** Whether an attempt's failure is worth another attempt (the network, not a refusal). */
function retryable(r: { exit: WorkerExit } | { error: unknown }): boolean {
  if ('exit' in r) return RETRY_CLOSE.has(r.exit.code);
  // unreachable (refused, reset, timed out) — but a certificate this worker does not trust, a
  // refused token or a bad flag will not change by trying again
  return r.error instanceof GradsyncError && r.error.code === 'GS_ERR_IO' && !/not trusted here/.test(r.error.message);
}

/**
 * runWorker, joined again after the connection breaks (or before the coordinator listens):
 * torchrun's rendezvous timeout and elastic Horovod's rejoin for one node. Attempts follow
 * each other with exponential backoff (and ±20 % jitter, so that many workers do not come
 * back in lockstep) for up to retryMs after the last session that took part in a run; a
 * refusal (token, protocol, kernel, dataset hash, a bad frame) or the run's end stops at
 * once, and so does opts.signal (a worker told to stop). The coordinator plans a rejoined
 * worker from the step after it joins, as any new node: the result does not change. Resolves
 * with the last session's exit, or throws the last attempt's error.
 */
export async function runWorkerRetrying(opts: WorkerOptions, retry: RetryOptions): Promise<WorkerExit> {
  const say = opts.onEvent ?? ((): void => undefined);
  const first = retry.firstDelayMs ?? 250;
  const cap = retry.maxDelayMs ?? 5000;
  let delay = first;
  const stopped = (): boolean => opts.signal?.aborted === true;
  let deadline = Date.now() + retry.retryMs;
  for (;;) {
    let r: { exit: WorkerExit } | { error: unknown };
    try {
      r = { exit: await runWorker(opts) };
    } catch (error) {
      r = { error };
    }
    if ('exit' in r && (r.exit.steps > 0 || r.exit.dataFromCache !== null)) {
      // it took part in a run: the window and the backoff start again from now
      deadline = Date.now() + retry.retryMs;
      delay = first;
    }
    const wait = Math.round(delay * (0.8 + 0.4 * Math.random()));
    if (retry.retryMs <= 0 || !retryable(r) || Date.now() + wait > deadline || stopped()) {
      if ('exit' in r) return r.exit;
      throw r.error;
    }
    const why = 'exit' in r ? `connection closed (${r.exit.code}${r.exit.reason ? `: ${r.exit.reason}` : ''})` : (r.error as Error).message;
    opts.logger?.warn({ code: 'GS_ERR_WIRE', err: why, retryInMs: wait }, 'worker: joining again');
    say(
      `worker: ${why}; joining again in ${(wait / 1000).toFixed(1)} s (trying for up to ${Math.round((deadline - Date.now()) / 1000)} s more)`,
    );
    // a stop (opts.signal) during the wait ends it: the last attempt's ending is the result
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, wait);
      function done(): void {
        clearTimeout(t);
        opts.signal?.removeEventListener('abort', done);
        resolve();
      }
      opts.signal?.addEventListener('abort', done, { once: true });
    });
    if (stopped()) {
      if ('exit' in r) return r.exit;
      throw r.error;
    }
    delay = Math.min(cap, delay * 2);
  }
}
