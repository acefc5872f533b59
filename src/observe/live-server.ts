/**
 * live-server.ts — the coordinator's read-only live record stream (`gradsync train --monitor`).
 *
 * A websocket server (wss:// with a certificate) that sends every published record, as one
 * JSON text frame, to every subscriber. Clients send nothing. The protocol, per subscriber:
 *   1. With a token: HTTP GET CHALLENGE_PATH → a one-time nonce; the upgrade request carries
 *      the nonce, HMAC(token, nonce) and a nonce of the subscriber's own (net/challenge.ts,
 *      with LIVE_LABELS: a subscriber's proof is worth nothing to the worker listener). A
 *      wrong, missing or replayed proof gets `401` and the socket is destroyed before any
 *      websocket exists; a full house gets `503`. The 101 carries the server's proof over both
 *      nonces. Other plain HTTP requests (the pages and the challenge aside) get `426`.
 *   2. A hello frame `{"gradsyncLive":1,"history":N}` (no `schema` key: it is not a record).
 *   3. The snapshot: the run's start record (kept for the run: a late subscriber needs its
 *      config and model), then the last N other published records (N ≤ `history`), oldest first.
 *   4. Every record published from then on, until the server closes (close code 1001).
 * A dashboard (the `pages` option: GET / and its files, served here too) subscribes on
 * DASHBOARD_STREAM_PATH: its snapshot is the whole run, decimated (dash-history.ts), and while
 * more than `dashboardSkipBytes` are queued for it, step records are skipped for it (it draws
 * what arrives; other records always go). A browser cannot set the proof headers: it may put
 * them in the upgrade's query (PROOF_QUERY), and then reads the server's proof in the hello.
 * Without a token the server only starts on a loopback host (127.0.0.0/8, ::1, localhost), and
 * answers only requests whose Host is a loopback name (a re-pointed DNS name gets 421). An
 * upgrade whose Origin is not the server's own (another site's page, through the user's
 * browser) gets 403.
 * publish() never blocks: a subscriber whose bufferedAmount exceeds maxBufferedBytes is
 * dropped. Pings every heartbeatMs; a peer that missed a pong is dropped. perMessageDeflate is
 * off; maxPayload is tiny (clients send nothing; any message closes the connection with 1008).
 * Every event (listening, a subscriber connected, refused, dropped, disconnected) is a
 * `monitor: …` record with the peer's address; the token never reaches a log.
 * Not here: the trainer's side of publishing (train/, cli/train.ts), the client (live-client.ts).
 */

import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { WebSocketServer, WebSocket } from 'ws';
import { AUTH_HEADERS, CHALLENGE_PATH, checkClientProof, NonceStore } from '../net/challenge';
import { crossOrigin, loopbackHost } from '../net/http-guard';
import { isLoopback } from '../net/loopback';
import { servePage, type StaticPages } from '../net/static-pages';
import { closeServers, listenOn, refuse, startHeartbeat } from '../net/ws-serve';
import { Errors, GradsyncError } from '../errors';
import { DashHistory, type DashHistoryOptions } from './dash-history';
import {
  DASHBOARD_STREAM_PATH,
  LIVE_INFO_PATH,
  LIVE_LABELS,
  LIVE_MSG_PREFIX,
  PROOF_QUERY,
  type LiveHello,
  type LiveInfo,
} from './live-protocol';

export { LIVE_LABELS, LIVE_MSG_PREFIX, type LiveHello } from './live-protocol';

export interface LiveServerOptions {
  /** Interface to listen on. Without a token it must be a loopback host. */
  host: string;
  /** TCP port; 0 picks a free one (see the returned `port`). */
  port: number;
  /** Shared secret subscribers prove (never send). Required off loopback. */
  token?: string;
  /** PEM certificate and key: the stream is served over wss:// (https for the challenge). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Records replayed to a new subscriber (the most recent ones). Default 500. */
  history?: number;
  /** Where the server's own records go; also settable later (LiveServer.useLogger). */
  logger?: pino.Logger;
  /** Subscribers at once; more are refused with 503. Default 32. */
  maxSubscribers?: number;
  /** A subscriber with more than this many bytes queued is dropped. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Ping interval, ms; a subscriber that missed the previous pong is dropped. Default 30,000. */
  heartbeatMs?: number;
  /** Files answered to GET (the dashboard: '/' and what it loads). Without them GET / gets 426. */
  pages?: StaticPages;
  /** What is kept for a dashboard's snapshot (dash-history.ts). */
  dashboard?: DashHistoryOptions;
  /** A dashboard with more than this many bytes queued is skipped step records. Default half of maxBufferedBytes (4 MiB). */
  dashboardSkipBytes?: number;
}

export interface LiveServer {
  /** The port actually listened on. */
  port: number;
  /** ws://HOST:PORT, or wss:// with a certificate. */
  url: string;
  /**
   * Sends a record to every subscriber and keeps it for the history. Never throws, never blocks.
   * `frame`, when given, is the record's JSON text already (a log line): it is sent as it is.
   */
  publish(record: object, frame?: string): void;
  /**
   * Sends the server's own records to `log` from now on, and first those it kept (at most
   * HELD_RECORDS) while it had none: a run's log exists only after the server listens.
   */
  useLogger(log: pino.Logger): void;
  /** Closes every subscriber (1001) and the server. */
  close(): Promise<void>;
}

/** The server's own records kept while it has no logger; later ones are not kept. */
export const HELD_RECORDS = 100;

function intOption(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`live server option "${name}" must be an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
}

const peerOf = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string =>
  `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;

/** The server's records: to the logger, or held (bounded) until there is one. */
class EventLog {
  private held: ['info' | 'warn' | 'error', object, string][] = [];
  constructor(private log: pino.Logger | undefined) {}
  write(level: 'info' | 'warn' | 'error', fields: object, msg: string): void {
    if (this.log) this.log[level](fields, LIVE_MSG_PREFIX + msg);
    else if (this.held.length < HELD_RECORDS) this.held.push([level, fields, msg]);
  }
  use(log: pino.Logger): void {
    this.log = log;
    const held = this.held;
    this.held = [];
    for (const [level, fields, msg] of held) this.write(level, fields, msg);
  }
}

/** Starts the live record stream; resolves once listening. */
export async function startLiveServer(opts: LiveServerOptions): Promise<LiveServer> {
  if (typeof opts.host !== 'string' || opts.host.length === 0) throw new TypeError('live server option "host" must be a non-empty string');
  const port = intOption('port', opts.port, 0, 0, 65535);
  const historyCap = intOption('history', opts.history, 500, 0, 1_000_000);
  const maxSubscribers = intOption('maxSubscribers', opts.maxSubscribers, 32, 1, 10_000);
  const maxBuffered = intOption('maxBufferedBytes', opts.maxBufferedBytes, 8 * 1024 * 1024, 1024, 2 ** 31);
  const heartbeatMs = intOption('heartbeatMs', opts.heartbeatMs, 30_000, 10, 3_600_000);
  const skipBytes = intOption('dashboardSkipBytes', opts.dashboardSkipBytes, Math.floor(maxBuffered / 2), 0, 2 ** 31);
  const token = opts.token;
  if (token !== undefined && (typeof token !== 'string' || token.length === 0 || token.length > 4096)) {
    throw Errors.auth('the live stream token must be a non-empty string of at most 4096 characters');
  }
  if (token === undefined && !isLoopback(opts.host)) {
    throw new GradsyncError(
      'GS_ERR_AUTH',
      `refusing to serve the live record stream on ${opts.host} without a token: anyone who can reach it could read the run`,
      'pass a token (GRADSYNC_TOKEN) or listen on 127.0.0.1',
      2,
    );
  }
  const tls = opts.tls;
  const events = new EventLog(opts.logger);
  const nonces = new NonceStore();
  /** The server's proof for the 101 answer of each admitted upgrade request. */
  const serverProofs = new WeakMap<http.IncomingMessage, string>();
  /** Each subscriber's address and when it connected. */
  const subscribers = new WeakMap<WebSocket, { peer: string; since: number; dashboard: boolean }>();
  const peerOfWs = (ws: WebSocket): string => subscribers.get(ws)?.peer ?? '?';

  const history: string[] = [];
  const dash = new DashHistory({ maxBytes: Math.floor(maxBuffered / 4), ...opts.dashboard });
  let startFrame: string | null = null;
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (token === undefined && !loopbackHost(req.headers)) {
      res.writeHead(421, { 'Content-Type': 'text/plain', Connection: 'close' }).end('this server answers only to a loopback host name\n');
      return;
    }
    if (servePage(req, res, opts.pages)) return;
    if (req.method === 'GET' && req.url === LIVE_INFO_PATH) {
      const info: LiveInfo = { gradsyncLive: 1, authRequired: token !== undefined };
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(info));
      return;
    }
    if (req.method === 'GET' && req.url === CHALLENGE_PATH) {
      const n = nonces.issue(req.socket.remoteAddress ?? '?');
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' }).end(n);
      return;
    }
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('gradsync live record stream: connect with a websocket client, e.g. `gradsync tail ws://HOST:PORT`\n');
  };
  const httpOptions: http.ServerOptions = { headersTimeout: 10_000, requestTimeout: 10_000 };
  const server = tls
    ? https.createServer({ ...httpOptions, cert: tls.cert, key: tls.key, handshakeTimeout: 10_000 }, onRequest)
    : http.createServer(httpOptions, onRequest);
  server.maxHeadersCount = 100;
  if (tls) {
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: { remoteAddress?: string; remotePort?: number }) => {
      events.write(
        'warn',
        { code: 'GS_ERR_WIRE', peer: peerOf(socket), tlsCode: err.code ?? null, err: err.message.slice(0, 200) },
        'TLS handshake failed, connection closed',
      );
    });
  }
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 1024,
    maxFragments: 4,
    maxBufferedChunks: 16,
    clientTracking: true,
  });
  wss.on('headers', (headers, req) => {
    const p = serverProofs.get(req);
    if (p !== undefined) headers.push(`X-Gradsync-Server-Proof: ${p}`);
  });

  const heartbeat = startHeartbeat(wss, heartbeatMs, (ws) =>
    events.write('warn', { code: 'GS_ERR_IO', peer: peerOfWs(ws) }, 'subscriber missed a pong, dropped'),
  );

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const peer = peerOf(req.socket);
    const target = new URL(req.url ?? '/', 'http://x');
    const dashboard = target.pathname === DASHBOARD_STREAM_PATH;
    const hostOk = token !== undefined || loopbackHost(req.headers);
    if (!hostOk || crossOrigin(req.headers)) {
      const reason = hostOk ? 'cross-origin request' : 'not a loopback host name';
      const origin = typeof req.headers.origin === 'string' ? req.headers.origin.slice(0, 200) : null;
      events.write('warn', { code: 'GS_ERR_AUTH', peer, reason, status: 403, origin }, 'subscriber refused (403)');
      refuse(socket, '403 Forbidden');
      return;
    }
    // a browser's proof comes in the query; its server proof then goes in the hello
    let queryProof: string | undefined;
    if (token !== undefined) {
      const q = target.searchParams;
      const fromQuery = req.headers[AUTH_HEADERS.proof] === undefined && q.has(PROOF_QUERY.proof);
      const headers = fromQuery
        ? {
            [AUTH_HEADERS.nonce]: q.get(PROOF_QUERY.nonce) ?? undefined,
            [AUTH_HEADERS.proof]: q.get(PROOF_QUERY.proof) ?? undefined,
            [AUTH_HEADERS.clientNonce]: q.get(PROOF_QUERY.clientNonce) ?? undefined,
          }
        : req.headers;
      const r = checkClientProof(headers, nonces, LIVE_LABELS, token);
      if (!r.ok) {
        events.write('warn', { code: 'GS_ERR_AUTH', peer, reason: r.reason, status: 401 }, 'subscriber refused (401)');
        refuse(socket, '401 Unauthorized');
        return;
      }
      serverProofs.set(req, r.serverProof);
      if (fromQuery) queryProof = r.serverProof;
    }
    if (wss.clients.size >= maxSubscribers) {
      events.write(
        'warn',
        { code: 'GS_ERR_IO', peer, reason: 'too many subscribers', status: 503, maxSubscribers },
        'subscriber refused (503, full)',
      );
      refuse(socket, '503 Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      subscribers.set(ws, { peer, since: Date.now(), dashboard });
      heartbeat.track(ws);
      ws.once('message', () => {
        events.write('warn', { code: 'GS_ERR_PROTOCOL', peer }, 'subscriber sent a message, closed (1008)');
        ws.close(1008, 'read-only stream: clients send nothing');
      });
      ws.on('error', (err) => events.write('warn', { code: 'GS_ERR_WIRE', peer, err: err.message.slice(0, 200) }, 'subscriber error'));
      ws.on('close', (code: number) => {
        const seconds = (Date.now() - subscribers.get(ws)!.since) / 1000;
        events.write('info', { peer, closeCode: code, seconds, subscribers: wss.clients.size }, 'subscriber disconnected');
      });
      const snap = dashboard ? dash.snapshot() : null;
      const frames = snap ? snap.frames : history;
      const hello: LiveHello = {
        gradsyncLive: 1,
        history: frames.length + (startFrame === null ? 0 : 1),
        ...(queryProof !== undefined ? { serverProof: queryProof } : {}),
        ...(snap ? { steps: { seen: dash.seen, sent: snap.steps } } : {}),
      };
      ws.send(JSON.stringify(hello));
      if (startFrame !== null) ws.send(startFrame);
      for (const frame of frames) ws.send(frame);
      events.write(
        'info',
        { peer, replayed: frames.length, subscribers: wss.clients.size, ...(dashboard ? { dashboard: true } : {}) },
        'subscriber connected',
      );
    });
  });

  let actualPort: number;
  try {
    actualPort = await listenOn(server, opts.host, port, 'the live record stream');
  } catch (e) {
    heartbeat.stop();
    throw e;
  }
  server.on('error', (err) => events.write('error', { code: 'GS_ERR_IO', err: err.message }, 'server error'));
  const url = `${tls ? 'wss' : 'ws'}://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${actualPort}`;
  events.write(
    'info',
    { host: opts.host, port: actualPort, tls: tls !== undefined, authRequired: token !== undefined, history: historyCap, maxSubscribers },
    'listening',
  );

  let closing: Promise<void> | null = null;
  return {
    port: actualPort,
    url,
    publish(record: object, text?: string): void {
      if (closing) return;
      let frame: string;
      try {
        frame = text ?? JSON.stringify(record);
      } catch (err) {
        events.write('warn', { err: (err as Error).message }, 'record not serialisable, not published');
        return;
      }
      const msg = (record as { msg?: unknown }).msg;
      if (msg === 'start') startFrame = frame;
      // the server's own records are streamed, not replayed: refusals of anyone who can reach
      // the port would otherwise push the run's records out of a late subscriber's snapshot
      else if (!(typeof msg === 'string' && msg.startsWith(LIVE_MSG_PREFIX))) {
        dash.add(record, frame);
        if (historyCap > 0) {
          history.push(frame);
          if (history.length > historyCap) history.shift();
        }
      }
      const isStepRecord = msg === 'step';
      const slow: { peer: string; bufferedAmount: number }[] = [];
      for (const ws of wss.clients) {
        if (ws.readyState !== WebSocket.OPEN) continue;
        if (ws.bufferedAmount > maxBuffered) {
          slow.push({ peer: peerOfWs(ws), bufferedAmount: ws.bufferedAmount });
          ws.terminate();
          continue;
        }
        if (isStepRecord && ws.bufferedAmount > skipBytes && subscribers.get(ws)?.dashboard === true) continue;
        ws.send(frame);
      }
      // logged after the loop: the record comes back here (the run's log is published) and is sent at once
      for (const s of slow) events.write('warn', { code: 'GS_ERR_IO', ...s, maxBufferedBytes: maxBuffered }, 'slow subscriber dropped');
    },
    useLogger(log: pino.Logger): void {
      events.use(log);
    },
    close(): Promise<void> {
      closing ??= (async () => {
        heartbeat.stop();
        const clients = [...wss.clients];
        await Promise.all(
          clients.map(
            (ws) =>
              new Promise<void>((resolve) => {
                if (ws.readyState === WebSocket.CLOSED) {
                  resolve();
                  return;
                }
                const t = setTimeout(() => ws.terminate(), 1000);
                ws.once('close', () => {
                  clearTimeout(t);
                  resolve();
                });
                ws.close(1001, 'gradsync run ended');
              }),
          ),
        );
        await closeServers(wss, server);
        events.write('info', { port: actualPort }, 'closed');
      })();
      return closing;
    },
  };
}
