/**
 * remote-worker.ts — a remote worker node: join a coordinator, prove the token, hold the
 * run's data, then compute the tree nodes it is given with its own local pool, step after
 * step, until the coordinator ends the run or the connection drops.
 *
 * The protocol from this side (messages.ts, coordinator-server.ts):
 *  1. With a token: GET the challenge nonce; upgrade with HMAC(token, nonce) and a nonce of
 *     its own; check the coordinator's proof on the 101 answer (else leave: it is not the
 *     token's holder). The token itself never travels.
 *  2. → hello (protocol, kernel spec version, dtypes, threads, id).
 *  3. ← run. The data: a cached copy named by its payload hash (dataDir) is used after its
 *     hash checks; otherwise → need, ← chunks in order, the hash is checked, the copy cached.
 *     → ready.
 *  4. Per step: ← step (θ_t, the order slice, the nodes); the nodes' leaf range is split over
 *     the local executors (pool threads, or the main thread), each computes the canonical
 *     cover of its share, and every given node is combined from its pieces in the tree's
 *     order — the same bits as computing it whole. → done, then one partial per node.
 * Frames from the coordinator are bounded and validated too (codec-messages.ts); a bad one ends the
 * session with 1008. Steps 2 to 4 are worker-session.ts's (the browser worker runs them too);
 * here: step 1, the `ws` socket, the folder cache, the local pool.
 * Not here: the process entry (workers/remote-node.ts, cli/worker.ts).
 */

import * as http from 'node:http';
import * as os from 'node:os';
import type pino from 'pino';
import { WebSocket } from 'ws';
import { Errors, GradsyncError } from '../errors';
import { selectKernels, type KernelChoice } from '../tensor/select';
import { proveToken } from '../net/challenge-client';
import { AUTH_HEADERS, proofMatches, WORKER_LABELS } from './auth';
import type { CoordinatorFrameLimits } from './codec-messages';
import { MainExecutor } from './main-executor';
import { CLOSE, JOIN_PATH } from './messages';
import type { WorkerHooks } from './hooks';
import { ThreadPool } from './thread-pool';
import { fromCache, toCache } from './worker-dataset';
import { computeSplit, WorkerSession, type DataCache, type WorkerLink } from './worker-session';

export interface WorkerOptions {
  /** ws://HOST:PORT or wss://HOST:PORT of the coordinator. */
  url: string;
  /** Shared token (required when the coordinator has one). */
  token?: string;
  /** Worker id, [A-Za-z0-9._-]{1,64}. Default <hostname>-<pid>. */
  id?: string;
  /** Compute threads: 0 or 1, the worker's main thread computes; N > 1, a local pool of N threads. */
  threads: number;
  kernels?: KernelChoice;
  /** Folder of cached datasets (named by payload hash); null: no cache. */
  dataDir?: string | null;
  /** Extra CA certificate(s) to trust for wss (a self-signed coordinator). */
  ca?: string | Buffer;
  logger?: pino.Logger;
  /** Human-readable progress lines (the CLI prints them). */
  onEvent?: (line: string) => void;
  /** Largest frame accepted from the coordinator, bytes. Default 512 MiB. */
  maxPayload?: number;
  /** Largest dataset accepted, bytes. Default 8 GiB. */
  maxDataBytes?: number;
  /** When it aborts, the worker leaves after the step in progress (WorkerSession.finishAndGo), and does not join again. */
  signal?: AbortSignal;
}

export interface WorkerExit {
  /** Websocket close code. */
  code: number;
  reason: string;
  /** Steps computed. */
  steps: number;
  /** Whether the dataset came from the cache. */
  dataFromCache: boolean | null;
  /** The coordinator's error message, when it sent one. */
  error: { code: string; message: string } | null;
}

function defaultId(): string {
  return `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
}

export { computeSplit };

/** Joins the coordinator at opts.url and works until the session ends; resolves with how it ended. */
export function runWorker(opts: WorkerOptions): Promise<WorkerExit> {
  return runWorkerWith(opts, {});
}

/** The options checked, each error naming its field; the worker id (its default filled in). */
function checkOptions(opts: WorkerOptions): { base: URL; id: string } {
  const base = new URL(opts.url);
  if (base.protocol !== 'ws:' && base.protocol !== 'wss:') throw Errors.usage(`--join must be a ws:// or wss:// URL, got "${opts.url}"`);
  if (!Number.isInteger(opts.threads) || opts.threads < 0 || opts.threads > 1024)
    throw new RangeError(`worker option "threads" must be an integer in [0, 1024], got ${opts.threads}`);
  const id = opts.id ?? defaultId();
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw Errors.usage(`worker id must match [A-Za-z0-9._-]{1,64}, got "${id.slice(0, 80)}"`);
  return { base, id };
}

/**
 * Step 1's answer: a 101 without the coordinator's proof (when one is expected), or any other
 * HTTP answer, refuses the join. Returns what refused it, once known (null: nothing).
 */
function watchRefusal(ws: WebSocket, expectProof: string | null, hasToken: boolean): () => GradsyncError | null {
  let refused: GradsyncError | null = null;
  ws.on('upgrade', (res: http.IncomingMessage) => {
    if (expectProof !== null && !proofMatches(res.headers[AUTH_HEADERS.serverProof], expectProof)) {
      refused = Errors.auth('the coordinator could not prove it holds the token: not joining');
    }
  });
  ws.on('unexpected-response', (_req, res: http.IncomingMessage) => {
    const s = res.statusCode ?? 0;
    refused =
      s === 401
        ? Errors.auth(
            `the coordinator refused to let this worker join (401): ${hasToken ? 'wrong token' : 'it requires a token (GRADSYNC_TOKEN or --token-file)'}`,
          )
        : Errors.executor(`the coordinator refused to let this worker join (HTTP ${s})`);
    res.resume();
    ws.terminate();
  });
  return () => refused;
}

/** How the connection ended: its close code and reason, and the socket's last error. */
function closeOf(ws: WebSocket): Promise<{ code: number; reason: string; err: Error | null }> {
  return new Promise((resolve) => {
    let err: Error | null = null;
    ws.on('error', (e) => {
      err = e;
    });
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8'), err }));
  });
}

/** The `ws` socket as the session's link. */
function wsLink(ws: WebSocket): WorkerLink {
  return {
    send: (f) => ws.send(f),
    isOpen: () => ws.readyState === WebSocket.OPEN,
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
  };
}

/** The folder cache of worker-dataset.ts as the session's cache (null: no folder). */
function folderCache(dir: string | null | undefined, log: pino.Logger | undefined): DataCache | null {
  if (!dir) return null;
  return { get: (d, shared) => fromCache(dir, d, shared), put: (d, bytes) => toCache(dir, d, bytes, log) };
}

/** runWorker with test hooks (parallel/hooks.ts WorkerHooks): frames rewritten, hello fields changed. */
export async function runWorkerWith(opts: WorkerOptions, hooks: WorkerHooks): Promise<WorkerExit> {
  const { base, id } = checkOptions(opts);
  const say = opts.onEvent ?? ((): void => undefined);
  const maxPayload = opts.maxPayload ?? 512 << 20;
  const limits: CoordinatorFrameLimits = { maxBytes: maxPayload, maxDataBytes: opts.maxDataBytes ?? 8 * 2 ** 30 };
  const proof = opts.token !== undefined ? await proveToken(base, opts.token, WORKER_LABELS, opts.ca, 'the coordinator') : null;
  const ws = new WebSocket(new URL(JOIN_PATH, base), {
    headers: proof?.headers ?? {},
    perMessageDeflate: false,
    maxPayload,
    handshakeTimeout: 10_000,
    maxFragments: 4,
    maxBufferedChunks: Math.ceil(maxPayload / 1024) + 64,
    ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
  });
  let pool: ThreadPool | null = null;
  const threads = opts.threads;
  const session = new WorkerSession(wsLink(ws), {
    id,
    threads,
    kernels: opts.kernels ?? 'auto',
    limits,
    hooks,
    cache: folderCache(opts.dataDir, opts.logger),
    shared: threads > 1,
    log: opts.logger,
    say,
    executors: (r, held, profile) => {
      const { kernels } = selectKernels(r.spec.dtype, opts.kernels ?? 'auto', profile);
      // one thread computes on the main thread itself: a pool of one only adds a hand-off (and a
      // copy of every partial) per step, and the main thread has nothing else to do meanwhile
      if (threads <= 1) return [new MainExecutor(r.spec, kernels, held, r.microBatch)];
      pool = new ThreadPool({
        threads,
        spec: r.spec,
        kernels: opts.kernels ?? 'auto',
        profile,
        microBatch: r.microBatch,
        x: held.x,
        y: held.y,
        ...(opts.logger ? { logger: opts.logger } : {}),
      });
      return pool.executors;
    },
  });
  const refused = watchRefusal(ws, proof?.expect ?? null, opts.token !== undefined);
  ws.on('open', () => {
    const r = refused();
    if (r !== null) session.leave(CLOSE.badFrame, r);
    else session.hello(base.host);
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => session.receive(data, isBinary));
  const go = (): void => session.finishAndGo('told to stop');
  if (opts.signal?.aborted === true) go();
  else opts.signal?.addEventListener('abort', go, { once: true });

  const ended = await closeOf(ws);
  opts.signal?.removeEventListener('abort', go);
  await session.queue.catch(() => undefined);
  await (pool as ThreadPool | null)?.close();
  const exit = session.exit;
  exit.code = ended.code;
  exit.reason = ended.reason;
  const refusal = refused();
  if (refusal !== null) throw refusal;
  if (ended.err !== null && exit.steps === 0 && session.run === null) {
    const e = ended.err as NodeJS.ErrnoException;
    throw Errors.io(`cannot join ${base.host}: ${e.code ?? e.message}`);
  }
  say(`worker ${id}: session ended (${ended.code}${ended.reason ? `: ${ended.reason}` : ''}) after ${exit.steps} steps`);
  return exit;
}
