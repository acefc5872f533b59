/**
 * ws-serve.ts — what every gradsync websocket server shares: the heartbeat, listening with a
 * clear error, refusing an upgrade with a bare HTTP status, and closing. Used by the live
 * record stream (observe/live-server.ts) and the worker server (parallel/coordinator-server.ts).
 * Not here: authentication, messages, option checks.
 */

import type * as http from 'node:http';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { Errors } from '../errors';

/**
 * The ws README's heartbeat: a ping every interval; a socket that did not answer the previous
 * ping is passed to `onMissed` and terminated, so a dead peer is gone within two intervals.
 * Call `track(ws)` on each new connection.
 */
export function startHeartbeat(
  wss: WebSocketServer,
  intervalMs: number,
  onMissed: (ws: WebSocket) => void,
): { track(ws: WebSocket): void; stop(): void } {
  const alive = new WeakMap<WebSocket, boolean>();
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        onMissed(ws);
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return {
    track(ws) {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/** Listens on host:port; resolves with the actual port; rejects with GS_ERR_IO naming `what`. */
export function listenOn(server: http.Server, host: string, port: number, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        Errors.io(
          `${what} cannot listen on ${host}:${port}: ${err.code ?? err.message}`,
          err.code === 'EADDRINUSE' ? 'choose another port (0 picks a free one)' : undefined,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/**
 * Answers an HTTP status (and any extra header lines) on a raw socket and destroys it once
 * written, or after 1 s: a peer that does not read.
 */
export function refuse(socket: Duplex, status: string, headers: readonly string[] = []): void {
  if (socket.destroyed) return;
  socket.once('finish', () => socket.destroy());
  setTimeout(() => socket.destroy(), 1000).unref();
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`);
}

/** Closes the websocket server, then the HTTP server and every connection it still holds. */
export async function closeServers(wss: WebSocketServer, server: http.Server): Promise<void> {
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
