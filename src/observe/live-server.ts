/**
 * live-server.ts — the coordinator's read-only live record stream (`gradsync train --monitor`).
 *
 * A websocket server that sends every published record, as one JSON text frame, to every
 * subscriber. Clients send nothing. The protocol, per subscriber:
 *   1. HTTP upgrade. With a token configured, the request must carry `Authorization: Bearer
 *      <token>`; the check compares sha256 digests with crypto.timingSafeEqual (constant time,
 *      whatever the lengths). A wrong or missing token gets `401` and the socket is destroyed
 *      before any websocket exists; a full house gets `503`. Plain HTTP requests get `426`.
 *   2. A hello frame `{"gradsyncLive":1,"history":N}` (no `schema` key: it is not a record).
 *   3. The snapshot: the run's start record (kept for the run: a late subscriber needs its
 *      config and model), then the last N other published records (N ≤ `history`), oldest first.
 *   4. Every record published from then on, until the server closes (close code 1001).
 * Without a token the server only starts on a loopback host (127.0.0.0/8, ::1, localhost).
 * publish() never blocks: a subscriber whose bufferedAmount exceeds maxBufferedBytes is
 * dropped (terminated, logged). Pings every heartbeatMs; a peer that missed a pong is dropped.
 * perMessageDeflate is off; maxPayload is tiny (clients send nothing; any message closes the
 * connection with 1008). The token never reaches a log.
 * Not here: the trainer's side of publishing (train/), the client (live-client.ts).
 */

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { WebSocketServer, WebSocket } from 'ws';
import { isLoopback } from '../net/loopback';
import { closeServers, listenOn, refuse, startHeartbeat } from '../net/ws-serve';
import { Errors, GradsyncError } from '../errors';

export interface LiveServerOptions {
  /** Interface to listen on. Without a token it must be a loopback host. */
  host: string;
  /** TCP port; 0 picks a free one (see the returned `port`). */
  port: number;
  /** Shared secret subscribers present as `Authorization: Bearer <token>`. Required off loopback. */
  token?: string;
  /** Records replayed to a new subscriber (the most recent ones). Default 500. */
  history?: number;
  logger?: pino.Logger;
  /** Subscribers at once; more are refused with 503. Default 32. */
  maxSubscribers?: number;
  /** A subscriber with more than this many bytes queued is dropped. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Ping interval, ms; a subscriber that missed the previous pong is dropped. Default 30,000. */
  heartbeatMs?: number;
}

export interface LiveServer {
  /** The port actually listened on. */
  port: number;
  /** Sends a record to every subscriber and keeps it for the history. Never throws, never blocks. */
  publish(record: object): void;
  /** Closes every subscriber (1001) and the server. */
  close(): Promise<void>;
}

/** The first frame a subscriber receives. */
export interface LiveHello {
  gradsyncLive: 1;
  /** Records of the snapshot that follow. */
  history: number;
}

const digest = (s: string): Buffer => crypto.createHash('sha256').update(s, 'utf8').digest();

/** Constant-time check of an Authorization header against the token. */
export function bearerMatches(header: string | undefined, tokenDigest: Buffer): boolean {
  const m = /^Bearer ([^\s]+)\s*$/i.exec(header ?? '');
  // compare a digest even when the header is absent, so timing says nothing either way
  return crypto.timingSafeEqual(digest(m ? m[1]! : ''), tokenDigest) && m !== null;
}

function intOption(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`live server option "${name}" must be an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
}

/** Starts the live record stream; resolves once listening. */
export async function startLiveServer(opts: LiveServerOptions): Promise<LiveServer> {
  if (typeof opts.host !== 'string' || opts.host.length === 0) throw new TypeError('live server option "host" must be a non-empty string');
  const port = intOption('port', opts.port, 0, 0, 65535);
  const historyCap = intOption('history', opts.history, 500, 0, 1_000_000);
  const maxSubscribers = intOption('maxSubscribers', opts.maxSubscribers, 32, 1, 10_000);
  const maxBuffered = intOption('maxBufferedBytes', opts.maxBufferedBytes, 8 * 1024 * 1024, 1024, 2 ** 31);
  const heartbeatMs = intOption('heartbeatMs', opts.heartbeatMs, 30_000, 10, 3_600_000);
  if (opts.token !== undefined && (typeof opts.token !== 'string' || opts.token.length === 0 || opts.token.length > 4096)) {
    throw Errors.auth('the live stream token must be a non-empty string of at most 4096 characters');
  }
  if (opts.token === undefined && !isLoopback(opts.host)) {
    throw new GradsyncError(
      'GS_ERR_AUTH',
      `refusing to serve the live record stream on ${opts.host} without a token: anyone who can reach it could read the run`,
      'pass a token (GRADSYNC_TOKEN) or listen on 127.0.0.1',
      2,
    );
  }
  const tokenDigest = opts.token !== undefined ? digest(opts.token) : null;
  const log = opts.logger;

  const history: string[] = [];
  let startFrame: string | null = null;
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('gradsync live record stream: connect with a websocket client, e.g. `gradsync tail ws://HOST:PORT`\n');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.maxHeadersCount = 100;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 1024,
    maxFragments: 4,
    maxBufferedChunks: 16,
    clientTracking: true,
  });

  const heartbeat = startHeartbeat(wss, heartbeatMs, () => log?.warn('live: subscriber missed a pong, dropped'));

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    if (tokenDigest && !bearerMatches(req.headers.authorization, tokenDigest)) {
      log?.warn({ remote, reason: req.headers.authorization ? 'wrong token' : 'no token' }, 'live: subscriber refused (401)');
      refuse(socket, '401 Unauthorized', ['WWW-Authenticate: Bearer']);
      return;
    }
    if (wss.clients.size >= maxSubscribers) {
      log?.warn({ remote, maxSubscribers }, 'live: subscriber refused (503, full)');
      refuse(socket, '503 Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      heartbeat.track(ws);
      ws.on('message', () => ws.close(1008, 'read-only stream: clients send nothing'));
      ws.on('error', (err) => log?.warn({ remote, err: err.message }, 'live: subscriber error'));
      ws.on('close', () => log?.info({ remote, subscribers: wss.clients.size }, 'live: subscriber left'));
      const hello: LiveHello = { gradsyncLive: 1, history: history.length + (startFrame === null ? 0 : 1) };
      ws.send(JSON.stringify(hello));
      if (startFrame !== null) ws.send(startFrame);
      for (const frame of history) ws.send(frame);
      log?.info({ remote, replayed: history.length, subscribers: wss.clients.size }, 'live: subscriber joined');
    });
  });

  let actualPort: number;
  try {
    actualPort = await listenOn(server, opts.host, port, 'the live record stream');
  } catch (e) {
    heartbeat.stop();
    throw e;
  }
  server.on('error', (err) => log?.error({ err: err.message }, 'live: server error'));
  log?.info({ host: opts.host, port: actualPort, authRequired: tokenDigest !== null, history: historyCap }, 'live: listening');

  let closing: Promise<void> | null = null;
  return {
    port: actualPort,
    publish(record: object): void {
      if (closing) return;
      let frame: string;
      try {
        frame = JSON.stringify(record);
      } catch (err) {
        log?.warn({ err: (err as Error).message }, 'live: record not serialisable, not published');
        return;
      }
      if ((record as { msg?: unknown }).msg === 'start') startFrame = frame;
      else if (historyCap > 0) {
        history.push(frame);
        if (history.length > historyCap) history.shift();
      }
      for (const ws of wss.clients) {
        if (ws.readyState !== WebSocket.OPEN) continue;
        if (ws.bufferedAmount > maxBuffered) {
          log?.warn({ bufferedAmount: ws.bufferedAmount, maxBufferedBytes: maxBuffered }, 'live: slow subscriber dropped');
          ws.terminate();
          continue;
        }
        ws.send(frame);
      }
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
        log?.info({ port: actualPort }, 'live: closed');
      })();
      return closing;
    },
  };
}
