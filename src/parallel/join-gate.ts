/**
 * join-gate.ts — steps 1 and 2 of the handshake (coordinator-server.ts), the coordinator's
 * HTTP side: the challenge nonce, and the admission of an upgrade (header count, path, token
 * proof, room for one more connection). Everything refused gets a bare HTTP status and a
 * coded log record naming the peer, never the headers (they carry the proof).
 * Not here: what an admitted connection says (join-handshake.ts), listening (net/ws-serve.ts).
 */

import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { refuse } from '../net/ws-serve';
import { checkClientProof, NonceStore } from '../net/challenge';
import { WORKER_LABELS } from './auth';
import { CHALLENGE_PATH, JOIN_PATH } from './messages';

/** Request headers an upgrade may carry; a worker sends about ten. */
const MAX_REQUEST_HEADERS = 64;

const peerOf = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string =>
  `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;

export interface GateOptions {
  log: pino.Logger | undefined;
  /** The shared token whose proof an upgrade must carry; undefined: none (a loopback host). */
  token: string | undefined;
  tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  maxWorkers: number;
  /** Time to the end of a request's headers (and the TLS handshake), ms. */
  headersMs: number;
  maxConnections: number;
  /** Largest frame a worker may send, bytes. */
  maxPayload: number;
  /** Called with each admitted connection (steps 3 onward). */
  onJoin(ws: WebSocket, peer: string): void;
}

export class JoinGate {
  readonly server: http.Server | https.Server;
  readonly wss: WebSocketServer;
  private readonly nonces = new NonceStore();
  /** The coordinator's proof for the 101 answer of each admitted upgrade request. */
  private readonly serverProofs = new WeakMap<http.IncomingMessage, string>();

  constructor(private readonly o: GateOptions) {
    this.server = this.httpServer();
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: o.maxPayload,
      clientTracking: true,
      // a legitimate worker sends every message as one frame, in chunks of ≥ 1 KiB on average
      maxFragments: 4,
      maxBufferedChunks: Math.ceil(o.maxPayload / 1024) + 64,
    });
    // ws's own refusals of a malformed upgrade (no key, bad version…): logged like ours
    this.wss.on('wsClientError', (err: Error, socket: Duplex, req: http.IncomingMessage) => {
      o.log?.warn(
        { code: 'GS_ERR_WIRE', peer: peerOf(req.socket), err: err.message.slice(0, 200) },
        'remote: malformed upgrade request, refused (400)',
      );
      refuse(socket, '400 Bad Request');
    });
    this.wss.on('headers', (headers, req) => {
      const p = this.serverProofs.get(req);
      if (p !== undefined) headers.push(`X-Gradsync-Server-Proof: ${p}`);
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  /** The HTTP(S) server, with its limits and its answers to bad requests. */
  private httpServer(): http.Server | https.Server {
    const { log, tls, headersMs } = this.o;
    // Slow peers (slowloris): node drops a connection whose request headers are not complete
    // after headersTimeout (checked every connectionsCheckingInterval) with a 'clientError'
    // (below); an upgrade request has no body, so the whole request gets the same time. Over
    // TLS the handshake gets it too.
    const httpOptions: http.ServerOptions = {
      headersTimeout: headersMs,
      requestTimeout: headersMs + 1000,
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersMs / 4))),
    };
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => this.onRequest(req, res);
    const server = tls
      ? https.createServer({ ...httpOptions, cert: tls.cert, key: tls.key, handshakeTimeout: headersMs }, onRequest)
      : http.createServer(httpOptions, onRequest);
    // node keeps only the first maxHeadersCount headers (silently): one more than we accept lets us tell
    server.maxHeadersCount = MAX_REQUEST_HEADERS + 1;
    server.maxConnections = this.o.maxConnections;
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // node answers nothing itself once this listener exists: a coded record, a status, the socket destroyed
      const code = err.code ?? '';
      if (code === 'ECONNRESET' || socket.destroyed) {
        socket.destroy();
        return;
      }
      const status =
        code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : code === 'HPE_HEADER_OVERFLOW'
            ? '431 Request Header Fields Too Large'
            : '400 Bad Request';
      log?.warn(
        {
          code: 'GS_ERR_WIRE',
          peer: peerOf(socket as unknown as { remoteAddress?: string; remotePort?: number }),
          httpCode: code,
          status: Number(status.slice(0, 3)),
        },
        `remote: bad HTTP request, connection refused (${status.slice(0, 3)})`,
      );
      refuse(socket, status);
    });
    if (tls) {
      server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: { remoteAddress?: string; remotePort?: number }) => {
        log?.warn(
          { code: 'GS_ERR_WIRE', peer: peerOf(socket), tlsCode: err.code ?? null, err: err.message.slice(0, 200) },
          'remote: TLS handshake failed, connection closed',
        );
      });
    }
    return server;
  }

  /** 1. A plain request: the challenge nonce on CHALLENGE_PATH, else how to join (426). */
  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.tooManyHeaders(req, peerOf(req.socket))) {
      res.writeHead(431, { Connection: 'close' }).end();
      return;
    }
    if (req.method === 'GET' && req.url === CHALLENGE_PATH) {
      const n = this.nonces.issue(req.socket.remoteAddress ?? '?');
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' }).end(n);
      return;
    }
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('gradsync coordinator: join with `gradsync worker --join ws://HOST:PORT`\n');
  }

  /** 2. An upgrade: admitted (and handed to onJoin as a websocket) or refused with its status. */
  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const { log, maxWorkers } = this.o;
    socket.on('error', () => socket.destroy());
    const peer = peerOf(req.socket);
    if (this.tooManyHeaders(req, peer)) {
      refuse(socket, '431 Request Header Fields Too Large');
      return;
    }
    if (req.url !== JOIN_PATH) {
      refuse(socket, '404 Not Found');
      return;
    }
    if (!this.proven(req, socket, peer)) return;
    if (this.wss.clients.size >= maxWorkers + 8) {
      log?.warn({ code: 'GS_ERR_EXECUTOR', peer, maxWorkers }, 'remote: join refused (503, full)');
      refuse(socket, '503 Service Unavailable');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.o.onJoin(ws, peer));
  }

  /** With a token: the upgrade's proof checked against a fresh nonce (else 401); the coordinator's own proof kept for the 101. */
  private proven(req: http.IncomingMessage, socket: Duplex, peer: string): boolean {
    const token = this.o.token;
    if (token === undefined) return true;
    const r = checkClientProof(req.headers, this.nonces, WORKER_LABELS, token);
    if (!r.ok) {
      this.o.log?.warn({ code: 'GS_ERR_AUTH', peer, reason: r.reason }, 'remote: join refused (401)');
      refuse(socket, '401 Unauthorized');
      return false;
    }
    this.serverProofs.set(req, r.serverProof);
    return true;
  }

  private tooManyHeaders(req: http.IncomingMessage, peer: string): boolean {
    if (req.rawHeaders.length / 2 <= MAX_REQUEST_HEADERS) return false;
    this.o.log?.warn({ code: 'GS_ERR_WIRE', peer, maxHeaders: MAX_REQUEST_HEADERS }, 'remote: request refused (431, too many headers)');
    return true;
  }
}
