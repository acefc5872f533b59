/**
 * coordinator-server.ts — where remote worker nodes join a run: the listening socket, the
 * authentication, the handshake and the data transfer; each joined node becomes a
 * RemoteExecutor (remote-executor.ts) that the step uses from the next step on.
 *
 * The handshake, per connection (message types in messages.ts):
 *  1. HTTP GET CHALLENGE_PATH → a one-time nonce (auth.ts NonceStore: a flood of requests
 *     makes room by forgetting the oldest nonces, its own first, never by refusing).
 *  2. HTTP upgrade on JOIN_PATH. With a token configured, the request must carry the nonce and
 *     HMAC(token, nonce); otherwise `401` and the socket is destroyed before any websocket
 *     exists. More connections than maxWorkers (+ a few handshaking) get `503`. The `101`
 *     answer carries the coordinator's proof over the worker's own nonce.
 *  3. hello within handshakeTimeoutMs: protocol version (else close 4001, both versions
 *     named), kernel spec version and dtype (else 4002), a worker id no connected worker has
 *     (else 4003). Silence: 4004.
 *  4. → run: model spec, micro-batch, dataset descriptor (content hash, payload hash, sizes).
 *  5. ← need: the payload is streamed in chunks, one in flight at a time; or ← ready.
 *  6. ← ready (after need, within dataTimeoutMs): the node is an executor from the next step.
 * Every frame is capped (maxPayload = the largest legal frame, a partial of this model) and
 * validated (codec.ts) before use; compression is off; fragments and buffered chunks are
 * capped; a bad frame is a coded log record naming the peer and a closed connection. Pings
 * every heartbeatMs; a node that missed the previous pong is terminated.
 * Without a token the server only starts on a loopback host. TLS when cert and key are given.
 * The token never reaches a log (headers are never logged).
 * Not here: the per-step exchange (remote-executor.ts), the worker side (remote-worker.ts).
 */

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { isLoopback } from '../net/loopback';
import { closeServers, listenOn, refuse, startHeartbeat } from '../net/ws-serve';
import { Errors, GradsyncError } from '../errors';
import { bytesPerElement, dtypeOf, type Float } from '../tensor/dtype';
import { selectKernels } from '../tensor/select';
import { KERNEL_SPEC_VERSION } from '../tensor/kernels';
import type { ModelSpec } from '../model/spec';
import { layoutOf } from '../model/params';
import { statsLayoutOf } from '../model/mlp';
import type { Dataset } from '../data/dataset';
import { AUTH_HEADERS, coordinatorProof, isNonce, NonceStore, proofMatches, workerProof } from './auth';
import { decodeWorkerMessage, encodeMessage } from './codec';
import type { Executor } from './executor';
import { CHALLENGE_PATH, CLOSE, JOIN_PATH, PROTOCOL_VERSION, REMOTE_ID_PREFIX, type DataDescriptor } from './messages';
import { RemoteExecutor, type DeadlineOptions } from './remote-executor';

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
  microBatch: number;
  /** The training examples, in the spec's dtype. */
  data: Pick<Dataset, 'name' | 'sha256' | 'n' | 'inputs' | 'outputs' | 'x' | 'y'>;
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
}

export interface Coordinator {
  /** The port listened on. */
  port: number;
  /** ws://host:port/gradsync/join (or wss://). */
  url: string;
  /** The joined, connected remote executors, in join order. */
  current(): Executor[];
  /** Resolves once at least `n` workers have joined; rejects after timeoutMs. */
  waitForWorkers(n: number, timeoutMs: number): Promise<void>;
  /** Closes every node (1001) and the server. */
  close(): Promise<void>;
}

/** Request headers an upgrade may carry; a worker sends about ten. */
const MAX_REQUEST_HEADERS = 64;

const peerOf = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string => `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;

function intOption(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`coordinator option "${name}" must be an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** sha256 of the payload a worker receives: x then y, little-endian, in the dtype. */
export function payloadSha256(x: ArrayBufferView, y: ArrayBufferView): string {
  return crypto.createHash('sha256').update(bytesOf(x)).update(bytesOf(y)).digest('hex');
}

/** Starts listening for remote workers; resolves once listening. */
export async function startCoordinator(opts: CoordinatorOptions): Promise<Coordinator> {
  if (typeof opts.host !== 'string' || opts.host.length === 0) throw new TypeError('coordinator option "host" must be a non-empty string');
  const port = intOption('port', opts.port, 0, 0, 65535);
  const maxWorkers = intOption('maxWorkers', opts.maxWorkers, 64, 1, 10_000);
  const handshakeMs = intOption('handshakeTimeoutMs', opts.handshakeTimeoutMs, 10_000, 10, 3_600_000);
  const dataMs = intOption('dataTimeoutMs', opts.dataTimeoutMs, 300_000, 10, 86_400_000);
  const heartbeatMs = intOption('heartbeatMs', opts.heartbeatMs, 10_000, 10, 3_600_000);
  const chunkBytes = intOption('chunkBytes', opts.chunkBytes, 1 << 20, 1024, 64 << 20);
  const maxMisses = intOption('maxMisses', opts.maxMisses, 3, 1, 1000);
  const headersMs = intOption('headersTimeoutMs', opts.headersTimeoutMs, 10_000, 50, 600_000);
  const maxConnections = intOption('maxConnections', opts.maxConnections, 1024, 1, 1_000_000);
  const deadline: DeadlineOptions = { floorMs: 2000, factor: 5, firstMs: 30_000, ...opts.deadline };
  const token = opts.token;
  if (token !== undefined && (typeof token !== 'string' || token.length === 0 || token.length > 4096)) {
    throw Errors.auth('the worker token must be a non-empty string of at most 4096 characters');
  }
  if (token === undefined && !isLoopback(opts.host)) {
    throw new GradsyncError('GS_ERR_AUTH',
      `refusing to accept remote workers on ${opts.host} without a token: anyone who can reach it could join the run`,
      'set GRADSYNC_TOKEN (or --token-file) or listen on 127.0.0.1', 2);
  }
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw Errors.executor('remote workers need a little-endian coordinator');
  const { spec, data } = opts;
  if (dtypeOf(data.x) !== spec.dtype || dtypeOf(data.y) !== spec.dtype) throw new TypeError('coordinator option "data": x and y must be in the model\'s dtype');
  const log = opts.logger;
  const paramCount = layoutOf(spec).size;
  const statsSize = statsLayoutOf(spec).size;
  const bpe = bytesPerElement(spec.dtype);
  // the largest legal frame from a worker is one partial of this model: grads, stats, a few fields
  const maxPayload = paramCount * bpe + statsSize * 8 + 1024;
  // the scan for non-finite values of every arriving partial is on the step's critical path: the fast kernels do it
  const scan = selectKernels(spec.dtype).kernels;
  const limits = { maxBytes: maxPayload, dtype: spec.dtype, paramCount, statsSize, maxHeight: 40, firstNonFinite: (g: Float) => scan.firstNonFinite(g.length, g) };
  const xb = bytesOf(data.x);
  const yb = bytesOf(data.y);
  const descriptor: DataDescriptor = {
    name: data.name.slice(0, 200), sha256: data.sha256, payloadSha256: payloadSha256(data.x, data.y),
    n: data.n, inputs: data.inputs, outputs: data.outputs, bytes: xb.length + yb.length, chunkBytes,
  };
  const chunks = Math.ceil(descriptor.bytes / chunkBytes);
  const chunkAt = (seq: number): Uint8Array => {
    const lo = seq * chunkBytes;
    const hi = Math.min(lo + chunkBytes, descriptor.bytes);
    if (hi <= xb.length) return xb.subarray(lo, hi);
    if (lo >= xb.length) return yb.subarray(lo - xb.length, hi - xb.length);
    return Buffer.concat([xb.subarray(lo), yb.subarray(0, hi - xb.length)]);
  };

  const nonces = new NonceStore();
  const active: RemoteExecutor[] = [];
  const taken = new Set<string>();
  const serverProofs = new WeakMap<http.IncomingMessage, string>();
  let waiters: { n: number; resolve: () => void }[] = [];
  // joined and still connected (a node whose close handshake is under way is not counted)
  const connected = (): RemoteExecutor[] => active.filter((e) => e.connected);
  const notify = (): void => {
    const n = connected().length;
    waiters = waiters.filter((w) => {
      if (n >= w.n) w.resolve();
      return n < w.n;
    });
  };

  const tooManyHeaders = (req: http.IncomingMessage, peer: string): boolean => {
    if (req.rawHeaders.length / 2 <= MAX_REQUEST_HEADERS) return false;
    log?.warn({ code: 'GS_ERR_WIRE', peer, maxHeaders: MAX_REQUEST_HEADERS }, 'remote: request refused (431, too many headers)');
    return true;
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (tooManyHeaders(req, peerOf(req.socket))) {
      res.writeHead(431, { Connection: 'close' }).end();
      return;
    }
    if (req.method === 'GET' && req.url === CHALLENGE_PATH) {
      const n = nonces.issue(req.socket.remoteAddress ?? '?');
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' }).end(n);
      return;
    }
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('gradsync coordinator: join with `gradsync worker --join ws://HOST:PORT`\n');
  };
  // Slow peers (slowloris): node drops a connection whose request headers are not complete
  // after headersTimeout (checked every connectionsCheckingInterval) with a 'clientError'
  // (below); an upgrade request has no body, so the whole request gets the same time. Over
  // TLS the handshake gets it too.
  const httpOptions: http.ServerOptions = {
    headersTimeout: headersMs, requestTimeout: headersMs + 1000,
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersMs / 4))),
  };
  const server = opts.tls
    ? https.createServer({ ...httpOptions, cert: opts.tls.cert, key: opts.tls.key, handshakeTimeout: headersMs }, onRequest)
    : http.createServer(httpOptions, onRequest);
  // node keeps only the first maxHeadersCount headers (silently): one more than we accept lets us tell
  server.maxHeadersCount = MAX_REQUEST_HEADERS + 1;
  server.maxConnections = maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // node answers nothing itself once this listener exists: a coded record, a status, the socket destroyed
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || socket.destroyed) {
      socket.destroy();
      return;
    }
    const status = code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout'
      : code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    log?.warn({ code: 'GS_ERR_WIRE', peer: peerOf(socket as unknown as { remoteAddress?: string; remotePort?: number }), httpCode: code, status: Number(status.slice(0, 3)) }, `remote: bad HTTP request, connection refused (${status.slice(0, 3)})`);
    refuse(socket, status);
  });
  if (opts.tls) {
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: { remoteAddress?: string; remotePort?: number }) => {
      log?.warn({ code: 'GS_ERR_WIRE', peer: peerOf(socket), tlsCode: err.code ?? null, err: err.message.slice(0, 200) }, 'remote: TLS handshake failed, connection closed');
    });
  }
  const wss = new WebSocketServer({
    noServer: true, perMessageDeflate: false, maxPayload, clientTracking: true,
    // a legitimate worker sends every message as one frame, in chunks of ≥ 1 KiB on average
    maxFragments: 4, maxBufferedChunks: Math.ceil(maxPayload / 1024) + 64,
  });
  // ws's own refusals of a malformed upgrade (no key, bad version…): logged like ours
  wss.on('wsClientError', (err: Error, socket: Duplex, req: http.IncomingMessage) => {
    log?.warn({ code: 'GS_ERR_WIRE', peer: peerOf(req.socket), err: err.message.slice(0, 200) }, 'remote: malformed upgrade request, refused (400)');
    refuse(socket, '400 Bad Request');
  });
  wss.on('headers', (headers, req) => {
    const p = serverProofs.get(req);
    if (p !== undefined) headers.push(`X-Gradsync-Server-Proof: ${p}`);
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const peer = peerOf(req.socket);
    if (tooManyHeaders(req, peer)) {
      refuse(socket, '431 Request Header Fields Too Large');
      return;
    }
    if (req.url !== JOIN_PATH) {
      refuse(socket, '404 Not Found');
      return;
    }
    if (token !== undefined) {
      const nonce = req.headers[AUTH_HEADERS.nonce];
      const proof = req.headers[AUTH_HEADERS.proof];
      const clientNonce = req.headers[AUTH_HEADERS.clientNonce];
      // consume first: a nonce is good for one attempt, right or wrong
      const fresh = nonces.consume(nonce);
      const ok = proofMatches(proof, workerProof(token, isNonce(nonce) ? nonce : '')) && fresh && isNonce(clientNonce);
      if (!ok) {
        const reason = proof === undefined ? 'no token proof' : !fresh ? 'unknown or expired nonce' : !isNonce(clientNonce) ? 'no client nonce' : 'wrong token';
        log?.warn({ code: 'GS_ERR_AUTH', peer, reason }, 'remote: join refused (401)');
        refuse(socket, '401 Unauthorized');
        return;
      }
      serverProofs.set(req, coordinatorProof(token, nonce as string, clientNonce as string));
    }
    if (wss.clients.size >= maxWorkers + 8) {
      log?.warn({ code: 'GS_ERR_EXECUTOR', peer, maxWorkers }, 'remote: join refused (503, full)');
      refuse(socket, '503 Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => handshake(ws, peer));
  });

  const peers = new WeakMap<WebSocket, string>();
  const heartbeat = startHeartbeat(wss, heartbeatMs, (ws) => {
    const ex = active.find((e) => e.socket === ws);
    log?.warn({ code: 'GS_ERR_EXECUTOR', peer: peers.get(ws) ?? null, ...(ex ? { executor: ex.id } : {}) }, 'remote: worker missed a pong, terminated');
  });

  /** Steps 3–6 of the header for one connection. */
  function handshake(ws: WebSocket, peer: string): void {
    let plog = log?.child({ peer });
    let state: 'hello' | 'data' | 'streaming' | 'ready' = 'hello';
    let id: string | null = null;
    peers.set(ws, peer);
    heartbeat.track(ws);
    ws.on('error', (e: Error & { code?: string }) => {
      // ws closes the connection itself (1009 over maxPayload, 1002 on a protocol error)
      plog?.warn({ code: 'GS_ERR_WIRE', wsCode: e.code ?? null, err: e.message }, 'remote: bad frame, connection closed');
    });
    let timer: NodeJS.Timeout = setTimeout(() => fail(CLOSE.handshakeTimeout, Errors.protocol(`no ${state === 'hello' ? 'hello' : 'need or ready'} within ${handshakeMs} ms`)), handshakeMs);
    const fail = (closeCode: number, e: GradsyncError): void => {
      clearTimeout(timer);
      plog?.warn({ code: e.code, closeCode, err: e.message }, 'remote: handshake refused, connection closed');
      ws.off('message', onMessage);
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(encodeMessage({ t: 'error', v: PROTOCOL_VERSION, code: e.code, message: e.message.slice(0, 900) }));
        ws.close(closeCode, e.message.slice(0, 120));
        setTimeout(() => ws.terminate(), 2000).unref();
      } else ws.terminate();
    };
    const onMessage = (frame: Buffer, isBinary: boolean): void => {
      let m;
      try {
        if (!isBinary) throw Errors.wire('text frames are not part of the protocol');
        m = decodeWorkerMessage(frame, { ...limits, maxStep: 1 });
      } catch (e) {
        const ge = e instanceof GradsyncError ? e : Errors.wire((e as Error).message);
        fail(ge.code === 'GS_ERR_PROTOCOL' ? CLOSE.protocol : CLOSE.badFrame, ge);
        return;
      }
      if (m.t === 'error') {
        plog?.warn({ code: 'GS_ERR_EXECUTOR', remote: { code: m.code, message: m.message } }, 'remote: worker reported an error during the handshake');
        fail(CLOSE.goingAway, Errors.executor('the worker gave up'));
        return;
      }
      if (state === 'hello' && m.t === 'hello') {
        if (m.kernelSpec !== KERNEL_SPEC_VERSION || !m.dtypes.includes(spec.dtype)) {
          fail(CLOSE.kernel, Errors.protocol(`the worker's kernels (spec v${m.kernelSpec}, ${m.dtypes.join('/')}) cannot compute this run (spec v${KERNEL_SPEC_VERSION}, ${spec.dtype})`));
          return;
        }
        const exec = `${REMOTE_ID_PREFIX}${m.id}`;
        if (taken.has(exec)) {
          fail(CLOSE.duplicateId, Errors.protocol(`a worker with id "${m.id}" is already connected`));
          return;
        }
        id = exec;
        taken.add(id);
        plog = log?.child({ executor: id, peer });
        ws.once('close', () => { if (state !== 'ready' && id !== null) taken.delete(id); });
        ws.send(encodeMessage({ t: 'run', v: PROTOCOL_VERSION, run: opts.run.slice(0, 200), executor: id, spec, microBatch: opts.microBatch, data: descriptor }));
        state = 'data';
        return;
      }
      if (state === 'data' && m.t === 'need') {
        state = 'streaming';
        clearTimeout(timer);
        timer = setTimeout(() => fail(CLOSE.handshakeTimeout, Errors.protocol(`the data transfer and ready took more than ${dataMs} ms`)), dataMs);
        plog?.info({ bytes: descriptor.bytes, chunks }, 'remote: streaming the dataset');
        void stream(ws).catch((e: Error) => fail(CLOSE.goingAway, Errors.executor(`data transfer failed: ${e.message}`)));
        return;
      }
      if ((state === 'data' || state === 'streaming') && m.t === 'ready') {
        clearTimeout(timer);
        ws.off('message', onMessage);
        state = 'ready';
        const exec = new RemoteExecutor({
          id: id!, ws, log: plog ?? silentLogger(), limits, dtype: spec.dtype, deadline, maxMisses,
          maxBufferedBytes: 4 * (paramCount * bpe + 4096) + (8 << 20),
          onGone: (e) => {
            const k = active.indexOf(e);
            if (k >= 0) active.splice(k, 1);
            taken.delete(e.id);
          },
        });
        if (ws.readyState !== WebSocket.OPEN) { taken.delete(id!); return; }
        active.push(exec);
        plog?.info({ workers: active.length }, 'remote: worker joined');
        notify();
        return;
      }
      fail(CLOSE.badFrame, Errors.wire(`a "${m.t}" message is out of place during the handshake (state ${state})`));
    };
    ws.on('message', onMessage);
    ws.on('close', () => clearTimeout(timer));
  }

  /** Sends the payload in chunks, one in flight at a time (the send callback paces it). */
  async function stream(ws: WebSocket): Promise<void> {
    for (let seq = 0; seq < chunks; seq++) {
      if (ws.readyState !== WebSocket.OPEN) return;
      const frame = encodeMessage({ t: 'chunk', v: PROTOCOL_VERSION, seq, bytes: chunkAt(seq) });
      await new Promise<void>((resolve, reject) => ws.send(frame, { binary: true }, (err) => (err ? reject(err) : resolve())));
    }
  }

  let actualPort: number;
  try {
    actualPort = await listenOn(server, opts.host, port, 'the worker server');
  } catch (e) {
    heartbeat.stop();
    throw e;
  }
  server.on('error', (err) => log?.error({ err: err.message }, 'remote: server error'));
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `${opts.tls ? 'wss' : 'ws'}://${hostPart}:${actualPort}`;
  log?.info({ url, authRequired: token !== undefined, tls: opts.tls !== undefined, maxPayload, data: { bytes: descriptor.bytes, payloadSha256: descriptor.payloadSha256 } }, 'remote: listening for workers');

  let closing: Promise<void> | null = null;
  return {
    port: actualPort,
    url,
    current: connected,
    waitForWorkers(n: number, timeoutMs: number): Promise<void> {
      if (connected().length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          waiters = waiters.filter((w) => w.resolve !== done);
          reject(Errors.executor(`${connected().length} of ${n} workers joined within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (): void => { clearTimeout(t); resolve(); };
        waiters.push({ n, resolve: done });
      });
    },
    close(): Promise<void> {
      closing ??= (async () => {
        heartbeat.stop();
        await Promise.all([...active].map((e) => e.close()));
        for (const ws of wss.clients) ws.terminate();
        await closeServers(wss, server);
        log?.info({ port: actualPort }, 'remote: closed');
      })();
      return closing;
    },
  };
}

function silentLogger(): pino.Logger {
  // only reached when no logger was given: a no-op with pino's call shape
  const noop = (): void => undefined;
  const l = { warn: noop, info: noop, error: noop, debug: noop, child: () => l } as unknown as pino.Logger;
  return l;
}
