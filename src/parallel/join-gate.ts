/**
 * join-gate.ts — steps 1 and 2 of the handshake (coordinator-server.ts), the coordinator's
 * HTTP side: the challenge nonce, the browser worker's page, and the admission of an upgrade
 * (header count, path, origin, token proof, room for one more connection). Everything refused gets a bare HTTP status and a
 * coded log record naming the peer, never the headers (they carry the proof).
 * Not here: what an admitted connection says (join-handshake.ts), listening (net/ws-serve.ts).
 */

import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { refuse } from '../net/ws-serve';
import { AUTH_HEADERS, checkClientProof, NonceStore } from '../net/challenge';
import { crossOrigin, loopbackHost } from '../net/http-guard';
import { servePage, type StaticPages } from '../net/static-pages';
import { WORKER_LABELS } from './auth';
import { CHALLENGE_PATH, JOIN_PATH, JOIN_PROOF_QUERY, WORKER_INFO_PATH } from './messages';

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
  /** The browser worker's files; absent: not served. */
  pages?: StaticPages | undefined;
  /** Called with each admitted connection (steps 3 onward); `inBandProof`: the coordinator's proof, for the run message (a proof in the query). */
  onJoin(ws: WebSocket, peer: string, inBandProof?: string): void;
}

export class JoinGate {
  readonly server: http.Server | https.Server;
  readonly wss: WebSocketServer;
  private readonly nonces = new NonceStore();
  /** The coordinator's proof for the 101 answer of each admitted upgrade request. */
  private readonly serverProofs = new WeakMap<http.IncomingMessage, string>();
  /** The same, for the run message, of the requests that proved the token in their query. */
  private readonly inBandProofs = new WeakMap<http.IncomingMessage, string>();

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

  /**
   * 1. A plain request: the challenge nonce on CHALLENGE_PATH; the browser worker's files and
   * whether it needs a token; else how to join (426). A browser's request from another site's
   * page, or (without a token) to a name that is not loopback (DNS rebinding), is refused (403).
   */
  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.tooManyHeaders(req, peerOf(req.socket))) {
      res.writeHead(431, { Connection: 'close' }).end();
      return;
    }
    if (this.foreignBrowser(req)) {
      res
        .writeHead(403, { 'Content-Type': 'text/plain', Connection: 'close' })
        .end('refused: another origin, or a host name that is not loopback\n');
      return;
    }
    if (servePage(req, res, this.o.pages)) return;
    if (this.o.pages !== undefined && req.method === 'GET' && req.url === WORKER_INFO_PATH) {
      res
        .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
        .end(JSON.stringify({ authRequired: this.o.token !== undefined }));
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
    const target = new URL(req.url ?? '/', 'http://x');
    if (target.pathname !== JOIN_PATH) {
      refuse(socket, '404 Not Found');
      return;
    }
    if (this.foreignBrowser(req)) {
      log?.warn({ code: 'GS_ERR_AUTH', peer, reason: 'cross-origin or non-loopback host' }, 'remote: join refused (403)');
      refuse(socket, '403 Forbidden');
      return;
    }
    if (!this.proven(req, socket, peer, target.searchParams)) return;
    if (this.wss.clients.size >= maxWorkers + 8) {
      log?.warn({ code: 'GS_ERR_EXECUTOR', peer, maxWorkers }, 'remote: join refused (503, full)');
      refuse(socket, '503 Service Unavailable');
      return;
    }
    const inBand = this.inBandProofs.get(req);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.o.onJoin(ws, peer, inBand));
  }

  /** A browser's request that another site's page made, or (without a token) to a host name that is not loopback. */
  private foreignBrowser(req: http.IncomingMessage): boolean {
    return crossOrigin(req.headers) || (this.o.token === undefined && !loopbackHost(req.headers));
  }

  /**
   * With a token: the upgrade's proof (its headers, or for a browser its query) checked against a
   * fresh nonce (else 401); the coordinator's own proof kept for the 101 (and, for a proof in the
   * query, for the run message: a browser cannot read the 101's headers).
   */
  private proven(req: http.IncomingMessage, socket: Duplex, peer: string, q: URLSearchParams): boolean {
    const token = this.o.token;
    if (token === undefined) return true;
    const fromQuery = req.headers[AUTH_HEADERS.proof] === undefined && q.has(JOIN_PROOF_QUERY.proof);
    const headers = fromQuery
      ? {
          ...req.headers,
          [AUTH_HEADERS.nonce]: q.get(JOIN_PROOF_QUERY.nonce) ?? undefined,
          [AUTH_HEADERS.proof]: q.get(JOIN_PROOF_QUERY.proof) ?? undefined,
          [AUTH_HEADERS.clientNonce]: q.get(JOIN_PROOF_QUERY.clientNonce) ?? undefined,
        }
      : req.headers;
    const r = checkClientProof(headers, this.nonces, WORKER_LABELS, token);
    if (!r.ok) {
      this.o.log?.warn({ code: 'GS_ERR_AUTH', peer, reason: r.reason }, 'remote: join refused (401)');
      refuse(socket, '401 Unauthorized');
      return false;
    }
    this.serverProofs.set(req, r.serverProof);
    if (fromQuery) this.inBandProofs.set(req, r.serverProof);
    return true;
  }

  private tooManyHeaders(req: http.IncomingMessage, peer: string): boolean {
    if (req.rawHeaders.length / 2 <= MAX_REQUEST_HEADERS) return false;
    this.o.log?.warn({ code: 'GS_ERR_WIRE', peer, maxHeaders: MAX_REQUEST_HEADERS }, 'remote: request refused (431, too many headers)');
    return true;
  }
}
