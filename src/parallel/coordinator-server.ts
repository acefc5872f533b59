/**
 * coordinator-server.ts — where remote worker nodes join a run: the listening socket, the
 * authentication, the handshake and the data transfer; each joined node becomes a
 * RemoteExecutor (remote-executor.ts) that the step uses from the next step on.
 *
 * The handshake, per connection (message types in messages.ts):
 *  1. HTTP GET CHALLENGE_PATH → a one-time nonce (net/challenge.ts NonceStore: a flood of requests
 *     makes room by forgetting the oldest nonces, its own first, never by refusing).
 *  2. HTTP upgrade on JOIN_PATH. With a token configured, the request must carry the nonce and
 *     HMAC(token, nonce); otherwise `401` and the socket is destroyed before any websocket
 *     exists. More connections than maxWorkers (+ a few handshaking) get `503`. The `101`
 *     answer carries the coordinator's proof over the worker's own nonce.
 *  3. hello within handshakeTimeoutMs: protocol version (else close 4001, both versions
 *     named), kernel spec version, kernel profile and dtype (else 4002), a worker id no connected worker has
 *     (else 4003). Silence: 4004.
 *  4. → run: model spec, kernel profile, micro-batch, dataset descriptor (content hash, payload hash, sizes).
 *  5. ← need: the payload is streamed in chunks, one in flight at a time; or ← ready.
 *  6. ← ready (after need, within dataTimeoutMs): the node is an executor from the next step.
 * Every frame is capped (maxPayload = the largest legal frame, a partial of this model) and
 * validated (codec-messages.ts) before use; compression is off; fragments and buffered chunks are
 * capped; a bad frame is a coded log record naming the peer and a closed connection. Pings
 * every heartbeatMs; a node that missed the previous pong is terminated.
 * Without a token the server only starts on a loopback host. TLS when cert and key are given.
 * The token never reaches a log (headers are never logged).
 * Steps 1–2 run in join-gate.ts, 3–6 in join-handshake.ts (the dataset: dataset-offer.ts); the
 * joined nodes are the roster's (roster.ts). Here: the options, the heartbeat, listening, closing.
 * Not here: the per-step exchange (remote-executor.ts), the worker side (remote-worker.ts).
 */

import type pino from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { isLoopback } from '../net/loopback';
import type { StaticPages } from '../net/static-pages';
import { closeServers, listenOn, startHeartbeat } from '../net/ws-serve';
import { Errors, GradsyncError } from '../errors';
import { bytesPerElement, dtypeOf, type Float } from '../tensor/dtype';
import { selectKernels } from '../tensor/select';
import type { ModelSpec } from '../model/spec';
import type { KernelProfile } from '../tensor/kernels';
import { layoutOf } from '../model/params';
import { statsLayoutOf } from '../model/model';
import { DatasetOffer, type OfferedData } from './dataset-offer';
import type { Executor } from './executor';
import type { RunClose } from './messages';
import { JoinGate } from './join-gate';
import { JoinHandshake, type HandshakeOptions } from './join-handshake';
import type { DeadlineOptions, RemoteExecutorOptions } from './remote-executor';
import { Roster } from './roster';

export { payloadSha256 } from './dataset-offer';

export interface CoordinatorOptions {
  /** Interface to listen on; without a token it must be a loopback host. */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Shared secret workers prove (HMAC); required off loopback. */
  token?: string;
  /** TLS (wss): PEM certificate and key. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  run: string;
  spec: ModelSpec;
  /** The run's kernel profile; workers whose kernels cannot compute it are refused (4002). Default 'portable'. */
  profile?: KernelProfile;
  microBatch: number;
  /** The training examples, in the spec's dtype. */
  data: OfferedData;
  logger?: pino.Logger;
  /** Joined workers at most. Default 64. */
  maxWorkers?: number;
  /** Time for hello, and for need/ready after run, ms. Default 10,000. */
  handshakeTimeoutMs?: number;
  /** Time for the data transfer and ready after need, ms. Default 300,000. */
  dataTimeoutMs?: number;
  /** Ping interval, ms. Default 10,000. */
  heartbeatMs?: number;
  deadline?: Partial<DeadlineOptions>;
  /** Consecutive missed step deadlines before a node is dropped. Default 3. */
  maxMisses?: number;
  /** Data chunk size, bytes. Default 1 MiB. */
  chunkBytes?: number;
  /**
   * Time from a TCP connection to the end of its HTTP request headers (and the TLS handshake),
   * ms; a peer that dribbles its upgrade request is dropped (408) after it. Default 10,000.
   */
  headersTimeoutMs?: number;
  /** Open TCP connections at most (authenticated or not); more are refused by the kernel's accept. Default 1024. */
  maxConnections?: number;
  /** The browser worker's files (GET /worker and what it loads); absent: not served. */
  pages?: StaticPages;
}

export interface Coordinator {
  /** The port listened on. */
  port: number;
  /** ws://host:port/gradsync/join (or wss://). */
  url: string;
  /** The joined, connected remote executors, in join order. */
  current(): Executor[];
  /** Resolves once at least `n` workers have joined, or when `signal` aborts; rejects after timeoutMs. */
  waitForWorkers(n: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Closes every node (1001 when the run ended, 1012 when it was interrupted: see RunClose) and the server. */
  close(why?: RunClose): Promise<void>;
}

function intOption(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`coordinator option "${name}" must be an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
}

/** The options as startCoordinator uses them: checked, with the defaults filled in. */
interface CheckedOptions {
  port: number;
  maxWorkers: number;
  handshakeMs: number;
  dataMs: number;
  heartbeatMs: number;
  chunkBytes: number;
  maxMisses: number;
  headersMs: number;
  maxConnections: number;
  deadline: DeadlineOptions;
  token: string | undefined;
}

/** Checks the options in order, each error naming its field. */
function checkOptions(opts: CoordinatorOptions): CheckedOptions {
  if (typeof opts.host !== 'string' || opts.host.length === 0) throw new TypeError('coordinator option "host" must be a non-empty string');
  const checked: CheckedOptions = {
    port: intOption('port', opts.port, 0, 0, 65535),
    maxWorkers: intOption('maxWorkers', opts.maxWorkers, 64, 1, 10_000),
    handshakeMs: intOption('handshakeTimeoutMs', opts.handshakeTimeoutMs, 10_000, 10, 3_600_000),
    dataMs: intOption('dataTimeoutMs', opts.dataTimeoutMs, 300_000, 10, 86_400_000),
    heartbeatMs: intOption('heartbeatMs', opts.heartbeatMs, 10_000, 10, 3_600_000),
    chunkBytes: intOption('chunkBytes', opts.chunkBytes, 1 << 20, 1024, 64 << 20),
    maxMisses: intOption('maxMisses', opts.maxMisses, 3, 1, 1000),
    headersMs: intOption('headersTimeoutMs', opts.headersTimeoutMs, 10_000, 50, 600_000),
    maxConnections: intOption('maxConnections', opts.maxConnections, 1024, 1, 1_000_000),
    deadline: { floorMs: 2000, factor: 5, firstMs: 30_000, ...opts.deadline },
    token: opts.token,
  };
  const token = checked.token;
  if (token !== undefined && (typeof token !== 'string' || token.length === 0 || token.length > 4096)) {
    throw Errors.auth('the worker token must be a non-empty string of at most 4096 characters');
  }
  if (token === undefined && !isLoopback(opts.host)) {
    throw new GradsyncError(
      'GS_ERR_AUTH',
      `refusing to accept remote workers on ${opts.host} without a token: anyone who can reach it could join the run`,
      'set GRADSYNC_TOKEN (or --token-file) or listen on 127.0.0.1',
      2,
    );
  }
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw Errors.executor('remote workers need a little-endian coordinator');
  const { spec, data } = opts;
  if (dtypeOf(data.x) !== spec.dtype || dtypeOf(data.y) !== spec.dtype)
    throw new TypeError('coordinator option "data": x and y must be in the model\'s dtype');
  return checked;
}

/** The caps on a worker's frames: the largest legal one is one partial of this model (grads, stats, a few fields). */
function frameLimits(spec: ModelSpec): { maxPayload: number; limits: RemoteExecutorOptions['limits']; maxBufferedBytes: number } {
  const paramCount = layoutOf(spec).size;
  const statsSize = statsLayoutOf(spec).size;
  const bpe = bytesPerElement(spec.dtype);
  const maxPayload = paramCount * bpe + statsSize * 8 + 1024;
  // the scan for non-finite values of every arriving partial is on the step's critical path: the fast kernels do it
  const scan = selectKernels(spec.dtype).kernels;
  const limits = {
    maxBytes: maxPayload,
    dtype: spec.dtype,
    paramCount,
    statsSize,
    maxHeight: 40,
    firstNonFinite: (g: Float) => scan.firstNonFinite(g.length, g),
  };
  return { maxPayload, limits, maxBufferedBytes: 4 * (paramCount * bpe + 4096) + (8 << 20) };
}

/** The heartbeat over every admitted connection: one that missed the previous pong is logged (with its executor, once joined), then terminated. */
function nodeHeartbeat(
  wss: WebSocketServer,
  ms: number,
  roster: Roster,
  log: pino.Logger | undefined,
): { track(ws: WebSocket, peer: string): void; stop(): void } {
  const peers = new WeakMap<WebSocket, string>();
  const beat = startHeartbeat(wss, ms, (ws) => {
    const ex = roster.executorOn(ws);
    log?.warn(
      { code: 'GS_ERR_EXECUTOR', peer: peers.get(ws) ?? null, ...(ex ? { executor: ex.id } : {}) },
      'remote: worker missed a pong, terminated',
    );
  });
  return {
    track(ws, peer) {
      peers.set(ws, peer);
      beat.track(ws);
    },
    stop: () => beat.stop(),
  };
}

/** Starts listening for remote workers; resolves once listening. */
export async function startCoordinator(opts: CoordinatorOptions): Promise<Coordinator> {
  const o = checkOptions(opts);
  const log = opts.logger;
  const { maxPayload, limits, maxBufferedBytes } = frameLimits(opts.spec);
  const offer = new DatasetOffer(opts.data, o.chunkBytes);
  const roster = new Roster();
  const handshake: HandshakeOptions = {
    log,
    run: opts.run,
    spec: opts.spec,
    profile: opts.profile ?? 'portable',
    microBatch: opts.microBatch,
    offer,
    limits,
    handshakeMs: o.handshakeMs,
    dataMs: o.dataMs,
    roster,
    executor: { deadline: o.deadline, maxMisses: o.maxMisses, maxBufferedBytes },
  };
  const gate = new JoinGate({
    log,
    token: o.token,
    tls: opts.tls,
    maxWorkers: o.maxWorkers,
    headersMs: o.headersMs,
    maxConnections: o.maxConnections,
    maxPayload,
    pages: opts.pages,
    onJoin: (ws, peer, inBandProof) => {
      heartbeat.track(ws, peer);
      new JoinHandshake(ws, peer, handshake, inBandProof).start();
    },
  });
  const { server, wss } = gate;
  const heartbeat = nodeHeartbeat(wss, o.heartbeatMs, roster, log);

  let actualPort: number;
  try {
    actualPort = await listenOn(server, opts.host, o.port, 'the worker server');
  } catch (e) {
    heartbeat.stop();
    throw e;
  }
  server.on('error', (err) => log?.error({ err: err.message }, 'remote: server error'));
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `${opts.tls ? 'wss' : 'ws'}://${hostPart}:${actualPort}`;
  const d = offer.descriptor;
  log?.info(
    {
      url,
      authRequired: o.token !== undefined,
      tls: opts.tls !== undefined,
      maxPayload,
      data: { bytes: d.bytes, payloadSha256: d.payloadSha256 },
    },
    'remote: listening for workers',
  );

  let closing: Promise<void> | null = null;
  return {
    port: actualPort,
    url,
    current: () => roster.connected(),
    waitForWorkers: (n, timeoutMs, signal) => roster.waitFor(n, timeoutMs, signal),
    close(why: RunClose = 'ended'): Promise<void> {
      closing ??= (async () => {
        heartbeat.stop();
        await roster.closeAll(why);
        for (const ws of wss.clients) ws.terminate();
        await closeServers(wss, server);
        log?.info({ port: actualPort }, 'remote: closed');
      })();
      return closing;
    },
  };
}
