/**
 * live-client.ts — subscribing to a coordinator's live record stream (live-server.ts).
 *
 * subscribeLive connects (ws://, or wss:// trusting `ca` too). With a token it proves it and
 * never sends it: GET the challenge nonce, upgrade with HMAC(token, nonce) and a nonce of its
 * own (net/challenge.ts, LIVE_LABELS), and check the server's proof on the 101 before reading
 * any frame — a server that cannot prove it holds the token is left at once (GS_ERR_AUTH).
 * Then it checks the hello frame and hands every following text frame to onLine, in order, one at
 * a time: when onLine returns a promise the socket is paused while it is pending
 * (backpressure, e.g. a slow stdout). The first `hello.history` lines are the snapshot;
 * onSnapshot is called after the last of them (at once when it is empty).
 * Resolves with the close code and reason when the stream ends (server closed, or the
 * signal aborted: code 1000); rejects with a GradsyncError when it cannot connect:
 * GS_ERR_AUTH for 401 or a server without the token's proof, GS_ERR_IO for refused or
 * unreachable (and a certificate not trusted: --ca), GS_ERR_PROTOCOL for a peer that does not
 * speak the stream. The token never reaches an error message.
 * Not here: parsing records (tail.ts), rendering (render.ts).
 */

import type * as http from 'node:http';
import { WebSocket, type RawData } from 'ws';
import { Errors } from '../errors';
import { AUTH_HEADERS, proofMatches } from '../net/challenge';
import { proveToken, untrustedNote } from '../net/challenge-client';
import { LIVE_LABELS, type LiveHello } from './live-server';

export interface LiveSubscribeOptions {
  /** The shared token, proven to the server (and the server's proof checked); never sent. */
  token?: string;
  /** Extra CA certificate(s) to trust for wss:// (a self-signed coordinator). */
  ca?: string | Buffer;
  signal?: AbortSignal;
  /** Largest frame accepted, bytes. Default 16 MiB. */
  maxPayload?: number;
  /** Milliseconds allowed for the opening handshake. Default 10,000. */
  handshakeTimeoutMs?: number;
}

export interface LiveHandlers {
  onHello?(hello: LiveHello): void;
  /** One frame's text (one record as JSON). A returned promise is awaited before the next line. */
  onLine(line: string): void | Promise<void>;
  onSnapshot?(): void;
}

/** Checks a ws:// or wss:// URL; throws GS_ERR_USAGE naming it otherwise. */
export function parseLiveUrl(target: string): URL {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw Errors.usage(`"${target}" is not a URL`, 'expected ws://HOST:PORT or wss://HOST:PORT');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw Errors.usage(`"${target}" is not a ws:// or wss:// URL`);
  if (url.username || url.password) throw Errors.usage('put the token in --token-file (or the environment), not in the URL');
  return url;
}

const rawText = (data: RawData): string =>
  (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');

const WHO = 'the live stream';

export async function subscribeLive(
  target: string,
  handlers: LiveHandlers,
  opts: LiveSubscribeOptions = {},
): Promise<{ code: number; reason: string }> {
  const url = parseLiveUrl(target);
  const aborted = { code: 1000, reason: 'aborted' };
  if (opts.signal?.aborted) return aborted;
  let proof: { headers: Record<string, string>; expect: string } | null = null;
  if (opts.token !== undefined) {
    try {
      proof = await proveToken(url, opts.token, LIVE_LABELS, opts.ca, WHO, opts.signal);
    } catch (e) {
      if (opts.signal?.aborted) return aborted;
      throw e;
    }
  }
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      resolve(aborted);
      return;
    }
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: opts.maxPayload ?? 16 * 1024 * 1024,
      handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
      followRedirects: false,
      headers: proof?.headers ?? {},
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    });
    let opened = false;
    let settled = false;
    let hello: LiveHello | null = null;
    let snapshotLeft = 0;
    // frames are handled one at a time, in order; the socket pauses while many are pending
    let chain: Promise<void> = Promise.resolve();
    let pending = 0;
    let failure: Error | null = null;

    const finish = (code: number, reason: string): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      if (failure) reject(failure);
      else resolve({ code, reason });
    };
    const onAbort = (): void => {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'subscriber done');
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const fail = (err: Error): void => {
      failure ??= err;
      ws.terminate();
    };

    const enqueue = (line: string): void => {
      pending++;
      if (pending > 64 && !ws.isPaused) ws.pause();
      chain = chain
        .then(async () => {
          if (failure) return;
          await handlers.onLine(line);
          if (snapshotLeft > 0 && --snapshotLeft === 0) handlers.onSnapshot?.();
        })
        .catch((err: unknown) => fail(err instanceof Error ? err : new Error(String(err))))
        .finally(() => {
          pending--;
          if (pending <= 16 && ws.isPaused) ws.resume();
        });
    };

    ws.on('open', () => {
      opened = true;
    });
    ws.on('upgrade', (res: http.IncomingMessage) => {
      // before any frame is read: a server that cannot prove it holds the token is not the run's
      if (proof !== null && !proofMatches(res.headers[AUTH_HEADERS.serverProof], proof.expect))
        fail(Errors.auth(`${url.host} could not prove it holds the token: not reading its stream`));
    });
    ws.on('unexpected-response', (_req, res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      fail(
        code === 401
          ? Errors.auth(
              `${url.host} refused the subscription (401): ${opts.token !== undefined ? 'wrong token' : 'it requires a token (GRADSYNC_TOKEN or --token-file)'}`,
            )
          : Errors.protocol(`${url.host} answered HTTP ${code} instead of opening the live stream`),
      );
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      const tls = untrustedNote(err, WHO);
      if (tls !== null) fail(Errors.io(`cannot subscribe to ${url.host}: ${tls}`));
      else if (!opened)
        fail(Errors.io(`cannot subscribe to ${url.host}: ${err.code ?? err.message}`, 'is `gradsync train --monitor` running there?'));
      else fail(Errors.io(`live stream from ${url.host} failed: ${err.code ?? err.message}`));
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (failure) return;
      if (isBinary) {
        fail(Errors.protocol(`${url.host} sent a binary frame; the live stream is JSON text`));
        return;
      }
      const text = rawText(data);
      if (!hello) {
        let h: unknown;
        try {
          h = JSON.parse(text);
        } catch {
          h = null;
        }
        const ok =
          typeof h === 'object' &&
          h !== null &&
          (h as LiveHello).gradsyncLive === 1 &&
          Number.isInteger((h as LiveHello).history) &&
          (h as LiveHello).history >= 0;
        if (!ok) {
          fail(Errors.protocol(`${url.host} does not speak the gradsync live stream (bad hello)`));
          return;
        }
        hello = h as LiveHello;
        snapshotLeft = hello.history;
        handlers.onHello?.(hello);
        if (snapshotLeft === 0) handlers.onSnapshot?.();
        return;
      }
      enqueue(text);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      // deliver what was received before the close, then settle
      void chain.then(() => finish(code, reason.toString('utf8')));
    });
  });
}
