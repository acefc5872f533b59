/**
 * cli/worker.ts — `gradsync worker --join ws://HOST:PORT`: a remote worker node.
 *
 * Joins the coordinator, proves the token (GRADSYNC_TOKEN or --token-file; it never
 * travels), takes the run's data (from --data-dir by hash, else streamed once), then
 * computes its share of every step with --threads local pool threads until the run ends.
 * With --retry S it joins again when the connection breaks (or the coordinator is not up
 * yet), for up to S seconds after its last session.
 * SIGTERM (a pod evicted) or Ctrl-C: it leaves after the step in progress (close 1001, so the
 * coordinator sees a worker that left rather than a failed step) and exits 128 + the signal's
 * number; a second signal exits at once.
 * Exit 0 when the coordinator ends the run; 1 when refused or cut off.
 * Not here: the protocol (parallel/remote-worker.ts).
 */

import * as os from 'node:os';
import { resolveThreads } from '../config';
import { Errors } from '../errors';
import { runWorkerRetrying } from '../parallel/worker-retry';
import type { WorkerExit } from '../parallel/remote-worker';
import { CLOSE } from '../parallel/messages';
import type { Io } from './io';
import { intFlag, kernelFlag, readFileFlag, readToken } from './flags';

export interface WorkerFlags {
  join: string;
  threads?: string;
  tokenFile?: string;
  dataDir?: string;
  id?: string;
  ca?: string;
  kernels?: string;
  retry?: string;
}

export async function workerCommand(f: WorkerFlags, io: Io): Promise<number> {
  const threads = f.threads === undefined || f.threads === 'auto' ? resolveThreads('auto') : intFlag('threads', f.threads, 0);
  const token = readToken(f.tokenFile);
  const ca = f.ca !== undefined ? readFileFlag('ca', f.ca) : undefined;
  let url: URL;
  try {
    url = new URL(f.join);
  } catch {
    throw Errors.usage(`--join must be a ws://HOST:PORT or wss://HOST:PORT URL, got "${f.join}"`);
  }
  if (token !== undefined && url.protocol === 'ws:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    io.stderr.write('gradsync worker: note: ws:// is unencrypted (the token does not travel, but weights and data do); prefer wss://\n');
  }
  const retrySeconds = f.retry === undefined ? 0 : intFlag('retry', f.retry, 0);
  const stop = new AbortController();
  let caught: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (caught !== null) process.exit(128 + os.constants.signals[sig]);
    caught = sig;
    io.stderr.write(`gradsync worker: ${sig}: leaving after the step in progress; ${sig} again exits now\n`);
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let exit: WorkerExit;
  try {
    exit = await runWorkerRetrying(
      {
        url: f.join,
        threads,
        kernels: kernelFlag(f.kernels),
        ...(token !== undefined ? { token } : {}),
        ...(f.id !== undefined ? { id: f.id } : {}),
        ...(f.dataDir !== undefined ? { dataDir: f.dataDir } : {}),
        ...(ca !== undefined ? { ca } : {}),
        onEvent: (line) => io.stderr.write(`${line}\n`),
        signal: stop.signal,
      },
      { retryMs: retrySeconds * 1000 },
    );
  } finally {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  }
  if (caught !== null) {
    io.stderr.write(`gradsync worker: stopped by ${caught} after ${exit.steps} steps\n`);
    return 128 + os.constants.signals[caught];
  }
  if (exit.code === CLOSE.goingAway || exit.code === 1000) return 0;
  const why = exit.error
    ? `${exit.error.code}: ${exit.error.message}`
    : `connection closed (${exit.code}${exit.reason ? `: ${exit.reason}` : ''})`;
  io.stderr.write(`gradsync worker: ${why}\n`);
  return 1;
}
