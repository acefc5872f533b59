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
 * Frames from the coordinator are bounded and validated too (codec.ts); a bad one ends the
 * session with 1008.
 * Not here: the process entry (workers/remote-node.ts, cli/worker.ts).
 */

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import type pino from 'pino';
import { WebSocket } from 'ws';
import { Errors, GradsyncError } from '../errors';
import { alloc, bytesPerElement, dtypeOf, view, type DType, type Float } from '../tensor/dtype';
import { KERNEL_SPEC_VERSION } from '../tensor/kernels';
import { selectKernels, type KernelChoice } from '../tensor/select';
import { layoutOf } from '../model/params';
import { AUTH_HEADERS, coordinatorProof, newNonce, proofMatches, workerProof } from './auth';
import { decodeCoordinatorMessage, encodeMessage, encodePartial, type CoordinatorFrameLimits } from './codec';
import type { Executor, StepTask } from './executor';
import { MainExecutor } from './main-executor';
import { CHALLENGE_PATH, CLOSE, JOIN_PATH, PROTOCOL_VERSION, type PartialMessage, type RunMessage, type StepMessage } from './messages';
import { addPartial, type Partial } from './partial';
import { planRanges } from './planner';
import type { WorkerHooks } from './hooks';
import { ThreadPool } from './pool-executor';
import { combineNode, nodeKey, ReductionTree, type TreeNode } from './tree';

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

/** Fetches a one-time nonce from the coordinator (step 1). */
function fetchNonce(base: URL, ca: string | Buffer | undefined): Promise<string> {
  const u = new URL(CHALLENGE_PATH, base);
  u.protocol = base.protocol === 'wss:' ? 'https:' : 'http:';
  const get = u.protocol === 'https:' ? https.get : http.get;
  return new Promise<string>((resolve, reject) => {
    const req = get(u, { timeout: 10_000, ...(ca !== undefined ? { ca } : {}) }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => {
        body += c;
        if (body.length > 256) req.destroy(new Error('challenge answer too long'));
      });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(Errors.auth(`the coordinator gave no challenge (HTTP ${res.statusCode})`));
        else if (!/^[0-9a-f]{64}$/.test(body)) reject(Errors.auth('the coordinator\'s challenge is malformed'));
        else resolve(body);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      // a certificate the worker does not trust: say which flag fixes it
      const tls = code !== undefined && TLS_TRUST_CODES.has(code)
        ? `: the coordinator's TLS certificate is not trusted here (${code}: ${e.message}); give its certificate (or its CA's) with --ca FILE`
        : `: ${code ?? e.message}`;
      reject(Errors.io(`cannot reach the coordinator at ${u.host}${tls}`));
    });
  });
}

/** OpenSSL's verification failures that a --ca certificate resolves (Node's err.code). */
const TLS_TRUST_CODES = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT']);

function defaultId(): string {
  return `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
}

/** The data a worker computes over, in the run's dtype (shared memory when a pool computes). */
interface HeldData {
  x: Float;
  y: Float;
}

function dataViews(buf: ArrayBufferLike, dtype: DType, n: number, inputs: number, outputs: number): HeldData {
  const xBytes = n * inputs * bytesPerElement(dtype);
  return { x: view(dtype, buf, 0, n * inputs), y: view(dtype, buf, xBytes, n * outputs) };
}

function readCache(file: string, bytes: number, shared: boolean): ArrayBufferLike | null {
  let fd: number;
  try {
    if (fs.statSync(file).size !== bytes) return null;
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const buf = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
    const u = new Uint8Array(buf);
    let off = 0;
    while (off < bytes) {
      const r = fs.readSync(fd, u, off, bytes - off, off);
      if (r <= 0) return null;
      off += r;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

function writeCache(dir: string, file: string, bytes: Uint8Array): void {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** The partials of `nodes` (a contiguous run of tree nodes) computed by `execs` together. */
export async function computeSplit(execs: Executor[], task: StepTask, tree: ReductionTree, nodes: TreeNode[]): Promise<{ partials: Partial[]; pieces: { exec: Executor; partials: Partial[] }[] }> {
  if (execs.length === 1) {
    const partials = await execs[0]!.compute(task, nodes);
    return { partials, pieces: [{ exec: execs[0]!, partials }] };
  }
  const lo = tree.range(nodes[0]!)[0];
  const hi = tree.range(nodes[nodes.length - 1]!)[1];
  const plan = planRanges(hi - lo, execs.map((e) => ({ id: e.id, speed: 1 })));
  const jobs = plan.map((p, k) => ({ exec: execs[k]!, cover: tree.cover(lo + p.lo, lo + p.hi) })).filter((j) => j.cover.length > 0);
  const pieces = await Promise.all(jobs.map(async (j) => ({ exec: j.exec, cover: j.cover, partials: await j.exec.compute(task, j.cover) })));
  const byKey = new Map<string, Partial>();
  for (const p of pieces) p.cover.forEach((n, k) => byKey.set(nodeKey(n), p.partials[k]!));
  // a given node = left + right, recursively, down to the computed pieces: the tree's own order
  const k = selectKernels(dtypeOf(pieces[0]!.partials[0]!.grads)).kernels;
  const partials = nodes.map((n) => combineNode(tree, n, (m) => byKey.get(nodeKey(m)), (into, from) => addPartial(into, from, k)));
  return { partials, pieces };
}

/** Joins the coordinator at opts.url and works until the session ends; resolves with how it ended. */
export function runWorker(opts: WorkerOptions): Promise<WorkerExit> {
  return runWorkerWith(opts, {});
}

/** runWorker with test hooks (parallel/hooks.ts WorkerHooks): frames rewritten, hello fields changed. */
export async function runWorkerWith(opts: WorkerOptions, hooks: WorkerHooks): Promise<WorkerExit> {
  const base = new URL(opts.url);
  if (base.protocol !== 'ws:' && base.protocol !== 'wss:') throw Errors.usage(`--join must be a ws:// or wss:// URL, got "${opts.url}"`);
  if (!Number.isInteger(opts.threads) || opts.threads < 0 || opts.threads > 1024) throw new RangeError(`worker option "threads" must be an integer in [0, 1024], got ${opts.threads}`);
  const id = opts.id ?? defaultId();
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw Errors.usage(`worker id must match [A-Za-z0-9._-]{1,64}, got "${id.slice(0, 80)}"`);
  const log = opts.logger;
  const say = opts.onEvent ?? ((): void => undefined);
  const maxPayload = opts.maxPayload ?? 512 << 20;
  const limits: CoordinatorFrameLimits = { maxBytes: maxPayload, maxDataBytes: opts.maxDataBytes ?? 8 * 2 ** 30 };
  const headers: Record<string, string> = {};
  let expectProof: string | null = null;
  if (opts.token !== undefined) {
    const nonce = await fetchNonce(base, opts.ca);
    const clientNonce = newNonce();
    headers[AUTH_HEADERS.nonce] = nonce;
    headers[AUTH_HEADERS.proof] = workerProof(opts.token, nonce);
    headers[AUTH_HEADERS.clientNonce] = clientNonce;
    expectProof = coordinatorProof(opts.token, nonce, clientNonce);
  }
  const joinUrl = new URL(JOIN_PATH, base);
  const ws = new WebSocket(joinUrl, {
    headers, perMessageDeflate: false, maxPayload, handshakeTimeout: 10_000,
    maxFragments: 4, maxBufferedChunks: Math.ceil(maxPayload / 1024) + 64,
    ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
  });

  const exit: WorkerExit = { code: 0, reason: '', steps: 0, dataFromCache: null, error: null };
  let run: RunMessage | null = null;
  let held: HeldData | null = null;
  let received: Uint8Array | null = null;
  let nextSeq = 0;
  let pool: ThreadPool | null = null;
  let execs: Executor[] = [];
  let params: Float | null = null;
  let queue: Promise<void> = Promise.resolve();
  let refusedHttp: GradsyncError | null = null;

  const leave = (code: number, e: Error): void => {
    log?.warn({ code: e instanceof GradsyncError ? e.code : 'GS_ERR_WIRE', closeCode: code, err: e.message }, 'worker: leaving');
    say(`worker: leaving: ${e.message}`);
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(encodeMessage({ t: 'error', v: PROTOCOL_VERSION, code: e instanceof GradsyncError ? e.code : 'GS_ERR_WIRE', message: e.message.slice(0, 900) }));
      ws.close(code, e.message.slice(0, 120));
    } else ws.terminate();
  };

  const setUp = (r: RunMessage, buf: ArrayBufferLike): void => {
    held = dataViews(buf, r.spec.dtype, r.data.n, r.data.inputs, r.data.outputs);
    const { kernels } = selectKernels(r.spec.dtype, opts.kernels ?? 'auto');
    // one thread computes on the main thread itself: a pool of one only adds a hand-off (and a
    // copy of every partial) per step, and the main thread has nothing else to do meanwhile
    if (opts.threads > 1) {
      pool = new ThreadPool({ threads: opts.threads, spec: r.spec, kernels: opts.kernels ?? 'auto', microBatch: r.microBatch, x: held.x, y: held.y, ...(log ? { logger: log } : {}) });
      execs = pool.executors;
    } else execs = [new MainExecutor(r.spec, kernels, held, r.microBatch)];
    params = alloc(r.spec.dtype, layoutOf(r.spec).size, opts.threads > 1);
    ws.send(encodeMessage({ t: 'ready', v: PROTOCOL_VERSION }));
    say(`worker ${id}: ready for run ${r.run} as ${r.executor} (${opts.threads > 1 ? `${opts.threads} threads` : 'main thread'})`);
  };

  const onRun = (r: RunMessage): void => {
    run = r;
    const d = r.data;
    limits.run = { dtype: r.spec.dtype, paramCount: layoutOf(r.spec).size, n: d.n, chunkBytes: d.chunkBytes, chunks: Math.ceil(d.bytes / d.chunkBytes) };
    const file = opts.dataDir ? path.join(opts.dataDir, `${d.payloadSha256}.gsdata`) : null;
    const cached = file ? readCache(file, d.bytes, opts.threads > 1) : null;
    if (cached && sha256(new Uint8Array(cached)) === d.payloadSha256) {
      exit.dataFromCache = true;
      log?.info({ data: d.name, bytes: d.bytes }, 'worker: dataset from the cache');
      say(`worker ${id}: dataset ${d.name} (${d.bytes} bytes) from the cache, hash checked`);
      setUp(r, cached);
      return;
    }
    exit.dataFromCache = false;
    received = new Uint8Array(opts.threads > 1 ? new SharedArrayBuffer(d.bytes) : new ArrayBuffer(d.bytes));
    nextSeq = 0;
    ws.send(encodeMessage({ t: 'need', v: PROTOCOL_VERSION }));
    say(`worker ${id}: receiving dataset ${d.name} (${d.bytes} bytes)`);
  };

  const onChunk = (seq: number, bytes: Uint8Array): void => {
    const r = run!;
    if (received === null || seq !== nextSeq) throw Errors.wire(`chunk ${seq} out of order (expected ${nextSeq})`);
    const off = seq * r.data.chunkBytes;
    const want = Math.min(r.data.chunkBytes, r.data.bytes - off);
    if (bytes.length !== want) throw Errors.wire(`chunk ${seq} has ${bytes.length} bytes, expected ${want}`);
    received.set(bytes, off);
    nextSeq++;
    if (off + want < r.data.bytes) return;
    if (sha256(received) !== r.data.payloadSha256) {
      throw new GradsyncError('GS_ERR_DATA', `the dataset ${r.data.name} arrived with a different hash than announced`, undefined, 1);
    }
    if (opts.dataDir) {
      try {
        writeCache(opts.dataDir, path.join(opts.dataDir, `${r.data.payloadSha256}.gsdata`), received);
      } catch (e) {
        log?.warn({ err: (e as Error).message }, 'worker: could not cache the dataset');
      }
    }
    const buf = received.buffer;
    received = null;
    setUp(r, buf);
  };

  const onStep = async (m: StepMessage): Promise<void> => {
    const r = run!;
    const mb = r.microBatch;
    const leaves = Math.ceil(m.order.length / mb);
    const tree = new ReductionTree(leaves);
    const nodes = m.nodes.map(([h, i]) => ({ h, i }));
    let prevEnd = -1;
    for (const n of nodes) {
      if (!tree.exists(n)) throw Errors.wire(`tree node ${n.h}:${n.i} is not in a tree of ${leaves} leaves`);
      const [lo, hi] = tree.range(n);
      if (prevEnd >= 0 && lo !== prevEnd) throw Errors.wire('the tree nodes of a step must be contiguous, left to right');
      prevEnd = hi;
    }
    params!.set(m.params);
    const t0 = performance.now();
    const task: StepTask = { step: m.step, epoch: 0, params: params!, batch: { order: m.order, start: 0, end: m.order.length, microBatch: mb } };
    const { partials, pieces } = await computeSplit(execs, task, tree, nodes);
    const computeMs = performance.now() - t0;
    const msgs: PartialMessage[] = partials.map((p, k) => ({
      t: 'partial', v: PROTOCOL_VERSION, step: m.step, node: [nodes[k]!.h, nodes[k]!.i], dtype: r.spec.dtype,
      count: p.count, lossSum: p.lossSum, stats: p.stats, grads: p.grads,
    }));
    let frames = [encodeMessage({ t: 'done', v: PROTOCOL_VERSION, step: m.step, computeMs }), ...msgs.map(encodePartial)];
    for (const piece of pieces) piece.exec.recycle(piece.partials);
    if (hooks.tamper) frames = hooks.tamper(m.step, frames, msgs);
    for (const f of frames) if (ws.readyState === WebSocket.OPEN) ws.send(f);
    exit.steps++;
  };

  const handle = async (frame: Buffer, isBinary: boolean): Promise<void> => {
    try {
      if (!isBinary) throw Errors.wire('text frames are not part of the protocol');
      const m = decodeCoordinatorMessage(frame, limits);
      switch (m.t) {
        case 'run':
          if (run !== null) throw Errors.wire('a second run message');
          onRun(m);
          return;
        case 'chunk': onChunk(m.seq, m.bytes); return;
        case 'step':
          if (held === null) throw Errors.wire('a step before the data is ready');
          await onStep(m);
          return;
        case 'error':
          exit.error = { code: m.code, message: m.message };
          log?.warn({ remote: { code: m.code, message: m.message } }, 'worker: the coordinator reported an error');
          say(`worker ${id}: the coordinator says: ${m.code}: ${m.message}`);
          return;
      }
    } catch (e) {
      const ge = e as GradsyncError;
      leave(ge.code === 'GS_ERR_DATA' ? CLOSE.dataHash : ge.code === 'GS_ERR_PROTOCOL' ? CLOSE.protocol : CLOSE.badFrame, e as Error);
    }
  };

  ws.on('upgrade', (res: http.IncomingMessage) => {
    if (expectProof !== null && !proofMatches(res.headers[AUTH_HEADERS.serverProof], expectProof)) {
      refusedHttp = Errors.auth('the coordinator could not prove it holds the token: not joining');
    }
  });
  ws.on('unexpected-response', (_req, res: http.IncomingMessage) => {
    const s = res.statusCode ?? 0;
    refusedHttp = s === 401
      ? Errors.auth(`the coordinator refused to let this worker join (401): ${opts.token === undefined ? 'it requires a token (GRADSYNC_TOKEN or --token-file)' : 'wrong token'}`)
      : Errors.executor(`the coordinator refused to let this worker join (HTTP ${s})`);
    res.resume();
    ws.terminate();
  });
  ws.on('open', () => {
    if (refusedHttp !== null) {
      leave(CLOSE.badFrame, refusedHttp);
      return;
    }
    say(`worker ${id}: connected to ${base.host}`);
    ws.send(encodeMessage({ t: 'hello', v: PROTOCOL_VERSION, id, kernelSpec: KERNEL_SPEC_VERSION, dtypes: ['float32', 'float64'], threads: opts.threads, ...hooks.hello } as never));
  });
  // one message at a time, in order: a step's compute is async when a pool computes it
  ws.on('message', (data: Buffer, isBinary: boolean) => { queue = queue.then(() => handle(data, isBinary)); });

  const ended = await new Promise<{ code: number; reason: string; err: Error | null }>((resolve) => {
    let err: Error | null = null;
    ws.on('error', (e) => { err = e; });
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8'), err }));
  });
  await queue.catch(() => undefined);
  await (pool as ThreadPool | null)?.close();
  exit.code = ended.code;
  exit.reason = ended.reason;
  if (refusedHttp !== null) throw refusedHttp;
  if (ended.err !== null && exit.steps === 0 && run === null) {
    const e = ended.err as NodeJS.ErrnoException;
    throw Errors.io(`cannot join ${base.host}: ${e.code ?? e.message}`);
  }
  say(`worker ${id}: session ended (${ended.code}${ended.reason ? `: ${ended.reason}` : ''}) after ${exit.steps} steps`);
  return exit;
}

/** Close codes after which joining again may work: the link broke, or the coordinator was busy. */
const RETRY_CLOSE: ReadonlySet<number> = new Set([
  1006, // no close frame: the connection broke (network, a coordinator killed or restarting)
  1011, 1012, 1013, // the server failed, is restarting, or says try again later
  CLOSE.duplicateId, // the coordinator has not yet noticed that this worker's previous connection is gone
  CLOSE.handshakeTimeout, CLOSE.tooSlow, CLOSE.full,
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
 * once. The coordinator plans a rejoined worker from the step after it joins, as any new
 * node: the result does not change. Resolves with the last session's exit, or throws the
 * last attempt's error.
 */
export async function runWorkerRetrying(opts: WorkerOptions, retry: RetryOptions): Promise<WorkerExit> {
  const say = opts.onEvent ?? ((): void => undefined);
  const first = retry.firstDelayMs ?? 250;
  const cap = retry.maxDelayMs ?? 5000;
  let delay = first;
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
    if (retry.retryMs <= 0 || !retryable(r) || Date.now() + wait > deadline) {
      if ('exit' in r) return r.exit;
      throw r.error;
    }
    const why = 'exit' in r ? `connection closed (${r.exit.code}${r.exit.reason ? `: ${r.exit.reason}` : ''})` : (r.error as Error).message;
    opts.logger?.warn({ code: 'GS_ERR_WIRE', err: why, retryInMs: wait }, 'worker: joining again');
    say(`worker: ${why}; joining again in ${(wait / 1000).toFixed(1)} s (trying for up to ${Math.round((deadline - Date.now()) / 1000)} s more)`);
    await new Promise((resolve) => setTimeout(resolve, wait));
    delay = Math.min(cap, delay * 2);
  }
}
