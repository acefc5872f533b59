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

import * as http from 'node:http';
import * as os from 'node:os';
import type pino from 'pino';
import { WebSocket } from 'ws';
import { Errors, GradsyncError } from '../errors';
import { alloc, dtypeOf, type Float } from '../tensor/dtype';
import { KERNEL_SPEC_VERSION } from '../tensor/kernels';
import { kernelProfiles, selectKernels, type KernelChoice } from '../tensor/select';
import { layoutOf } from '../model/params';
import { proveToken } from '../net/challenge-client';
import { AUTH_HEADERS, proofMatches, WORKER_LABELS } from './auth';
import { decodeCoordinatorMessage, encodeMessage, encodePartial, type CoordinatorFrameLimits } from './codec';
import type { Executor, StepTask } from './executor';
import { MainExecutor } from './main-executor';
import { CLOSE, JOIN_PATH, PROTOCOL_VERSION, type PartialMessage, type RunMessage, type StepMessage } from './messages';
import { addPartial, type Partial } from './partial';
import { planRanges } from './planner';
import type { WorkerHooks } from './hooks';
import { ThreadPool } from './pool-executor';
import { combineNode, nodeKey, ReductionTree, type TreeNode } from './tree';
import { ChunkAssembly, dataViews, fromCache, toCache, type HeldData } from './worker-dataset';

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

function defaultId(): string {
  return `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
}

/** The partials of `nodes` (a contiguous run of tree nodes) computed by `execs` together. */
export async function computeSplit(
  execs: Executor[],
  task: StepTask,
  tree: ReductionTree,
  nodes: TreeNode[],
): Promise<{ partials: Partial[]; pieces: { exec: Executor; partials: Partial[] }[] }> {
  if (execs.length === 1) {
    const partials = await execs[0]!.compute(task, nodes);
    return { partials, pieces: [{ exec: execs[0]!, partials }] };
  }
  const lo = tree.range(nodes[0]!)[0];
  const hi = tree.range(nodes[nodes.length - 1]!)[1];
  const plan = planRanges(
    hi - lo,
    execs.map((e) => ({ id: e.id, speed: 1 })),
  );
  const jobs = plan.map((p, k) => ({ exec: execs[k]!, cover: tree.cover(lo + p.lo, lo + p.hi) })).filter((j) => j.cover.length > 0);
  const pieces = await Promise.all(
    jobs.map(async (j) => ({ exec: j.exec, cover: j.cover, partials: await j.exec.compute(task, j.cover) })),
  );
  const byKey = new Map<string, Partial>();
  for (const p of pieces) p.cover.forEach((n, k) => byKey.set(nodeKey(n), p.partials[k]!));
  // a given node = left + right, recursively, down to the computed pieces: the tree's own order
  const k = selectKernels(dtypeOf(pieces[0]!.partials[0]!.grads)).kernels;
  const partials = nodes.map((n) =>
    combineNode(
      tree,
      n,
      (m) => byKey.get(nodeKey(m)),
      (into, from) => addPartial(into, from, k),
    ),
  );
  return { partials, pieces };
}

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

/**
 * Steps 2 to 4 for one connection: hello, then the coordinator's frames one at a time, in
 * order (a step's compute is async when a pool computes it): the run and its data, then the
 * steps. A bad frame ends the session (leave): an error frame, then a close with its code.
 */
class WorkerSession {
  readonly exit: WorkerExit = { code: 0, reason: '', steps: 0, dataFromCache: null, error: null };
  /** The run, from its message on. */
  run: RunMessage | null = null;
  /** The local pool (threads > 1), from the data on. */
  pool: ThreadPool | null = null;
  /** The frames received so far, each handled after the one before. */
  queue: Promise<void> = Promise.resolve();
  private held: HeldData | null = null;
  private readonly incoming = new ChunkAssembly();
  private execs: Executor[] = [];
  private params: Float | null = null;
  private readonly log: pino.Logger | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly opts: WorkerOptions,
    private readonly hooks: WorkerHooks,
    private readonly id: string,
    private readonly limits: CoordinatorFrameLimits,
    private readonly say: (line: string) => void,
  ) {
    this.log = opts.logger;
  }

  /** 2. → hello. */
  hello(host: string): void {
    this.say(`worker ${this.id}: connected to ${host}`);
    this.ws.send(
      encodeMessage({
        t: 'hello',
        v: PROTOCOL_VERSION,
        id: this.id,
        kernelSpec: KERNEL_SPEC_VERSION,
        profiles: kernelProfiles(this.opts.kernels ?? 'auto'),
        dtypes: ['float32', 'float64'],
        threads: this.opts.threads,
        ...this.hooks.hello,
      } as never),
    );
  }

  /** Queues a frame behind the ones before it. */
  receive(frame: Buffer, isBinary: boolean): void {
    this.queue = this.queue.then(() => this.handle(frame, isBinary));
  }

  /** Ends the session from this side: `e` logged and sent as an error frame, then a close with `code`. */
  leave(code: number, e: Error): void {
    const ws = this.ws;
    this.log?.warn({ code: e instanceof GradsyncError ? e.code : 'GS_ERR_WIRE', closeCode: code, err: e.message }, 'worker: leaving');
    this.say(`worker: leaving: ${e.message}`);
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(
        encodeMessage({
          t: 'error',
          v: PROTOCOL_VERSION,
          code: e instanceof GradsyncError ? e.code : 'GS_ERR_WIRE',
          message: e.message.slice(0, 900),
        }),
      );
      ws.close(code, e.message.slice(0, 120));
    } else ws.terminate();
  }

  private async handle(frame: Buffer, isBinary: boolean): Promise<void> {
    try {
      if (!isBinary) throw Errors.wire('text frames are not part of the protocol');
      const m = decodeCoordinatorMessage(frame, this.limits);
      switch (m.t) {
        case 'run':
          if (this.run !== null) throw Errors.wire('a second run message');
          this.onRun(m);
          return;
        case 'chunk':
          this.onChunk(m.seq, m.bytes);
          return;
        case 'step':
          if (this.held === null) throw Errors.wire('a step before the data is ready');
          await this.onStep(m);
          return;
        case 'error':
          this.exit.error = { code: m.code, message: m.message };
          this.log?.warn({ remote: { code: m.code, message: m.message } }, 'worker: the coordinator reported an error');
          this.say(`worker ${this.id}: the coordinator says: ${m.code}: ${m.message}`);
          return;
      }
    } catch (e) {
      const ge = e as GradsyncError;
      this.leave(ge.code === 'GS_ERR_DATA' ? CLOSE.dataHash : ge.code === 'GS_ERR_PROTOCOL' ? CLOSE.protocol : CLOSE.badFrame, e as Error);
    }
  }

  /** 3. ← run: the data from the cache (hash checked), or → need. */
  private onRun(r: RunMessage): void {
    const { opts, id } = this;
    this.run = r;
    const d = r.data;
    this.limits.run = {
      dtype: r.spec.dtype,
      paramCount: layoutOf(r.spec).size,
      n: d.n,
      chunkBytes: d.chunkBytes,
      chunks: Math.ceil(d.bytes / d.chunkBytes),
    };
    const cached = fromCache(opts.dataDir, d, opts.threads > 1);
    if (cached) {
      this.exit.dataFromCache = true;
      this.log?.info({ data: d.name, bytes: d.bytes }, 'worker: dataset from the cache');
      this.say(`worker ${id}: dataset ${d.name} (${d.bytes} bytes) from the cache, hash checked`);
      this.setUp(r, cached);
      return;
    }
    this.exit.dataFromCache = false;
    this.incoming.begin(d, opts.threads > 1);
    this.ws.send(encodeMessage({ t: 'need', v: PROTOCOL_VERSION }));
    this.say(`worker ${id}: receiving dataset ${d.name} (${d.bytes} bytes)`);
  }

  /** 3. ← chunk: once the last is in and its hash checks, the copy cached and the data set up. */
  private onChunk(seq: number, bytes: Uint8Array): void {
    const whole = this.incoming.add(seq, bytes);
    if (whole === null) return;
    const r = this.run!;
    if (this.opts.dataDir) toCache(this.opts.dataDir, r.data, whole, this.log);
    this.setUp(r, whole.buffer);
  }

  /** 3. The local executors over the data, the weights' buffer; → ready. */
  private setUp(r: RunMessage, buf: ArrayBufferLike): void {
    const { opts, log } = this;
    const held = dataViews(buf, r.spec.dtype, r.data.n, r.data.inputs, r.data.outputs);
    this.held = held;
    const profile = r.profile ?? 'portable';
    const { kernels } = selectKernels(r.spec.dtype, opts.kernels ?? 'auto', profile);
    // one thread computes on the main thread itself: a pool of one only adds a hand-off (and a
    // copy of every partial) per step, and the main thread has nothing else to do meanwhile
    if (opts.threads > 1) {
      this.pool = new ThreadPool({
        threads: opts.threads,
        spec: r.spec,
        kernels: opts.kernels ?? 'auto',
        profile,
        microBatch: r.microBatch,
        x: held.x,
        y: held.y,
        ...(log ? { logger: log } : {}),
      });
      this.execs = this.pool.executors;
    } else this.execs = [new MainExecutor(r.spec, kernels, held, r.microBatch)];
    this.params = alloc(r.spec.dtype, layoutOf(r.spec).size, opts.threads > 1);
    this.ws.send(encodeMessage({ t: 'ready', v: PROTOCOL_VERSION }));
    this.say(
      `worker ${this.id}: ready for run ${r.run} as ${r.executor} (${opts.threads > 1 ? `${opts.threads} threads` : 'main thread'})`,
    );
  }

  /** 4. ← step: its nodes checked (in the tree, contiguous), computed by the local executors; → done, then one partial per node. */
  private async onStep(m: StepMessage): Promise<void> {
    const { ws, hooks } = this;
    const r = this.run!;
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
    const params = this.params!;
    params.set(m.params);
    const t0 = performance.now();
    const task: StepTask = {
      step: m.step,
      epoch: 0,
      params,
      batch: { step: m.step, order: m.order, start: 0, end: m.order.length, microBatch: mb },
    };
    const { partials, pieces } = await computeSplit(this.execs, task, tree, nodes);
    const computeMs = performance.now() - t0;
    const msgs: PartialMessage[] = partials.map((p, k) => ({
      t: 'partial',
      v: PROTOCOL_VERSION,
      step: m.step,
      node: [nodes[k]!.h, nodes[k]!.i],
      dtype: r.spec.dtype,
      count: p.count,
      lossSum: p.lossSum,
      stats: p.stats,
      grads: p.grads,
    }));
    let frames = [encodeMessage({ t: 'done', v: PROTOCOL_VERSION, step: m.step, computeMs }), ...msgs.map(encodePartial)];
    for (const piece of pieces) piece.exec.recycle(piece.partials);
    if (hooks.tamper) frames = hooks.tamper(m.step, frames, msgs);
    for (const f of frames) if (ws.readyState === WebSocket.OPEN) ws.send(f);
    this.exit.steps++;
  }
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
  const session = new WorkerSession(ws, opts, hooks, id, limits, say);
  const refused = watchRefusal(ws, proof?.expect ?? null, opts.token !== undefined);
  ws.on('open', () => {
    const r = refused();
    if (r !== null) session.leave(CLOSE.badFrame, r);
    else session.hello(base.host);
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => session.receive(data, isBinary));

  const ended = await closeOf(ws);
  await session.queue.catch(() => undefined);
  await session.pool?.close();
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
